"""The coordinator's state, one module per domain, each the only one to read its tables:
jobs (and the results and settlement of their tasks), workers, gold tasks, accounts,
identities, libraries, review, cosignatures; :class:`~aiwork.coordinator.service.Coordinator`
is the thin facade over them. The HTTP API (:mod:`aiwork.api`) is a thin shell over it."""
