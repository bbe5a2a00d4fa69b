"""Speech adapted to a domain, on real recordings: the glossary loop of ``aiwork.learn.glossary``
on Asterisk's English studio prompts (the ``speech`` area's media and truth).

The prompts are a telephony domain (voicemail, extension, conference, PIN, pound key ...). Every
English prompt of ``truth/speech/items.json`` (single prompts and the parts of clips and mixed
clips) is one verified segment, in the split the ``speech`` area fixed for it by a hash of its
name. The loop runs on the ``dev`` prompts only:

- ``dev`` is cut in two by another hash of the prompt's name: the *correction* part (two thirds)
  and the *adoption* part (one third);
- corrections: Whisper ``tiny.en``'s transcript of each correction prompt against its true text
  (taken as an expert's validated correction; prompts heard right count as accepted), and the
  glossary from them (:func:`~aiwork.learn.glossary.glossary_from_corrections`);
- the adoption rule (:func:`~aiwork.learn.glossary.adopt_glossary`) on the adoption part.

``evaluate(cache, split, variant)`` then transcribes ``split``'s prompts with ``variant``:
``before`` (no glossary), ``after`` (the glossary if the rule adopted it, else none: what the loop
ships), ``glossary`` (the learned glossary whether adopted or not; ``prompt``: the same given as
Whisper's ``initial_prompt`` instead of ``hotwords``, and adopted or not by the rule so) or
``irrelevant`` (the made-up clinic's glossary of ``bench/improve_speech.py``: names that never
occur here). Figures: WER on the domain terms (:data:`TERMS`, a fixed telephony vocabulary
chosen before any figure was seen, :func:`~aiwork.learn.glossary.term_wer`), WER on the
glossary's own terms, and overall WER (:func:`~aiwork.learn.glossary.corpus_wer`). Nothing is chosen on ``heldout``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from functools import cache as memo
from pathlib import Path
from typing import Any

import numpy as np

from realmedia import Row, speech  # type: ignore[import-not-found]

NAME = "glossary"
MODEL = "tiny.en"
#: A telephony vocabulary, fixed before measuring: the domain terms whose WER is reported.
TERMS = ("conference", "conferences", "extension", "mailbox", "voicemail", "password",
         "passwords", "pin", "pound", "caller", "dialed", "forward", "forwarded", "forwarding",
         "asterisk", "pbx", "digium", "queue", "participant", "participants", "mute", "muted",
         "unmute", "unmuted", "urgent", "nonurgent", "menu", "blacklisted", "echo", "circuits",
         "agent", "login", "parked", "recorded", "recording", "directory", "folder", "busy",
         "tone")
#: A glossary of another domain (bench/improve_speech.py's made-up clinic).
IRRELEVANT = ("Zorvathek", "Quillibrand", "Hexaphore", "Drevanol", "Kestrivane", "Malvoria",
              "Pyndrasil", "Trelquist", "Ombravex", "Syltheran", "Vexapril", "Dunmarrow")


def fetch(cache: Path) -> None:
    speech.fetch(cache)


def prompts() -> dict[str, list[dict[str, str]]]:
    """The English prompts by part: ``correct`` and ``adopt`` (the two parts of ``dev``) and
    ``heldout``; each prompt once (``sound``, ``text``)."""
    found: dict[str, dict[str, str]] = {}
    split_of: dict[str, str] = {}
    for item in json.loads(speech.TRUTH.read_text())["items"]:
        for part in item["parts"]:
            if part["language"] == "en":
                found[part["sound"]] = part["text"]
                split_of[part["sound"]] = item["split"]
    parts: dict[str, list[dict[str, str]]] = {"correct": [], "adopt": [], "heldout": []}
    for sound in sorted(found):
        if split_of[sound] == "heldout":
            part = "heldout"
        else:
            cut = int(hashlib.sha256(f"glossary/{sound}".encode()).hexdigest(), 16) % 3
            part = "adopt" if cut == 0 else "correct"
        parts[part].append({"sound": sound, "text": found[sound]})
    return parts


def _segments(cache: Path, part: str) -> list[Any]:
    from aiwork.learn.glossary import VerifiedSegment

    pad = np.zeros(speech.SR // 2, np.float32)
    out = []
    for p in prompts()[part]:
        audio = speech._decode(speech._root(cache) / "usr/share/asterisk/sounds"
                               / speech.VOICES["en"] / f"{p['sound']}.g722")
        out.append(VerifiedSegment(np.concatenate([pad, audio, pad]), p["text"]))
    return out


@memo
def _heard(cache: Path, part: str, glossary: tuple[str, ...],
           glossary_as: str = "hotwords") -> tuple[str, ...]:
    from aiwork.learn.glossary import transcribe_segments

    return tuple(transcribe_segments(_segments(cache, part), glossary, model=MODEL,
                                     glossary_as=glossary_as))


@memo
def learn(cache: Path, glossary_as: str = "hotwords") -> Any:
    """The glossary from the correction part's transcripts, and the adoption rule's decision on
    the adoption part (a :class:`~aiwork.learn.glossary.GlossaryDecision`), the glossary given
    to Whisper as ``glossary_as``."""
    from aiwork.learn.glossary import adopt_glossary, glossary_from_corrections

    texts = [p["text"] for p in prompts()["correct"]]
    glossary = glossary_from_corrections(list(zip(_heard(cache, "correct", ()), texts,
                                                  strict=True)))
    decision = adopt_glossary(glossary, _segments(cache, "adopt"), model=MODEL,
                              glossary_as=glossary_as, heard_before=_heard(cache, "adopt", ()))
    print(f"# glossary {list(decision.glossary)} as {glossary_as}: {decision.reason}",
          file=sys.stderr)
    return decision


def evaluate(cache: Path, split: str, variant: str) -> list[Row]:
    from aiwork.learn.glossary import corpus_wer, term_errors, term_wer

    glossary_as = "initial_prompt" if variant == "prompt" else "hotwords"
    decision = learn(cache, glossary_as)
    glossary = {"before": (), "after": decision.glossary if decision.adopted else (),
                "glossary": decision.glossary, "prompt": decision.glossary,
                "irrelevant": IRRELEVANT}[variant]
    parts = ["heldout"] if split == "heldout" else ["correct", "adopt"]
    references = [p["text"] for part in parts for p in prompts()[part]]
    heard = [t for part in parts for t in _heard(cache, part, tuple(glossary), glossary_as)]
    terms = term_wer(references, heard, TERMS)
    own = term_wer(references, heard, decision.glossary)
    spoken = sum(term_errors(r, r, TERMS)[1] for r in references)
    return [Row(f"WER domain terms ({spoken} spoken)", terms, "-30 % relative", "%"),
            Row("WER on the learned glossary's terms", own, "", "%"),
            Row(f"WER overall ({len(references)} prompts)", corpus_wer(references, heard), "",
                "%"),
            Row(f"glossary terms ({'adopted' if decision.adopted else 'refused'}: adoption "
                f"part WER {decision.wer_before:.3f} -> {decision.wer_after:.3f})",
                float(len(glossary)), "", "")]
