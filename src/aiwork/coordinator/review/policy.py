"""The review engine's tunables: truth inference, expert reputation, escalation, gold."""

from __future__ import annotations

from aiwork.quality.reputation import ReputationPolicy

__all__ = ["ESCALATE_BELOW", "ESCALATION_STEP", "ESCALATION_WAIT", "EXPERT_POLICY", "GOLD_BATCH",
           "GOLD_REPEAT_WINDOW", "MAX_ESCALATIONS", "MAX_EXPERTS", "REVIEW_PURPOSE",
           "TRUTH_METHOD", "TRUTH_WINDOW"]

#: The truth-inference method consensus uses (see :mod:`aiwork.quality.truth`).
TRUTH_METHOD = "aiwork"
#: How many of an insight's most recent answered items one consensus infers over (besides the
#: item being decided): annotators' skills come from their recent work, and a decision costs
#: the same on the millionth item as on the thousandth.
TRUTH_WINDOW = 2000

#: Experts answer yes/no questions, where a guess is right half the time: five answers
#: cannot tell a 0.9 expert from a 0.6 one (P(at most 3 of 5 right | 0.9) = 8 %), ten mostly
#: can (1.3 % for at most 6 of 10), so an expert is judged on ten observations at least.
EXPERT_POLICY = ReputationPolicy(min_samples=10)
#: The purpose logged when a sensitive library's item is served to an expert.
REVIEW_PURPOSE = "expert review"

#: An item an expert corrected or rejected is decided only when the inferred outcome's
#: posterior reaches this bar; below it the item is escalated to more experts.
ESCALATE_BELOW = 0.9
#: Experts added by one escalation round (two keep a panel of three odd: 3, 5, 7).
ESCALATION_STEP = 2
#: Escalation rounds an item may have; past them the consensus is recorded as it stands.
MAX_ESCALATIONS = 2
#: No escalation takes an item beyond this many experts.
MAX_EXPERTS = 7
#: An escalated item that has not reached the bar nor its enlarged panel this long after its
#: last escalation (no more experts came) is decided on the verdicts in.
ESCALATION_WAIT = 24 * 3600.0

#: Gold answers are scored in batches: an expert's reputation and credits change only once
#: this many of their gold answers are in, together, at one of their verdicts on a real item
#: (an expert who gets only gold, a newcomer or a quarantined expert, at twice as many), so no
#: change can be tied to one gold verdict. The reputation entry names no item.
GOLD_BATCH = 5
#: An expert is never served the same gold item (the same insight, media and value) twice
#: within this many seconds, however many workers' results made it.
GOLD_REPEAT_WINDOW = 30 * 86400.0

