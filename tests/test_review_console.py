"""The review console (/review): its signer (sign.js) builds the same canonical bytes and the
same Ed25519 signatures as the Python client, checked in Node against a shared test vector
(tests/data/console-signing.json, written here from fixed inputs and a fixed key)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from aiwork.auth import signing_bytes
from aiwork.client.coordinator import CoordinatorClient, NoWork
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


def test_the_correction_editors_read_values_as_the_coordinator_checks_them() -> None:
    """correct.js in Node: each insight's editor, values read as check_correction reads them,
    a cut nudged one frame at a time on the file's frame edges."""
    require(tools=("node",))
    run = subprocess.run(["node", "--test", "tests/js/correct.test.mjs"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# pass 3" in run.stdout


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


def _sent(page: Any, done: int) -> None:
    """Wait until ``done`` verdicts are sent (or a refusal is shown) and the page is idle."""
    page.wait_for_function(f"() => (document.querySelectorAll('#done li').length === {done}"
                           " || document.querySelector('#sent.error, #state.error') !== null)"
                           " && !document.body.dataset.busy")


def _item_shown(page: Any, not_this: str | None = None) -> str:
    """Wait for an item on screen (another than ``not_this``) and the page idle; its id."""
    page.wait_for_function(
        "(old) => { const s = document.getElementById('state');"
        " return s.dataset.reviewState === 'item' && s.dataset.item !== old"
        " && !document.body.dataset.busy; }", arg=not_this or "")
    return str(page.locator("#state").get_attribute("data-item"))


def _shows(page: Any, item: str) -> None:
    page.wait_for_function("(id) => document.getElementById('state').dataset.item === id"
                           " && !document.body.dataset.busy", arg=item)


def _pending(page: Any, item: str) -> None:
    page.wait_for_function("(id) => document.getElementById('pending').dataset.item === id",
                           arg=item)


def _new_expert(page: Any, url: str, admin: SigningKey) -> str:
    """Create a key in the page (unless one is there), request the expert role, have the
    admin grant it; the did."""
    if page.url != url + "/review":
        page.goto(url + "/review")
    if page.get_by_role("button", name="Create a key in this browser").is_enabled() and \
            "Your identity" not in page.locator("#identity").inner_text():
        page.get_by_role("button", name="Create a key in this browser").click()
    page.wait_for_function("() => /did:key:z6Mk/.test("
                           "document.getElementById('identity').textContent)")
    did = page.locator("#identity").inner_text().split(": ")[1]
    page.get_by_role("button", name="Request the expert role").click()
    page.wait_for_function("() => /pending|granted/.test("
                           "document.getElementById('role').textContent)")
    with CoordinatorClient(url, key=admin) as admin_client:
        assert admin_client.approve_role(did, "expert").status == "granted"
    return did


def test_undo_skip_previous_and_the_empty_queue_in_the_browser(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, screenshots: Path) -> None:
    """A verdict waits out a visible grace period: U within it sends nothing (the ledger does
    not grow) and brings the item back; S hands the item back to the queue (another expert
    is served it); B reopens the items before: an answered one read-only with the verdict
    given, a skipped one answerable; an empty queue says so. A request before the expert role
    is refused in words."""
    require("playwright", tools=("chromium", "ffmpeg"))
    from playwright.sync_api import sync_playwright

    home = tmp_path / "home"
    monkeypatch.setenv("AIWORK_HOME", str(home))
    _queue_items(home, make_two_scene_clip(tmp_path / "clip.mp4"))
    admin = SigningKey.generate()
    other = SigningKey.generate()
    posted: list[str] = []
    with running_coordinator(home, "--admin", admin.did) as url, sync_playwright() as pw:
        def size() -> int:
            return int(httpx.get(f"{url}/v1/ledger/checkpoint").text.split("\n")[1])

        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: posted.append(r.url) if r.url.endswith("/verdict")
                else None)
        page.goto(url + "/review")
        page.get_by_role("button", name="Create a key in this browser").click()
        page.wait_for_function("() => /did:key:z6Mk/.test("
                               "document.getElementById('identity').textContent)")
        page.keyboard.press("n")  # no role yet: refused, in words
        page.wait_for_selector("#state[data-review-state=error]")
        refused = page.locator("#state").inner_text()
        did = _new_expert(page, url, admin)
        page.keyboard.press("n")
        first = _item_shown(page)
        # U within the grace period: nothing is sent, the item comes back
        before = size()
        page.keyboard.press("a")
        _pending(page, first)
        second = _item_shown(page, first)
        countdown = page.locator("#countdown").inner_text()
        page.screenshot(path=str(screenshots / "grace-period.png"), full_page=True)
        page.keyboard.press("u")
        page.wait_for_selector("#pending", state="hidden")
        _shows(page, first)
        undone = page.locator("#sent").inner_text()
        page.wait_for_timeout(5500)  # past the grace period: still nothing sent
        unchanged = size() == before and posted == []
        # S hands the item back: another expert is served it
        page.keyboard.press("s")
        _shows(page, second)  # the item shown meanwhile comes next
        with CoordinatorClient(url, key=admin) as boss, CoordinatorClient(url, key=other) as them:
            boss.approve_role(other.did, "expert")
            taken = them.next_review_item()
        page.keyboard.press("a")
        third = _item_shown(page, second)
        page.keyboard.press("r")  # sends the accept at once
        _sent(page, 1)
        fourth = _item_shown(page, third)
        page.keyboard.press("b")  # the rejected item, its verdict still in its grace period
        _shows(page, third)
        in_grace = page.locator("#state").inner_text()
        page.keyboard.press("b")  # the accepted item, read-only, its verdict shown
        _shows(page, second)
        reopened = page.locator("#state").inner_text()
        page.keyboard.press("a")  # answered already: nothing but words
        page.wait_for_function("() => /already answered/.test("
                               "document.getElementById('state').textContent)")
        page.keyboard.press("b")
        _shows(page, first)
        skipped = page.locator("#state").inner_text()
        page.screenshot(path=str(screenshots / "previous-item.png"), full_page=True)
        _sent(page, 2)  # the reject waited out its grace period
        for item in (second, third, fourth):  # N: forward through this visit
            page.keyboard.press("n")
            _shows(page, item)
        page.keyboard.press("n")  # an item on screen not answered: answer or skip it first
        page.wait_for_selector("#state.error")
        held = page.locator("#state").inner_text()
        sent = page.locator("#done li").evaluate_all("(l) => l.map((li) => li.dataset.verdict)")
        # an accept, then the page is left within its grace period: it is sent as it goes
        page.keyboard.press("a")
        _pending(page, fourth)
        page.goto(url + "/review")
        with CoordinatorClient(url, key=admin) as boss:
            for _ in range(100):
                mine = boss.list_expert_verdicts(did).verdicts
                if len(mine) == 3:
                    break
                time.sleep(0.1)
        page.wait_for_function("() => /did:key/.test(document.getElementById('identity')"
                               ".textContent) && !document.body.dataset.busy")
        page.keyboard.press("n")
        page.wait_for_selector("#state[data-review-state=empty]")
        empty = page.locator("#state").inner_text()
        page.wait_for_function("() => document.querySelectorAll('#history li').length === 3")
        page.screenshot(path=str(screenshots / "empty-queue.png"), full_page=True)
        history = page.locator("#history li").all_inner_texts()
        browser.close()
    assert refused.startswith("the coordinator refused (403)"), refused
    assert countdown in ("5 s", "4 s"), countdown
    assert undone.startswith("Undone: your accept was not sent"), undone
    assert unchanged
    assert not isinstance(taken, NoWork) and taken.id == first
    assert len({first, second, third, fourth}) == 4
    assert "your reject is being sent; U undoes it" in in_grace, in_grace
    assert held.startswith("Answer this item"), held
    assert "you answered accept" in reopened and "ledger entry" in reopened, reopened
    assert "you skipped it" in skipped, skipped
    assert sent == ["accept", "reject"]
    assert [(v.item, v.verdict) for v in mine] == [
        (fourth, "accept"), (third, "reject"), (second, "accept")]
    assert empty.startswith("Nothing to review right now"), empty
    assert [h.split(" on ")[0] for h in history] == ["accept", "reject", "accept"], history


SAMPLE = ROOT / "samples" / "sample.mp4"


def _sample_job(url: str, admin: SigningKey, tmp_path: Path) -> str:
    """A finished job over the bundled sample video (its technical facts and shots, by a real
    worker), every cut it found routed to one expert; the job's id."""
    from aiwork.client.worker import Worker

    requester, worker_key = SigningKey.generate(), SigningKey.generate()
    with CoordinatorClient(url, key=admin) as boss, \
            CoordinatorClient(url, key=requester) as req, \
            CoordinatorClient(url, key=worker_key) as work:
        boss.set_review_rules("shots", {"audit_share": 1.0, "experts": 1, "gold_share": 0.0})
        req.request_role("requester")
        work.request_role("worker")
        boss.approve_role(requester.did, "requester")
        boss.approve_role(worker_key.did, "worker")
        boss.grant_credits(requester.did, 100)
        asset = req.upload_blob(SAMPLE.read_bytes())
        job = req.submit_job(asset, ["technical", "shots"])
        worker = Worker(work, worker_key, tmp_path / "worker", ["technical", "shots"])
        for _ in range(10):
            if not worker.run_once():
                break
        assert worker.stats.failed == 0, worker.stats.errors
        assert req.get_job(job.id).state == "done"
    return job.id


def test_an_expert_reviews_real_items_of_the_sample_video_with_the_keyboard(
        tmp_path: Path, screenshots: Path) -> None:
    """The issue's test: a real job over the sample video, its cuts routed to review; in
    chromium an expert creates a key, asks for the role (the admin grants it), and answers
    three items with the keyboard: accept; correct, with the cut editor nudged two frames
    (the video follows it); reject. Each verdict waits out or ends the grace period; the three
    human.verdict entries are in the ledger exactly as signed, verify (the log, each entry's
    signature, and the job's audit bundle with aiwork-verify's checker against the log's
    key), carry the seconds spent, and the expert's own history shows them decided."""
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    from aiwork.config import default_db_path
    from aiwork.ledger.entries import check_entry
    from aiwork.model.entry import Entry
    from aiwork.pipeline.process import open_store
    from aiwork.verify_bundle import verify_bundle

    home = tmp_path / "home"
    admin = SigningKey.generate()
    sent: list[str] = []
    with running_coordinator(home, "--admin", admin.did) as url, sync_playwright() as pw:
        job = _sample_job(url, admin, tmp_path)
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda r: sent.append(json.loads(r.post_data or "{}")["entry"])
                if r.url.endswith("/verdict") else None)
        did = _new_expert(page, url, admin)
        page.keyboard.press("n")
        first = _item_shown(page)
        # the role button clicked last is not left focused (Space, the player's key, would
        # press it again)
        unfocused = page.evaluate("document.activeElement === document.body")
        page.wait_for_function("() => document.querySelector('#media video')?.readyState >= 1")
        page.screenshot(path=str(screenshots / "laptop-item.png"), full_page=True)
        page.keyboard.press("a")
        second = _item_shown(page, first)
        page.wait_for_function("() => document.querySelector('#media video')?.readyState >= 1")
        page.keyboard.press("c")  # the cut editor, focused, the AI's time in it
        page.wait_for_function("() => document.activeElement?.id === 'value'")
        ai_cut = float(page.get_by_label("Where the cut is, in seconds").input_value())
        page.keyboard.press("ArrowUp")  # one frame later
        page.get_by_role("button", name="the cut one frame later (.)").click()  # and another
        page.wait_for_function("() => !document.querySelector('#media video').seeking")
        corrected = float(page.locator("#value").input_value())
        shown_at = page.evaluate("document.querySelector('#media video').currentTime")
        hint = page.locator("#editor-hint").inner_text()
        page.screenshot(path=str(screenshots / "laptop-correct.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(screenshots / "phone-correct.png"), full_page=True)
        phone_width = page.evaluate("document.documentElement.scrollWidth")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.locator("#value").focus()
        page.keyboard.press("Enter")  # signs the correction; the accept goes at once
        _sent(page, 1)
        third = _item_shown(page, second)
        page.keyboard.press("r")  # the correction goes at once
        _sent(page, 2)
        page.wait_for_selector("#state[data-review-state=empty]")
        empty = page.locator("#state").inner_text()
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(screenshots / "phone-grace.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        _sent(page, 3)  # the reject waited out its grace period
        page.wait_for_function("() => [...document.querySelectorAll('#history li')]"
                               ".filter((li) => /decided/.test(li.textContent)).length === 3")
        history = page.locator("#history li").all_inner_texts()
        page.screenshot(path=str(screenshots / "laptop-done.png"), full_page=True)
        indices = [int(i) for i in page.locator("#done li").evaluate_all(
            "(items) => items.map((li) => li.dataset.index)")]
        stored = [httpx.get(f"{url}/v1/ledger/entries/{i}").content.decode() for i in indices]
        log_key = httpx.get(f"{url}/v1/ledger/key").text.strip()
        with CoordinatorClient(url, key=admin) as boss:
            bundle = boss.get_audit_bundle(job)
        browser.close()
    print(f"screenshots: {screenshots}")
    assert len({first, second, third}) == 3 and unfocused
    assert corrected == round((round(ai_cut * 25) + 2) / 25, 3), (ai_cut, corrected)
    assert abs(shown_at - (round(corrected * 25) + 0.5) / 25) < 0.021, shown_at  # the video follows
    assert hint.startswith(f"Frame {round(corrected * 25)} at 25 fps"), hint
    assert phone_width <= 390
    assert empty.startswith("Nothing to review right now"), empty
    assert stored == sent  # the ledger holds exactly what the page signed
    entries = [Entry.from_bytes(s.encode()) for s in stored]
    assert [(e.body["item"], e.body["verdict"]) for e in entries] == [
        (first, "accept"), (second, "correct"), (third, "reject")]
    assert entries[1].body["value"] == corrected
    # the reject went 5 s after it was given (its grace period waited out): not in its time
    assert entries[2].body["seconds"] < 5
    for entry in entries:
        check_entry(entry)
        assert entry.kind == "human.verdict/v1" and entry.author == did
        assert 0 < entry.body["seconds"] < 600
    assert [h.split(" on ")[0] for h in history] == ["reject", f"correct ({corrected})", "accept"]
    assert [h.rsplit("decided: ", 1)[1] for h in history] == ["rejected", "corrected", "accepted"]
    report = verify_bundle(bundle, log_key=log_key)  # aiwork-verify's own checker
    assert set(indices) <= {e["index"] for e in bundle["entries"]}
    assert report.trusted
    log = open_store(default_db_path({"AIWORK_HOME": str(home)}))
    try:
        log.verify()
        assert [log.get(i).decode() for i in indices] == sent
    finally:
        log.close()


EDITED = [("transcript", "Is this transcript segment right? If not, correct it.", "Helo wrld"),
          ("ocr", "Is this on-screen text read right? If not, correct it.", "VER1FIED"),
          ("tags", "Is the tag 'cat' present in this part of the video?", "cat"),
          ("safety", "Is this safety flag right: violence at level high?", "high")]


def _queue_texts(home: Path, clip: Path) -> None:
    """One open item of each insight corrected with text or a choice, on ``clip``."""
    from aiwork.config import blobs_path, default_db_path
    from aiwork.coordinator.accounts import Accounts
    from aiwork.coordinator.identities import coordinator_key
    from aiwork.coordinator.review import Review
    from aiwork.pipeline.process import open_store
    from aiwork.quality.review_items import Candidate
    from aiwork.store.blobs import BlobStore

    db = default_db_path({"AIWORK_HOME": str(home)})
    log = open_store(db)
    asset = BlobStore(blobs_path(db)).put_file(clip)
    review = Review(log, coordinator_key(), Accounts(log.db).appender(log))
    for n, (insight, question, value) in enumerate(EDITED):
        review.set_rules(insight, {"experts": 1})
        review.add_item(job="j", insight=insight, decision=0,
                        candidate=Candidate(n, question, value, 1.0 + n, 2.0 + n, None, 0.4),
                        reason="audit", asset=asset, producers=[], annotator="model:m@x")
    log.close()


def test_each_insight_is_corrected_in_its_own_editor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, screenshots: Path) -> None:
    """C opens the insight's own labelled editor, the AI's value in it: a text area for a
    transcript segment (Shift+Enter a new line, Enter signs), a field for on-screen text and a
    tag, a choice for a safety level. Escape cancels (nothing sent); an empty text is refused
    in words before anything is signed; the corrected values reach the ledger as typed."""
    require("playwright", tools=("chromium", "ffmpeg"))
    from playwright.sync_api import sync_playwright

    home = tmp_path / "home"
    monkeypatch.setenv("AIWORK_HOME", str(home))
    _queue_texts(home, make_two_scene_clip(tmp_path / "clip.mp4"))
    admin = SigningKey.generate()
    sent: list[str] = []
    seen: dict[str, tuple[str, str, str]] = {}
    with running_coordinator(home, "--admin", admin.did) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.on("request", lambda r: sent.append(json.loads(r.post_data or "{}")["entry"])
                if r.url.endswith("/verdict") else None)
        _new_expert(page, url, admin)
        page.keyboard.press("n")
        shown = _item_shown(page)
        for n in range(len(EDITED)):
            question = page.locator("#question").inner_text()
            page.keyboard.press("c")
            page.wait_for_function("() => document.activeElement?.id === 'value'")
            field = page.locator("#value")
            label = page.locator("label[for=value]").inner_text()
            seen[question] = (field.evaluate("(f) => f.tagName"), label, field.input_value())
            if question.startswith("Is this transcript"):
                page.keyboard.press("Escape")  # cancelled: nothing signed
                page.wait_for_selector("#correction", state="hidden")
                page.keyboard.press("c")
                page.wait_for_function("() => document.activeElement?.id === 'value'")
                page.keyboard.press("Control+a")
                page.keyboard.type("Hello")
                page.keyboard.press("Shift+Enter")
                page.keyboard.type("world.")
                page.screenshot(path=str(screenshots / "phone-transcript-editor.png"),
                                full_page=True)
            elif question.startswith("Is this on-screen"):
                field.fill("   ")
                page.keyboard.press("Enter")  # empty: refused in words, nothing signed
                page.wait_for_selector("#editor-error.error")
                refused = page.locator("#editor-error").inner_text()
                field.fill("VERIFIED")
            elif question.startswith("Is the tag"):
                field.fill("dog")
            else:
                field.select_option("low")
            field.focus()
            page.keyboard.press("Enter")
            if n < len(EDITED) - 1:
                shown = _item_shown(page, shown)
        page.wait_for_selector("#state[data-review-state=empty]")
        _sent(page, len(EDITED))
        stored = [httpx.get(f"{url}/v1/ledger/entries/{i}").content.decode() for i in
                  page.locator("#done li").evaluate_all("(l) => l.map((li) => li.dataset.index)")]
        browser.close()
    by_question = {q: (kind, label, value) for q, (kind, label, value) in seen.items()}
    assert by_question == {
        EDITED[0][1]: ("TEXTAREA", "The segment's text, corrected", "Helo wrld"),
        EDITED[1][1]: ("INPUT", "The on-screen text, corrected", "VER1FIED"),
        EDITED[2][1]: ("INPUT", "The right tag", "cat"),
        EDITED[3][1]: ("SELECT", "The right safety level", "high")}
    assert refused.startswith("a correction cannot be empty"), refused
    assert stored == sent and len(sent) == len(EDITED)  # the cancelled one was never sent
    values = {json.loads(s)["body"]["insight"]: json.loads(s)["body"]["value"] for s in sent}
    assert values == {"transcript": "Hello\nworld.", "ocr": "VERIFIED", "tags": "dog",
                      "safety": "low"}
    assert all(json.loads(s)["body"]["verdict"] == "correct" for s in sent)


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
