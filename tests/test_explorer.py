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
from contextlib import ExitStack
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
from .test_anchor import rpc  # noqa: F401 - a fixture: the test chain

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


# -- a reviewed and anchored decision: verdicts, consensus, anchor, open by metadata item ------


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory, rpc: str
             ) -> Iterator[dict[str, Any]]:
    """A real ``aiwork serve`` that ran a shots job on a two-scene clip (a real worker), whose
    one cut two experts answered (reject, then a correction: decided, corrected), then anchored
    on the test chain (a real EVM node) and grown by the anchor entry."""
    require("playwright", tools=("chromium", "ffmpeg"))
    from aiwork.anchor import deploy
    from aiwork.anchor.service import anchor_latest
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.client.worker import Worker
    from aiwork.contract.responses import ReviewItem
    from aiwork.ledger.home import open_ledger
    from aiwork.quality.review_items import verdict_body

    from .conftest import make_two_scene_clip
    from .test_anchor import new_key

    folder = tmp_path_factory.mktemp("explorer-reviewed")
    home = folder / "home"
    clip = make_two_scene_clip(folder / "scenes.mp4")
    admin = SigningKey.generate()
    with running_coordinator(home, "--open-registration", "--starting-credits", "100",
                             "--admin", admin.did) as url, ExitStack() as clients:
        def client(key: SigningKey) -> CoordinatorClient:
            return clients.enter_context(CoordinatorClient(url, key=key))

        with CoordinatorClient(url, key=admin) as boss:
            boss.request("PUT", "/v1/review/rules/shots",
                         b'{"audit_share": 1.0, "experts": 2, "gold_share": 0.0}')
        requester = client(SigningKey.generate())
        requester.request_role("requester")
        digest = requester.upload_blob(clip.read_bytes())
        job = requester.post("/v1/jobs", {"asset": digest, "analyzers": ["shots"]})["id"]
        worker_key = SigningKey.generate()
        worker_client = client(worker_key)
        worker_client.request_role("worker")
        worker = Worker(worker_client, worker_key, folder / "worker", ["shots"])
        while worker.run_once():
            pass
        experts = [SigningKey.generate() for _ in range(2)]
        answers: list[int] = []
        for key, (answer, nudge) in zip(experts, (("reject", None), ("correct", 0.4)),
                                        strict=True):
            expert = client(key)
            expert.request_role("expert")
            item = expert.next_review_item()
            assert isinstance(item, ReviewItem), item
            decision = int(item.evidence["decision"])
            value = None if nudge is None else item.value + nudge
            body = verdict_body(item.id, decision, item.insight, answer, value,
                                "the cut is elsewhere", 4.5)
            entry = sign_entry(key, "human.verdict", body).to_bytes()
            answers.append(expert.submit_verdict(item.id, entry).verdict)
        with open_ledger(default_db_path({"AIWORK_HOME": str(home)}), signing=True) as log:
            operator = new_key(rpc)
            anchor = anchor_latest(log, rpc, operator, deploy(rpc, operator))
            assert anchor is not None
        results = requester.get(f"/v1/jobs/{job}/results").json()["results"]["shots"]
        yield {"url": url, "job": job, "decision": decision, "verdicts": answers,
               "anchor": anchor, "item": results[1]["id"], "shots": results}


def _verdict(page: Any) -> str:
    page.wait_for_function("() => /(verified|failed)$/.test("
                           "document.querySelector('[data-verify-status]').textContent)",
                           timeout=20000)
    return str(page.locator("[data-verify-status]").inner_text())


def _marks(page: Any) -> dict[str, str]:
    return {item.inner_text().split("\n")[0].split(" ", 1)[1].strip():
            item.inner_text().split(" ", 1)[0] for item in page.locator("#checks li").all()}


def test_the_explorer_shows_a_decisions_verdicts_consensus_and_anchor(
        reviewed: dict[str, Any], browser: Any, screenshots: Path) -> None:
    url, decision, anchor = reviewed["url"], reviewed["decision"], reviewed["anchor"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/explorer/entry/{decision}")
    assert _verdict(page) == f"Entry {decision}: verified", _marks(page)
    marks = _marks(page)
    assert marks["Verdicts and consensus"] == "passed" and marks["Anchor"] == "passed", marks
    listed = page.locator("#related li").evaluate_all(
        "(items) => items.map((li) => [li.dataset.kind, li.dataset.item,"
        " li.querySelector('a').getAttribute('href'), li.textContent])")
    consensus = int(listed[-1][2].rsplit("/", 1)[1])
    assert [(kind, href) for kind, _, href, _ in listed] == \
        [("verdict", f"/explorer/entry/{i}") for i in reviewed["verdicts"]] + \
        [("consensus", f"/explorer/entry/{consensus}")]
    assert {int(item) for _, item, _, _ in listed} == {reviewed["item"]}
    assert "reject on item" in listed[0][3] and "correct on item" in listed[1][3]
    assert "consensus: corrected" in listed[2][3]
    words = page.locator("#decision").inner_text()
    for label in ("Model", "Weights digest", "Parameters", "Input", "Derived from", "Output",
                  "Confidence", "Alternatives", "Evidence"):
        assert f"\n{label}\n" in f"\n{words}\n", (label, words)
    receipt = anchor.receipt
    anchored = page.locator("#anchor").inner_text()
    assert f"chain id {receipt.chain_id}" in anchored and receipt.contract in anchored
    assert receipt.transaction in anchored and f"the first {receipt.size} entries" in anchored
    assert "not anchored itself yet" in anchored  # the checkpoint shown holds the anchor entry
    page.screenshot(path=str(screenshots / "explorer-reviewed-laptop.png"), full_page=True)
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(f"{url}/explorer/entry/{decision}")
    assert _verdict(phone) == f"Entry {decision}: verified"
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(screenshots / "explorer-reviewed-phone.png"), full_page=True)
    phone.close()
    # each listed entry opens its own page, verified, in words, linking back to the decision
    page.locator("#related li a").last.click()
    assert _verdict(page) == f"Entry {consensus}: verified"
    words = page.locator("#decision").inner_text()
    assert "corrected: label reject" in words and "Participants" in words
    assert page.locator(f"#decision a[href='/explorer/entry/{decision}']").count() == 1
    assert page.locator(f"#decision a[href='/explorer/entry/{reviewed['verdicts'][0]}']"
                        ).count() == 1
    page.screenshot(path=str(screenshots / "explorer-consensus.png"), full_page=True)
    page.goto(f"{url}/explorer/entry/{anchor.index}")
    assert _verdict(page) == f"Entry {anchor.index}: verified"
    assert f"chain id {receipt.chain_id}" in page.locator("#decision").inner_text()
    assert "not in an anchored checkpoint yet" in page.locator("#anchor").inner_text()
    page.close()


def test_the_explorer_opens_a_decision_by_its_metadata_item(
        reviewed: dict[str, Any], browser: Any, screenshots: Path) -> None:
    url, job, item = reviewed["url"], reviewed["job"], reviewed["item"]
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(f"{url}/explorer/item?job={job}&insight=shots&item={item}")
    assert _verdict(page) == f"Entry {reviewed['decision']}: verified"
    shown = page.locator("#item").inner_text()
    assert f"\n{job}\n" in f"\n{shown}\n" and "Made by" in shown
    assert f"decision entry {reviewed['decision']}" in shown
    start = reviewed["shots"][1]["instances"][0]["start"]
    assert f"{start} s to" in shown  # the item as published: the experts' correction applied
    assert page.locator("#related li.focus").count() == 3
    page.screenshot(path=str(screenshots / "explorer-item.png"), full_page=True)
    for query, why in ((f"job={job}&insight=shots&item=99", "has no item 99"),
                       (f"job={job}&insight=faces&item=1", "has no faces results"),
                       ("job=nope&insight=shots&item=1", "could not be read"),
                       (f"job={job}&insight=shots&item=-1", "must name")):
        page.goto(f"{url}/explorer/item?{query}")
        assert _verdict(page).endswith(": failed"), query
        assert _marks(page) == {"Metadata item": "failed"}, query
        assert why in page.locator("#checks").inner_text(), query
    page.close()


def _unrelated(route: Any) -> None:
    answer = route.fetch().json()
    answer["entries"][0]["index"] = 0  # the asset's first entry: not a verdict on it
    route.fulfill(json=answer)


def _other_anchor(route: Any) -> None:
    answer = route.fetch().json()
    answer["covering"]["index"] = 0
    route.fulfill(json=answer)


@pytest.mark.parametrize(("pattern", "handler", "failing"), [
    ("**/related*", _unrelated, "Verdicts and consensus"),
    ("**/v1/ledger/anchors*", _other_anchor, "Anchor"),
], ids=["verdicts", "anchor"])
def test_the_explorer_fails_when_the_coordinator_lies_about_a_decision(
        reviewed: dict[str, Any], browser: Any, pattern: str, handler: Any,
        failing: str) -> None:
    page = browser.new_page()
    page.route(pattern, handler)
    page.goto(f"{reviewed['url']}/explorer/entry/{reviewed['decision']}")
    assert _verdict(page) == f"Entry {reviewed['decision']}: failed"
    marks = _marks(page)
    assert marks[failing] == "failed" and marks["Inclusion proof"] == "passed", marks
    page.close()


def test_the_explorer_lists_verdicts_a_page_at_a_time(reviewed: dict[str, Any],
                                                      browser: Any) -> None:
    page = browser.new_page()
    page.route("**/related*", lambda route: route.continue_(
        url=route.request.url.replace("limit=200", "limit=1")))
    page.goto(f"{reviewed['url']}/explorer/entry/{reviewed['decision']}")
    assert _verdict(page) == f"Entry {reviewed['decision']}: verified"
    assert page.locator("#related li").count() == 1
    assert "listed so far" in page.locator("#related-summary").inner_text()
    more = page.get_by_role("button", name="Show the next ones")
    for shown in (2, 3):
        more.click()
        page.wait_for_function(f"() => document.querySelectorAll('#related li').length === {shown}")
    page.wait_for_selector("#related-more", state="hidden")
    assert page.locator("#related li").evaluate_all(
        "(items) => items.map((li) => li.dataset.kind)") == ["verdict", "verdict", "consensus"]
    assert "listed so far" not in page.locator("#related-summary").inner_text()
    assert _verdict(page) == f"Entry {reviewed['decision']}: verified"
    page.close()
