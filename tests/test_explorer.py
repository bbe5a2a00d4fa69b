"""The decision explorer (/explorer/entry/N): its verifier (verify.js) in Node against the
RFC 9162 vectors and what the Python log makes, and the page in a real browser (Debian's
chromium through Playwright) against a real ``aiwork serve``: ``verified`` for a true entry,
``failed`` when the proof, the checkpoint or the trusted key is not the log's."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from aiwork.config import default_db_path
from aiwork.crypto import SigningKey
from aiwork.ledger.cosign import WitnessKey, cosign
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.home import append_bodies
from aiwork.ledger.log import Log
from aiwork.ledger.note import VerifierKey
from aiwork.pipeline.process import open_store

from .conftest import require, running_coordinator

ROOT = Path(__file__).resolve().parents[1]
DIGEST = "sha256:" + "1" * 64
WITNESS = "witness.test/w1"
DECISION: dict[str, Any] = {
    "analyzer": "keywords", "analyzer_version": "1", "insight": "keywords",
    "model": {"name": "YAKE", "version": "0.7", "weights_digest": "sha256:" + "3" * 64},
    "parameters": {"top": 10}, "parameters_digest": "sha256:" + "0" * 64,
    "input": {"asset": DIGEST, "start": 0, "end": 9.5,
              "derived_from": [{"insight": "transcript", "decision": 0}]},
    "output_digest": "sha256:" + "2" * 64, "output_items": 3,
    "confidence": {"mean": 0.82, "min": 0.61, "max": 0.97},
    "evidence": {"alternatives": [{"value": "ledger", "score": 0.4}], "note": "é ☃ \"q\""},
}


def _decision(index: int) -> dict[str, Any]:
    return {**DECISION, "input": {**DECISION["input"], "start": index,
                                  "derived_from": [] if index == 0 else
                                  [{"insight": "transcript", "decision": index - 1}]}}


def test_the_browser_verifier_accepts_the_vectors_and_the_python_log(tmp_path: Path) -> None:
    require(tools=("node",))
    log = Log.create(tmp_path / "ledger.db", SigningKey.generate(), origin="test.example/log")
    author = SigningKey.generate()
    log.append([sign_entry(author, "ai.decision", _decision(i)) for i in range(7)])
    checkpoint = log.checkpoint()
    witness = SigningKey.generate()
    made = {"key": log.verifier_key.to_text(),
            "other_key": VerifierKey(log.verifier_key.name,
                                     SigningKey.generate().public_key).to_text(),
            "checkpoint": checkpoint,
            "witness": WitnessKey.of(WITNESS, witness).to_text(),
            "cosigned": checkpoint + cosign(checkpoint, WITNESS, witness, int(time.time())),
            "cosigned_future": checkpoint + cosign(checkpoint, WITNESS, witness,
                                                   int(time.time()) + 3600),
            "entries": [{"entry": base64.b64encode(log.get(i)).decode(), "kind": "ai.decision/v2",
                         "proof": log.inclusion_proof(i, 7).to_json()} for i in range(7)]}
    log.close()
    (tmp_path / "made.json").write_text(json.dumps(made))
    run = subprocess.run(["node", "--test", "tests/js/"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120,
                         env={**os.environ, "AIWORK_PYTHON_LOG": str(tmp_path / "made.json")})
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# skipped 0" in run.stdout
    assert int(run.stdout.split("# pass ")[1].split()[0]) > 80


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A real ``aiwork serve`` over a ledger of three decisions and a credit grant, its
    checkpoint cosigned by a witness; its URL, log key and witness key."""
    require("playwright", tools=("chromium",))
    home = tmp_path_factory.mktemp("explorer-home")
    log = open_store(default_db_path({"AIWORK_HOME": str(home)}))
    author = SigningKey.generate()
    append_bodies(log, author, "ai.decision", [_decision(i) for i in range(3)])
    append_bodies(log, author, "credits.granted",
                  [{"to": author.did, "amount": 1000, "reason": "pilot <b>budget</b>"}])
    key = log.verifier_key.to_text()
    log.close()
    witness = SigningKey.generate()
    with running_coordinator(home, "--witness", WitnessKey.of(WITNESS, witness).to_text()) as url:
        note = httpx.get(url + "/v1/ledger/checkpoint").text
        line = cosign(note, WITNESS, witness, int(time.time()))
        assert httpx.post(url + "/v1/ledger/cosignatures",
                          json={"size": 4, "cosignature": line}).status_code == 200
        yield url, key, WitnessKey.of(WITNESS, witness).to_text()


@pytest.fixture(scope="module")
def browser(coordinator: tuple[str, str, str]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        yield chromium
        chromium.close()


def _explore(browser: Any, url: str, path: str, *, width: int = 1100,
             route: tuple[str, Any] | None = None,
             shot: Path | None = None) -> tuple[str, dict[str, str], list[str]]:
    """Opens the page, waits for the verdict; the status text, each check's mark and the
    console's messages (a CSP violation would be one)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    if route:
        page.route(*route)
    page.goto(url + path)
    status = page.locator("[data-verify-status]")
    page.wait_for_function("() => /(verified|failed)$/.test("
                           "document.querySelector('[data-verify-status]').textContent)",
                           timeout=20000)
    marks = {item.inner_text().split("\n")[0].split(" ", 1)[1].strip():
             item.inner_text().split(" ", 1)[0] for item in page.locator("#checks li").all()}
    if shot:
        page.screenshot(path=str(shot), full_page=True)
    text = status.inner_text()
    page.close()
    return text, marks, messages


def test_the_explorer_verifies_an_entry_in_the_browser(coordinator: tuple[str, str, str],
                                                       browser: Any, screenshots: Path) -> None:
    url, _, _ = coordinator
    text, marks, messages = _explore(browser, url, "/explorer/entry/1",
                                     shot=screenshots / "explorer-verified.png")
    assert text == "Entry 1: verified", (marks, messages)
    assert marks == {"Log key": "passed", "Checkpoint signature": "passed",
                     "Entry signature": "passed", "Inclusion proof": "passed"}
    assert not [m for m in messages if "Content Security Policy" in m]
    page = browser.new_page(viewport={"width": 360, "height": 800})
    page.goto(url + "/explorer/entry/2")
    page.wait_for_function("() => /verified$/.test("
                           "document.querySelector('[data-verify-status]').textContent)")
    words = page.locator("#decision").inner_text()
    assert "YAKE 0.7" in words and "sha256:" + "3" * 64 in words
    assert "from 2 s to 9.5 s" in words and "mean 0.82, min 0.61, max 0.97" in words
    assert "pinned in this browser" in page.locator("#key").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(screenshots / "explorer-phone.png"), full_page=True)
    page.close()
    print(f"screenshots: {screenshots}")


def _altered_proof(route: Any) -> None:
    answer = route.fetch().json()
    first = base64.b64decode(answer["hashes"][0])
    answer["hashes"][0] = base64.b64encode(bytes([first[0] ^ 1]) + first[1:]).decode()
    route.fulfill(json=answer)


def _altered_entry(route: Any) -> None:
    route.fulfill(body=route.fetch().body().replace(b'"amount":', b'"amount":1'),
                  content_type="application/json")


def _altered_checkpoint(route: Any) -> None:
    origin, size, rest = route.fetch().text().split("\n", 2)
    route.fulfill(body=f"{origin}\n{int(size) + 1}\n{rest}", content_type="text/plain")


@pytest.mark.parametrize(("pattern", "handler", "failing"), [
    ("**/v1/ledger/proof/inclusion*", _altered_proof, "Inclusion proof"),
    ("**/v1/ledger/checkpoint", _altered_checkpoint, "Checkpoint signature"),
    ("**/v1/ledger/entries/*", _altered_entry, "Entry signature"),
], ids=["proof", "checkpoint", "entry"])
def test_the_explorer_fails_when_an_answer_is_altered(coordinator: tuple[str, str, str],
                                                      browser: Any, pattern: str, handler: Any,
                                                      failing: str, screenshots: Path) -> None:
    url, _, _ = coordinator
    index = 3 if failing == "Entry signature" else 1
    text, marks, _ = _explore(browser, url, f"/explorer/entry/{index}",
                              route=(pattern, handler), shot=screenshots / "explorer-failed.png")
    assert text == f"Entry {index}: failed"
    assert marks[failing] == "failed"
    assert [name for name, mark in marks.items() if mark == "passed"] == [
        name for name in ("Log key", "Checkpoint signature", "Entry signature")
        if name != failing]


def test_the_explorer_fails_with_another_key_in_the_link(coordinator: tuple[str, str, str],
                                                         browser: Any) -> None:
    url, key, _ = coordinator
    name = key.split("+")[0]
    other = VerifierKey(name, SigningKey.generate().public_key).to_text()
    text, marks, _ = _explore(browser, url, f"/explorer/entry/0?key={other}")
    assert text == "Entry 0: failed" and marks["Checkpoint signature"] == "failed"
    text, marks, _ = _explore(browser, url, f"/explorer/entry/0?key={key}")
    assert text == "Entry 0: verified"
    text, marks, _ = _explore(browser, url, "/explorer/entry/9")
    assert text == "Entry 9: failed"
    assert marks["Entry signature"] == "failed" and marks["Inclusion proof"] == "failed"


def test_the_explorer_describes_other_kinds_as_text(coordinator: tuple[str, str, str],
                                                    browser: Any) -> None:
    url, _, _ = coordinator
    page = browser.new_page()
    page.goto(url + "/explorer/entry/3")
    page.wait_for_function("() => /verified$/.test("
                           "document.querySelector('[data-verify-status]').textContent)")
    words = page.locator("#decision").inner_text()
    assert "credits.granted/v1" in words and "pilot <b>budget</b>" in words  # text, not markup
    assert page.locator("#decision b").count() == 0
    page.close()


def test_a_pinned_key_holds_when_the_coordinator_serves_another(coordinator: tuple[str, str, str],
                                                                browser: Any) -> None:
    url, key, _ = coordinator
    other = VerifierKey(key.split("+")[0], SigningKey.generate().public_key).to_text()
    context = browser.new_context()
    page = context.new_page()
    verdict = ("() => /(verified|failed)$/.test("
               "document.querySelector('[data-verify-status]').textContent)")
    page.goto(url + "/explorer/entry/0")
    page.wait_for_function(verdict)
    assert page.locator("[data-verify-status]").inner_text() == "Entry 0: verified"
    page.route("**/v1/ledger/key", lambda route: route.fulfill(body=other + "\n"))
    page.goto(url + "/explorer/entry/0")
    page.wait_for_function(verdict)
    assert page.locator("[data-verify-status]").inner_text() == "Entry 0: failed"
    checks = page.locator("#checks").inner_text()
    assert "serves another log key" in checks and "pinned" in checks
    context.close()


def test_the_console_is_served_with_a_strict_policy(coordinator: tuple[str, str, str]) -> None:
    url, _, _ = coordinator
    for path in ("/explorer", "/explorer/entry/0", "/static/verify.js", "/static/explorer.js"):
        answer = httpx.get(url + path)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
    assert "<script>" not in httpx.get(url + "/explorer").text
    for bad in ("/static/..%2Fapi%2Fapp.py", "/static/explorer.html", "/static/nothing.js"):
        answer = httpx.get(url + bad)
        assert answer.status_code == 404 and answer.json()["error"] == "not-found"
    paths = httpx.get(url + "/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/explorer", "/static"))]


def test_the_explorer_checks_a_witness_named_in_the_link(coordinator: tuple[str, str, str],
                                                         browser: Any, screenshots: Path) -> None:
    url, _, witness = coordinator
    text, marks, _ = _explore(browser, url, f"/explorer/entry/2?witness={witness}",
                              shot=screenshots / "explorer-witness.png")
    assert text == "Entry 2: verified" and marks["Witness cosignature"] == "passed"
    other = WitnessKey(WITNESS, SigningKey.generate().public_key).to_text()
    text, marks, _ = _explore(browser, url, f"/explorer/entry/2?witness={other}")
    assert text == "Entry 2: failed" and marks["Witness cosignature"] == "failed"
    assert marks["Inclusion proof"] == "passed"
