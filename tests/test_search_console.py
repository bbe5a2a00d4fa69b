"""The search box of the requester dashboard (/jobs) in Debian's chromium, against a real
``aiwork serve`` and a real ``aiwork worker`` that transcribed the bundled sample: a word
spoken in it is found, its hit names the video, insight and time, marks the word, links to
its decision, and opens the player at that moment. A transcript whose text is HTML is shown
as text, never as markup. A sensitive library's moment is found by its owner only once they
state why, and the search, the results and the video are each logged with that purpose. The highlighting is tested in Node too (tests/js/search.test.mjs)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from aiwork.client.coordinator import CoordinatorClient
from aiwork.crypto import SigningKey

from .conftest import require, running_coordinator
from .test_jobs_console import LAPTOP, PHONE, SAMPLE, _browser, _worker
from .test_search_api import submit_transcript

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = '<img src=x onerror="document.title=\'owned\'"> the computer <b>says</b> hello'


def test_the_search_helpers_cut_text_at_the_matches_offsets() -> None:
    require(tools=("node",))
    run = subprocess.run(["node", "--test", "tests/js/search.test.mjs"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# skipped 0" in run.stdout


def test_a_spoken_word_is_found_and_its_hit_plays_the_video_from_that_moment(
        tmp_path: Path, screenshots: Path) -> None:
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    requester, scripted = SigningKey.generate(), SigningKey.generate()
    with running_coordinator(tmp_path / "coordinator", "--open-registration",
                             "--starting-credits", "50") as url, sync_playwright() as pw:
        with CoordinatorClient(url, key=requester) as client, \
                CoordinatorClient(url, key=scripted) as worker:
            assert client.request_role("requester").status == "granted"
            assert worker.request_role("worker").status == "granted"
            digest = client.upload_file(SAMPLE)
            # A transcript whose text is markup (a worker's result is hostile input).
            hostile = client.submit_job(digest, ["transcript"]).id
            submit_transcript(worker, scripted, [(12.5, 15.0, HOSTILE)])
            job = client.submit_job(digest, ["transcript"]).id
            with _worker(url, tmp_path / "worker", "transcript"):
                deadline = time.monotonic() + 240
                while client.get_job(job).state != "done":
                    assert time.monotonic() < deadline, "the worker did not finish"
                    time.sleep(1)
            segments = client.get_results(job).results["transcript"]["segments"]
        spoken = next(s for s in segments if "computer" in s["text"].lower())

        browser = _browser(pw)
        page = browser.new_page(viewport=LAPTOP)
        page.goto(url + "/jobs")
        page.fill("#search-q", "computer")
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_function("() => /moment\\(s\\) found/.test("
                               "document.getElementById('search-state').textContent)")
        hit = page.locator(f"#search-hits li.hit[data-job='{job}']")
        assert hit.count() == 1
        assert hit.locator(".tag").inner_text() == "transcript"
        assert hit.locator("mark").all_inner_texts() == ["computer"]
        assert hit.locator(".hit-text").inner_text() == spoken["text"].strip()
        # Where "computer" is heard: its word's start within the segment (whisper's words are
        # timed), in "Every scene in this clip was made by a computer." (6.5-9.1 s).
        [word] = [w for w in spoken["words"] if "computer" in w["text"].lower()]
        start = float(hit.get_attribute("data-start") or "nan")
        assert start == pytest.approx(word["start"])
        assert spoken["instances"][0]["start"] < start < spoken["instances"][0]["end"]
        assert hit.locator("a").get_attribute("href") == \
            f"/explorer/entry/{spoken['decision']}"
        # The markup in a worker's text is shown as text: no element was made from it.
        other = page.locator(f"#search-hits li.hit[data-job='{hostile}'] .hit-text")
        assert other.inner_text() == HOSTILE
        assert other.locator("img, b").count() == 0
        assert other.locator("mark").all_inner_texts() == ["computer"]
        assert page.title() != "owned"
        page.screenshot(path=str(screenshots / "hits-laptop.png"), full_page=True)

        # The hit opens its job's player at that moment.
        hit.get_by_role("button", name="Play from").click()
        page.wait_for_selector(f"#job[data-job='{job}'] #player video")
        page.wait_for_function(f"() => Math.abs(document.querySelector('#player video')"
                               f".currentTime - {start}) < 0.05")
        page.wait_for_function("() => document.querySelector('#player video').readyState >= 2")
        page.screenshot(path=str(screenshots / "player-laptop.png"), full_page=True)
        # The other hit, over the same video, moves the same player.
        page.locator(f"#search-hits li.hit[data-job='{hostile}']").get_by_role(
            "button", name="Play from").click()
        page.wait_for_function("() => Math.abs(document.querySelector('#player video')"
                               ".currentTime - 12.5) < 0.05")

        # A query the coordinator refuses: its reason, in words.
        page.fill("#search-q", '"" * ( )')
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_selector("#search-state.error")
        assert "no word to search for" in page.locator("#search-state").inner_text()

        page.set_viewport_size(PHONE)
        page.fill("#search-q", "computer")
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_function("() => /moment\\(s\\) found/.test("
                               "document.getElementById('search-state').textContent)")
        page.locator("#search-heading").scroll_into_view_if_needed()
        page.screenshot(path=str(screenshots / "hits-phone.png"), full_page=True)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width} px wide at a phone's width"
        browser.close()


def test_a_reader_finds_a_sensitive_librarys_moment_only_stating_why_and_each_read_is_logged(
        tmp_path: Path, screenshots: Path) -> None:
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    from aiwork.client.access_log import fetch_access_log
    from aiwork.crypto import write_key_file
    from aiwork.model import Entry

    owner, scripted = SigningKey.generate(), SigningKey.generate()
    keyfile = tmp_path / "owner.pem"
    write_key_file(keyfile, owner)
    why = "quarterly audit of the board"
    with running_coordinator(tmp_path / "coordinator", "--open-registration",
                             "--starting-credits", "50") as url, sync_playwright() as pw:
        with CoordinatorClient(url, key=owner) as client, \
                CoordinatorClient(url, key=scripted) as worker:
            assert client.request_role("requester").status == "granted"
            assert worker.request_role("worker").status == "granted"
            library = client.create_library("Board", sensitive=True).id
            digest = client.upload_file(SAMPLE, library=library)
            job = client.submit_job(digest, ["transcript"], library=library).id
            submit_transcript(worker, scripted, [(6.0, 9.0, "The board hides a budget deficit.")])
        browser = _browser(pw)
        page = browser.new_page(viewport=LAPTOP)
        page.goto(url + "/jobs")
        page.wait_for_selector("input[name=analyzer][value=technical]")
        page.set_input_files("#keyfile", str(keyfile))
        page.wait_for_function(f"() => document.getElementById('identity').textContent"
                               f".includes('{owner.did}')")
        page.fill("#search-q", "deficit")
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_function("() => document.getElementById('search-state').textContent"
                               " === 'Nothing found.'")
        page.fill("#search-purpose", why)
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_function("() => /moment\\(s\\) found/.test("
                               "document.getElementById('search-state').textContent)")
        assert "Logged as read: entries" in page.locator("#search-state").inner_text()
        hit = page.locator(f"#search-hits li.hit[data-job='{job}']")
        assert hit.locator("mark").all_inner_texts() == ["deficit"]
        page.screenshot(path=str(screenshots / "sensitive-hit-laptop.png"), full_page=True)
        hit.get_by_role("button", name="Play from").click()
        page.wait_for_selector(f"#job[data-job='{job}'] #player video")
        page.wait_for_function("() => Math.abs(document.querySelector('#player video')"
                               ".currentTime - 6.0) < 0.05")
        browser.close()
        with CoordinatorClient(url, key=owner) as client:
            reads = fetch_access_log(client, library)["entries"]
        bodies = [Entry.from_bytes(e["entry"].encode()).body for e in reads]
        assert [b["resource"] for b in bodies][:1] == ["search"]
        assert {b["resource"] for b in bodies} >= {"search", "results", "media"}
        assert all(b["purpose"] == why and b["reader"] == owner.did for b in bodies)
