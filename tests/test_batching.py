import numpy as np
import pytest

from ko_asr.data.batching import DurationBucketBatchSampler


def durations(n=500, seed=0):
    return np.clip(np.random.default_rng(seed).lognormal(np.log(3.5), 0.7, n), 0.5, 20)


def test_budget_and_sortagrad():
    d = durations()
    sampler = DurationBucketBatchSampler(d, max_batch_seconds=60)
    batches = list(sampler)
    assert all(max(d[b]) * len(b) <= 60 for b in batches)
    firsts = [min(d[b]) for b in batches]
    assert firsts == sorted(firsts)  # epoch 0 runs shortest-first
    sampler.set_epoch(1)
    shuffled = list(sampler)
    assert [min(d[b]) for b in shuffled] != sorted(min(d[b]) for b in shuffled)
    assert sorted(i for b in shuffled for i in b) == list(range(len(d)))


def test_bucketing_reduces_padding_against_random_batches():
    d = durations(2000)
    sampler = DurationBucketBatchSampler(d, max_batch_seconds=60)
    sampler.set_epoch(3)
    batches = list(sampler)
    padded = sum(max(d[b]) * len(b) for b in batches)
    assert d.sum() / padded > 0.85


@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize("epoch", [0, 1, 2])
def test_every_utterance_once_per_epoch_across_processes(replicas, epoch):
    d = durations(301)
    samplers = [DurationBucketBatchSampler(d, 40, num_replicas=replicas, rank=r, seed=7) for r in range(replicas)]
    per_rank = []
    for sampler in samplers:
        sampler.set_epoch(epoch)
        per_rank.append(list(sampler))
    assert len({len(b) for b in per_rank}) == 1  # same number of steps everywhere: no DDP hang
    seen = [i for batches in per_rank for b in batches for i in b]
    assert sorted(seen) == list(range(len(d)))  # no duplicates, nothing dropped


def test_order_is_a_function_of_seed_and_epoch_and_resume_skips():
    d = durations()
    a, b = DurationBucketBatchSampler(d, 50, seed=1), DurationBucketBatchSampler(d, 50, seed=1)
    a.set_epoch(2)
    b.set_epoch(2, start_batch=5)
    assert list(a)[5:] == list(b)
    assert len(b) == len(list(a)) - 5


def test_clear_errors():
    with pytest.raises(ValueError, match="longest utterance"):
        DurationBucketBatchSampler([1.0, 30.0], max_batch_seconds=20)
    with pytest.raises(ValueError, match="cannot fill"):
        DurationBucketBatchSampler([1.0], 20, num_replicas=2, rank=0).epoch_batches(0)
