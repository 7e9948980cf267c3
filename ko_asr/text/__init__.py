"""Korean text: Hangul arithmetic, KsponSpeech transcript normalization and transcript file decoding."""

from . import hangul
from .encoding import TranscriptDecodeError, decode_transcript, read_text_file, read_transcript
from .hangul import to_nfc
from .kspon import (
    UNINTELLIGIBLE_TOKEN,
    MalformedTranscriptError,
    UnintelligibleUtteranceError,
    normalize_transcript,
)

__all__ = [
    "UNINTELLIGIBLE_TOKEN",
    "MalformedTranscriptError",
    "TranscriptDecodeError",
    "UnintelligibleUtteranceError",
    "decode_transcript",
    "hangul",
    "normalize_transcript",
    "read_text_file",
    "read_transcript",
    "to_nfc",
]
