"""Media: probing and decoding only (PyAV); no analysis happens here."""

from aiwork.media.decode import AudioTrack, DecodedMedia, FrameStore, decode
from aiwork.media.probe import Probe, measured, probe

__all__ = [
    "AudioTrack",
    "DecodedMedia",
    "FrameStore",
    "Probe",
    "decode",
    "measured",
    "probe",
]
