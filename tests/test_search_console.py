"""The search box of the requester dashboard (/jobs) in Debian's chromium, against a real
``aiwork serve`` and a real ``aiwork worker`` that transcribed the bundled sample: a word
spoken in it is found, its hit names the video, insight and time, marks the word, links to
its decision, and opens the player at that moment. A transcript whose text is HTML is shown
as text, never as markup. The highlighting is tested in Node too (tests/js/search.test.mjs)."""

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
