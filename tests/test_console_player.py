"""The console's shared video player and timeline (player.js, timeline.js) in Debian's
chromium against a real ``aiwork serve``: the real file played from the blob route with HTTP
ranges, rates from 0.25x to 4x, one frame stepped at the file's own frame rate (an NTSC
30000/1001 clip), lane items that seek, the item under review highlighted; and a generated
hour of results with hundreds of items per lane that stays light and fits a phone."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from aiwork.client.coordinator import CoordinatorClient
from aiwork.crypto import SigningKey

from .conftest import require, running_coordinator

ROOT = Path(__file__).resolve().parents[1]
NTSC = Fraction(30000, 1001)
CUT = 2.0  # the clip's one cut, in seconds (frame 60 at 30000/1001 fps starts at 2.002 s)


def ntsc_clip(path: Path) -> Path:
    """A 4 s clip at 30000/1001 fps: red, then a moving test pattern from about 2 s."""
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"color=c=red:s=320x180:d={CUT}:r=30000/1001",
         "-f", "lavfi", "-i", f"testsrc2=s=320x180:d={CUT}:r=30000/1001",
         "-filter_complex", "[0][1]concat=n=2:v=1:a=0[v]", "-map", "[v]",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30", str(path)], check=True)
    return path


def _finished_job(url: str, admin: SigningKey, clip: Path, work: Path) -> tuple[str, str]:
    """A job over ``clip`` (technical and shots) run by a real worker against the coordinator
    at ``url``, every shot boundary routed to one expert; its id and the video's digest."""
    from aiwork.client.worker import Worker

    with CoordinatorClient(url, key=admin) as boss:
        boss.set_review_rules("shots", {"audit_share": 1.0, "experts": 1, "gold_share": 0.0})
    requester = CoordinatorClient(url, key=SigningKey.generate())
    requester.request_role("requester")
    digest = requester.upload_blob(clip.read_bytes())
    job = requester.submit_job(digest, ["technical", "shots"])
    worker_key = SigningKey.generate()
    worker_client = CoordinatorClient(url, key=worker_key)
    worker_client.request_role("worker")
    worker = Worker(worker_client, worker_key, work, ["technical", "shots"])
    while worker.run_once():
        pass
    assert requester.get_job(job.id).state == "done"
    requester.close()
    worker_client.close()
    return job.id, digest


def _video(page: Any, what: str) -> Any:
    return page.evaluate(f"(() => {{ const v = document.querySelector('#media video'); return {what}; }})()")


def _settle(page: Any) -> None:
    """Wait until the video is not seeking and shows a frame."""
    page.wait_for_function("() => { const v = document.querySelector('#media video');"
                           " return v && !v.seeking && v.readyState >= 2; }")


def test_the_review_page_plays_the_real_file_steps_frames_and_seeks_from_the_lanes(
        tmp_path: Path, screenshots: Path) -> None:
    require("playwright", tools=("chromium", "ffmpeg"))
    from playwright.sync_api import sync_playwright

    admin = SigningKey.generate()
    clip = ntsc_clip(tmp_path / "ntsc.mp4")
    statuses: list[int] = []
    with running_coordinator(tmp_path / "home", "--admin", admin.did, "--open-registration",
                             "--starting-credits", "1000") as url, sync_playwright() as pw:
        job, asset = _finished_job(url, admin, clip, tmp_path / "worker")
        with CoordinatorClient(url) as reader:
            results = reader.get_results(job).model_dump()
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 1300})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: statuses.append(r.status)
                if f"/v1/blobs/{asset}" in r.url else None)
        page.goto(url + "/review")
        page.get_by_role("button", name="Create a key in this browser").click()
        page.wait_for_function("() => /did:key/.test(document.getElementById('identity').textContent)")
        page.get_by_role("button", name="Request the expert role").click()
        page.wait_for_function("() => /granted/.test(document.getElementById('role').textContent)")
        page.keyboard.press("n")
        page.wait_for_selector("#state[data-review-state=item]")
        # the job's lanes, the item under review highlighted, the video opened at its start
        page.wait_for_selector(".lane-shots button.item.current")
        _settle(page)
        current = page.locator(".lane-shots button.item.current")
        highlighted = (float(current.get_attribute("data-start") or "nan"),
                       current.get_attribute("aria-current"), current.get_attribute("aria-label"))
        opened_at = _video(page, "v.currentTime")
        lanes = page.locator(".timeline .lane-name").all_inner_texts()
        shown_fps = page.locator(".player-time").inner_text()
        page.screenshot(path=str(screenshots / "player-laptop.png"), full_page=True)

        # rates: one key each, bounded to 0.25x .. 4x, shown on screen
        rates = []
        for key in ["]", "]", "]", "]", "]", "[", "[", "[", "[", "[", "[", "[", "["]:
            page.keyboard.press(key)
            rates.append((_video(page, "v.playbackRate"), page.locator(".player-rate").inner_text()))

        # frame stepping: ',' then '.' land on frame centres one frame of the file apart, and
        # the frame the browser presents is that frame
        page.keyboard.press(",")
        _settle(page)
        before = _video(page, "v.currentTime")
        page.keyboard.press(".")
        _settle(page)
        after = _video(page, "v.currentTime")
        presented = page.evaluate(
            "() => new Promise((done) => { const v = document.querySelector('#media video');"
            " v.requestVideoFrameCallback((now, meta) => done(meta.mediaTime));"
            " v.currentTime = v.currentTime; })")
        for _ in range(3):
            page.keyboard.press(".")
        _settle(page)
        three_more = _video(page, "v.currentTime")

        # a lane item seeks to its start: the first shot, then the one after the cut
        page.locator(".lane-shots button.item").first.click()
        _settle(page)
        at_first = _video(page, "v.currentTime")
        page.locator(".lane-shots button.item").nth(1).click()
        _settle(page)
        at_second = _video(page, "v.currentTime")
        second_start = float(page.locator(".lane-shots button.item").nth(1).get_attribute("data-start") or "nan")

        # P replays the item's segment and stops at its end
        page.locator("#question").click()  # focus away from the lane
        for _ in range(5):
            page.keyboard.press("]")  # from 0.25x to 4x
        page.evaluate("() => { const v = document.querySelector('#media video');"
                      " window.replayEnd = new Promise((done) => v.addEventListener('play', () =>"
                      " v.addEventListener('pause', () => done(v.currentTime), { once: true }),"
                      " { once: true })); }")
        page.keyboard.press("p")
        replay_end = page.evaluate("() => window.replayEnd")
        item_range = page.evaluate("() => [...document.querySelectorAll('#facts dd')].map((d) => d.textContent)")
        band = page.locator("#media .lane-shots .segment-band").evaluate(
            "(b) => [b.hidden, b.style.left, b.style.width]")
        # shots without a keyframe blob get thumbnails drawn in the browser from the video
        drawn = page.evaluate(THUMBNAILS, {"results": results, "asset": asset})
        page.set_viewport_size({"width": 390, "height": 900})
        page.wait_for_timeout(300)
        phone_width = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(screenshots / "player-phone.png"), full_page=True)
        browser.close()
    print(f"screenshots: {screenshots}")
    fps = float(NTSC)
    frame = 1 / fps
    assert errors == []
    # the API tells the file's real frame rate (30000/1001), read from its header
    assert results["media"] is not None and abs(results["media"]["frame_rate"] - fps) < 1e-9, results["media"]
    assert abs(results["media"]["duration"] - 2 * CUT) < 0.1
    assert 206 in statuses and 500 not in statuses, statuses  # HTTP ranges on the blob route
    assert "Shots" in lanes and "29.97 fps" in shown_fps, (lanes, shown_fps)
    assert abs(highlighted[0] - CUT) < 0.1 and highlighted[1] == "true", highlighted
    assert "shots" in (highlighted[2] or "") and " s: shot 2" in (highlighted[2] or ""), highlighted
    assert abs(opened_at - (highlighted[0] - 1.0)) < 0.1, opened_at  # the item's range starts 1 s before
    assert [r for r, _ in rates] == [1.5, 2, 4, 4, 4, 2, 1.5, 1, 0.5, 0.25, 0.25, 0.25, 0.25], rates
    assert all(text == f"{r}×" for r, text in rates), rates
    assert abs((after - before) - frame) < 2e-6, (before, after)  # currentTime is in µs
    assert abs(((before * fps) % 1) - 0.5) < 1e-4  # a frame's middle, not its edge
    assert abs(presented - int(after * fps) / fps) < 1e-3, (presented, after)
    assert abs((three_more - after) - 3 * frame) < 2e-6
    assert at_first == 0 and abs(at_second - second_start) < 1e-6, (at_first, at_second)
    assert abs(replay_end - (highlighted[0] + 1.0)) < 0.3, (replay_end, item_range)
    assert phone_width <= 390
    assert band[0] is False and band[1].endswith("%") and float(band[2][:-1]) > 10, band
    assert drawn["states"] == ["drawn", "drawn"] and drawn["images"] == 0, drawn
    (r1, g1, b1), (r2, g2, b2) = drawn["colours"]
    assert r1 > 200 and g1 < 60 and b1 < 60, drawn  # the first shot is red
    assert (r2, g2, b2) != (r1, g1, b1), drawn  # the second, the test pattern


THUMBNAILS = """async ({ results, asset }) => {
  const { lanesFromResults, mountTimeline } = await import('/static/timeline.js');
  const lanes = lanesFromResults(results).filter((l) => l.insight === 'shots');
  for (const it of lanes[0].items) delete it.keyframe;
  const box = document.createElement('div');
  document.querySelector('main').append(box);
  mountTimeline(box, { duration: results.media.duration, lanes, frames: `/v1/blobs/${asset}` });
  const deadline = Date.now() + 20000;
  let canvases = [];
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    canvases = [...box.querySelectorAll('canvas.thumb')];
    if (canvases.length >= 2 && canvases.every((c) => c.dataset.state === 'drawn')) break;
  }
  const colour = (c) => [...c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data.slice(0, 3)];
  const out = { states: canvases.map((c) => c.dataset.state), colours: canvases.map(colour),
    images: box.querySelectorAll('img').length };
  box.remove();
  return out;
}"""


# -- a generated hour: hundreds of items per lane ---------------------------------------

HOUR = 3600.0


def hour_of_results() -> dict[str, Any]:
    """A results document as GET /v1/jobs/{id}/results answers it, for a 60-minute video:
    400 shots, 1,200 transcript segments (some long), 300 on-screen texts, overlapping tags,
    faces, safety flags, audio events and 40 chapters."""
    def inst(start: float, end: float) -> list[dict[str, float]]:
        return [{"start": round(start, 3), "end": round(min(end, HOUR), 3), "confidence": 0.9}]

    shots = [{"id": i, "decision": 7, "instances": inst(i * 9.0, (i + 1) * 9.0),
              "keyframe": None} for i in range(400)]
    words = "the quick brown fox jumps over the lazy dog " * 6
    segments = [{"id": i, "decision": 8, "text": f"segment {i}: {words[: 20 + (i * 37) % 200]}",
                 "instances": inst(i * 3.0, i * 3.0 + 2.8)} for i in range(1200)]
    ocr = [{"id": i, "decision": 9, "text": f"SIGN {i}", "instances": inst(i * 12.0, i * 12.0 + 6)}
           for i in range(300)]
    tags = [{"id": i, "decision": 10, "label": f"tag{i % 25}", "source": "imagenet:x",
             "instances": [{"start": (i * 13.0) % HOUR, "end": min(HOUR, (i * 13.0) % HOUR + 40)},
                           {"start": (i * 29.0) % HOUR, "end": min(HOUR, (i * 29.0) % HOUR + 5)}]}
            for i in range(250)]
    faces = [{"id": i, "decision": 11, "max_count": 1 + i % 3,
              "instances": inst(i * 20.0, i * 20.0 + 15)} for i in range(180)]
    safety = [{"id": i, "decision": 12, "category": "violence", "level": "low", "source": "visual",
               "instances": inst(i * 90.0, i * 90.0 + 10)} for i in range(40)]
    audio = [{"id": i, "decision": 13, "label": ["speech", "music", "silence"][i % 3],
              "instances": inst(i * 30.0, i * 30.0 + 30)} for i in range(120)]
    chapters = [{"id": i, "decision": 14, "title": f"Chapter {i + 1}: a rather long title that goes on",
                 "instances": inst(i * 90.0, (i + 1) * 90.0)} for i in range(40)]
    return {"job": {"id": "0" * 32, "state": "done", "asset": "sha256:" + "1" * 64,
                    "analyzers": [], "redundancy": 1, "replicas": {}, "library": None},
            "media": {"frame_rate": 25.0, "duration": HOUR, "width": 1920, "height": 1080},
            "results": {"technical": {"duration": HOUR, "frame_rate": 25.0},
                        "shots": shots, "transcript": {"language": "en", "segments": segments},
                        "ocr": ocr, "tags": tags, "faces": faces, "safety": safety,
                        "audio_events": audio, "chapters": chapters}}


MOUNT = """async (doc) => {
  const { lanesFromResults, mountTimeline, durationOf } = await import('/static/timeline.js');
  const review = { human_verified: { transcript: { '5': { outcome: 'accepted', consensus: 99 },
                                                   '6': { outcome: 'corrected', consensus: 100 } } } };
  const lanes = lanesFromResults(doc, review);
  const box = document.createElement('div');
  box.id = 'hour';
  box.className = 'card';
  document.querySelector('main').prepend(box);
  window.seeks = [];
  window.timeline = mountTimeline(box, { duration: durationOf(doc, lanes), lanes,
    onSeek: (t, item) => window.seeks.push([t, item ? item.key : null]) });
  window.timeline.highlight('transcript:600');
  window.timeline.setTime(1800.4);
  return lanes.map((l) => [l.insight, l.items.length]);
}"""

COUNT = """() => ({ total: document.querySelectorAll('#hour *').length,
  items: [...document.querySelectorAll('#hour .lane')].map((lane) =>
    [lane.querySelector('.lane-name').textContent, lane.querySelectorAll('button.item').length]),
  width: document.documentElement.scrollWidth,
  current: [...document.querySelectorAll('#hour button.current')].map((b) => b.getAttribute('aria-label')),
  view: window.timeline.view })"""


@pytest.mark.parametrize("width", [390, 1280])
def test_an_hour_with_hundreds_of_items_stays_light_and_fits(
        tmp_path: Path, screenshots: Path, width: int) -> None:
    require("playwright", tools=("chromium",))
    from playwright.sync_api import sync_playwright

    doc = hour_of_results()
    with running_coordinator(tmp_path / "home") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": width, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.goto(url + "/review")
        lanes = page.evaluate(MOUNT, doc)
        page.wait_for_selector("#hour button.item")
        page.wait_for_timeout(200)
        whole = page.evaluate(COUNT)
        page.screenshot(path=str(screenshots / f"hour-{width}.png"), full_page=False)
        # a merged group zooms in when pressed; a single item seeks to its start
        page.locator("#hour .lane-transcript button.item.group").first.click()
        page.wait_for_timeout(200)
        zoomed = page.evaluate(COUNT)
        zoom_in = page.get_by_role("button", name="Zoom in", exact=True)
        for _ in range(3):
            if zoom_in.is_enabled():
                zoom_in.click()
        page.wait_for_timeout(200)
        close = page.evaluate(COUNT)
        single = page.locator("#hour .lane-transcript button.item:not(.group)").first
        label = single.get_attribute("aria-label")
        single.click()
        # keyboard: one tab stop per lane, arrows move within it
        single.focus()
        page.keyboard.press("ArrowRight")
        moved = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
        page.screenshot(path=str(screenshots / f"hour-{width}-zoomed.png"), full_page=False)
        seeks = page.evaluate("() => window.seeks")
        verified = page.evaluate("""async (doc) => {
          const { lanesFromResults } = await import('/static/timeline.js');
          const t = lanesFromResults(doc, { human_verified: { transcript: {
            '5': { outcome: 'accepted' }, '6': { outcome: 'corrected' } } } })
            .find((l) => l.insight === 'transcript');
          return [t.items[4].state, t.items[5].state, t.items[6].state];
        }""", doc)
        browser.close()
    print(f"screenshots: {screenshots}")
    assert errors == []  # nothing refused by the Content-Security-Policy either
    assert lanes == [["shots", 400], ["chapters", 40], ["transcript", 1200], ["ocr", 300],
                     ["faces", 180], ["tags", 500], ["safety", 40], ["audio_events", 120]]
    assert verified == ["ai", "verified", "corrected"]
    for counts in (whole, zoomed, close):
        assert counts["width"] <= width, counts  # no sideways scroll, even on a phone
        assert counts["total"] < 3000, counts["total"]  # bounded, whatever the item count
        assert all(n <= 3 * width / 6 + 3 for _, n in counts["items"]), counts["items"]
    assert sum(n for _, n in whole["items"]) < sum(n for _, n in lanes) / 4
    # the highlighted item is on screen, inside a merged group over the whole hour
    assert len(whole["current"]) == 1 and "items" in whole["current"][0], whole["current"]
    assert zoomed["view"][1] - zoomed["view"][0] < HOUR / 5, zoomed["view"]
    assert close["view"][1] - close["view"][0] < 60, close["view"]
    assert label is not None and label.startswith("transcript ") and " s: segment " in label, label
    start = float(label.split(" ")[1].split("–")[0])
    assert seeks[0][1] is None and seeks[-1][1] is not None, seeks  # a group zooms, an item seeks
    assert abs(seeks[-1][0] - start) < 0.05, (seeks, label)
    assert moved != label and moved is not None and moved.startswith("transcript "), moved


def test_lanes_from_results_in_node() -> None:
    require(tools=("node",))
    run = subprocess.run(["node", "--test", "tests/js/timeline.test.mjs"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and int(run.stdout.split("# pass ")[1].split()[0]) >= 4
