"""The local processor: register a video, decode it once, run the analyzers, log a signed
decision per run, and keep what it made in the catalog."""
