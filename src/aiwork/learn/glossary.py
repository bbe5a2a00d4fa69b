"""Speech adapted to a domain: a glossary from validated transcript corrections, adopted only
when it measurably lowers the word error rate.

:func:`glossary_from_corrections` diffs each AI transcript against its expert-corrected text
(word by word) and keeps the words the corrections put in: the names and terms the model got
wrong. The transcript analyzer takes them as its option ``glossary`` (given to faster-whisper
as ``hotwords``, or as an ``initial_prompt`` with ``glossary_as``). A glossary is not free: an
irrelevant one makes transcripts worse (measured on real media: WER 0.44 -> 0.54), so
:func:`adopt_glossary` transcribes held-out verified segments with and without it and adopts it
only when the word error rate falls.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.transcript.analyzer import glossary_digest
from aiwork.crypto import SigningKey
from aiwork.errors import InputError
from aiwork.ledger.log import Log
from aiwork.ledger.registry import register_model
from aiwork.quality.agreement import word_error_rate

__all__ = ["GlossaryDecision", "VerifiedSegment", "adopt_glossary", "domain_wer",
           "glossary_from_corrections", "register_glossary", "transcribe_segments"]

#: The most terms a glossary keeps; shorter words are not terms.
MAX_TERMS = 50
MIN_TERM = 3
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def _norm(text: str) -> list[str]:
    return [w.lower() for w in _tokens(text)]


def glossary_from_corrections(corrections: Sequence[tuple[str, str]],
                              max_terms: int = MAX_TERMS) -> list[str]:
    """The terms that validated corrections (AI text, corrected text) put in: words of the
    corrected text in replaced or inserted spans, as the expert spelled them, at least
    ``MIN_TERM`` letters, most frequent first (then first seen)."""
    counts: Counter[str] = Counter()
    spelled: dict[str, str] = {}
    for ai, corrected in corrections:
        ai_words, fixed = _tokens(ai), _tokens(corrected)
        matcher = difflib.SequenceMatcher(a=[w.lower() for w in ai_words],
                                          b=[w.lower() for w in fixed], autojunk=False)
        for tag, _, _, j1, j2 in matcher.get_opcodes():
            if tag not in ("replace", "insert"):
                continue
            for word in fixed[j1:j2]:
                if len(word) >= MIN_TERM and not word.isdigit():
                    key = word.lower()
                    spelled.setdefault(key, word)
                    counts[key] += 1
    order = sorted(counts, key=lambda k: (-counts[k], list(spelled).index(k)))
    return [spelled[k] for k in order[:max_terms]]


@dataclass(frozen=True)
class VerifiedSegment:
    """A stretch of speech (mono float32 at 16 kHz) and its expert-verified text."""

    audio: NDArray[np.float32]
    text: str


def transcribe_segments(segments: Sequence[VerifiedSegment], glossary: Sequence[str] = (), *,
                        model: str = "tiny.en", glossary_as: str = "hotwords",
                        language: str | None = "en") -> list[str]:
    """Each segment's text as the transcript analyzer's model (option ``model``) hears it,
    with the glossary given as the analyzer's option."""
    from aiwork.analyzers.transcript.analyzer import TranscriptAnalyzer

    analyzer = TranscriptAnalyzer({"model": model, "glossary": list(glossary),
                                   "glossary_as": glossary_as, "vad_filter": False})
    whisper = analyzer.load_model()
    texts = []
    for segment in segments:
        found, _ = analyzer.transcribe(whisper, np.asarray(segment.audio, dtype=np.float32),
                                       language)
        texts.append(" ".join(str(s.text).strip() for s in found))
    return texts


def domain_wer(segments: Sequence[VerifiedSegment], glossary: Sequence[str] = (), *,
               model: str = "tiny.en", glossary_as: str = "hotwords") -> float:
    """The word error rate over all ``segments`` (word edits over reference words) when
    transcribed with ``glossary`` (empty: without one)."""
    if not segments:
        raise InputError("no verified segments to measure the word error rate on")
    heard = transcribe_segments(segments, glossary, model=model, glossary_as=glossary_as)
    edits = 0.0
    words = 0
    for segment, text in zip(segments, heard, strict=True):
        reference = _norm(segment.text)
        edits += word_error_rate(reference, _norm(text)) * max(len(reference), 1)
        words += max(len(reference), 1)
    return edits / words


@dataclass(frozen=True)
class GlossaryDecision:
    adopted: bool
    glossary: tuple[str, ...]
    wer_before: float
    wer_after: float
    segments: int
    reason: str
    glossary_as: str = "hotwords"
    #: The transcript analyzer's ``model`` option the word error rates were measured with.
    model: str = "tiny.en"

    @property
    def digest(self) -> str:
        """The glossary's digest, as the transcript analyzer's decisions record it."""
        return glossary_digest(self.glossary, self.glossary_as)

    def options(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The transcript analyzer's options that run this glossary: ``options`` (default:
        the model it was measured with) with the glossary set."""
        return {**(options if options is not None else {"model": self.model}),
                "glossary": list(self.glossary), "glossary_as": self.glossary_as}

    def weights_digest(self, options: Mapping[str, Any] | None = None) -> str:
        """The weights digest of the transcript analyzer running this glossary with
        ``options`` (Whisper's weights and the glossary): what its decisions record."""
        from aiwork.analyzers.transcript.analyzer import TranscriptAnalyzer

        digest = TranscriptAnalyzer(self.options(options)).model().weights_digest
        assert digest is not None  # the transcript analyzer always digests its weights
        return digest


def adopt_glossary(glossary: Sequence[str], held_out: Sequence[VerifiedSegment], *,
                   model: str = "tiny.en", glossary_as: str = "hotwords",
                   min_gain: float = 0.0) -> GlossaryDecision:
    """The adoption rule: the glossary is adopted only if it lowers the word error rate on
    the held-out verified segments by more than ``min_gain`` (absolute)."""
    terms = tuple(glossary)
    before = domain_wer(held_out, (), model=model)
    if not terms:
        return GlossaryDecision(False, terms, before, before, len(held_out), "empty glossary",
                                glossary_as, model)
    after = domain_wer(held_out, terms, model=model, glossary_as=glossary_as)
    adopted = after < before - min_gain
    reason = (f"WER {before:.3f} -> {after:.3f} on {len(held_out)} held-out segments: "
              + ("lower, adopted" if adopted else "not lower, refused"))
    return GlossaryDecision(adopted, terms, before, after, len(held_out), reason, glossary_as,
                            model)


def register_glossary(log: Log, key: SigningKey, decision: GlossaryDecision, *, version: str,
                      parent: int | None = None, dataset: tuple[int, str] | None = None,
                      approved_by: str | None = None,
                      options: Mapping[str, Any] | None = None) -> int:
    """Register an adopted glossary as a version of the transcript analyzer: a
    ``model.registered`` entry whose weights digest is the analyzer's with that glossary
    (Whisper's weights and the glossary, :meth:`GlossaryDecision.weights_digest`; ``options``:
    the analyzer options it is to run with, default the model it was measured with), so the
    decisions made with it name it; the held-out WER before and after are its metrics. A
    glossary that was not adopted is refused."""
    if not decision.adopted:
        raise InputError(f"the glossary was not adopted ({decision.reason}): not registered")
    return register_model(log, key, analyzer="transcript", version=version,
                          weights_digest=decision.weights_digest(options),
                          metrics={"heldout_wer_before": decision.wer_before,
                                   "heldout_wer_after": decision.wer_after,
                                   "heldout_segments": float(decision.segments)},
                          parent=parent, dataset=dataset, approved_by=approved_by)
