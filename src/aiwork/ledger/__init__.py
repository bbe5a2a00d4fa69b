"""The verifiable ledger: an append-only RFC 9162 Merkle log of signed entries.

``merkle`` (pure tree math), ``note`` (C2SP signed notes and checkpoints), ``proofs`` (proof
JSON), ``entries`` (signing and checking entries) and ``verify`` (offline checks for third
parties) need no storage; ``log`` keeps the log in a database.
"""
