"""aiwork: trustworthy video metadata from AI workers and human experts, on a verifiable ledger."""

__version__ = "0.1.0"
