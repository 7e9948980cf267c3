"""Duration-bucketed batches with a budget of audio seconds, SortaGrad, and exact DDP sharding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class DurationBucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length utterances whose padded length costs at most `max_batch_seconds` of audio.

    Each epoch, utterances are shuffled, sorted by duration within pools of `bucket_size_multiplier` batches (so
    batches hold neighbours in length and little padding), cut greedily under the budget (`longest × count`), and
    the batch order is shuffled. With `sortagrad`, epoch 0 instead runs every batch shortest-first, as DS2 does.

    Sharding is exact: the epoch's batches are dealt round-robin to `num_replicas` processes and, when their
    number does not divide evenly, the largest batches are split until it does, so every utterance is seen once
    per epoch across processes and every process runs the same number of steps (no DDP hang, no duplicates).

    Args:
        durations (`Sequence[float]`): seconds per utterance (the dataset's `duration` column).
        max_batch_seconds (`float`): padded audio seconds per batch.
        max_batch_size (`int`, *optional*): cap on utterances per batch.
        num_replicas, rank (`int`): data-parallel processes and this one's index.
        shuffle (`bool`): shuffle within and across buckets (off gives a fixed shortest-first order).
        sortagrad (`bool`): shortest-first in epoch 0.
        seed (`int`): shuffling is a function of (seed, epoch) only.
        bucket_size_multiplier (`int`): batches per sorting pool; larger means less padding, less randomness.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_batch_seconds: float,
        max_batch_size: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        sortagrad: bool = True,
        seed: int = 0,
        bucket_size_multiplier: int = 50,
    ):
        self.durations = np.asarray(durations, dtype=np.float64)
        if self.durations.size == 0:
            raise ValueError("no utterances to batch")
        if max_batch_seconds < self.durations.max():
            raise ValueError(
                f"max_batch_seconds={max_batch_seconds} is shorter than the longest utterance "
                f"({self.durations.max():.1f} s); raise it or filter long utterances (max_duration)"
            )
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.sortagrad = sortagrad
        self.seed = seed
        self.bucket_size_multiplier = bucket_size_multiplier
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's order; `start_batch` skips this process's first batches (exact resume)."""
        self.epoch = epoch
        self.start_batch = start_batch

    def _cut(self, order: np.ndarray) -> list[list[int]]:
        batches, current, longest = [], [], 0.0
        for index in order.tolist():
            duration = self.durations[index]
            longest_if_added = max(longest, duration)
            full = self.max_batch_size is not None and len(current) >= self.max_batch_size
            if current and (longest_if_added * (len(current) + 1) > self.max_batch_seconds or full):
                batches.append(current)
                current, longest_if_added = [], duration
            current.append(index)
            longest = longest_if_added
        if current:
            batches.append(current)
        return batches

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """All processes' batches of `epoch`, in order, before dealing (deterministic)."""
        rng = np.random.default_rng([self.seed, epoch])
        if not self.shuffle or (self.sortagrad and epoch == 0):
            batches = self._cut(np.argsort(self.durations, kind="stable"))
        else:
            order = rng.permutation(self.durations.size)
            pool = max(1, int(self.bucket_size_multiplier * self.max_batch_seconds / max(self.durations.mean(), 1e-6)))
            sorted_pools = [
                chunk[np.argsort(self.durations[chunk], kind="stable")] for chunk in np.array_split(order, -(-order.size // pool))
            ]
            batches = [b for chunk in sorted_pools for b in self._cut(chunk)]
            batches = [batches[i] for i in rng.permutation(len(batches))]
        while len(batches) % self.num_replicas:
            largest = max(range(len(batches)), key=lambda i: len(batches[i]))
            if len(batches[largest]) < 2:
                raise ValueError(f"{self.durations.size} utterances cannot fill {self.num_replicas} processes")
            batch = batches.pop(largest)
            batches[largest:largest] = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        mine = self.epoch_batches(self.epoch)[self.rank :: self.num_replicas]
        yield from mine[self.start_batch :]

    def __len__(self) -> int:
        return len(self.epoch_batches(self.epoch)) // self.num_replicas - self.start_batch
