"""Human review of AI items: routing, blind assignment, signed verdicts, consensus.

When a task's result is accepted, its items are routed to human experts by the insight's
:class:`~aiwork.quality.review_items.RoutingRules` (low confidence, replicas that disagreed,
a random audit share); gold items with known answers are mixed in, unmarked. Each item goes to
``experts`` experts, blind: an expert sees the question, the AI's value and the evidence,
never the other answers nor whether the item is gold, and never an item made by a worker key
they own. A verdict is a ``human.verdict`` entry the expert signs. When an item has all its
verdicts, the verdicts on every item of that insight are combined by truth inference
(:mod:`aiwork.quality.truth`) over the experts alone: the AI model whose output is judged never
votes on its acceptance. When an expert corrected or rejected the item and the posterior of the
inferred outcome is under :data:`ESCALATE_BELOW`, the item goes to :data:`ESCALATION_STEP` more
experts (at most :data:`MAX_ESCALATIONS` times, never beyond :data:`MAX_EXPERTS` nor beyond the
experts who may answer it: when nobody else can, it is decided at once) before a
consensus is recorded, so one careless accept cannot outvote a right correction. The result is
a ``consensus.result`` entry, and it changes the job's published results (a rejected item is
dropped, a corrected one replaced). Experts' reputations per insight follow
gold accuracy and agreement with consensus (``reputation.update``); verdicts that agree earn
credits (``reward.accrued``).

Items of a *sensitive* library go only to experts who may read it (its owner and the readers
it added, holding the expert role), and each serving is an ``access.read`` entry in the
library's access log. Their verdicts and consensus are sealed entries: corrections,
rationales and corrected values are in the public log only as salted commitments
(:mod:`aiwork.model.commitment`), their openings kept for the library's readers.

The engine is one class, :class:`Review`, put together from its parts: :mod:`.base` (its
state: rules, key owners, items, reputations), :mod:`.routing`, :mod:`.assignment`,
:mod:`.verdicts`, :mod:`.gold` (experts' gold answers), :mod:`.consensus` (truth inference and
escalation) and :mod:`.reading` (outcomes and progress, and what an audit carries); its tunables
are in :mod:`.policy`, its tables in :mod:`.items`. Nothing outside this package reads its
tables.
"""

from __future__ import annotations

from aiwork.coordinator.review.assignment import Assignment
from aiwork.coordinator.review.items import kept_in
from aiwork.coordinator.review.policy import (
    ESCALATE_BELOW,
    ESCALATION_STEP,
    ESCALATION_WAIT,
    EXPERT_POLICY,
    GOLD_BATCH,
    GOLD_REPEAT_WINDOW,
    MAX_ESCALATIONS,
    MAX_EXPERTS,
    REVIEW_PURPOSE,
    TRUTH_METHOD,
    TRUTH_WINDOW,
)
from aiwork.coordinator.review.reading import (
    RELATED_PAGE,
    Reading,
    review_changes,
    review_entries,
    review_summary,
)
from aiwork.coordinator.review.routing import Routing
from aiwork.coordinator.review.verdicts import Verdicts

__all__ = [
    "ESCALATE_BELOW",
    "ESCALATION_STEP",
    "ESCALATION_WAIT",
    "EXPERT_POLICY",
    "GOLD_BATCH",
    "GOLD_REPEAT_WINDOW",
    "MAX_ESCALATIONS",
    "MAX_EXPERTS",
    "RELATED_PAGE",
    "REVIEW_PURPOSE",
    "Review",
    "TRUTH_METHOD",
    "TRUTH_WINDOW",
    "kept_in",
    "review_changes",
    "review_entries",
    "review_summary",
]


class Review(Routing, Assignment, Verdicts, Reading):
    """The review engine over a coordinator's log and store (see the package docstring).

    ``append`` appends entries and applies the credits they move in one transaction (the
    coordinator's); ``key`` signs consensus, reputation and reward entries.
    """
