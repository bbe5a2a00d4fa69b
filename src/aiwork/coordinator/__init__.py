"""The coordinator's state, one module per domain: jobs and settlement, gold, accounts,
identities, libraries, review, cosignatures. The HTTP API (:mod:`aiwork.api`) is a thin shell
over it."""
