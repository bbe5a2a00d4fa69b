"""Labelled test media: clips made with ffmpeg and espeak-ng whose cuts, speech, captions,
faces and music are known exactly (tests, benchmarks, the bundled sample and gold tasks)."""
