"""Errors of the job market; all derive from :mod:`aiwork.errors`."""

from __future__ import annotations

from aiwork.errors import AiworkError, InputError

__all__ = [
    "InsufficientBudgetError",
    "JobRefusedError",
    "LeaseError",
    "MarketError",
    "UnknownJobError",
]


class MarketError(AiworkError):
    """The market cannot do what was asked; nothing was written."""


class JobRefusedError(MarketError, InputError):
    """A job submission is invalid (no analyzers, unknown analyzer, bad redundancy...)."""


class InsufficientBudgetError(JobRefusedError):
    """The job's budget does not cover price x tasks x redundancy."""


class UnknownJobError(MarketError):
    """No job, task or replica with that id."""


class LeaseError(MarketError):
    """A lease is unknown, expired, held by another worker, or already used."""
