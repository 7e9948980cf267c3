"""Korean text: Hangul arithmetic and KsponSpeech transcript normalization."""

from . import hangul
from .kspon import (
    UNINTELLIGIBLE_TOKEN,
    TranscriptDecodeError,
    UnintelligibleUtteranceError,
    normalize_transcript,
    read_transcript,
)

__all__ = [
    "UNINTELLIGIBLE_TOKEN",
    "TranscriptDecodeError",
    "UnintelligibleUtteranceError",
    "hangul",
    "normalize_transcript",
    "read_transcript",
]
