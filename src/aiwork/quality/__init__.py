"""Quality: how far replicas of one task agree, truth inference over verdicts, and reputation."""

from aiwork.quality.agreement import AGREEMENT_THRESHOLDS, agreement, agrees, word_error_rate
from aiwork.quality.truth import (
    METHODS,
    AnnotatorSkill,
    ItemTruth,
    TruthResult,
    combine_texts,
    infer_truth,
    model_annotator,
)

__all__ = [
    "AGREEMENT_THRESHOLDS",
    "METHODS",
    "AnnotatorSkill",
    "ItemTruth",
    "TruthResult",
    "agreement",
    "agrees",
    "combine_texts",
    "infer_truth",
    "model_annotator",
    "word_error_rate",
]
