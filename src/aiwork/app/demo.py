"""The main job until the video pipeline lands: a small signed ledger, proved and verified.

Run by ``scripts/demo`` (``python -m aiwork.app.demo``) on the embedded default store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from aiwork.app.ledger import init_ledger, open_ledger
from aiwork.config import default_db_path, home
from aiwork.crypto import SigningKey, read_key_file, write_key_file
from aiwork.ledger import verify
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log

__all__ = ["run"]


def _author_key(path: Path) -> SigningKey:
    if path.exists():
        return read_key_file(path)
    key = SigningKey.generate()
    write_key_file(path, key)
    return key


def run(say: Callable[[str], None] = print) -> Log:
    db = default_db_path()
    if not Log.is_ledger(db):
        init_ledger(db).close()
        say(f"created ledger {db}")
    log = open_ledger(db, signing=True)
    key = _author_key(home() / "demo-author.key")
    say(f"log origin {log.origin}; author {key.did}")
    before = log.checkpoint()

    sample = Path(__file__)
    data = sample.read_bytes()
    asset = {
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "name": sample.name,
        "media_type": "text/x-python",
    }
    batch = [sign_entry(key, "asset.registered", asset)]
    batch += [sign_entry(key, "generic", {"note": "demo", "n": n}) for n in range(9)]
    appended = log.append(batch)
    say(f"appended a batch of {len(batch)} signed entries at {appended[0].index}..{appended[-1].index}")

    note = log.checkpoint()
    checkpoint = verify.verify_checkpoint(note, log.verifier_key)
    say(f"checkpoint: size {checkpoint.size}, signed by {log.verifier_key.to_text()}")

    first = appended[0].index
    entry_bytes = log.get(first)
    proof = log.inclusion_proof(first, checkpoint.size)
    verify.verify_entry_in_checkpoint(entry_bytes, proof.to_json(), note, log.verifier_key)
    say(f"entry {first} ({len(proof.hashes)} proof hashes) is included in the checkpoint")

    old_cp = verify.verify_checkpoint(before, log.verifier_key)
    if old_cp.size:
        consistency = log.consistency_proof(old_cp.size, checkpoint.size)
        verify.verify_consistency(consistency, old_cp.root_hash, checkpoint.root_hash)
        say(f"tree {old_cp.size} is a prefix of tree {checkpoint.size} (consistency proof ok)")

    report = log.verify()
    say(f"ledger verify: {report.size} entries and {report.checkpoints} checkpoints ok "
        f"in {report.seconds:.2f}s; root {report.root.hex()}")
    return log


if __name__ == "__main__":
    run().close()
