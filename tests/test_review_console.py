"""The review console (/review): its signer (sign.js) builds the same canonical bytes and the
same Ed25519 signatures as the Python client, checked in Node against a shared test vector
(tests/data/console-signing.json, written here from fixed inputs and a fixed key)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from aiwork.auth import signing_bytes
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.quality.review_items import verdict_body

from .conftest import require

ROOT = Path(__file__).resolve().parents[1]
VECTOR = ROOT / "tests" / "data" / "console-signing.json"


def _request(key: SigningKey, method: str, path: str, body: bytes) -> dict[str, Any]:
    timestamp, nonce = 1700000000, "AAECAwQFBgcICQoLDA0ODw"
    message = signing_bytes(method, path, body, timestamp=timestamp, nonce=nonce, key=key.did)
    return {"method": method, "path": path, "body": body.decode(), "timestamp": timestamp,
            "nonce": nonce, "signing_bytes": message.decode(),
            "signature": base64.b64encode(key.sign(message)).decode()}


def signing_vector() -> dict[str, Any]:
    """What Python signs for a fixed key (seed bytes 0 to 31): requests and verdict entries."""
    key = SigningKey(bytes(range(32)))
    verdicts = [
        verdict_body("0" * 31 + "1", 4, "keywords", "accept", seconds=3.25),
        verdict_body("ab" * 16, 7, "transcript", "correct", "Caf\u00e9 \u2603 \"quoted\"\n",
                     "the speaker says caf\u00e9", 12.5),
        verdict_body("0123456789abcdef" * 2, 9, "tags", "reject", ["a", 1, 0.1, 1e21, True, None], None, 0.0),
    ]
    time = "2026-11-29T10:00:00.123000Z"
    entries = [{"body": body, "time": time,
                "entry": sign_entry(key, "human.verdict", body, time=time).to_bytes().decode()}
               for body in verdicts]
    return {"key_pem": key.to_pem(), "did": key.did,
            "requests": [_request(key, "POST", "/v1/jobs?x=1", b'{"a":1}'),
                         _request(key, "post", "/v1/review/next", b"{}"),
                         _request(key, "GET", "/v1/identities/d%3Ak", b"")],
            "entries": entries}


def test_the_shared_signing_vector_is_what_python_signs() -> None:
    if os.environ.get("AIWORK_WRITE_VECTORS"):
        VECTOR.write_text(json.dumps(signing_vector(), indent=1, ensure_ascii=False) + "\n")
    assert json.loads(VECTOR.read_text()) == signing_vector()


def test_the_browser_signer_builds_the_same_bytes_and_signatures() -> None:
    require(tools=("node",))
    run = subprocess.run(["node", "--test", "tests/js/sign.test.mjs"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# skipped 0" in run.stdout
    assert int(run.stdout.split("# pass ")[1].split()[0]) >= 8
