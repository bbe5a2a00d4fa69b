"""Media: probing and decoding only (PyAV); no analysis happens here."""

from aiwork.media.decode import DecodedMedia, FrameStore, decode
from aiwork.media.probe import MediaError, Probe, probe, sha256_file

__all__ = ["DecodedMedia", "FrameStore", "MediaError", "Probe", "decode", "probe", "sha256_file"]
