"""Batch collation: waveforms -> padded features and labels padded with -100."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .audio import SAMPLING_RATE
from .augment import WaveformAugmenter


def _pad_labels(token_ids: list[list[int]]) -> torch.Tensor:
    labels = torch.full((len(token_ids), max(1, max(map(len, token_ids)))), -100, dtype=torch.long)
    for row, ids in enumerate(token_ids):
        labels[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return labels


def _collate(
    processor, examples: list[dict[str, Any]], augment: WaveformAugmenter | None, token_ids: list[list[int]]
) -> dict[str, Any]:
    """What both collators share: (augmented) waveforms -> features, padded labels, ids and audio seconds."""
    waveforms = [np.asarray(e["audio"]["array"], dtype=np.float32) for e in examples]
    if augment is not None and augment.active:
        rng = augment.batch_rng([str(e["id"]) for e in examples])
        waveforms = [augment(w, rng) for w in waveforms]
    batch = processor.feature_extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt")
    batch["labels"] = _pad_labels(token_ids)
    batch["ids"] = [e["id"] for e in examples]
    batch["audio_seconds"] = sum(w.size for w in waveforms) / SAMPLING_RATE
    return batch


@dataclass
class CTCCollator:
    """Examples with `audio` (decoded) and `text` -> `input_features`, `attention_mask`, `labels` (-100 padded).

    Features are computed here, on the fly, so no spectrogram cache is ever written (KsponSpeech's 965 h would
    take ~200 GB of them). `augment` (train only) transforms each waveform first.

    Args:
        processor: a [`DeepSpeech2Processor`] (feature extractor + tokenizer).
        augment ([`WaveformAugmenter`], *optional*): waveform augmentation (training only).
    """

    processor: Any
    augment: WaveformAugmenter | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        token_ids = [self.processor.tokenizer(e["text"]).input_ids for e in examples]
        return _collate(self.processor, examples, self.augment, token_ids)


@dataclass
class Seq2SeqCollator:
    """Examples -> Whisper `input_features` (padded to the model's 30 s window) and decoder `labels`.

    Labels are the tokenizer's ids (language and task prefix included) padded with -100; the start token is dropped
    because the model prepends `decoder_start_token_id` when it shifts the labels right.

    Args:
        processor: a `WhisperProcessor`.
        decoder_start_token_id (`int`): the model's `decoder_start_token_id`.
        augment ([`WaveformAugmenter`], *optional*): waveform augmentation (training only).
    """

    processor: Any
    decoder_start_token_id: int
    augment: WaveformAugmenter | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        token_ids = [self.processor.tokenizer(e["text"]).input_ids for e in examples]
        token_ids = [ids[1:] if ids and ids[0] == self.decoder_start_token_id else ids for ids in token_ids]
        return _collate(self.processor, examples, self.augment, token_ids)
