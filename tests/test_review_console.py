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

import httpx2 as httpx
import pytest

from aiwork.auth import signing_bytes
from aiwork.client.coordinator import CoordinatorClient
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.model.commitment import commitment_of
from aiwork.quality.review_items import verdict_body

from .conftest import make_two_scene_clip, require, running_coordinator

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
    salts = {"value": "11" * 32, "rationale": "a0" * 32}
    plain = verdicts[1]
    sealed_body = {**plain, **{field: {"commitment": commitment_of(plain[field], salt)}
                               for field, salt in salts.items()}}
    sealed = {"body": plain, "salts": salts, "time": time,
              "entry": sign_entry(key, "human.verdict.sealed", sealed_body,
                                  time=time).to_bytes().decode()}
    return {"key_pem": key.to_pem(), "did": key.did, "sealed": sealed,
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


# -- the page in a real browser against a real ``aiwork serve`` ------------------------------

QUESTIONS = [f"Is there a real shot boundary at {at:.2f} s?" for at in (3.0, 7.5, 12.25, 4.5)]


def _queue_items(home: Path, clip: Path) -> str:
    """Four open ``shots`` review items (one verdict decides each) on ``clip`` in ``home``'s
    coordinator store, the first with a real keyframe; the keyframe's digest."""
    from aiwork.config import blobs_path, default_db_path
    from aiwork.coordinator.accounts import Accounts
    from aiwork.coordinator.identities import coordinator_key
    from aiwork.coordinator.review import Review
    from aiwork.pipeline.process import open_store
    from aiwork.quality.review_items import Candidate
    from aiwork.store.blobs import BlobStore

    db = default_db_path({"AIWORK_HOME": str(home)})
    log = open_store(db)
    blobs = BlobStore(blobs_path(db))
    keyframe = blobs.put_file(ROOT / "tests" / "data" / "coffee.jpg")
    asset = blobs.put_file(clip)
    review = Review(log, coordinator_key(), Accounts(log.db).appender(log))
    review.set_rules("shots", {"experts": 1})
    for i, question in enumerate(QUESTIONS):
        at = float(question.split(" at ")[1].split(" s")[0])
        review.add_item(job="j", insight="shots", decision=0,
                        candidate=Candidate(1, question, at, at - 1, at + 1,
                                            keyframe if i == 0 else None, 0.5),
                        reason="audit", asset=asset, producers=[], annotator="model:m@x")
    log.close()
    return keyframe


def _press(page: Any, key: str, done: int) -> None:
    page.keyboard.press(key)
    page.wait_for_function(f"() => (document.querySelectorAll('#done li').length === {done}"
                           " || document.querySelector('#state.error') !== null)"
                           " && !document.body.dataset.busy")


def test_an_expert_reviews_with_the_keyboard_and_signs_in_the_browser(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, screenshots: Path) -> None:
    require("playwright", tools=("chromium", "ffmpeg"))
    from playwright.sync_api import sync_playwright

    from aiwork.config import default_db_path
    from aiwork.ledger.entries import check_entry
    from aiwork.model.entry import Entry
    from aiwork.pipeline.process import open_store

    home = tmp_path / "home"
    monkeypatch.setenv("AIWORK_HOME", str(home))
    _queue_items(home, make_two_scene_clip(tmp_path / "clip.mp4"))
    admin = SigningKey.generate()
    sent: list[str] = []
    with running_coordinator(home, "--admin", admin.did) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        page.on("request", lambda r: sent.append(json.loads(r.post_data or "{}")["entry"])
                if r.url.endswith("/verdict") else None)
        page.goto(url + "/review")
        page.get_by_role("button", name="Create a key in this browser").click()
        page.wait_for_function("() => /did:key:z6Mk/.test("
                               "document.getElementById('identity').textContent)")
        did = page.locator("#identity").inner_text().split(": ")[1]
        page.get_by_role("button", name="Request the expert role").click()
        page.wait_for_function("() => /pending|granted/.test("
                               "document.getElementById('role').textContent)")
        page.keyboard.press("n")  # not an expert yet: refused, in words
        page.wait_for_selector("#state[data-review-state=error]")
        refused = page.locator("#state").inner_text()
        with CoordinatorClient(url, key=admin) as admin_client:
            assert admin_client.approve_role(did, "expert").status == "granted"
        page.keyboard.press("n")
        page.wait_for_selector("#state[data-review-state=item]")
        assert page.locator("#question").inner_text() in QUESTIONS
        assert "The AI's value" in page.locator("#facts").inner_text()
        shown = page.locator("#question").inner_text()
        # the real file plays from the blob route (ranges), opened at the item's start
        page.wait_for_function("() => document.querySelector('#media video')?.readyState >= 1")
        video = page.evaluate("(() => { const v = document.querySelector('#media video');"
                              " return [v.duration, v.currentTime, v.poster]; })()")
        assert 5.9 < video[0] < 6.1 and video[1] > 1, video
        assert (shown == QUESTIONS[0]) == ("/v1/blobs/sha256:" in video[2]), video
        assert page.locator("#correction").is_hidden()
        assert page.locator("#role").inner_text() == "You hold the expert role."
        page.screenshot(path=str(screenshots / "review-item.png"), full_page=True)
        skipped = page.locator("#question").inner_text()
        page.keyboard.press("s")  # skipped: the next item comes, the skipped one comes back last
        page.wait_for_function(f"() => document.getElementById('question').textContent"
                               f" !== {json.dumps(skipped)} && !document.body.dataset.busy")
        _press(page, "a", 1)
        page.keyboard.press("c")
        page.locator("#value").fill("7.4")
        _press(page, "Enter", 2)
        _press(page, "r", 3)
        page.wait_for_selector("#state[data-review-state=item]")
        assert page.locator("#question").inner_text() == skipped
        assert page.locator("#state").inner_text().startswith("Back to an item you skipped")
        _press(page, "a", 4)
        page.wait_for_selector("#state[data-review-state=empty]")
        state = page.locator("#state").inner_text()
        page.screenshot(path=str(screenshots / "review-empty.png"), full_page=True)
        indices = [int(i) for i in page.locator("#done li").evaluate_all(
            "(items) => items.map((li) => li.dataset.index)")]
        verdicts = page.locator("#done li").evaluate_all(
            "(items) => items.map((li) => li.dataset.verdict)")
        stored = [httpx.get(f"{url}/v1/ledger/entries/{i}").content for i in indices]
        browser.close()
    print(f"screenshots: {screenshots}")
    assert state.startswith("Nothing to review right now"), (state, messages)
    assert refused.startswith("the coordinator refused (403)"), refused
    assert verdicts == ["accept", "correct", "reject", "accept"]
    assert [s.decode() for s in stored] == sent  # the ledger holds exactly what was signed
    log = open_store(default_db_path({"AIWORK_HOME": str(home)}))
    try:
        log.verify()
        for index, data in zip(indices, sent, strict=True):
            entry = Entry.from_bytes(log.get(index))
            check_entry(entry)
            assert entry.to_bytes() == data.encode() and entry.author == did
            assert entry.kind == "human.verdict/v1" and entry.body["verdict"] in verdicts
            assert 0 <= entry.body["seconds"] < 600
        assert [Entry.from_bytes(log.get(i)).body["value"] for i in indices][1] == 7.4
    finally:
        log.close()


def test_a_key_file_is_imported_kept_and_the_page_fits_a_phone(tmp_path: Path, screenshots: Path) -> None:
    """An aiwork key file imported through the page gives the key's own did:key, is still
    there after a reload (IndexedDB), and the page has no sideways scroll at 360 px; the page
    and its scripts come with the console's strict policy."""
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    key = SigningKey.generate()
    (tmp_path / "me.pem").write_text(key.to_pem())
    (tmp_path / "bad.pem").write_text("not a key")
    with running_coordinator(tmp_path / "home") as url, sync_playwright() as pw:
        for path in ("/review", "/static/review.js", "/static/sign.js"):
            answer = httpx.get(url + path)
            policy = answer.headers["content-security-policy"]
            assert answer.status_code == 200 and "script-src 'self'" in policy
            assert "unsafe-inline" not in policy and "media-src 'self'" in policy
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 360, "height": 800})
        page.goto(url + "/review")
        page.wait_for_function("() => /No key/.test("
                               "document.getElementById('identity').textContent)")
        page.locator("#keyfile").set_input_files(str(tmp_path / "bad.pem"))
        page.wait_for_selector("#state.error")
        bad = page.locator("#state").inner_text()
        page.locator("#keyfile").set_input_files(str(tmp_path / "me.pem"))
        page.wait_for_function("() => /did:key/.test("
                               "document.getElementById('identity').textContent)")
        imported = page.locator("#identity").inner_text()
        page.reload()
        page.wait_for_function("() => /did:key/.test("
                               "document.getElementById('identity').textContent)")
        kept = page.locator("#identity").inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(screenshots / "review-phone.png"), full_page=True)
        browser.close()
    print(f"screenshots: {screenshots}")
    assert bad.startswith("this is not an aiwork key file"), bad
    assert imported == kept == f"Your identity: {key.did}"
    assert width <= 360
