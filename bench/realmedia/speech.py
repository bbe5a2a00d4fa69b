"""Speech: studio voice prompts with their texts, from Debian ``asterisk-core-sounds-<lang>``.

Five languages (en-US, fr-CA, es-MX, it-IT, ru-RU; Debian has no German set). The texts ship
in the packages (``/usr/share/doc/asterisk-core-sounds-<lang>/core-sounds-<lang>.txt.gz``), the
16 kHz recordings in ``asterisk-core-sounds-<lang>-g722``. Items (``truth/speech/items.json``,
written once by ``make_truth`` from the package texts, then committed):

- ``prompt``: one prompt of at least 8 words (several seconds), alone;
- ``clip``: short prompts of one language joined with 0.7 s pauses into 20-40 s;
- ``mixed``: blocks of prompts in two languages, alternating, 1 s pauses between prompts;
- ``music``: a ``clip``'s prompts over music 12 dB below the speech (RMS), the music running
  through the pauses: Asterisk's music on hold (Debian ``asterisk-moh-opsound-g722``, opsound.org
  tracks, CC-BY-SA).

Every prompt's split is fixed by a hash of its name (a third ``dev``, the rest ``heldout``);
a clip takes prompts of its own split only. Figures per language: WER (corpus: edits over
reference words), language ID accuracy (``prompt``/``clip``: the file's language; ``mixed``:
share of transcribed words whose segment language matches the prompt they fall in), and the
real-time factor (seconds of analysis per second of audio, this machine).
``before``: tiny.en for everything (the old default); ``after``: today's default (``auto``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from realmedia import Row  # type: ignore[import-not-found]

NAME = "speech"
SR = 16000
TRUTH = Path(__file__).resolve().parent / "truth" / "speech" / "items.json"
VERSION = "1.6.1-1"
#: language -> voice folder under /usr/share/asterisk/sounds/
VOICES = {"en": "en_US_f_Allison", "fr": "fr_CA_f_June", "es": "es_MX_f_Allison",
          "it": "it_IT_m_Carlo", "ru": "ru_RU_f_IvrvoiceRU"}
MUSIC_PACKAGE = ("asterisk-moh-opsound-g722", "2.03-1.1")
MUSIC = ["macroform-cold_day", "macroform-robot_dity", "macroform-the_simplicity",
         "manolo_camp-morning_coffee", "reno_project-system"]
MUSIC_DB = -12.0
MIXED = [("fr", "en"), ("es", "en"), ("it", "fr"), ("ru", "en"), ("en", "es"), ("es", "it")]


def _root(cache: Path) -> Path:
    return cache / NAME / "x"


def fetch(cache: Path) -> None:
    folder = cache / NAME
    debs = folder / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for lang in VOICES:
        for package in (f"asterisk-core-sounds-{lang}", f"asterisk-core-sounds-{lang}-g722"):
            if not list(debs.glob(f"{package}_{VERSION}_all.deb")):
                subprocess.run(["apt-get", "download", f"{package}={VERSION}"], cwd=debs,
                               check=True)
    package, version = MUSIC_PACKAGE
    if not list(debs.glob(f"{package}_{version}_all.deb")):
        subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        marker = folder / f".{deb.name}.done"
        if not marker.exists():
            subprocess.run(["dpkg", "-x", str(deb), str(_root(cache))], check=True)
            marker.touch()


def _texts(cache: Path, lang: str) -> dict[str, str]:
    path = (_root(cache) / "usr/share/doc" / f"asterisk-core-sounds-{lang}"
            / f"core-sounds-{lang}.txt.gz")
    texts: dict[str, str] = {}
    for line in gzip.open(path, "rt", encoding="utf-8-sig"):
        if line.startswith(";") or ": " not in line:
            continue
        name, _, text = line.strip().partition(": ")
        texts[name.strip()] = text.strip()
    return texts


def _split(lang: str, name: str) -> str:
    return "dev" if int(hashlib.sha256(f"{lang}/{name}".encode()).hexdigest(), 16) % 3 == 0 \
        else "heldout"


def _plain(text: str) -> bool:
    """Said as written: letters and simple punctuation only (no digits, keys, symbols)."""
    return bool(re.fullmatch(r"[^\W\d_][\w\s.,;:!?'’«»\"()-]*", text)) and not re.search(r"\d|_", text)


def make_truth(cache: Path) -> None:
    """Writes truth/speech/items.json from the package texts (run once, then committed)."""
    items: list[dict[str, Any]] = []
    short: dict[tuple[str, str], list[dict[str, str]]] = {}
    for lang, voice in VOICES.items():
        texts = _texts(cache, lang)
        prompts = []
        for name, text in sorted(texts.items()):
            sound = _root(cache) / "usr/share/asterisk/sounds" / voice / f"{name}.g722"
            if not sound.is_file() or not _plain(text):
                continue
            prompts.append({"name": name, "text": text, "split": _split(lang, name)})
        ordered = sorted(prompts, key=lambda p: hashlib.sha256(
            f"{lang}/{p['name']}".encode()).hexdigest())
        for split in ("dev", "heldout"):
            mine = [p for p in ordered if p["split"] == split]
            long = [p for p in mine if len(p["text"].split()) >= 8]
            for p in long[: 5 if split == "dev" else 10]:
                items.append({"id": f"{lang}-prompt-{p['name'].replace('/', '-')}",
                              "kind": "prompt", "split": split, "language": lang,
                              "pause": 0.0,
                              "parts": [{"language": lang, "sound": p["name"],
                                         "text": p["text"]}]})
            rest = [p for p in mine if 2 <= len(p["text"].split()) < 8]
            short[(lang, split)] = rest
            for n in range(2 if split == "dev" else 3):
                parts = rest[n * 9:(n + 1) * 9]
                items.append({"id": f"{lang}-clip-{split}-{n}", "kind": "clip", "split": split,
                              "language": lang, "pause": 0.7,
                              "parts": [{"language": lang, "sound": p["name"],
                                         "text": p["text"]} for p in parts]})
                music = MUSIC[int(hashlib.sha256(f"{lang}/{split}/{n}".encode()).hexdigest(),
                                  16) % len(MUSIC)]
                items.append({**items[-1], "id": f"{lang}-music-{split}-{n}", "kind": "music",
                              "music": music, "music_db": MUSIC_DB})
    for split in ("dev", "heldout"):
        for n, (a, b) in enumerate(MIXED if split == "heldout" else MIXED[:3]):
            # From the end of the short prompts (the clips take them from the start).
            pools = {lang: short[(lang, split)][::-1][8 * n:] for lang in (a, b)}
            parts = []
            for block in range(4):
                lang = (a, b)[block % 2]
                for p in pools[lang][(block // 2) * 4:(block // 2) * 4 + 4]:
                    parts.append({"language": lang, "sound": p["name"], "text": p["text"]})
            items.append({"id": f"mixed-{a}-{b}-{split}-{n}", "kind": "mixed", "split": split,
                          "language": a, "pause": 1.0, "parts": parts})
    TRUTH.parent.mkdir(parents=True, exist_ok=True)
    TRUTH.write_text(json.dumps({
        "source": f"Debian asterisk-core-sounds-<lang> and -g722 {VERSION} (texts and "
                  "recordings from the packages; voices: " + ", ".join(VOICES.values()) + "); "
                  f"music: {MUSIC_PACKAGE[0]} {MUSIC_PACKAGE[1]}",
        "items": items}, ensure_ascii=False, indent=1) + "\n")


def _decode(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-f", "g722", "-i", str(path), "-ac", "1",
                          "-ar", str(SR), "-f", "f32le", "-"], capture_output=True,
                         check=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def _audio(cache: Path, item: dict[str, Any]) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """The item's audio (0.5 s of silence around it) and where each part's language is."""
    pieces = [np.zeros(SR // 2, np.float32)]
    spans = []
    at = 0.5
    for n, part in enumerate(item["parts"]):
        if n:
            pieces.append(np.zeros(int(item["pause"] * SR), np.float32))
            at += item["pause"]
        sound = _decode(_root(cache) / "usr/share/asterisk/sounds" / VOICES[part["language"]]
                        / f"{part['sound']}.g722")
        pieces.append(sound)
        spans.append((at, at + len(sound) / SR, part["language"]))
        at += len(sound) / SR
    pieces.append(np.zeros(SR // 2, np.float32))
    audio = np.concatenate(pieces)
    if item.get("music"):
        music = _decode(_root(cache) / "usr/share/asterisk/moh" / f"{item['music']}.g722")
        music = np.tile(music, len(audio) // len(music) + 1)[: len(audio)]
        speech = np.concatenate([audio[int(a * SR):int(b * SR)] for a, b, _ in spans])
        gain = (np.sqrt(np.mean(speech.astype(np.float64) ** 2))
                / max(np.sqrt(np.mean(music.astype(np.float64) ** 2)), 1e-9)
                * 10 ** (item["music_db"] / 20))
        audio = audio + (gain * music).astype(np.float32)
    return audio, spans


def words(text: str) -> list[str]:
    """Words for WER: lower case, accents folded (the Spanish texts ship without ñ and
    accents), ё as е, three or more letters spelled one by one joined ("u s b" = "usb")."""
    text = unicodedata.normalize("NFD", text.lower().replace("’", "'").replace("ё", "е"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    found = re.findall(r"[^\W_]+(?:'[^\W_]+)*", text)
    joined: list[str] = []
    run: list[str] = []  # single letters in a row: three or more are a spelled word
    for word in [*found, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        joined += ["".join(run)] if len(run) >= 3 else run
        run = []
        if word:
            joined.append(word)
    return joined


def edits(reference: list[str], hypothesis: list[str]) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        previous, row[0] = row[:], i
        for j, h in enumerate(hypothesis, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r != h))
    return row[-1]


def _context(audio: np.ndarray) -> Any:
    from aiwork.analyzers.base import AnalysisContext
    from aiwork.media.decode import AudioTrack
    from aiwork.media.probe import Probe

    duration = len(audio) / SR
    probe = Probe(path=Path("clip.wav"), size=1, container="wav", duration=duration,
                  bitrate=None, video_codec=None, width=None, height=None, frame_rate=None,
                  frame_count=None, audio_codec="pcm_f32le", sample_rate=SR, channels=1)
    return AnalysisContext(asset="sha256:" + "0" * 64, probe=probe, frames=None,
                           audio=AudioTrack.from_array(audio), upstream={},
                           keyframe_dir=Path("keyframes"))


def run_items(cache: Path, split: str, variant: str, options: dict[str, Any] | None = None,
              kinds: tuple[str, ...] = ("prompt", "clip", "mixed", "music"),
              ) -> list[dict[str, Any]]:
    """Each item of ``split`` analysed: its language, hypothesis, timing."""
    from aiwork.analyzers import load

    truth = json.loads(TRUTH.read_text())["items"]
    settings = dict(options or {})
    if variant == "before":  # the default before languages were identified
        settings.setdefault("model", "tiny.en")
    analyzer = load("transcript", settings)
    analyzer.analyze(_context(np.zeros(SR, np.float32)))  # load the models before timing
    results = []
    for item in truth:
        if item["split"] != split or item["kind"] not in kinds:
            continue
        audio, spans = _audio(cache, item)
        start = time.monotonic()
        output = analyzer.analyze(_context(audio))
        seconds = time.monotonic() - start
        results.append({"item": item, "spans": spans, "items": output.items,
                        "evidence": output.evidence, "seconds": seconds,
                        "audio": len(audio) / SR})
    return results


def figures(results: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        key = r["item"]["kind"] if r["item"]["kind"] in ("mixed", "music") else \
            r["item"]["language"]
        groups.setdefault(key, []).append(r)
    for key in [*VOICES, "mixed", "music"]:
        group = groups.get(key, [])
        if not group:
            continue
        errors = total = 0
        right = 0.0
        for r in group:
            reference = words(" ".join(p["text"] for p in r["item"]["parts"]))
            hypothesis = words(" ".join(s["text"] for s in r["items"]["segments"]))
            errors += edits(reference, hypothesis)
            total += len(reference)
            if r["item"]["kind"] == "mixed":
                said = [(w["start"], w["end"], s["language"])
                        for s in r["items"]["segments"] for w in s["words"]]
                hits = 0
                for start, end, lang in said:
                    mid = (start + end) / 2
                    truth = min(r["spans"], key=lambda sp: 0 if sp[0] <= mid <= sp[1]
                                else min(abs(mid - sp[0]), abs(mid - sp[1])))
                    hits += truth[2] == lang
                # Words never transcribed count as wrong: a part skipped is not identified.
                right += hits / max(len(said), len(reference))
            else:
                right += r["items"]["language"] == r["item"]["language"]
        rtf = sum(r["seconds"] for r in group) / sum(r["audio"] for r in group)
        rows.append(Row(f"WER {key} ({len(group)} items, {total} words)", errors / total,
                        "<= 15 %", "%"))
        rows.append(Row(f"language ID {key}", right / len(group), ">= 95 %", "%"))
        rows.append(Row(f"RTF {key}", rtf, "", ""))
        clips = [r for r in group if r["item"]["kind"] != "prompt"]
        if clips and len(clips) < len(group):
            rows.append(Row(f"RTF {key} clips", sum(r["seconds"] for r in clips)
                            / sum(r["audio"] for r in clips), "", ""))
    return rows


def evaluate(cache: Path, split: str, variant: str) -> list[Row]:
    return figures(run_items(cache, split, variant))


if __name__ == "__main__":
    make_truth(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".realmedia"))
