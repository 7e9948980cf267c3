"""One duration filter for every source: the same reasons and counts everywhere."""

import datasets
import pytest

from ko_asr.data.duration import DurationLimits, filter_by_duration


def test_limits_and_reasons():
    limits = DurationLimits(1.0, 20.0)
    assert [limits.reason(d) for d in (0.5, 1.0, 10.0, 20.0, 20.5)] == ["too_short", None, None, None, "too_long"]
    assert DurationLimits().reason(10_000.0) is None
    with pytest.raises(ValueError, match="invalid duration limits"):
        DurationLimits(5.0, 1.0)


def test_filter_counts_each_reason_and_keeps_the_format():
    durations = [0.2, 1.5, 31.0, 3.0, 29.9, 0.9]
    dataset = datasets.Dataset.from_dict({"id": [f"u{i}" for i in range(6)], "duration": durations})
    dataset = dataset.select([5, 4, 3, 2, 1, 0]).with_transform(lambda batch: {**batch, "seen": [1] * len(batch["id"])})
    kept, counts = filter_by_duration(dataset, DurationLimits(1.0, 30.0))
    assert counts == {"too_short": 2, "too_long": 1}
    assert [row["id"] for row in kept] == ["u4", "u3", "u1"]  # order kept, through an indices mapping
    assert kept[0]["seen"] == 1  # the transform survives
    unchanged, none = filter_by_duration(dataset, DurationLimits())
    assert unchanged is dataset and none == {"too_short": 0, "too_long": 0}
