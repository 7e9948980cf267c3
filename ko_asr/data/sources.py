"""One entry point for every corpus the recipes train or evaluate on."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import datasets

from ..text.policy import TranscriptPolicy
from .duration import DurationLimits, filter_by_duration
from .ksponspeech import load_ksponspeech
from .speech_dataset import folder_splits, load_speech_dataset
from .synthetic import generate_synthetic_corpus

logger = logging.getLogger(__name__)

DEFAULT_SYNTHETIC_ROOT = "data/synthetic-{size}"


def synthetic_root(data_root: str | None, size: str) -> str:
    return data_root or DEFAULT_SYNTHETIC_ROOT.format(size=size)


def load_corpus(
    dataset: str,
    splits: Sequence[str],
    data_root: str | None = None,
    policy: str | TranscriptPolicy = "spelling",
    synthetic_size: str = "demo",
    synthetic_seed: int = 0,
    min_duration: float = 0.0,
    max_duration: float | None = None,
    num_proc: int | None = None,
    cache_dir: str | None = None,
) -> datasets.DatasetDict:
    """Load `splits` of a corpus in the ko_asr columns.

    Args:
        dataset (`str`): `"synthetic"` (generated in the AI Hub layout under `data_root` on first use, then read by
            the KsponSpeech loader), `"ksponspeech"` (the AI Hub corpus at `data_root`), or any source of
            [`load_speech_dataset`] (a folder with a manifest, a `datasets` name).
        splits (`Sequence[str]`): the splits wanted; every one must exist (a `ValueError` lists those that do). A
            folder whose manifest has no `split` column is one split: it answers to one requested name, and asking
            it for two would score or train on the same rows under both, so that is refused.
        policy (`str` or [`TranscriptPolicy`], *optional*, defaults to `"spelling"`): how transcripts are
            normalized (a policy name, or the whole policy with its `u/` and punctuation choices).
        min_duration, max_duration (`float`, *optional*): utterances outside are skipped and counted (in the
            KsponSpeech load report, or logged for other sources).
    """
    policy = policy if isinstance(policy, TranscriptPolicy) else TranscriptPolicy(policy=policy)
    limits = DurationLimits(min_duration, max_duration)
    if dataset in ("synthetic", "ksponspeech"):
        root = data_root
        if dataset == "synthetic":
            root = str(generate_synthetic_corpus(synthetic_root(data_root, synthetic_size), synthetic_size, synthetic_seed))
        elif root is None:
            raise ValueError("dataset='ksponspeech' needs data_root, the AI Hub corpus directory")
        return load_ksponspeech(
            root, policy=policy.policy, unintelligible=policy.unintelligible, keep_punctuation=policy.keep_punctuation,
            splits=list(dict.fromkeys(splits)), num_proc=num_proc, cache_dir=cache_dir,
            min_duration=limits.min_seconds, max_duration=limits.max_seconds,
        )
    source, requested = data_root or dataset, list(dict.fromkeys(splits))
    if len(requested) > 1 and Path(source).is_dir() and folder_splits(source) is None:
        raise ValueError(
            f"{source}: its manifest has no `split` column, so the folder is one split and cannot be all of "
            f"{requested}; ask for one split, or add a `split` column naming each row's split"
        )
    result = {}
    for split in requested:  # each split alone: a named source loads and adapts only what is asked for
        loaded = load_speech_dataset(source, split=split, policy=policy, num_proc=num_proc)
        result[split], counts = filter_by_duration(loaded, limits)
        if any(counts.values()):
            logger.warning("%s[%s]: skipped by duration: %s", dataset, split, counts)
    return datasets.DatasetDict(result)
