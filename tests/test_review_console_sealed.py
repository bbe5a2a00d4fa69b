"""The review page on a sensitive library's item: the expert (a reader of the library) answers
in the browser, and the page seals the verdict itself — the public log gets a
``human.verdict.sealed`` entry holding only commitments, the coordinator the openings — so
the value an expert typed never appears in the log, yet opens against it. The item's video
plays in the page from a media grant (a ``<video>`` cannot sign), and its job's lanes show
from results read with a stated purpose; both reads are logged before any data goes out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx2 as httpx

from aiwork.client.coordinator import CoordinatorClient
from aiwork.client.worker import Worker
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import check_entry
from aiwork.model.commitment import check_opening
from aiwork.model.entry import Entry

from .conftest import require, running_coordinator
from .test_review_console import _new_expert


def _clip(path: Path) -> Path:
    """6 s: 3 s of green, then 3 s of white (one cut at 3 s)."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=green:s=320x180:d=3:r=25", "-f", "lavfi", "-i",
                    "color=c=white:s=320x180:d=3:r=25", "-filter_complex",
                    "[0][1]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _sensitive_job(url: str, admin: SigningKey, expert_did: str, tmp_path: Path) -> str:
    """A sensitive library whose reader is ``expert_did``, a finished ``shots`` job in it whose
    every cut goes to one expert; the library's id."""
    requester, worker_key = SigningKey.generate(), SigningKey.generate()
    with CoordinatorClient(url, key=admin) as boss:
        boss.request("PUT", "/v1/review/rules/shots", json.dumps(
            {"audit_share": 1.0, "experts": 1, "gold_share": 0.0}).encode())
        with CoordinatorClient(url, key=requester) as req, \
                CoordinatorClient(url, key=worker_key) as work:
            req.post("/v1/identities", {"role": "requester"})
            work.post("/v1/identities", {"role": "worker"})
            boss.approve_role(requester.did, "requester")
            boss.approve_role(worker_key.did, "worker")
            boss.post("/v1/admin/credits", {"to": requester.did, "amount": 100})
            library = req.post("/v1/libraries", {"name": "Board", "sensitive": True})["id"]
            req.post(f"/v1/libraries/{library}/readers", {"did": expert_did})
            asset = req.upload_blob(_clip(tmp_path / "board.mp4").read_bytes(), library=library)
            req.post("/v1/jobs", {"asset": asset, "analyzers": ["shots"], "library": library})
            worker = Worker(work, worker_key, tmp_path / "worker", ["shots"])
            assert worker.run_once() and worker.stats.failed == 0, worker.stats.errors
    return str(library)


def test_a_sensitive_item_is_answered_with_a_verdict_sealed_in_the_browser(
        tmp_path: Path, screenshots: Path) -> None:
    require("playwright", tools=("chromium", "ffmpeg"))
    from playwright.sync_api import sync_playwright

    admin = SigningKey.generate()
    sent: list[dict[str, Any]] = []
    with running_coordinator(tmp_path / "home", "--admin", admin.did) as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        page.on("request", lambda r: sent.append(json.loads(r.post_data or "{}"))
                if r.url.endswith("/verdict") else None)
        did = _new_expert(page, url, admin)
        _sensitive_job(url, admin, did, tmp_path)
        page.keyboard.press("n")
        page.wait_for_selector("#state[data-review-state=item]")
        # The video plays from its grant: the frames decoded, the file's real duration.
        page.wait_for_function("() => document.querySelector('#media video')?.readyState >= 2",
                               timeout=20000)
        video = page.locator("#media video").evaluate(
            "(v) => ({src: v.currentSrc, duration: v.duration, error: v.error && v.error.code,"
            " width: v.videoWidth})")
        # ...and the job's lanes, from its results read with a purpose (its keyframes drawn
        # from the video itself).
        page.wait_for_selector(".lane-shots button.item.current")
        page.wait_for_function("() => [...document.querySelectorAll('#media canvas.thumb')]"
                               ".some((c) => c.dataset.state === 'drawn')", timeout=20000)
        page.screenshot(path=str(screenshots / "review-sealed-video.png"), full_page=True)
        page.keyboard.press("c")
        page.locator("#value").fill("3.04")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelectorAll('#done li').length === 1"
                               " || document.querySelector('#state.error') !== null")
        page.screenshot(path=str(screenshots / "review-sealed.png"), full_page=True)
        state = page.locator("#state").inner_text()
        indices = page.locator("#done li").evaluate_all(
            "(items) => items.map((li) => Number(li.dataset.index))")
        browser.close()
        assert indices, state
        public = httpx.get(f"{url}/v1/ledger/entries/{indices[0]}").content
        size = int(httpx.get(f"{url}/v1/ledger/checkpoint").text.splitlines()[1])
        entries = [Entry.from_bytes(httpx.get(f"{url}/v1/ledger/entries/{i}").content)
                   for i in range(size)]
    assert video["error"] is None and video["width"] == 320, video
    assert "/v1/blobs/sha256:" in video["src"] and "?grant=" in video["src"], video
    assert abs(video["duration"] - 6.0) < 0.1, video
    # Each read of the sensitive library was logged, with who, what and why.
    reads = [entry.body for entry in entries if entry.kind == "access.read/v1"]
    assert {(r["reader"], r["resource"], r["purpose"]) for r in reads} >= {
        (did, "results", "expert review"), (did, "media", "expert review")}, reads
    token = video["src"].split("?grant=")[1].split("#")[0]
    assert all(token.encode() not in entry.to_bytes() for entry in entries)
    [request] = [body for body in sent if "entry" in body]
    assert public.decode() == request["entry"]  # the log holds exactly what the page signed
    entry = Entry.from_bytes(public)
    check_entry(entry)
    assert entry.kind == "human.verdict.sealed/v1" and entry.author == did
    assert b"3.04" not in public  # the typed value is not in the public log...
    body, openings = entry.body, request["openings"]
    assert check_opening(body["value"], openings["value"], "value") == 3.04  # ...yet opens
    assert check_opening(body["rationale"], openings["rationale"], "rationale") is None
    assert body["verdict"] == "correct"


def test_a_grant_that_runs_out_is_renewed_and_the_video_plays_on(
        tmp_path: Path, screenshots: Path) -> None:
    """A grant refused while the page plays (it expired: 5 minutes) is asked for again, once:
    the player loads the video from the new grant, and the new read is logged too."""
    require("playwright", tools=("chromium", "ffmpeg"))
    from playwright.sync_api import Route, sync_playwright

    admin = SigningKey.generate()
    first: list[str] = []

    def expire_the_first(route: Route) -> None:
        token = route.request.url.split("?grant=")[1].split("#")[0]
        first[:] = first or [token]
        if token == first[0]:  # as the coordinator answers an expired grant
            route.fulfill(status=403, content_type="application/json",
                          body='{"error": "grant-refused", "message": "expired"}')
        else:
            route.continue_()

    with running_coordinator(tmp_path / "home", "--admin", admin.did) as url, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        page.route("**/v1/blobs/*?grant=*", expire_the_first)
        did = _new_expert(page, url, admin)
        _sensitive_job(url, admin, did, tmp_path)
        page.keyboard.press("n")
        page.wait_for_selector("#state[data-review-state=item]")
        page.wait_for_function("() => document.querySelector('#media video')?.readyState >= 2",
                               timeout=20000)
        # The thumbnails, drawn from the video, follow the new grant too.
        page.wait_for_function("() => [...document.querySelectorAll('#media canvas.thumb')]"
                               ".some((c) => c.dataset.state === 'drawn')", timeout=20000)
        src = page.locator("#media video").evaluate("(v) => v.currentSrc")
        at = page.locator("#media video").evaluate("(v) => v.currentTime")
        where = page.locator("#facts").inner_text().split("Where")[1].split()[0]
        note = page.locator("#media .player-note").inner_text()
        page.screenshot(path=str(screenshots / "review-grant-renewed.png"), full_page=True)
        browser.close()
        size = int(httpx.get(f"{url}/v1/ledger/checkpoint").text.splitlines()[1])
        entries = [Entry.from_bytes(httpx.get(f"{url}/v1/ledger/entries/{i}").content)
                   for i in range(size)]
    assert first and "?grant=" in src and first[0] not in src, src
    assert "cannot be played" not in note
    assert abs(at - float(where)) < 0.05, (at, where)  # still opened at the item's start
    media = [e.body for e in entries
             if e.kind == "access.read/v1" and e.body["resource"] == "media"]
    assert len(media) == 2 and all(r["reader"] == did for r in media), media
