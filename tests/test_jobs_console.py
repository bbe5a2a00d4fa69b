"""The requester dashboard (/jobs) in Debian's chromium against a real ``aiwork serve`` and a
real ``aiwork worker``: a requester's key made in the browser, the bundled sample video
uploaded through the page (hashed in the page, signed, with a progress bar), a job submitted
and followed until done, its captions downloaded, and the same video not sent again; a file
that is not a video refused with the reason before any byte is sent; an upload cut off and
started again from the page; a library created, made sensitive, a reader granted and its
access log verified in the page (and failed when the coordinator's answer is altered). Its
upload helpers are tested in Node (tests/js/upload.test.mjs)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from aiwork.client.coordinator import CoordinatorClient, NoWork
from aiwork.client.review import give_verdict
from aiwork.crypto import SigningKey, write_key_file
from aiwork.digests import sha256_file

from .conftest import require, running_coordinator

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sample.mp4"
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def test_the_upload_helpers_hash_and_sniff_as_documented() -> None:
    require(tools=("node",))
    run = subprocess.run(["node", "--test", "tests/js/upload.test.mjs"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# skipped 0" in run.stdout


@contextmanager
def _worker(url: str, home: Path, analyzers: str) -> Iterator[SigningKey]:
    """A real ``aiwork worker`` process with the worker role, offering ``analyzers``."""
    key = SigningKey.generate()
    keyfile = home / "worker.pem"
    home.mkdir(parents=True, exist_ok=True)
    write_key_file(keyfile, key)
    with CoordinatorClient(url, key=key) as client:
        assert client.request_role("worker").status == "granted"
    proc = subprocess.Popen([sys.executable, "-m", "aiwork", "worker", "--coordinator", url,
                             "--key", str(keyfile), "--analyzers", analyzers],
                            env={**os.environ, "AIWORK_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield key
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _key(page: Any) -> str:
    page.get_by_role("button", name="Create a key in this browser").click()
    page.wait_for_function("() => /did:key:z6Mk/.test(document.getElementById('identity').textContent)")
    page.get_by_role("button", name="Request the requester role").click()
    page.wait_for_function("() => /You hold the requester role/.test("
                           "document.getElementById('role').textContent)")
    return str(page.locator("#identity").inner_text().split(": ")[1])


def _submitted(page: Any) -> None:
    """Wait for the upload and the job's submission to end, and check they succeeded."""
    page.wait_for_selector("#submit-state:is([data-upload-state=submitted],"
                           " [data-upload-state=failed], [data-upload-state=refused])")
    state = page.locator("#submit-state")
    assert state.get_attribute("data-upload-state") == "submitted", state.inner_text()


def _browser(pw: Any) -> Any:
    return pw.chromium.launch(executable_path="/usr/bin/chromium")


def test_a_requester_uploads_the_sample_follows_the_job_and_downloads_its_captions(
        tmp_path: Path, screenshots: Path) -> None:
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    home = tmp_path / "coordinator"
    bad = tmp_path / "notes.mp4"
    bad.write_text("These are my notes, not a video.\n" * 20)
    digest = sha256_file(SAMPLE)
    admin, expert = SigningKey.generate(), SigningKey.generate()
    with running_coordinator(home, "--open-registration", "--starting-credits", "50",
                             "--admin", admin.did) as url, sync_playwright() as pw:
        # Every transcript item goes to one expert's review.
        with CoordinatorClient(url, key=admin) as client:
            client.set_review_rules("transcript", {"audit_share": 1.0, "experts": 1})
        browser = _browser(pw)
        page = browser.new_page(viewport=LAPTOP, accept_downloads=True)
        puts: list[str] = []
        page.on("request", lambda r: puts.append(r.url) if r.method == "PUT" else None)
        page.goto(url + "/jobs")
        page.wait_for_selector("input[name=analyzer][value=transcript]")
        did = _key(page)

        # A text file named .mp4 is refused with the reason, and nothing is sent.
        page.set_input_files("#video", str(bad))
        page.wait_for_selector("#video-state.error")
        refused = page.locator("#video-state").inner_text()
        assert "“notes.mp4” is not a video: its content is text" in refused
        page.get_by_role("button", name="Upload and submit").click()
        page.wait_for_selector("#submit-state[data-upload-state=refused]")
        assert "is not a video" in page.locator("#submit-state").inner_text()
        assert puts == []
        page.screenshot(path=str(screenshots / "refused-laptop.png"), full_page=True)

        # The sample, uploaded with the bar; a job that costs more than the requester's
        # credits is refused with the coordinator's reason, and it can be submitted again.
        page.set_input_files("#video", str(SAMPLE))
        page.wait_for_function("() => /MP4 or QuickTime video/.test("
                               "document.getElementById('video-state').textContent)")
        for box in page.locator("input[name=analyzer]").all():
            box.check()
        page.fill("#redundancy", "9")
        page.get_by_role("button", name="Upload and submit").click()
        page.wait_for_selector("#submit-state:is([data-upload-state=failed],"
                               " [data-upload-state=submitted])")
        assert "the coordinator refused (402)" in page.locator("#submit-state").inner_text()
        assert puts == [f"{url}/v1/blobs/{digest}"]
        assert page.locator("#upload-progress").get_attribute("aria-valuetext") == "Upload: 100%"
        for box in page.locator("input[name=analyzer]").all():
            box.uncheck()
        page.locator("input[name=analyzer][value=technical]").check()
        page.locator("input[name=analyzer][value=transcript]").check()
        page.fill("#redundancy", "1")
        page.get_by_role("button", name="Submit the job again").click()
        _submitted(page)
        assert len(puts) == 1  # uploaded once
        with CoordinatorClient(url) as anyone:
            [job] = anyone.get(f"/v1/jobs?requester={did}").json()
            assert job["asset"] == digest and job["analyzers"] == ["technical", "transcript"]
            assert job["state"] == "open"
            offered = {a.name: a.workers for a in anyone.list_analyzers()}
            assert offered["transcript"] == 0 and "keywords" in offered
        row = page.locator(f"li.job[data-job='{job['id']}']")
        assert "sample.mp4" in row.inner_text() and "0 of 2 analyses finished" in row.inner_text()
        page.screenshot(path=str(screenshots / "submitted-laptop.png"), full_page=True)

        # A real worker takes the tasks; the page follows without a reload, keeps the focus
        # where it was, and says when the job is done.
        row.get_by_role("button", name="Details").focus()
        with _worker(url, tmp_path / "worker", "technical,transcript"):
            page.wait_for_selector(f"li.job[data-job='{job['id']}'][data-state=done]",
                                   timeout=180_000)
        assert page.evaluate("() => document.activeElement.textContent") == \
            "Results and downloads"
        assert page.locator("#jobs-state").inner_text() == "sample.mp4: the job is done."
        with CoordinatorClient(url) as anyone:
            assert {a.name: a.workers for a in anyone.list_analyzers()}["transcript"] == 1
        # The analyzers' notes follow, and the choices made stay.
        page.wait_for_function("() => document.querySelector('label[data-analyzer=transcript]')"
                               ".textContent.includes('1 worker')")
        assert page.locator("input[name=analyzer][value=transcript]").is_checked()
        assert not page.locator("input[name=analyzer][value=shots]").is_checked()
        assert "2 of 2 analyses finished" in row.inner_text()
        # An expert accepts the first transcript segment: a human-verified item.
        with CoordinatorClient(url, key=expert) as client:
            assert client.request_role("expert").status == "granted"
            item = client.next_review_item()
            assert not isinstance(item, NoWork)
            assert item.insight == "transcript"
            give_verdict(client, item.id, "accept")
            verified = client.get(f"/v1/jobs/{job['id']}/review").json()["human_verified"]
        [(number, outcome)] = verified["transcript"].items()
        row.get_by_role("button", name="Results and downloads").click()
        page.wait_for_selector("#job[data-state=done] [data-export='captions.vtt']")
        page.wait_for_selector("#insights [data-insight=transcript]")
        transcript = page.locator("[data-insight=transcript]").inner_text()
        assert "Welcome to this short demonstration video." in transcript
        # The job's video in the console's player, over one lane per insight: an item seeks.
        page.wait_for_selector("#player video")
        items = page.locator("#timeline .lane-transcript button.item")
        assert items.count() == 3
        second = float(items.nth(1).get_attribute("data-start") or "nan")
        items.nth(1).click()
        page.wait_for_function(f"() => Math.abs(document.querySelector('#player video')"
                               f".currentTime - {second}) < 0.05")
        # AI items and the human-verified one told apart, each linking to its decision (the
        # experts' consensus for the verified one) in the explorer; its lane item marked too.
        segments = page.locator("[data-insight=transcript] li")
        human = page.locator("[data-insight=transcript] li.human")
        assert segments.count() == 3 and human.count() == 1
        assert human.locator(".tag").inner_text() == "human-verified"
        assert human.locator("a").get_attribute("href") == \
            f"/explorer/entry/{outcome['consensus']}"
        assert segments.nth(int(number)).get_attribute("class") == "human"
        link = page.locator("[data-insight=transcript] li.ai a").first
        assert (link.get_attribute("href") or "").startswith("/explorer/entry/")
        assert page.locator("#timeline .lane-transcript button.item.state-verified").count() == 1
        with page.expect_download() as caught:
            page.locator("[data-export='captions.vtt']").click()
        saved = tmp_path / "captions.vtt"
        caught.value.save_as(saved)
        assert caught.value.suggested_filename == "sample.captions.vtt"
        captions = saved.read_text()
        assert captions.startswith("WEBVTT")
        assert "Welcome to this short demonstration video." in captions
        assert captions == httpx.get(f"{url}/v1/jobs/{job['id']}/export/captions.vtt").text
        with page.expect_download() as caught:
            page.locator("[data-export='audit']").click()
        bundle = json.loads(Path(caught.value.path()).read_text())
        assert bundle["job"] == job["id"]
        page.screenshot(path=str(screenshots / "done-laptop.png"), full_page=True)

        # The same video again: the coordinator holds it, so nothing is sent a second time.
        page.locator("input[name=analyzer][value=transcript]").uncheck()
        page.get_by_role("button", name="Upload and submit").click()
        _submitted(page)
        assert len(puts) == 1
        assert page.locator("li.job").count() == 2

        # The same page at a phone's width.
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(screenshots / "done-phone.png"), full_page=True)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width} px wide at a phone's width"
        browser.close()


def test_a_library_is_made_sensitive_a_reader_granted_and_its_access_log_verified(
        tmp_path: Path, screenshots: Path) -> None:
    require("playwright", tools=("chromium",))
    from playwright.sync_api import Route, sync_playwright

    from aiwork.client.access_log import verify_access_log

    home = tmp_path / "coordinator"
    reader = SigningKey.generate()
    with running_coordinator(home, "--open-registration", "--starting-credits", "50") as url, \
            sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport=LAPTOP)
        page.goto(url + "/jobs")
        page.wait_for_selector("input[name=analyzer][value=technical]")
        # A file that is no key file is refused in words.
        nokey = tmp_path / "not-a-key.pem"
        nokey.write_text("hello\n")
        page.set_input_files("#keyfile", str(nokey))
        page.wait_for_selector("#identity.error")
        assert "this is not an aiwork key file" in page.locator("#identity").inner_text()
        did = _key(page)
        page.get_by_label("New library's name").fill("Press archive")
        page.get_by_role("button", name="Create the library").click()
        card = page.locator("li.library[data-sensitive=false]")
        card.wait_for()
        library = card.get_attribute("data-library")
        assert library
        card.get_by_role("button", name="Mark it sensitive").click()
        page.wait_for_selector(f"li.library[data-library='{library}'][data-sensitive=true]")
        card = page.locator(f"li.library[data-library='{library}']")
        card.get_by_label("Grant a reader (their did:key)").fill("not-a-did")
        card.get_by_role("button", name="Grant").click()
        page.wait_for_selector("#libraries-state.error")
        assert "did:key" in page.locator("#libraries-state").inner_text()
        card.get_by_label("Grant a reader (their did:key)").fill(reader.did)
        card.get_by_role("button", name="Grant").click()
        page.wait_for_function(f"() => document.getElementById('libraries').textContent"
                               f".includes('{reader.did}')")

        # A job in the library, its results read through the page: a logged read. The first
        # upload is cut off: the page says so, and it starts again from the page.
        page.select_option("#library", library)
        page.set_input_files("#video", str(SAMPLE))
        page.route("**/v1/blobs/*", lambda route: route.abort("connectionreset")
                   if route.request.method == "PUT" else route.continue_())
        page.get_by_role("button", name="Upload and submit").click()
        page.wait_for_selector("#submit-state[data-upload-state=failed]")
        assert "the upload was cut off" in page.locator("#submit-state").inner_text()
        page.unroute("**/v1/blobs/*")
        page.get_by_role("button", name="Try the upload again").click()
        _submitted(page)
        assert page.get_by_role("button", name="Try the upload again").is_hidden()
        page.wait_for_function(f"() => document.querySelector(\"li.library[data-library="
                               f"'{library}']\").textContent.includes('1 job(s)')")
        page.locator("li.job").get_by_role("button", name="Details").click()
        page.wait_for_selector("#job[data-state=open] #insights p")
        assert not page.locator("#purpose-field").is_hidden()
        # Its video plays in the page from a media grant (a <video> cannot sign), itself a
        # logged read.
        page.wait_for_function("() => document.querySelector('#player video')?.readyState"
                               " >= 2", timeout=20000)
        assert "?grant=" in page.locator("#player video").evaluate("(v) => v.currentSrc")

        card.get_by_role("button", name="Show the verified access log").click()
        status = card.locator("[data-verify-status]")
        status.wait_for()
        assert status.inner_text() == "Access log: verified", card.inner_text()
        checks = card.locator(".checks li")
        assert checks.count() == 5  # created, made sensitive, reader granted, two reads
        assert card.locator(".checks li.passed").count() == 5
        assert "you read results of job" in checks.nth(3).inner_text()
        assert "review of the job's results" in checks.nth(3).inner_text()
        assert "read media of job" in checks.nth(4).inner_text()
        assert "review of the job's results" in checks.nth(4).inner_text()
        page.screenshot(path=str(screenshots / "library-laptop.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(screenshots / "library-phone.png"), full_page=True)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        page.set_viewport_size(LAPTOP)

        # What the page verified, Python's checker verifies too.
        with CoordinatorClient(url) as anyone:
            key = anyone.get("/v1/ledger/key").text.strip()
        owner_listing: dict[str, Any] = {}

        def altered(route: Route) -> None:
            answer = route.fetch()
            listing = answer.json()
            owner_listing.update(copy.deepcopy(listing))
            read = json.loads(listing["entries"][0]["entry"])
            read["body"]["purpose"] = "nothing to see here"
            listing["entries"][0]["entry"] = json.dumps(read, separators=(",", ":"),
                                                        sort_keys=True)
            route.fulfill(response=answer, body=json.dumps(listing))

        page.route(f"**/v1/libraries/{library}/access*", altered)
        card.get_by_role("button", name="Show the verified access log").click()
        page.wait_for_function(f"() => document.querySelector(\"li.library[data-library="
                               f"'{library}'] [data-verify-status]\")?.dataset.verifyStatus"
                               " === 'failed'")
        failed = card.locator(".checks li.failed")
        assert failed.count() == 2  # the altered read, and the next, chained to its hash
        assert "does not verify" in failed.first.inner_text()
        assert verify_access_log(owner_listing, key, library=library).reads[0].reader == did

        # A read cut off the end of the log: this browser saw it verified, so it is missed.
        def cut(route: Route) -> None:
            answer = route.fetch()
            listing = answer.json()
            listing["entries"], listing["reads"] = [], 0
            route.fulfill(response=answer, body=json.dumps(listing))

        page.unroute(f"**/v1/libraries/{library}/access*")
        page.route(f"**/v1/libraries/{library}/access*", cut)
        card.get_by_role("button", name="Show the verified access log").click()
        page.wait_for_function(f"() => document.querySelector(\"li.library[data-library="
                               f"'{library}'] [data-verify-status]\")?.dataset.verifyStatus"
                               " === 'failed'")
        assert "known from before, is not listed: the access log was cut short" in \
            card.locator(".access").inner_text()
        browser.close()


def test_a_video_over_the_coordinators_bound_is_refused_with_the_reason(
        tmp_path: Path, screenshots: Path) -> None:
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    home = tmp_path / "coordinator"
    bound = SAMPLE.stat().st_size - 1
    with running_coordinator(home, "--open-registration", "--starting-credits", "50",
                             "--max-upload-bytes", str(bound)) as url, sync_playwright() as pw:
        browser = _browser(pw)
        page = browser.new_page(viewport=PHONE)
        page.goto(url + "/jobs")
        page.wait_for_selector("input[name=analyzer][value=technical]")
        _key(page)
        page.set_input_files("#video", str(SAMPLE))
        page.get_by_role("button", name="Upload and submit").click()
        page.wait_for_selector("#submit-state:is([data-upload-state=failed],"
                               " [data-upload-state=submitted])")
        said = page.locator("#submit-state").inner_text()
        assert said == (f"the coordinator refused (413): a media upload is at most {bound} bytes; "
                        f"this one declares {bound + 1}"), said
        assert page.get_by_role("button", name="Try the upload again").is_visible()
        assert page.locator("#upload-label").inner_text() == "Upload: not completed"
        with CoordinatorClient(url) as anyone:
            assert anyone.get("/v1/jobs").json() == []
            assert httpx.get(f"{url}/v1/blobs/{sha256_file(SAMPLE)}").status_code == 404
        page.screenshot(path=str(screenshots / "too-large-phone.png"), full_page=True)
        browser.close()


def test_many_open_jobs_are_followed_with_one_request_per_poll(
        tmp_path: Path, screenshots: Path) -> None:
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    home = tmp_path / "coordinator"
    key = SigningKey.generate()
    keyfile = tmp_path / "requester.pem"
    write_key_file(keyfile, key)
    with running_coordinator(home, "--open-registration", "--starting-credits", "50") as url, \
            sync_playwright() as pw:
        # Seven jobs from a key made outside the browser (aiwork keys new), then imported.
        with CoordinatorClient(url, key=key) as client:
            client.request_role("requester")
            asset = client.upload_blob(SAMPLE.read_bytes())
            made = [client.submit_job(asset, ["technical"]).id for _ in range(7)]
        browser = _browser(pw)
        page = browser.new_page(viewport=LAPTOP)
        one_by_one: list[str] = []
        page.on("request", lambda r: one_by_one.append(r.url)
                if "/v1/jobs/" in r.url and r.method == "GET" else None)
        page.goto(url + "/jobs")
        page.wait_for_selector("input[name=analyzer][value=technical]")
        page.set_input_files("#keyfile", str(keyfile))
        page.wait_for_function(f"() => document.getElementById('identity').textContent"
                               f".includes('{key.did}')")
        page.wait_for_selector("li.job >> nth=6")
        assert page.locator("li.job[data-state=open]").count() == 7
        with _worker(url, tmp_path / "worker", "technical"):
            page.wait_for_function("() => document.querySelectorAll("
                                   "'li.job[data-state=done]').length === 7", timeout=180_000)
        assert one_by_one == []  # followed through GET /v1/jobs?requester=, one per poll
        assert sorted(page.locator("li.job").evaluate_all(
            "(rows) => rows.map((r) => r.dataset.job)")) == sorted(made)
        page.screenshot(path=str(screenshots / "seven-done-laptop.png"), full_page=True)
        browser.close()


def test_the_page_lists_the_libraries_the_coordinator_knows_for_its_key(
        tmp_path: Path, screenshots: Path) -> None:
    """The libraries shown are the coordinator's answer for this key (GET /v1/libraries): one
    made elsewhere with the same key and one it was made a reader of appear after the key file
    is imported; a stranger's library does not."""
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    me, other, stranger = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    write_key_file(tmp_path / "me.pem", me)
    with running_coordinator(tmp_path / "coordinator", "--open-registration") as url, \
            sync_playwright() as pw:
        for key in (me, other, stranger):
            with CoordinatorClient(url, key) as client:
                client.post("/v1/identities", {"role": "requester"})
        with CoordinatorClient(url, me) as client:
            mine = client.create_library("Made on the command line").id
        with CoordinatorClient(url, other) as client:
            shared = client.create_library("Shared with me", sensitive=True).id
            client.add_reader(shared, me.did)
        with CoordinatorClient(url, stranger) as client:
            hidden = client.create_library("Not mine", sensitive=True).id
        assert httpx.get(url + "/v1/libraries").status_code == 401
        browser = _browser(pw)
        page = browser.new_page(viewport=LAPTOP)
        page.goto(url + "/jobs")
        page.set_input_files("#keyfile", str(tmp_path / "me.pem"))
        page.wait_for_selector(f"li.library[data-library='{shared}']")
        shown = page.locator("li.library").evaluate_all(
            "(items) => items.map((li) => li.dataset.library)")
        page.screenshot(path=str(screenshots / "libraries-listed.png"), full_page=True)
        browser.close()
    assert shown == [mine, shared] and hidden not in shown
