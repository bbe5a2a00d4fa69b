"""The model store (aiwork.analyzers.store): registered versions' files kept by analyzer and
weights digest, checked against that digest when they are loaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aiwork.analyzers.base import weights_digest
from aiwork.analyzers.custom_tags import custom_tags_model
from aiwork.analyzers.store import MAX_FILES, ModelStore
from aiwork.analyzers.transcript.analyzer import glossary_digest, glossary_files
from aiwork.errors import AnalyzerUnavailable, InputError, ModelStoreError, UnsafeNameError
from aiwork.learn.tags import TagExample, TrainedTags, train_custom_tags


def _trained(folder: Path, seed: int = 0) -> TrainedTags:
    """Custom tags fitted (the real trainer) on features of two well-separated tags."""
    rng = np.random.default_rng(seed)
    examples = [TagExample(label, features=(rng.normal(size=1280) + (4.0 if label == "crowd"
                                                                     else -4.0)).astype(np.float32),
                           video=f"{label}-{n % 4}")
                for label in ("crowd", "studio interview") for n in range(12)]
    return train_custom_tags(examples, folder, seed=seed)


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if not p.name.startswith(".incoming-"))


def test_a_custom_tags_model_is_kept_by_the_digest_its_decisions_record(tmp_path: Path) -> None:
    trained = _trained(tmp_path / "trained")
    store = ModelStore(tmp_path / "models")
    stored = store.put("custom_tags", [trained.path])
    # The digest is the analyzer's own (the .npz file's SHA-256), not weights_digest's.
    assert stored.digest == trained.digest == custom_tags_model(trained.path).digest
    assert stored.digest != weights_digest([trained.path])
    assert stored.folder == tmp_path / "models" / "custom_tags" / trained.digest[7:]
    assert [p.name for p in stored.files] == [trained.path.name]
    assert store.has("custom_tags", trained.digest)
    assert store.digests("custom_tags") == [trained.digest]
    got = store.get("custom_tags", trained.digest)
    assert got == stored
    # The options that make the analyzer load it: the stored copy, which is the same model.
    options = got.options()
    assert options == {"model": str(stored.files[0])}
    assert custom_tags_model(options["model"]).digest == trained.digest
    # Putting the same version again keeps the one there; the expected digest is checked.
    assert store.put("custom_tags", [trained.path], trained.digest) == stored


def test_files_of_another_digest_are_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    first, second = _trained(tmp_path / "a", 0), _trained(tmp_path / "b", 1)
    store = ModelStore(tmp_path / "models")
    with pytest.raises(InputError, match="hash to"):
        store.put("custom_tags", [second.path], first.digest)
    assert _listing(tmp_path / "models") == ["custom_tags"]
    with pytest.raises(InputError, match="same name"):
        store.put("custom_tags", [first.path, second.path])
    other = tmp_path / "other.npz"
    other.write_bytes(second.path.read_bytes())
    with pytest.raises(InputError, match="one .npz file"):
        store.put("custom_tags", [first.path, other])
    assert _listing(tmp_path / "models") == ["custom_tags"]


def test_a_missing_or_altered_version_is_a_clear_error(tmp_path: Path) -> None:
    trained = _trained(tmp_path / "trained")
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelStoreError, match="holds no files of custom_tags"):
        store.get("custom_tags", trained.digest)
    stored = store.put("custom_tags", [trained.path])
    # Altered in place (same size; the time moves): refused, not loaded.
    data = bytearray(stored.files[0].read_bytes())
    data[-1] ^= 1
    stored.files[0].write_bytes(bytes(data))
    os.utime(stored.files[0], ns=(1, 1))
    with pytest.raises(ModelStoreError, match="altered"):
        store.get("custom_tags", trained.digest)
    # Putting it again repairs it.
    assert store.put("custom_tags", [trained.path]).digest == trained.digest
    assert store.get("custom_tags", trained.digest).files[0].read_bytes() == \
        trained.path.read_bytes()
    # A file added beside it, or a symbolic link, is refused too.
    extra = stored.folder / "extra.npz"
    extra.write_bytes(b"more")
    with pytest.raises(ModelStoreError, match="altered|one .npz"):
        store.get("custom_tags", trained.digest)
    extra.unlink()
    (stored.folder / "link").symlink_to(trained.path)
    with pytest.raises(ModelStoreError, match="not a regular file"):
        store.get("custom_tags", trained.digest)


@pytest.mark.parametrize("analyzer, digest", [
    ("../escape", "sha256:" + "a" * 64),
    ("Tags", "sha256:" + "a" * 64),
    ("no_such_analyzer", "sha256:" + "a" * 64),
    ("tags", "sha256:../../" + "a" * 58),
    ("tags", "sha256:" + "A" * 64),
])
def test_names_are_constrained_before_they_reach_the_disk(tmp_path: Path, analyzer: str,
                                                          digest: str) -> None:
    weights = tmp_path / "head.bin"
    weights.write_bytes(b"weights")
    store = ModelStore(tmp_path / "models")
    with pytest.raises(InputError):
        store.put(analyzer, [weights], digest)
    with pytest.raises(InputError):
        store.get(analyzer, digest)
    assert not (tmp_path / "models").exists()


def test_file_names_and_counts_are_bounded(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    with pytest.raises(UnsafeNameError):
        store.put_bytes("tags", {"../head.bin": b"x"})
    with pytest.raises(UnsafeNameError):
        store.put_bytes("tags", {".hidden": b"x"})
    with pytest.raises(InputError, match="at most"):
        store.put_bytes("tags", {f"part{n}": b"x" for n in range(MAX_FILES + 1)})
    with pytest.raises(InputError, match="at least one"):
        store.put("tags", [])
    assert not (tmp_path / "models").exists()


def test_other_analyzers_are_kept_by_weights_digest(tmp_path: Path) -> None:
    parts = [tmp_path / "b.bin", tmp_path / "a.bin"]
    for n, part in enumerate(parts):
        part.write_bytes(bytes([n]) * 100)
    store = ModelStore(tmp_path / "models")
    stored = store.put("tags", parts, weights_digest(parts))
    assert [p.name for p in stored.files] == ["a.bin", "b.bin"]
    assert store.get("tags", weights_digest(parts)) == stored
    # An analyzer with no option naming registered weights cannot be given them.
    with pytest.raises(AnalyzerUnavailable, match="no option"):
        stored.options()


def test_a_glossary_is_kept_as_its_file(tmp_path: Path) -> None:
    from aiwork.learn.glossary import GlossaryDecision

    store = ModelStore(tmp_path / "models")
    terms = ("Zorblax", "quantile")
    stored = store.put_bytes("transcript", glossary_files(terms, "hotwords", "tiny.en"))
    # The digest register_glossary registers: Whisper tiny.en's weights with the glossary.
    adopted = GlossaryDecision(True, terms, 0.5, 0.25, 4, "lower, adopted", "hotwords",
                               "tiny.en")
    assert stored.digest == adopted.weights_digest()
    assert stored.digest != glossary_digest(terms)
    assert stored.options() == {"glossary": list(terms), "glossary_as": "hotwords",
                                "model": "tiny.en"} == adopted.options()
    assert store.digests("transcript") == [stored.digest]
    for forged in (b'{"glossary": ["a"], "glossary_as": "hotwords"}',
                   b'{"glossary": [], "glossary_as": "hotwords", "model": "tiny.en"}',
                   b'{"glossary": ["' + b"a" * 65 + b'"], "glossary_as": "hotwords", '
                   b'"model": "tiny.en"}',
                   b'{"glossary": ["a"], "glossary": ["b"], "glossary_as": "hotwords", '
                   b'"model": "tiny.en"}',
                   b" " * (64 * 1024 + 1)):
        with pytest.raises(InputError):
            store.put_bytes("transcript", {"glossary.json": forged})
    assert store.digests("transcript") == [stored.digest]


def test_the_default_store_is_in_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("AIWORK_HOME", str(tmp_path / "home"))
    assert ModelStore.default().root == tmp_path / "home" / "models"


def test_aiwork_models_register_keeps_the_files_under_the_analyzers_digest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from aiwork.cli import main
    from aiwork.ledger.home import open_ledger
    from aiwork.ledger.registry import models

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    db, keyfile = tmp_path / "ledger.db", tmp_path / "me.pem"
    assert run("ledger", "init", "--db", str(db))[0] == 0
    assert run("keys", "new", "--out", str(keyfile))[0] == 0
    trained = _trained(tmp_path / "trained")
    code, out, err = run("models", "register", "custom_tags", "1", "--db", str(db),
                         "--weights", str(trained.path), "--key", str(keyfile))
    assert code == 0, err
    registered = json.loads(out)
    # The digest the analyzer's decisions record (the .npz file's SHA-256), so they name it.
    assert registered["weights_digest"] == trained.digest
    kept = ModelStore.default().get("custom_tags", trained.digest)
    assert kept.files[0].read_bytes() == trained.path.read_bytes()
    # An unknown analyzer, or files the analyzer cannot load, register nothing.
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 64)
    for analyzer, weights in (("../tags", trained.path), ("nonesuch", trained.path),
                              ("transcript", trained.path), ("custom_tags", junk)):
        code, _, err = run("models", "register", analyzer, "2", "--db", str(db),
                           "--weights", str(weights), "--key", str(keyfile))
        assert code == 1 and err, analyzer
    with open_ledger(db, readonly=True) as log:
        assert [m.index for m in models(log)] == [registered["index"]]
    assert ModelStore.default().digests("transcript") == []
    assert ModelStore.default().digests("custom_tags") == [trained.digest]
