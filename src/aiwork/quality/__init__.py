"""Quality: how far replicas of one task agree, and (later) truth inference and reputation."""

from aiwork.quality.agreement import AGREEMENT_THRESHOLDS, agreement, agrees, word_error_rate

__all__ = ["AGREEMENT_THRESHOLDS", "agreement", "agrees", "word_error_rate"]
