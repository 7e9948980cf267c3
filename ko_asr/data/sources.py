"""One entry point for every corpus the recipes train or evaluate on."""

from __future__ import annotations

from collections.abc import Sequence

import datasets

from .ksponspeech import load_ksponspeech
from .speech_dataset import load_speech_dataset
from .synthetic import generate_synthetic_corpus

DEFAULT_SYNTHETIC_ROOT = "data/synthetic-{size}"


def synthetic_root(data_root: str | None, size: str) -> str:
    return data_root or DEFAULT_SYNTHETIC_ROOT.format(size=size)


def load_corpus(
    dataset: str,
    splits: Sequence[str],
    data_root: str | None = None,
    policy: str = "spelling",
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
    """
    if dataset in ("synthetic", "ksponspeech"):
        root = data_root
        if dataset == "synthetic":
            root = str(generate_synthetic_corpus(synthetic_root(data_root, synthetic_size), synthetic_size, synthetic_seed))
        elif root is None:
            raise ValueError("dataset='ksponspeech' needs data_root, the AI Hub corpus directory")
        return load_ksponspeech(
            root, policy=policy, splits=list(dict.fromkeys(splits)), num_proc=num_proc, cache_dir=cache_dir,
            min_duration=min_duration, max_duration=max_duration,
        )
    loaded = load_speech_dataset(data_root or dataset, policy=policy, num_proc=num_proc)
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    missing = [s for s in splits if s not in loaded]
    if missing:
        raise ValueError(f"{dataset}: no split(s) {missing}; it has {list(loaded)}")
    keep = lambda d: d.filter(  # noqa: E731
        lambda x: x >= min_duration and (max_duration is None or x <= max_duration), input_columns="duration"
    )
    return datasets.DatasetDict({s: keep(loaded[s]) for s in dict.fromkeys(splits)})
