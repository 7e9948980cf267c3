"""One entry point for every corpus the recipes train or evaluate on."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import datasets

from ..text.policy import TranscriptPolicy
from .duration import DurationLimits, filter_by_duration
from .ksponspeech import load_ksponspeech
from .speech_dataset import load_speech_dataset
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
        splits (`Sequence[str]`): the splits wanted; every one must exist.
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
    loaded = load_speech_dataset(data_root or dataset, policy=policy, num_proc=num_proc)
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    missing = [s for s in splits if s not in loaded]
    if missing:
        raise ValueError(f"{dataset}: no split(s) {missing}; it has {list(loaded)}")
    result = {}
    for split in dict.fromkeys(splits):
        result[split], counts = filter_by_duration(loaded[split], limits)
        if any(counts.values()):
            logger.warning("%s[%s]: skipped by duration: %s", dataset, split, counts)
    return datasets.DatasetDict(result)
