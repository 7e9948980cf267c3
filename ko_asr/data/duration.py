"""Duration limits on utterances: the one place that decides what is too short or too long, and counts it.

The KsponSpeech loader (row by row when streaming, with Arrow masks when preparing), the other sources and the
Whisper recipe's 30 s window all filter by duration; they all go through [`DurationLimits`], so the comparison and
the skip reasons (`too_short`, `too_long`) are the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .skip_reasons import SkipReason

TOO_SHORT = SkipReason.TOO_SHORT.value
TOO_LONG = SkipReason.TOO_LONG.value


@dataclass(frozen=True)
class DurationLimits:
    """Keep utterances with `min_seconds <= duration <= max_seconds` (`max_seconds=None`: no upper limit).

    Raises:
        ValueError: when the limits are negative or `min_seconds > max_seconds`.
    """

    min_seconds: float = 0.0
    max_seconds: float | None = None

    def __post_init__(self):
        if self.min_seconds < 0 or (self.max_seconds is not None and self.max_seconds < self.min_seconds):
            raise ValueError(f"invalid duration limits: min {self.min_seconds} s, max {self.max_seconds} s")

    def reason(self, duration: float) -> str | None:
        """`"too_short"`, `"too_long"`, or `None` when `duration` (seconds) is kept."""
        if duration < self.min_seconds:
            return TOO_SHORT
        if self.max_seconds is not None and duration > self.max_seconds:
            return TOO_LONG
        return None

    def masks(self, durations: pa.Array) -> dict[str, pa.BooleanArray]:
        """`{"too_short": mask, "too_long": mask}` over an Arrow array of durations (no Python loop over rows)."""
        upper = self.max_seconds if self.max_seconds is not None else float("inf")
        return {TOO_SHORT: pc.less(durations, self.min_seconds), TOO_LONG: pc.greater(durations, upper)}


def filter_by_duration(dataset: datasets.Dataset, limits: DurationLimits) -> tuple[datasets.Dataset, dict[str, int]]:
    """`dataset` without the utterances outside `limits`, and how many were dropped per reason.

    Reads the `duration` column from Arrow (no audio is decoded) and keeps the dataset's format and transform.
    """
    durations = pa.array(dataset.with_format(None)["duration"][:], type=pa.float64())
    masks = limits.masks(durations)
    counts = {reason: int(pc.sum(mask).as_py() or 0) for reason, mask in masks.items()}
    if not any(counts.values()):
        return dataset, counts
    keep = pc.invert(pc.or_(masks[TOO_SHORT], masks[TOO_LONG]))
    return dataset.select(np.flatnonzero(keep.to_numpy(zero_copy_only=False))), counts
