"""Benchmark of the web console: an expert's review screen on a short and on a one-hour video.

Run it from the repository root (needs Debian's chromium and ffmpeg, and the test extra's
Playwright)::

    .venv/bin/python bench/console.py                  # the sample, then a 60-minute video
    .venv/bin/python bench/console.py --minutes 10 --items 6

For each video it starts a real ``aiwork serve``, uploads the video as a requester, submits a
job of every analyzer but ``technical``, and lets a worker of its own lease each task and
submit a signed decision with results generated for the video's length (shots every 4-12 s,
transcript segments every 3-7 s, on-screen text, faces, tags, safety flags, audio events,
language, keywords, chapters: about 1,400 timeline items over an hour) through the real API,
which checks and accepts them and routes a random share of the items to review, as it does a
real worker's. The analyzers themselves do not run: their cost is bench/pipeline.py's. The
one-hour video is 640x360 testsrc2 with a sine tone (x264 ultrafast, moov atom first), made
once with ffmpeg and kept in bench/out/.

Then, in Debian's chromium (headless, through Playwright), an expert creates a key on
``/review``, is granted the role, and reviews ``--items`` items with the keyboard (accept,
reject and correct in turn). It prints, per video: the time from pressing N to the item on
screen, to the video's first frame (``readyState`` >= 2 at the item's start) and to an
interactive review screen (the item, that frame and every timeline lane drawn), for the first
item and as the median over the next ones; the page's JavaScript heap (CDP
``Performance.getMetrics`` JSHeapUsedSize), its DOM nodes and the whole browser's memory (the
PSS of chromium's processes, renderers included) once the first item is shown and after the
review; the keys pressed per verdict; and the decision explorer's check of the
verdicts it logged (the time to ``verified`` and the inclusion proof's check alone, as the
page measures it). The one-hour figures are printed as ratios to the short video's, measured
in the same process. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx

from aiwork.client.coordinator import CoordinatorClient, NoWork
from aiwork.crypto import SigningKey
from aiwork.digests import sha256_file, sha256_json
from aiwork.ledger.entries import sign_entry
from aiwork.model.decision import normalize, output_digest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SAMPLE = ROOT / "samples" / "sample.mp4"
ANALYZERS = ["shots", "transcript", "ocr", "faces", "tags", "safety", "audio_events",
             "language", "keywords", "chapters"]
REVIEWED = ["shots", "transcript", "ocr", "tags", "safety"]
WORDS = ("the ledger proves every decision a model made about this video and the experts "
         "who checked it can see each frame while the timeline shows what was found where "
         "speech music shots text faces tags and safety flags").split()
LABELS = ["person", "car", "street", "sky", "tree", "building", "dog", "screen", "text",
          "water", "road", "crowd", "stage", "desk", "window", "bicycle", "bus", "flower"]


# -- the video ----------------------------------------------------------------------------------


def long_video(minutes: int) -> Path:
    """A ``minutes``-long 640x360 video with a tone, made once and kept in bench/out/."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"console-{minutes}min.mp4"
    if path.exists():
        return path
    seconds = minutes * 60
    tmp = path.with_suffix(".tmp.mp4")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", "-shortest", str(tmp)],
        check=True)
    tmp.rename(path)
    return path


def duration_of(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


# -- results over the video's length -----------------------------------------------------------


def _spans(rng: random.Random, duration: float, low: float, high: float,
           fill: float = 1.0) -> list[tuple[float, float]]:
    """Consecutive spans of ``low``..``high`` seconds over ``duration``, each kept with
    probability ``fill``."""
    out, at = [], 0.0
    while at < duration - 0.5:
        end = min(duration, at + rng.uniform(low, high))
        if rng.random() < fill:
            out.append((round(at, 3), round(end, 3)))
        at = end
    return out


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize()


def _item(n: int, spans: list[tuple[float, float]], confidence: float, **fields: Any
          ) -> dict[str, Any]:
    return {"id": n, "confidence": round(confidence, 3),
            "instances": [{"start": s, "end": e} for s, e in spans], **fields}


def output_for(analyzer: str, duration: float, rng: random.Random) -> Any:
    """What ``analyzer`` could have found in a video of ``duration`` seconds."""
    def c() -> float:  # a confidence
        return rng.uniform(0.35, 0.99)

    if analyzer == "shots":
        return [_item(n, [(s, e)], c(), **({} if n == 0 else
                {"transition": {"kind": "cut", "start": s, "end": s}}))
                for n, (s, e) in enumerate(_spans(rng, duration, 4, 12))]
    if analyzer == "transcript":
        return {"language": "en", "language_confidence": 0.98, "model": "synthetic",
                "segments": [_item(n, [(s, e)], c(), text=_text(rng, 6, 16), language="en")
                             for n, (s, e) in enumerate(_spans(rng, duration, 3, 7, 0.85))]}
    if analyzer == "ocr":
        return [_item(n, [(s, e)], c(), text=_text(rng, 1, 4),
                      boxes=[{"time": s, "x": 0.1, "y": 0.8, "width": 0.5, "height": 0.08}])
                for n, (s, e) in enumerate(_spans(rng, duration, 5, 40, 0.4))]
    if analyzer == "faces":
        return [_item(n, [(s, e)], c(), max_count=rng.randint(1, 4))
                for n, (s, e) in enumerate(_spans(rng, duration, 4, 60, 0.5))]
    if analyzer == "tags":
        shots = _spans(rng, duration, 4, 12)
        return [_item(n, sorted(rng.sample(shots, min(len(shots), rng.randint(1, 25)))), c(),
                      label=label, source=f"imagenet:n0{rng.randint(1000000, 9999999)}")
                for n, label in enumerate(LABELS)]
    if analyzer == "safety":
        return [_item(n, [(s, e)], c(), category=rng.choice(["violence", "nudity", "profanity"]),
                      level=rng.choice(["low", "medium"]), source="visual")
                for n, (s, e) in enumerate(_spans(rng, duration, 20, 600, 0.3))]
    if analyzer == "audio_events":
        return [_item(n, [(s, e)], c(), label=rng.choice(["speech", "music", "silence"]))
                for n, (s, e) in enumerate(_spans(rng, duration, 5, 40))]
    if analyzer == "language":
        return {"spoken": "en", "spoken_confidence": 0.98, "text": "en", "text_confidence": 0.9}
    if analyzer == "keywords":
        return [_item(n, [(s, e)], c(), text=rng.choice(WORDS), score=round(rng.random(), 3))
                for n, (s, e) in enumerate(_spans(rng, duration, 30, 240, 0.3)[:40])]
    if analyzer == "chapters":
        return [_item(n, [(s, e)], c(), title=_text(rng, 2, 5), keywords=rng.sample(WORDS, 3))
                for n, (s, e) in enumerate(_spans(rng, duration, 120, 600))]
    raise SystemExit(f"no generated output for {analyzer}")


def _confidence(items: Any) -> dict[str, float]:
    listed = items["segments"] if isinstance(items, dict) and "segments" in items else items
    values = [i["confidence"] for i in listed if isinstance(i, dict)
              and isinstance(i.get("confidence"), float)] if isinstance(listed, list) else []
    return ({"mean": round(statistics.fmean(values), 4), "min": min(values),
             "max": max(values)} if values else {})


def serve_results(client: CoordinatorClient, key: SigningKey, duration: float,
                  rng: random.Random) -> int:
    """Be a worker: advertise every analyzer, then lease each task offered and submit a signed
    decision over its generated output, derived from the upstream results the lease carries.
    Returns how many results the coordinator accepted."""
    model = {"version": "1", "weights_digest": None}
    client.advertise_capabilities({name: {"version": "1", "model": {"name": f"synthetic-{name}",
                                                                     **model}}
                                   for name in ANALYZERS}, [])
    done = 0
    while True:
        grant = client.lease_task(ANALYZERS)
        if isinstance(grant, NoWork):
            return done
        lease = grant.model_dump(mode="json")
        analyzer = str(lease["analyzer"])
        items = normalize(analyzer, output_for(analyzer, duration, rng))
        parameters = {"generated": True}
        body = {"analyzer": analyzer, "analyzer_version": "1", "insight": analyzer,
                "model": {"name": f"synthetic-{analyzer}", **model},
                "parameters": parameters, "parameters_digest": sha256_json(parameters),
                "input": {"asset": lease["asset"], "start": 0.0, "end": round(duration, 3),
                          "derived_from": [{"insight": u["insight"], "decision": u["decision"]}
                                           for u in lease.get("upstream") or []]},
                "output_digest": output_digest(items),
                "output_items": len(items) if isinstance(items, list) else 1,
                "confidence": _confidence(items),
                "evidence": {"alternatives": [{"value": rng.choice(LABELS), "score": 0.2}]}}
        entry = sign_entry(key, "ai.decision", body).to_bytes().decode()
        client.submit_result(str(lease["lease"]), entry, items)
        done += 1


# -- the coordinator ---------------------------------------------------------------------------


@contextmanager
def coordinator(home: Path, port: int, admin: SigningKey) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-m", "aiwork", "serve", "--port", str(port),
                             "--admin", admin.did, "--open-registration"],
                            env={**os.environ, "AIWORK_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/v1/ledger/key", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("aiwork serve did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def prepare(url: str, admin: SigningKey, video: Path, share: float, seed: int
            ) -> dict[str, Any]:
    """A finished job over ``video`` with generated results, a share of its items routed to
    review; what it holds."""
    rng = random.Random(seed)
    duration = duration_of(video)
    payer, worker = SigningKey.generate(), SigningKey.generate()
    with CoordinatorClient(url, key=admin) as boss, \
            CoordinatorClient(url, key=payer) as requester, \
            CoordinatorClient(url, key=worker) as work:
        for insight in REVIEWED:
            boss.request("PUT", f"/v1/review/rules/{insight}",
                         f'{{"audit_share": {share}, "experts": 1, "gold_share": 0.0,'
                         f' "confidence_below": 0.0}}'.encode())
        requester.request_role("requester")
        boss.grant_credits(payer.did, 100_000, "bench")
        digest = sha256_file(video)
        with video.open("rb") as stream:
            requester.upload_stream(iter(lambda: stream.read(1 << 20), b""), digest,
                                    video.stat().st_size)
        job = requester.post("/v1/jobs", {"asset": digest, "analyzers": ANALYZERS})["id"]
        work.request_role("worker")
        accepted = serve_results(work, worker, duration, rng)
        results = requester.get(f"/v1/jobs/{job}/results").json()["results"]
        review = requester.get(f"/v1/jobs/{job}/review").json()
    lanes = sum(1 for name in ANALYZERS if name != "language" and results.get(name))
    items = sum(len(v["segments"]) if isinstance(v, dict) and "segments" in v else
                len(v) if isinstance(v, list) else 0 for v in results.values())
    return {"job": job, "duration": duration, "accepted": accepted, "lanes": lanes,
            "items": items, "review_items": review["items"]}


# -- the browser -------------------------------------------------------------------------------

SHOWN = ("(id) => { const s = document.getElementById('state');"
         " return !document.body.dataset.busy && (s.dataset.reviewState === 'empty'"
         " || (s.dataset.reviewState === 'item' && s.dataset.item !== id)); }")
FRAME = "() => (document.querySelector('#media video')?.readyState ?? 0) >= 2"
LANES = ("(n) => document.querySelectorAll('#media .lane').length >= n"
         " && document.querySelector('#media .lane-track button') !== null")


def _browser_pss() -> float:
    """The proportional set size of every chromium process under this one (MiB): the
    browser, its renderers (where the video is decoded), GPU and utility processes."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(status.parent.name))
    todo, total = list(children.get(os.getpid(), [])), 0
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        if b"chrom" in cmdline.split(b"\0")[0]:
            total += sum(int(line.split()[1]) for line in rollup.splitlines()
                         if line.startswith("Pss:"))
    return total / 1024


def _heap(cdp: Any) -> tuple[float, int, float]:
    """The page's JavaScript heap in use (MiB), its DOM nodes, and the browser's PSS (MiB)."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["JSHeapUsedSize"] / 2**20, int(metrics["Nodes"]), _browser_pss()


def _current(page: Any) -> str:
    return str(page.locator("#state").get_attribute("data-item") or "")


def _show_next(page: Any, press: list[str], lanes: int
               ) -> tuple[float, float, float, float] | None:
    """Press the keys (the last one brings the next item); the seconds until the item is on
    screen, its first frame is shown, and the timeline's lanes are drawn (None: the queue is
    empty); and where in the video the item is (s)."""
    before = _current(page)
    began = time.perf_counter()
    for key in press:
        page.keyboard.press(key)
    page.wait_for_function(SHOWN, arg=before or "\u0000", timeout=60000)
    item = time.perf_counter() - began
    if page.locator("#state").get_attribute("data-review-state") != "item":
        return None
    page.wait_for_function(FRAME, timeout=60000)
    frame = time.perf_counter() - began
    page.wait_for_function(LANES, arg=lanes, timeout=60000)
    interactive = time.perf_counter() - began
    at = float(page.evaluate("() => document.querySelector('#media video').currentTime"))
    return item, frame, max(interactive, frame), at


def review(browser: Any, url: str, admin: SigningKey, facts: dict[str, Any], count: int
           ) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(url + "/review")
    page.get_by_role("button", name="Create a key in this browser").click()
    page.wait_for_function("() => /did:key:z6Mk/.test("
                           "document.getElementById('identity').textContent)")
    did = page.locator("#identity").inner_text().split(": ")[1]
    page.get_by_role("button", name="Request the expert role").click()
    page.wait_for_function("() => /pending|granted/.test("
                           "document.getElementById('role').textContent)")
    with CoordinatorClient(url, key=admin) as boss:
        boss.approve_role(did, "expert")
    first = _show_next(page, ["n"], facts["lanes"])
    if first is None:
        raise SystemExit("the review queue is empty: no item was routed to review")
    heap_first = _heap(cdp)
    # A seek near the end of the file: the browser asks for the bytes there with a range.
    far = float(page.evaluate("""async () => {
        const v = document.querySelector('#media video');
        const began = performance.now();
        const done = new Promise((ok) => v.addEventListener('seeked', ok, { once: true }));
        v.currentTime = v.duration * 0.97;
        await done;
        while (v.readyState < 2) await new Promise((ok) => setTimeout(ok, 5));
        return performance.now() - began;
    }""")) / 1000
    keys = 0
    later: list[tuple[float, float, float, float]] = []
    verdicts: list[str] = []
    pressed: list[int] = []
    for n in range(count):
        if page.locator("#state").get_attribute("data-review-state") != "item":
            break
        # accept, reject and correct in turn; a correction opens the item's editor (C) and
        # changes the value as little as it can: a cut one frame later (Up), a safety level
        # one step (Down or Up), a text's last character (End, Backspace, one character);
        # Enter signs it. The verdict is sent after the page's grace period, while the next
        # item is on screen.
        kind = ("accept", "reject", "correct")[n % 3]
        press = {"accept": ["a"], "reject": ["r"]}.get(kind, [])
        if kind == "correct":
            page.keyboard.press("c")
            keys += 1
            page.wait_for_selector("#value:focus", timeout=10000)
            tag, kind_of, value = page.evaluate(
                "() => { const f = document.getElementById('value');"
                " return [f.tagName, f.type, f.value]; }")
            if tag == "SELECT":
                press = ["ArrowUp" if value == "high" else "ArrowDown", "Enter"]
            elif kind_of == "number":
                press = ["ArrowUp", "Enter"]
            else:
                press = ["End", "Backspace", "1" if value[-1:] != "1" else "2", "Enter"]
            editor = "level" if tag == "SELECT" else "cut" if kind_of == "number" else "text"
            kind = f"correct ({editor})"
        keys += len(press)
        pressed.append(len(press) + (1 if kind.startswith("correct") else 0))
        verdicts.append(kind)
        if n == count - 1:
            for key in press:
                page.keyboard.press(key)
        else:
            shown = _show_next(page, press, facts["lanes"])
            if shown is None:
                break
            later.append(shown)
    page.wait_for_function(f"() => document.querySelectorAll('#done li').length >= {len(verdicts)}"
                           " && !document.body.dataset.busy", timeout=60000)
    heap_after = _heap(cdp)
    indices = [int(i) for i in page.locator("#done li").evaluate_all(
        "(items) => items.map((li) => li.dataset.index)")]
    context.close()
    return {"first": first, "later": later, "far": far, "heap_first": heap_first,
            "heap_after": heap_after,
            "keys": keys, "verdicts": verdicts, "pressed": pressed, "indices": indices}


def explore(browser: Any, url: str, indices: list[int]) -> tuple[float, float]:
    """The explorer's check of the logged verdicts: medians of the time to ``verified`` and of
    the inclusion proof's check alone (ms)."""
    page = browser.new_page()
    page.goto(f"{url}/explorer/entry/0")  # the first use pins the key; not counted
    page.wait_for_selector("[data-verify-status][data-checks-ms]")
    totals, proofs = [], []
    for index in indices:
        began = time.perf_counter()
        page.goto(f"{url}/explorer/entry/{index}")
        status = page.wait_for_selector("[data-verify-status][data-checks-ms]")
        assert status is not None and status.inner_text().endswith("verified")
        totals.append((time.perf_counter() - began) * 1000)
        proofs.append(float(status.get_attribute("data-proof-ms") or 0))
    page.close()
    return statistics.median(totals), statistics.median(proofs)


def run(video: Path, label: str, args: argparse.Namespace, browser: Any, port: int
        ) -> dict[str, Any]:
    admin = SigningKey.generate()
    with tempfile.TemporaryDirectory() as folder, coordinator(Path(folder), port, admin) as url:
        began = time.perf_counter()
        # Every reviewable item of the short video goes to review (it has few), a share of
        # the long one's.
        facts = prepare(url, admin, video, 1.0 if video == SAMPLE else args.share, args.seed)
        print(f"{label}: {facts['duration']:.0f} s of video, {facts['accepted']} results, "
              f"{facts['items']} items in {facts['lanes']} lanes, {facts['review_items']} to "
              f"review (set up in {time.perf_counter() - began:.1f} s)", flush=True)
        seen = review(browser, url, admin, facts, args.items)
        seen["explorer"] = explore(browser, url, seen["indices"])
    return {**facts, **seen}


def _ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=60, help="the long video's length")
    parser.add_argument("--items", type=int, default=9, help="items reviewed per video")
    parser.add_argument("--share", type=float, default=0.1,
                        help="the share of reviewable items routed to review")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=18988)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    videos = [(SAMPLE, "sample"), (long_video(args.minutes), f"{args.minutes}-minute video")]
    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        for n, (video, label) in enumerate(videos):
            rows.append((label, run(video, label, args, browser, args.port + n)))
        browser.close()
    print()
    print(f"{'':28}" + "".join(f"{label:>22}" for label, _ in rows) + f"{'ratio':>8}")

    def line(name: str, values: list[float], show: Any) -> None:
        ratio = values[-1] / values[0] if values[0] else float("nan")
        print(f"{name:28}" + "".join(f"{show(v):>22}" for v in values) + f"{ratio:>8.2f}")

    def med(r: dict[str, Any], k: int) -> float:
        return statistics.median(x[k] for x in r["later"]) if r["later"] else float("nan")

    line("first item on screen", [r["first"][0] for _, r in rows], _ms)
    line("first item: first frame", [r["first"][1] for _, r in rows], _ms)
    line("first item: interactive", [r["first"][2] for _, r in rows], _ms)
    line("next item: first frame", [med(r, 1) for _, r in rows], _ms)
    line("next item: interactive", [med(r, 2) for _, r in rows], _ms)
    line("seek to 97 %: frame shown", [r["far"] for _, r in rows], _ms)
    line("JS heap, first item (MiB)", [r["heap_first"][0] for _, r in rows], lambda v: f"{v:.1f}")
    line("JS heap, after review (MiB)", [r["heap_after"][0] for _, r in rows],
         lambda v: f"{v:.1f}")
    line("DOM nodes, after review", [r["heap_after"][1] for _, r in rows], lambda v: f"{v:.0f}")
    line("browser PSS, first item (MiB)", [r["heap_first"][2] for _, r in rows],
         lambda v: f"{v:.0f}")
    line("browser PSS, after review (MiB)", [r["heap_after"][2] for _, r in rows],
         lambda v: f"{v:.0f}")
    line("keys per verdict", [r["keys"] / max(1, len(r["verdicts"])) for _, r in rows],
         lambda v: f"{v:.2f}")
    line("explorer: to verified", [r["explorer"][0] for _, r in rows], lambda v: f"{v:.0f} ms")
    line("explorer: proof check", [r["explorer"][1] for _, r in rows], lambda v: f"{v:.2f} ms")
    for label, r in rows:
        per: dict[str, list[int]] = {}
        for verdict, pressed in zip(r["verdicts"], r["pressed"], strict=True):
            per.setdefault(verdict, []).append(pressed)
        print(f"{label}: keys per verdict: " + ", ".join(
            f"{verdict} {statistics.fmean(v):.0f}" for verdict, v in per.items()))
        where = [r["first"][3], *(x[3] for x in r["later"])]
        print(f"{label}: items at {', '.join(f'{t:.0f}' for t in where)} s; "
              f"{len(r['verdicts'])} verdicts ({', '.join(r['verdicts'])}), "
              f"{r['keys']} keys; {r['items']} timeline items")


if __name__ == "__main__":
    main()
