"""Speech adapted to a domain: a glossary from validated transcript corrections, adopted only
when it measurably lowers the word error rate.

:func:`glossary_from_corrections` diffs each AI transcript against its expert-corrected text
(word by word) and keeps the words the corrections put in: the names and terms the model got
wrong. The transcript analyzer takes them as its option ``glossary`` (given to faster-whisper
as ``hotwords``, or as an ``initial_prompt`` with ``glossary_as``). A glossary is not free: an
irrelevant one makes transcripts worse (Asterisk's held-out English prompts, Whisper tiny.en:
WER 6.0 % -> 10.8 %; `bench/realmedia.py --areas glossary`), so
:func:`adopt_glossary` transcribes held-out verified segments with and without it and adopts it
only when the word error rate falls.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.store import ModelStore, StoredModel
from aiwork.analyzers.transcript.analyzer import glossary_digest
from aiwork.crypto import SigningKey
from aiwork.digests import is_digest
from aiwork.errors import InputError
from aiwork.ledger.log import Log
from aiwork.ledger.registry import register_model
from aiwork.quality.agreement import word_error_rate

__all__ = ["GlossaryDecision", "HeldOutSpan", "RegisteredGlossary", "TranscriptExamples",
           "TrainedGlossary", "train_and_register_glossary",
           "VerifiedSegment", "adopt_glossary", "corpus_wer", "domain_wer",
           "glossary_from_corrections", "register_glossary", "term_errors", "term_wer",
           "train_glossary", "transcribe_segments", "transcript_examples"]

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
    ``MIN_TERM`` letters, that the model got wrong more often than right across the
    corrections (a word it wrote right elsewhere is no term it needs; pairs the experts
    accepted, given as (text, text), count as heard right), most often wrong first (then
    first seen)."""
    wrong: Counter[str] = Counter()
    right: Counter[str] = Counter()
    spelled: dict[str, str] = {}
    for ai, corrected in corrections:
        ai_words, fixed = _tokens(ai), _tokens(corrected)
        matcher = difflib.SequenceMatcher(a=[w.lower() for w in ai_words],
                                          b=[w.lower() for w in fixed], autojunk=False)
        for tag, _, _, j1, j2 in matcher.get_opcodes():
            if tag == "delete":
                continue
            for word in fixed[j1:j2]:
                if len(word) >= MIN_TERM and not word.isdigit():
                    key = word.lower()
                    spelled.setdefault(key, word)
                    (right if tag == "equal" else wrong)[key] += 1
    first = {key: n for n, key in enumerate(spelled)}
    order = sorted((k for k in wrong if wrong[k] > right[k]),
                   key=lambda k: (-wrong[k], first[k]))
    return [spelled[k] for k in order[:max_terms]]


def term_errors(reference: str, heard: str, terms: Iterable[str]) -> tuple[int, int]:
    """(errors, count) over the words of ``reference`` that are ``terms`` (case ignored): a
    term is an error unless the least-edit word alignment of ``heard`` to ``reference`` keeps
    it exactly (a substituted or deleted term is one error; insertions belong to no reference
    word and are not counted here: the overall word error rate counts them)."""
    wanted = {t.lower() for t in terms}
    ref, hyp = _norm(reference), _norm(heard)
    count = sum(1 for w in ref if w in wanted)
    if not count:
        return 0, 0
    # Levenshtein table, then walk back the alignment to see which reference words matched.
    table = [[0] * (len(hyp) + 1) for _ in range(len(ref) + 1)]
    for i in range(len(ref) + 1):
        table[i][0] = i
    for j in range(len(hyp) + 1):
        table[0][j] = j
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1,
                              table[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]))
    kept = 0
    i, j = len(ref), len(hyp)
    while i > 0 and j > 0:
        if ref[i - 1] == hyp[j - 1] and table[i][j] == table[i - 1][j - 1]:
            kept += ref[i - 1] in wanted
            i, j = i - 1, j - 1
        elif table[i][j] == table[i - 1][j - 1] + 1:
            i, j = i - 1, j - 1
        elif table[i][j] == table[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return count - kept, count


def term_wer(references: Sequence[str], heard: Sequence[str],
             terms: Iterable[str]) -> float | None:
    """The word error rate on domain terms: the share of the references' words that are
    ``terms`` not transcribed exactly (:func:`term_errors`); None when no reference holds
    one."""
    wanted = list(terms)
    errors = count = 0
    for reference, text in zip(references, heard, strict=True):
        e, n = term_errors(reference, text, wanted)
        errors, count = errors + e, count + n
    return errors / count if count else None


def corpus_wer(references: Sequence[str], heard: Sequence[str]) -> float:
    """The word error rate over all ``references`` pooled (word edits over reference
    words)."""
    if not references:
        raise InputError("no verified segments to measure the word error rate on")
    edits = 0.0
    words = 0
    for reference, text in zip(references, heard, strict=True):
        ref = _norm(reference)
        edits += word_error_rate(ref, _norm(text)) * max(len(ref), 1)
        words += max(len(ref), 1)
    return edits / words


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
    return corpus_wer([s.text for s in segments], heard)


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
    #: The word error rate on the glossary's own terms in the held-out references
    #: (:func:`term_wer`), before and after; None when no reference holds one.
    term_wer_before: float | None = None
    term_wer_after: float | None = None
    #: The held-out segments' texts as heard without and with the glossary.
    heard_before: tuple[str, ...] = ()
    heard_after: tuple[str, ...] = ()

    def metrics(self) -> dict[str, float]:
        """The held-out figures a registration records."""
        found = {"heldout_wer_before": self.wer_before, "heldout_wer_after": self.wer_after,
                 "heldout_segments": float(self.segments)}
        if self.term_wer_before is not None and self.term_wer_after is not None:
            found["heldout_term_wer_before"] = self.term_wer_before
            found["heldout_term_wer_after"] = self.term_wer_after
        return found

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
                   min_gain: float = 0.0,
                   heard_before: Sequence[str] | None = None) -> GlossaryDecision:
    """The adoption rule: the glossary is adopted only if it lowers the word error rate on
    the held-out verified segments by more than ``min_gain`` (absolute). ``heard_before``:
    the segments' texts as the model already heard them without a glossary (not heard again)."""
    if not held_out:
        raise InputError("no verified segments to measure the word error rate on")
    terms = tuple(glossary)
    references = [segment.text for segment in held_out]
    before_texts = (list(heard_before) if heard_before is not None
                    else transcribe_segments(held_out, (), model=model))
    if len(before_texts) != len(held_out):
        raise InputError(f"{len(before_texts)} texts heard for {len(held_out)} segments")
    before = corpus_wer(references, before_texts)
    if not terms:
        return GlossaryDecision(False, terms, before, before, len(held_out), "empty glossary",
                                glossary_as, model, heard_before=tuple(before_texts),
                                heard_after=tuple(before_texts))
    after_texts = transcribe_segments(held_out, terms, model=model, glossary_as=glossary_as)
    after = corpus_wer(references, after_texts)
    adopted = after < before - min_gain
    reason = (f"WER {before:.3f} -> {after:.3f} on {len(held_out)} held-out segments: "
              + ("lower, adopted" if adopted else "not lower, refused"))
    return GlossaryDecision(adopted, terms, before, after, len(held_out), reason, glossary_as,
                            model, term_wer(references, before_texts, terms),
                            term_wer(references, after_texts, terms),
                            tuple(before_texts), tuple(after_texts))


#: The most held-out segments a training transcribes (twice: without and with the glossary).
MAX_HELD_OUT = 2000
#: The splits of a released dataset a glossary is learned from, and measured on.
TRAIN_SPLITS = ("train",)
HELD_OUT_SPLITS = ("validation", "test")
_SPAN_SECONDS = 120.0


@dataclass(frozen=True)
class HeldOutSpan:
    """A held-out verified transcript item: where its speech is, and its verified text."""

    asset: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class TranscriptExamples:
    """A released dataset's transcript items, as a glossary learns from them: the train
    split's (AI text, verified text) pairs (corrected and accepted), the held-out splits'
    verified items, and how many rows were left out (rejected: no verified text)."""

    corrections: tuple[tuple[str, str], ...]
    corrected: int
    held_out: tuple[HeldOutSpan, ...]
    left_out: int


def _text(row: Mapping[str, Any], field: str) -> str | None:
    raw = row.get(field)
    if raw is None:
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if not isinstance(value, str):
        raise InputError(f"transcript item {str(row.get('id'))[:80]!r}: its {field} is not "
                         "JSON text of a string", hint="give a folder aiwork dataset export "
                         "wrote")
    return value


def _span(row: Mapping[str, Any]) -> tuple[str, float, float]:
    asset, start, end = row.get("asset"), row.get("start"), row.get("end")
    if (not isinstance(asset, str) or not is_digest(asset)
            or not all(isinstance(v, int | float) and not isinstance(v, bool)
                       for v in (start, end))):
        raise InputError(f"transcript item {str(row.get('id'))[:80]!r} has no asset digest "
                         "and time range", hint="give a folder aiwork dataset export wrote")
    assert isinstance(start, int | float) and isinstance(end, int | float)
    if not (0 <= start < end and end - start <= _SPAN_SECONDS):
        raise InputError(f"transcript item {str(row.get('id'))[:80]!r}: {start}-{end} s is "
                         f"not a segment (0 <= start < end, at most {_SPAN_SECONDS:g} s)")
    return asset, float(start), float(end)


def transcript_examples(rows: Iterable[Mapping[str, Any]]) -> TranscriptExamples:
    """The transcript items of a released dataset's rows (``aiwork dataset export``), split
    by the export's video split: train for the glossary, validation and test held out."""
    corrections: list[tuple[str, str]] = []
    held: list[HeldOutSpan] = []
    corrected = left_out = 0
    for row in rows:
        if row.get("insight") != "transcript":
            continue
        final = _text(row, "final_value")
        ai = _text(row, "ai_value")
        if final is None or ai is None or row.get("outcome") not in ("accepted", "corrected"):
            left_out += 1
            continue
        split = row.get("split")
        if split in TRAIN_SPLITS:
            corrections.append((ai, final))
            corrected += row.get("outcome") == "corrected"
        elif split in HELD_OUT_SPLITS:
            if len(held) >= MAX_HELD_OUT:
                left_out += 1
                continue
            held.append(HeldOutSpan(*_span(row), final))
        else:
            raise InputError(f"transcript item {str(row.get('id'))[:80]!r} is in no split "
                             f"of {', '.join(TRAIN_SPLITS + HELD_OUT_SPLITS)}")
    return TranscriptExamples(tuple(corrections), corrected, tuple(held), left_out)


@dataclass(frozen=True)
class TrainedGlossary:
    """A glossary learned from a released dataset and the adoption rule's decision on its
    held-out splits."""

    decision: GlossaryDecision
    examples: TranscriptExamples
    held_out: tuple[VerifiedSegment, ...]


def train_glossary(rows: Iterable[Mapping[str, Any]],
                   audio: Callable[[str, float, float], NDArray[np.float32]], *,
                   model: str = "tiny.en", glossary_as: str = "hotwords",
                   max_terms: int = MAX_TERMS) -> TrainedGlossary:
    """A glossary from the train split's validated transcript items
    (:func:`glossary_from_corrections`), decided by :func:`adopt_glossary` on the held-out
    splits' verified items, whose speech ``audio(asset, start, end)`` reads (e.g. cut from
    the asset's blob). InputError when the dataset holds no corrected train item or no
    held-out verified item."""
    examples = transcript_examples(rows)
    if not examples.corrected:
        raise InputError("the dataset's train split holds no corrected transcript item: "
                         "nothing to learn a glossary from",
                         hint="export a store whose transcript items experts corrected")
    if not examples.held_out:
        raise InputError("the dataset's validation and test splits hold no verified "
                         "transcript item: the glossary cannot be measured",
                         hint="export more videos (the split is chosen per video)")
    glossary = glossary_from_corrections(examples.corrections, max_terms)
    segments = tuple(VerifiedSegment(audio(span.asset, span.start, span.end), span.text)
                     for span in examples.held_out)
    decision = adopt_glossary(glossary, segments, model=model, glossary_as=glossary_as)
    return TrainedGlossary(decision, examples, segments)


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
                          metrics=decision.metrics(),
                          parent=parent, dataset=dataset, approved_by=approved_by)


@dataclass(frozen=True)
class RegisteredGlossary:
    """A glossary trained on a released dataset: the training, and when it was adopted, its
    ``model.registered`` entry and where the model store keeps it."""

    trained: TrainedGlossary
    index: int | None
    stored: StoredModel | None


def train_and_register_glossary(
        log: Log, key: SigningKey, rows: Iterable[Mapping[str, Any]],
        audio: Callable[[str, float, float], NDArray[np.float32]], *, version: str,
        dataset: tuple[int, str], store: ModelStore, parent: int | None = None,
        model: str = "tiny.en", glossary_as: str = "hotwords") -> RegisteredGlossary:
    """What ``aiwork models train transcript`` does: :func:`train_glossary` on a released
    dataset's rows, and, when the rule adopts it, its file kept in the model ``store`` (under
    the registration's weights digest) and a ``model.registered`` entry naming the
    ``dataset`` (its ``dataset.released`` index and digest). A refused glossary is neither
    kept nor registered (``index`` None)."""
    from aiwork.analyzers.transcript.analyzer import glossary_files

    trained = train_glossary(rows, audio, model=model, glossary_as=glossary_as)
    decision = trained.decision
    if not decision.adopted:
        return RegisteredGlossary(trained, None, None)
    # Kept first (content-addressed: a refused registration leaves a copy a later one
    # reuses), so a registered glossary always has its file in the store.
    stored = store.put_bytes("transcript", glossary_files(decision.glossary,
                                                          decision.glossary_as, model),
                             digest=decision.weights_digest())
    index = register_glossary(log, key, decision, version=version, parent=parent,
                              dataset=dataset)
    return RegisteredGlossary(trained, index, stored)
