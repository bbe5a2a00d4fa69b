"""Programs that talk to a coordinator over HTTP: the typed client, the worker, the witness
and the access-log checker. Nothing here reads the coordinator's tables."""
