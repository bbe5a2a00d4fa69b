"""Truth inference: one label per item from the verdicts of several annotators.

An answer is an ``(item, annotator, label)`` row. Human experts and AI models are annotators
alike: a model is one more annotator id, ``model:<name>@<weights digest>``
(:func:`model_annotator`), whose skill is learned from the data like anyone else's, so a new
weights digest starts from scratch. Items whose label is known (gold) may be given; they anchor
the annotators' skills (their posterior is clamped to the known label at every EM step).

:func:`infer_truth` returns, per item, the inferred label and its posterior probability, and per
annotator an accuracy and a voting weight (:class:`TruthResult`). Methods:

- ``aiwork`` (the default): Dawid-Skene, computed exactly as crowd-kit computes it but on
  integer arrays in numpy (:class:`DawidSkeneEM`): the same labels, item for item, several times
  faster, without importing crowd-kit (and pandas, transformers, ...) on the review path.
- ``dawid_skene``, ``glad``, ``mace``, ``majority_vote``: crowd-kit's aggregators with their
  default settings (crowd-kit is imported only when one of them is used).

:func:`combine_texts` merges corrected versions of one transcript by ROVER (word-level voting
after alignment, crowd-kit's implementation, whitespace tokens).

The model
---------
Dawid-Skene (Dawid and Skene, 1979) gives each annotator ``a`` a confusion matrix
``C[a][k][l]``, the probability that ``a`` answers ``l`` when the truth is ``k``, and the items
a class prior ``pi``. EM alternates the posterior of each item's label (E-step) with the
matrices and prior that best explain those posteriors (M-step: expected counts, floored at
1e-10, normalised over the answers the annotator gave; ``pi`` the mean posterior).

aiwork's one configuration is crowd-kit 1.4.2's, step for step, so that aiwork's labels are the
reference implementation's and a test holds them equal on real and simulated crowds: start from
the majority vote's share of each label per item; run at most ``max_iter = 100`` steps; stop
after the first step whose loss improves by less than ``tol = 1e-5`` per answer, where the loss
is crowd-kit's: the expected log joint (which counts the class prior once per *answer*, not once
per item) plus the posteriors' entropy. Gold items are clamped to their known label after every
E-step, as crowd-kit's ``true_labels`` are, and so anchor the annotators' skills; a gold item
nobody answered is reported at its label. Ties go to the first label in sorted order.

An annotator's *accuracy* is the chance that their answer is right, ``sum_k pi_k C[k][k]``. Its
*weight* is the log-odds a vote of that accuracy carries under a symmetric error model,
``log((K - 1) * acc / (1 - acc))``: zero for an annotator no better than chance (a spammer, or a
group that agrees on wrong answers), floored at zero.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args

import numpy as np
import numpy.typing as npt

from aiwork.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "Answer",
    "AnnotatorSkill",
    "DawidSkeneEM",
    "ItemTruth",
    "Method",
    "TruthResult",
    "combine_texts",
    "infer_truth",
    "model_annotator",
]

Method = Literal["aiwork", "dawid_skene", "glad", "mace", "majority_vote"]
#: Every method :func:`infer_truth` accepts; the first is the default.
METHODS: Final[tuple[Method, ...]] = get_args(Method)
DEFAULT_METHOD: Final[Method] = "aiwork"

#: One verdict: (item id, annotator id, label).
Answer = tuple[str, str, str]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_EPS = 1e-10  # crowd-kit's floor of an expected count and of a probability before its log


def model_annotator(name: str, weights_digest: str) -> str:
    """The annotator id of an AI model: a new weights digest is a new annotator."""
    return f"model:{name}@{weights_digest}"


# -- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemTruth:
    """The inferred label of one item and its posterior probability."""

    item: str
    label: str
    probability: float
    answers: int
    gold: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"item": self.item, "label": self.label,
                "probability": round(self.probability, 6), "answers": self.answers,
                "gold": self.gold}


@dataclass(frozen=True)
class AnnotatorSkill:
    """What was learned about one annotator.

    ``accuracy``: the chance that their answer is right. ``weight``: the log-odds their vote
    carries (0 for no better than chance). ``confusion``: for Dawid-Skene methods, row ``k`` is
    the distribution of their answer when the truth is ``labels[k]`` of the result.
    """

    annotator: str
    accuracy: float
    weight: float
    answers: int
    confusion: tuple[tuple[float, ...], ...] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"annotator": self.annotator, "accuracy": round(self.accuracy, 6),
                               "weight": round(self.weight, 6), "answers": self.answers}
        if self.confusion is not None:
            out["confusion"] = [[round(p, 6) for p in row] for row in self.confusion]
        return out


@dataclass(frozen=True)
class TruthResult:
    """The outcome of :func:`infer_truth`."""

    method: str
    labels: tuple[str, ...]
    items: Mapping[str, ItemTruth]
    annotators: Mapping[str, AnnotatorSkill]
    iterations: int = 0
    converged: bool = True
    loss_history: tuple[float, ...] = field(default=(), repr=False)

    def label_of(self, item: str) -> str:
        try:
            return self.items[item].label
        except KeyError:
            raise InputError(f"no answers and no gold label for item {item!r}") from None

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "labels": list(self.labels),
                "iterations": self.iterations, "converged": self.converged,
                "items": [v.to_json() for v in self.items.values()],
                "annotators": [v.to_json() for v in self.annotators.values()]}


# -- encoding --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoded:
    items: npt.NDArray[np.str_]
    annotators: npt.NDArray[np.str_]
    labels: npt.NDArray[np.str_]
    item_idx: IntArray
    annotator_idx: IntArray
    label_idx: IntArray
    gold_items: IntArray
    gold_labels: IntArray

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.items), len(self.annotators), len(self.labels)


def _encode(answers: Iterable[Answer], gold: Mapping[str, str] | None) -> _Encoded:
    rows = list(answers)
    for n, row in enumerate(rows):
        if len(row) != 3 or not all(isinstance(x, str) for x in row):
            raise InputError(f"answer {n}: expected (item, annotator, label) strings, got {row!r}")
    gold = dict(gold or {})
    for item, label in gold.items():
        if not isinstance(item, str) or not isinstance(label, str):
            raise InputError(f"gold label of {item!r}: item and label must be strings")
    raw = np.array(rows, dtype=np.str_).reshape(len(rows), 3)
    gold_keys = np.array(list(gold), dtype=np.str_)
    gold_vals = np.array(list(gold.values()), dtype=np.str_)
    items, inverse = np.unique(np.concatenate([raw[:, 0], gold_keys]), return_inverse=True)
    labels, label_inv = np.unique(np.concatenate([raw[:, 2], gold_vals]), return_inverse=True)
    annotators, annotator_idx = np.unique(raw[:, 1], return_inverse=True)
    n = len(rows)
    return _Encoded(items=items, annotators=annotators, labels=labels,
                    item_idx=inverse[:n].astype(np.intp),
                    annotator_idx=annotator_idx.astype(np.intp),
                    label_idx=label_inv[:n].astype(np.intp),
                    gold_items=inverse[n:].astype(np.intp),
                    gold_labels=label_inv[n:].astype(np.intp))


def _vote_shares(item_idx: IntArray, label_idx: IntArray, n_items: int,
                 n_labels: int) -> FloatArray:
    """Each label's share of an item's answers (uniform for an item without answers)."""
    votes = np.bincount(item_idx * n_labels + label_idx, minlength=n_items * n_labels)
    shares = votes.reshape(n_items, n_labels).astype(float)
    total = shares.sum(axis=1, keepdims=True)
    out: FloatArray = np.divide(shares, total, out=np.full_like(shares, 1.0 / n_labels),
                                where=total > 0)
    return out


def _clamp(posteriors: FloatArray, gold_items: IntArray, gold_labels: IntArray) -> None:
    """Set each gold item's posterior to its known label, in place."""
    if len(gold_items):
        posteriors[gold_items] = 0.0
        posteriors[gold_items, gold_labels] = 1.0


def _weight(accuracy: float, n_labels: int) -> float:
    if n_labels < 2:
        return 0.0
    acc = min(max(accuracy, 1e-6), 1 - 1e-6)
    return max(0.0, math.log((n_labels - 1) * acc / (1 - acc)))


# -- the default: Dawid-Skene, crowd-kit's computation in numpy ---------------------------


class DawidSkeneEM:
    """Maximum-likelihood Dawid-Skene by EM, computed as crowd-kit 1.4.2 computes it, in numpy.

    ``max_iter`` and ``tol`` are crowd-kit's ``n_iter`` and ``tol`` (defaults 100 and 1e-5,
    aiwork's one configuration). :meth:`fit` sets the learned state: ``posteriors_`` (items x
    labels), ``confusions_`` (annotators x true label x answer), ``priors_`` (labels),
    ``loss_history_`` (crowd-kit's loss per answer, one value per EM step), ``n_iter_`` and
    ``converged_`` (false when ``max_iter`` steps ended it).
    """

    def __init__(self, *, max_iter: int = 100, tol: float = 1e-5) -> None:
        if max_iter < 1 or tol < 0:
            raise InputError("max_iter must be at least 1 and tol not negative")
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, item_idx: IntArray, annotator_idx: IntArray, label_idx: IntArray,
            shape: tuple[int, int, int], *, gold_items: IntArray | None = None,
            gold_labels: IntArray | None = None) -> DawidSkeneEM:
        """Fit on integer-coded answers; ``shape`` is (items, annotators, labels)."""
        n_items, n_annotators, n_labels = shape
        gold_i = gold_items if gold_items is not None else np.empty(0, np.intp)
        gold_l = gold_labels if gold_labels is not None else np.empty(0, np.intp)
        wl = annotator_idx * n_labels + label_idx  # (annotator, answer) cell of each answer
        answered = np.bincount(item_idx, minlength=n_items) > 0
        # Only the answers an annotator gave have a probability (crowd-kit's error matrix has
        # a row per answer given); the others are never looked up.
        observed = (np.bincount(wl, minlength=n_annotators * n_labels) > 0).reshape(
            n_annotators, 1, n_labels)
        n_answers = max(len(item_idx), 1)

        def m_step(post: FloatArray) -> tuple[FloatArray, FloatArray]:
            expected = np.empty((n_annotators, n_labels, n_labels))
            for k in range(n_labels):
                expected[:, k, :] = np.bincount(
                    wl, weights=post[item_idx, k], minlength=n_annotators * n_labels
                ).reshape(n_annotators, n_labels)
            counts = np.where(observed, np.maximum(expected, _EPS), 0.0)
            confusions: FloatArray = counts / counts.sum(axis=2, keepdims=True)
            priors: FloatArray = (post[answered].mean(axis=0) if answered.any()
                                  else np.full(n_labels, 1.0 / n_labels))
            return confusions, priors

        def answer_logs(confusions: FloatArray) -> FloatArray:
            """log C[a, k, l] of each answer's (a, l), one column per true label k."""
            log_c = np.log(confusions, out=np.zeros_like(confusions), where=observed)
            rows = log_c.transpose(0, 2, 1).reshape(n_annotators * n_labels, n_labels)
            out: FloatArray = rows[wl]
            return out

        def e_step(confusions: FloatArray, priors: FloatArray) -> FloatArray:
            per_answer = answer_logs(confusions)
            joint = np.empty((n_items, n_labels))
            for k in range(n_labels):
                joint[:, k] = np.bincount(item_idx, weights=per_answer[:, k], minlength=n_items)
            joint += np.log(np.maximum(priors, _EPS))
            scaled = np.exp(joint - joint.max(axis=1, keepdims=True))
            post: FloatArray = scaled / scaled.sum(axis=1, keepdims=True)
            _clamp(post, gold_i, gold_l)
            return post

        def loss(post: FloatArray, confusions: FloatArray, priors: FloatArray) -> float:
            """crowd-kit's stopping quantity: the expected log joint with the class prior
            counted once per answer (not once per item), plus the posteriors' entropy."""
            log_joint = answer_logs(confusions) + np.log(np.maximum(priors, _EPS))
            expectation = float((post[item_idx] * log_joint).sum())
            q = np.maximum(post[answered], _EPS)
            return (expectation - float((q * np.log(q)).sum())) / n_answers

        posteriors = _vote_shares(item_idx, label_idx, n_items, n_labels)
        _clamp(posteriors, gold_i, gold_l)
        confusions, priors = m_step(posteriors)
        history: list[float] = []
        previous = -math.inf
        converged = False
        for _ in range(self.max_iter):
            posteriors = e_step(confusions, priors)
            confusions, priors = m_step(posteriors)
            history.append(loss(posteriors, confusions, priors))
            if history[-1] - previous < self.tol:
                converged = True
                break
            previous = history[-1]
        self.posteriors_ = posteriors
        self.confusions_ = confusions
        self.priors_ = priors
        self.loss_history_ = history
        self.n_iter_ = len(history)
        self.converged_ = converged
        return self


def _aiwork(enc: _Encoded, em: DawidSkeneEM | None) -> TruthResult:
    model = (em or DawidSkeneEM()).fit(
        enc.item_idx, enc.annotator_idx, enc.label_idx, enc.shape,
        gold_items=enc.gold_items, gold_labels=enc.gold_labels)
    accuracy = np.einsum("k,akk->a", model.priors_, model.confusions_)
    return _result("aiwork", enc, model.posteriors_, accuracy, model.confusions_,
                   iterations=model.n_iter_, converged=model.converged_,
                   loss_history=tuple(model.loss_history_))


def _result(method: str, enc: _Encoded, posteriors: FloatArray, accuracy: FloatArray,
            confusions: FloatArray | None, *, chosen: IntArray | None = None,
            iterations: int = 0, converged: bool = True,
            loss_history: tuple[float, ...] = ()) -> TruthResult:
    n_items, n_annotators, n_labels = enc.shape
    labels = tuple(str(x) for x in enc.labels)
    best = posteriors.argmax(axis=1) if chosen is None else chosen
    probability = posteriors[np.arange(n_items), best]
    per_item = np.bincount(enc.item_idx, minlength=n_items)
    per_annotator = np.bincount(enc.annotator_idx, minlength=n_annotators)
    gold = np.zeros(n_items, dtype=bool)
    gold[enc.gold_items] = True
    items = {str(item): ItemTruth(str(item), labels[int(b)], float(p), int(c), bool(g))
             for item, b, p, c, g in zip(enc.items, best, probability, per_item, gold,
                                         strict=True)}
    annotators = {}
    for a, name in enumerate(enc.annotators):
        acc = float(accuracy[a])
        matrix = (None if confusions is None else
                  tuple(tuple(float(p) for p in row) for row in confusions[a]))
        annotators[str(name)] = AnnotatorSkill(str(name), acc, _weight(acc, n_labels),
                                               int(per_annotator[a]), matrix)
    return TruthResult(method, labels, items, annotators, iterations, converged, loss_history)


# -- crowd-kit's aggregators -------------------------------------------------------------


@contextmanager
def _quiet_crowdkit() -> Iterator[None]:
    """crowd-kit 1.4.2 predates pandas 3 and triggers its deprecation warnings; not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"crowdkit(\.|$)")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pandas(\.|$)")
        yield


def _frame(enc: _Encoded) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({"task": enc.item_idx, "worker": enc.annotator_idx,
                         "label": enc.label_idx})


def _probas_array(probas: pd.DataFrame, enc: _Encoded) -> FloatArray:
    n_items, _, n_labels = enc.shape
    frame = probas.reindex(index=range(n_items), columns=range(n_labels)).fillna(0.0)
    out = frame.to_numpy(dtype=float, copy=True)
    empty = out.sum(axis=1) == 0  # an item only gold knows
    out[empty] = 1.0 / n_labels
    return cast(FloatArray, out / out.sum(axis=1, keepdims=True))


def _crowdkit(method: Method, enc: _Encoded) -> TruthResult:
    import pandas as pd
    from crowdkit.aggregation import GLAD, MACE, DawidSkene, MajorityVote

    data = _frame(enc)  # rows in the given order: crowd-kit breaks ties by first appearance
    n_items, n_annotators, n_labels = enc.shape
    confusions: FloatArray | None = None
    iterations = 0
    model: Any
    with _quiet_crowdkit():
        if method == "dawid_skene":
            model = ds = DawidSkene()
            gold = (pd.Series(enc.gold_labels, index=enc.gold_items) if len(enc.gold_items)
                    else None)
            ds.fit(data, true_labels=gold)
            assert ds.probas_ is not None and ds.errors_ is not None
            probas = ds.probas_
            iterations = len(ds.loss_history_)
            errors = ds.errors_.reindex(
                index=pd.MultiIndex.from_product([range(n_annotators), range(n_labels)]),
                columns=range(n_labels)).fillna(0.0)
            # errors_[worker, answer][true] -> confusion[worker, true, answer]
            confusions = errors.to_numpy(dtype=float).reshape(
                n_annotators, n_labels, n_labels).transpose(0, 2, 1)
        else:
            model = {"glad": GLAD, "mace": MACE, "majority_vote": MajorityVote}[method]()
            probas = model.fit_predict_proba(data)
    posteriors = _probas_array(probas, enc)
    # crowd-kit's own choice of label (it differs from the first maximum only on ties).
    chosen = posteriors.argmax(axis=1)
    picked = model.labels_
    chosen[picked.index.to_numpy(dtype=np.intp)] = picked.to_numpy(dtype=np.intp)
    _clamp(posteriors, enc.gold_items, enc.gold_labels)
    chosen[enc.gold_items] = enc.gold_labels
    if confusions is not None:
        priors = posteriors.mean(axis=0)
        accuracy = np.einsum("k,akk->a", priors, confusions)
    else:  # how often each annotator's answer is the inferred truth (in expectation)
        agree = posteriors[enc.item_idx, enc.label_idx]
        accuracy = (np.bincount(enc.annotator_idx, weights=agree, minlength=n_annotators)
                    / np.maximum(np.bincount(enc.annotator_idx, minlength=n_annotators), 1))
    return _result(method, enc, posteriors, accuracy, confusions, chosen=chosen,
                   iterations=iterations)


# -- the API -----------------------------------------------------------------------------


def infer_truth(answers: Iterable[Answer], *, method: str = DEFAULT_METHOD,
                gold: Mapping[str, str] | None = None,
                em: DawidSkeneEM | None = None) -> TruthResult:
    """Infer each item's label from ``(item, annotator, label)`` answers.

    ``gold`` maps items to known labels: they anchor the annotators' skills in ``aiwork`` and
    ``dawid_skene``; every method reports them at their known label. ``em`` overrides the
    ``aiwork`` method's configuration (for experiments; aiwork itself uses the default).
    Every answer row counts, so give one per item and annotator.
    """
    if method not in METHODS:
        raise InputError(f"unknown truth-inference method {method!r}; "
                         f"choose one of {', '.join(METHODS)}")
    enc = _encode(answers, gold)
    if not len(enc.items):
        return TruthResult(method, (), {}, {})
    if method == "aiwork":
        return _aiwork(enc, em)
    if not len(enc.item_idx):  # only gold: crowd-kit has nothing to fit
        posteriors = _vote_shares(enc.item_idx, enc.label_idx, len(enc.items), len(enc.labels))
        _clamp(posteriors, enc.gold_items, enc.gold_labels)
        return _result(method, enc, posteriors, np.empty(0), None)
    return _crowdkit(cast(Method, method), enc)


def combine_texts(candidates: Sequence[str]) -> str:
    """Merge versions of one text by ROVER: align the words, keep each position's majority.

    Words are whitespace-separated tokens (compare case and punctuation as given); the result
    joins the chosen words with single spaces. Each version is one vote.
    """
    texts = list(candidates)
    if not texts:
        raise InputError("no texts to combine")
    if not all(isinstance(t, str) for t in texts):
        raise InputError("texts to combine must be strings")
    if len(texts) == 1:
        return " ".join(texts[0].split())
    import pandas as pd
    from crowdkit.aggregation import ROVER

    data = pd.DataFrame({"task": [0] * len(texts), "worker": range(len(texts)), "text": texts})
    with _quiet_crowdkit():
        merged = ROVER(tokenizer=str.split, detokenizer=" ".join).fit_predict(data)
    return str(merged.iloc[0])
