"""Batch collation: waveforms -> padded features and labels padded with -100, apart from the batch's metadata.

A collated [`SpeechBatch`] keeps what the model takes (`inputs`) apart from what describes the utterances (ids,
reference texts, durations), as lhotse's `inputs`/`supervisions` split does: the training loop and evaluation read
references from the batch and pass `inputs` to the model as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .audio import SAMPLING_RATE

if TYPE_CHECKING:  # inference never augments: it need not load the effects' libraries (pedalboard, ...)
    from .augment import WaveformAugmenter


def _pad_labels(token_ids: list[list[int]]) -> torch.Tensor:
    labels = torch.full((len(token_ids), max(1, max(map(len, token_ids)))), -100, dtype=torch.long)
    for row, ids in enumerate(token_ids):
        labels[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return labels


@dataclass
class SpeechBatch:
    """One collated batch.

    Args:
        inputs (`dict[str, torch.Tensor]`): the model's keyword arguments: `input_features`
            `(batch, frames, bins)` (Whisper: `(batch, bins, frames)`), `attention_mask` `(batch, frames)` where the
            feature extractor returns one, and `labels` `(batch, target_length)` padded with -100.
        ids (`list[str]`): utterance ids, in batch order.
        texts (`list[str]`): the reference transcripts (already normalized).
        durations (`list[float]`): seconds of audio per utterance, as fed (after augmentation).
    """

    inputs: dict[str, torch.Tensor]
    ids: list[str]
    texts: list[str]
    durations: list[float]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio in the batch."""
        return float(sum(self.durations))

    def inputs_on(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        """`inputs` moved to `device`."""
        return {name: value.to(device) for name, value in self.inputs.items()}


def _collate(
    processor, examples: list[dict[str, Any]], augment: WaveformAugmenter | None, tokenize: Callable[[str], list[int]],
    **feature_kwargs: Any,
) -> SpeechBatch:
    """What both collators share: (augmented) waveforms -> features and padded labels, plus the metadata.

    An utterance the augmenter replaced by noise or silence alone gets an empty transcript (and its labels)."""
    waveforms = [np.asarray(e["audio"]["array"], dtype=np.float32) for e in examples]
    ids = [str(e["id"]) for e in examples]
    texts = [e["text"] for e in examples]
    if augment is not None and augment.active:
        waveforms, keeps = augment.augment_batch(waveforms, ids)
        texts = [text if kept else "" for text, kept in zip(texts, keeps)]
    inputs = dict(processor.feature_extractor(waveforms, sampling_rate=SAMPLING_RATE, return_tensors="pt", **feature_kwargs))
    inputs["labels"] = _pad_labels([tokenize(text) for text in texts])
    return SpeechBatch(inputs=inputs, ids=ids, texts=texts, durations=[w.size / SAMPLING_RATE for w in waveforms])


@dataclass
class CTCCollator:
    """Examples with `id`, `audio` (decoded) and `text` -> a [`SpeechBatch`] whose `inputs` are `input_features`,
    `attention_mask` and `labels` (-100 padded).

    Features are computed here, on the fly, so no spectrogram cache is ever written (KsponSpeech's 965 h would
    take ~200 GB of them). `augment` (train only) transforms each waveform first.

    Args:
        processor: a [`DeepSpeech2Processor`] (feature extractor + tokenizer).
        augment ([`WaveformAugmenter`], *optional*): waveform augmentation (training only).
    """

    processor: Any
    augment: WaveformAugmenter | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> SpeechBatch:
        # Raw-waveform extractors (wav2vec2 family) pad only when asked, and some (wav2vec2-base style) return no mask
        # unless asked: without it nobody knows which output frames are padding (DeepSpeech2's does both anyway).
        return _collate(self.processor, examples, self.augment, lambda text: self.processor.tokenizer(text).input_ids,
                        padding=True, return_attention_mask=True)


@dataclass
class Seq2SeqCollator:
    """Examples -> a [`SpeechBatch`] whose `inputs` are Whisper `input_features` (padded to the model's 30 s
    window) and decoder `labels`.

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

    def __call__(self, examples: list[dict[str, Any]]) -> SpeechBatch:
        return _collate(self.processor, examples, self.augment, self._token_ids)

    def _token_ids(self, text: str) -> list[int]:
        ids = self.processor.tokenizer(text).input_ids
        return ids[1:] if ids and ids[0] == self.decoder_start_token_id else ids
