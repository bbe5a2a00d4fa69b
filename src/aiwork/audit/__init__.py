"""Audit bundles and explanations: everything an auditor needs to check one video offline.

:mod:`.subjects` (what an audit is about, found from a video, a job or a decision),
:mod:`.bundle` (the bundle ``aiwork-verify`` checks), :mod:`.explain` (the explanation in words)
and :mod:`.provenance` (what each decision was derived from; stale insights)."""
