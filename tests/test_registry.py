"""The model registry: model.registered / model.promoted entries, the service that writes and
reads them, and ``aiwork models``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiwork.analyzers.base import weights_digest
from aiwork.cli import main
from aiwork.crypto import SigningKey
from aiwork.errors import ConflictError, InvalidBodyError, NotFoundError
from aiwork.ledger.home import append_bodies, init_ledger
from aiwork.ledger.log import Log
from aiwork.ledger.registry import in_use, models, promote_model, register_model
from aiwork.ledger.registry import registration_for

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return init_ledger(tmp_path / "ledger.db", origin="registry.example/log")


def test_register_list_promote(log: Log) -> None:
    key = SigningKey.generate()
    first = register_model(log, key, analyzer="tags", version="1", weights_digest=DIGEST_A,
                           metrics={"accuracy": 0.81})
    second = register_model(log, key, analyzer="tags", version="2", weights_digest=DIGEST_B,
                            metrics={"accuracy": 0.9, "ece": 0.03}, parent=first)
    assert log.entry(second).kind == "model.registered/v1"
    assert log.entry(second).body["parent"] == first
    assert log.entry(second).body["approved_by"] == key.did
    assert [m.index for m in models(log, "tags")] == [first, second]
    assert in_use(log, "tags") is None
    promoted = promote_model(log, key, "tags", second)
    assert log.entry(promoted).body == {"analyzer": "tags", "registration": second,
                                        "by": key.did}
    chosen = in_use(log, "tags")
    assert chosen is not None and chosen.index == second and chosen.promoted_at == promoted
    promote_model(log, key, "tags", first)
    chosen = in_use(log, "tags")
    assert chosen is not None and chosen.index == first
    assert registration_for(log, "tags", DIGEST_B) == second
    assert registration_for(log, "shots", DIGEST_B) is None


def test_refusals_write_nothing(log: Log) -> None:
    key = SigningKey.generate()
    tags = register_model(log, key, analyzer="tags", version="1", weights_digest=DIGEST_A)
    other = append_bodies(log, key, "generic", [{"note": "not a model"}])[0].index
    size = log.size
    with pytest.raises(ConflictError):  # the same weights twice
        register_model(log, key, analyzer="tags", version="1b", weights_digest=DIGEST_A)
    with pytest.raises(InvalidBodyError):  # a parent of another analyzer
        register_model(log, key, analyzer="faces", version="1", weights_digest=DIGEST_B,
                       parent=tags)
    with pytest.raises(InvalidBodyError):  # a dataset entry that is no dataset.released
        register_model(log, key, analyzer="tags", version="2", weights_digest=DIGEST_B,
                       dataset=(other, DIGEST_A))
    with pytest.raises(InvalidBodyError):  # a metric that is not a finite number
        register_model(log, key, analyzer="tags", version="2", weights_digest=DIGEST_B,
                       metrics={"accuracy": float("nan")})
    with pytest.raises(NotFoundError):  # promoting something that is no registration
        promote_model(log, key, "tags", other)
    with pytest.raises(InvalidBodyError):  # promoting another analyzer's model
        promote_model(log, key, "faces", tags)
    assert log.size == size


def test_a_body_quoting_the_kind_is_not_a_registration(log: Log) -> None:
    key = SigningKey.generate()
    append_bodies(log, key, "generic", [{"text": '"kind":"model.registered/v1"'}])
    assert models(log) == []


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_cli_models_register_promote_list(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ledger.db"
    assert run(capsys, "ledger", "init", "--db", str(db))[0] == 0
    keyfile = tmp_path / "me.pem"
    assert run(capsys, "keys", "new", "--out", str(keyfile))[0] == 0
    weights = tmp_path / "head.npz"
    weights.write_bytes(b"weights of a fitted head")
    code, out, err = run(capsys, "models", "register", "tags", "2", "--db", str(db),
                         "--weights", str(weights), "--key", str(keyfile),
                         "--metric", "accuracy=0.91")
    assert code == 0, err
    registered = json.loads(out)
    assert registered["weights_digest"] == weights_digest([weights])
    code, out, err = run(capsys, "models", "promote", "tags", str(registered["index"]),
                         "--db", str(db), "--key", str(keyfile))
    assert code == 0, err
    code, out, _ = run(capsys, "models", "--db", str(db))
    assert out.startswith(f"* {registered['index']:>6} tags 2 ") and "accuracy=0.91" in out
    code, out, _ = run(capsys, "models", "--db", str(db), "--json")
    listed = json.loads(out)
    assert listed["in_use"] and listed["metrics"] == {"accuracy": 0.91}
    code, _, err = run(capsys, "models", "register", "tags", "3", "--db", str(db),
                       "--weights", str(weights), "--key", str(keyfile), "--metric", "acc=x")
    assert code == 1 and "NAME=NUMBER" in err
    code, _, err = run(capsys, "models", "register", "tags", "3", "--db", str(db),
                       "--weights", str(weights), "--key", str(keyfile))
    assert code == 1 and "already registered" in err
