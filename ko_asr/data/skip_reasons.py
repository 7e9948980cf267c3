"""Why a loader skipped (or repaired) an utterance: one vocabulary for every source and report.

The KsponSpeech load report, the adapters of other sources and the duration filter all name what they did with
these values, so a count means the same thing wherever it appears.
"""

from __future__ import annotations

from enum import StrEnum


class SkipReason(StrEnum):
    """A reason in a load report. `ODD_BYTE_COUNT` is a repair (the utterance loads); every other reason skips it."""

    ODD_BYTE_COUNT = "odd_byte_count"  # last byte of a PCM file dropped, utterance kept
    ZERO_LENGTH_PCM = "zero_length_pcm"
    MISSING_TXT = "missing_txt"
    MISSING_PCM = "missing_pcm"
    UNREADABLE_AUDIO = "unreadable_audio"
    UNDECODABLE_TRANSCRIPT = "undecodable_transcript"  # neither UTF-8 nor CP949, or mojibake
    MALFORMED_NOTATION = "malformed_notation"  # notation that cannot be resolved without guessing
    EMPTY_AFTER_NORMALIZATION = "empty_after_normalization"
    UNINTELLIGIBLE_DROPPED = "unintelligible_dropped"  # u/ under unintelligible="drop"
    TRN_MISSING_FILE = "trn_missing_file"
    TRN_UNPARSEABLE_LINE = "trn_unparseable_line"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"


#: Issues under which an utterance still loads: none, or a repaired one.
KEPT = ("", SkipReason.ODD_BYTE_COUNT.value)
