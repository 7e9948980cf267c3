"""Whisper transcription of recordings of any length, with segment and word timestamps.

Past 30 s, `WhisperForConditionalGeneration.generate` runs Whisper's *sequential* long-form algorithm (Radford et
al., 2022, section 4.5; openai-whisper's `transcribe`): it decodes a 30 s window, moves the window to the last
timestamp the model predicted, and decodes again, with temperature fallback and the no-speech gate per window
(`ko_asr.hallucination_guard`). Each window's text comes back as *segments* with absolute start and end times.

This module calls `generate` itself rather than through the `automatic-speech-recognition` pipeline: the pipeline
re-derives the times from the concatenated timestamp tokens, which pairs them wrongly when a window ends on two
timestamps (its segments then start at the previous window's end), while `generate`'s `segments` carry the times
its own seek arithmetic used. Word times come from the cross-attention alignment heads (dynamic time warping over
`generation_config.alignment_heads`, as openai-whisper's `word_timestamps=True`): checkpoints from the Hub name
theirs; a randomly initialized or from-scratch model has none, and then segments are the finest times.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from .hallucination_guard import UNLIKELY, HallucinationGuard
from .whisper import WHISPER_WINDOW_SECONDS


def has_alignment_heads(model) -> bool:
    """Whether `model`'s generation config names cross-attention heads for word timestamps."""
    return bool(getattr(model.generation_config, "alignment_heads", None))


def _timestamp_begin(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1


def _words(tokenizer, tokens: list[int], token_times: list[float], start: float, end: float, language: str | None):
    """Word chunks of one segment: each text token spans from the previous token's time to its own (the pipeline's
    convention for DTW token times); tokens are grouped into words by transformers' own Whisper word splitting."""
    from transformers.models.whisper.tokenization_whisper import _combine_tokens_into_words

    spans, previous = [], start
    for time in token_times:
        time = min(max(float(time), previous), end)
        spans.append((previous, time))
        previous = time
    special = set(tokenizer.all_special_ids)
    first_timestamp = _timestamp_begin(tokenizer)
    keep = [i for i, token in enumerate(tokens) if token < first_timestamp and token not in special]
    words, _, groups = _combine_tokens_into_words(tokenizer, [tokens[i] for i in keep], language)
    return [
        {"text": word, "timestamp": (round(spans[keep[group[0]]][0], 2), round(spans[keep[group[-1]]][1], 2))}
        for word, group in zip(words, groups)
        if word.strip()
    ]


def segment_chunks(
    tokenizer, segments: Sequence[dict], words: bool = False, language: str | None = None, duration: float = np.inf
) -> list[dict]:
    """`generate(..., return_segments=True)`'s segments of one input as pipeline-style chunks: per segment
    `{"text", "timestamp": (start_s, end_s)}`, or per word when `words` (the segments need `token_timestamps`).
    Times are clamped to `duration` seconds: the last window is padded, and a model may place a timestamp in the
    padding."""
    chunks: list[dict[str, Any]] = []
    for segment in segments:
        tokens = [int(t) for t in segment["tokens"]]
        start = min(float(segment["start"]), duration)
        end = min(max(float(segment["end"]), start), duration)
        if words:
            times = segment["token_timestamps"].tolist()
            chunks.extend(_words(tokenizer, tokens, times, start, end, language))
        elif text := tokenizer.decode(tokens, skip_special_tokens=True):
            chunks.append({"text": text, "timestamp": (round(start, 2), round(end, 2))})
    return chunks


def segments_text(tokenizer, segments: Sequence[dict]) -> str:
    """The text of one input's segments, decoded together (as `generate`'s `sequences`)."""
    tokens = [int(t) for segment in segments for t in segment["tokens"]]
    return tokenizer.decode(tokens, skip_special_tokens=True).strip()


def whisper_features(feature_extractor, waveforms: Sequence[np.ndarray], sampling_rate: int) -> dict[str, torch.Tensor]:
    """Log-mel features of a batch: padded to the 30 s window when every waveform fits in it (short-form), else to
    the longest, untruncated, with the attention mask `generate` needs to know where each recording ends."""
    long_form = max(w.size for w in waveforms) > WHISPER_WINDOW_SECONDS * sampling_rate
    extra = {"truncation": False, "padding": "longest"} if long_form else {}
    features = feature_extractor(list(waveforms), sampling_rate=sampling_rate, return_attention_mask=True,
                                 return_tensors="pt", **extra)
    return {"input_features": features.input_features, "attention_mask": features.attention_mask}


@torch.no_grad()
def transcribe_whisper(
    model,
    feature_extractor,
    tokenizer,
    waveforms: Sequence[np.ndarray],
    language: str | None = "korean",
    timestamps: bool = True,
    guard: HallucinationGuard | None = None,
    batch_size: int = 1,
    sampling_rate: int = 16000,
) -> list[dict[str, Any]]:
    """Transcribe `waveforms` of any length with Whisper's sequential long-form decoding.

    Args:
        model (`WhisperForConditionalGeneration`): the model (on any device).
        feature_extractor (`WhisperFeatureExtractor`), tokenizer (`WhisperTokenizer`): its processor's parts.
        waveforms (`Sequence[np.ndarray]`): mono float audio, each `(samples,)` at `sampling_rate`.
        language (`str`, *optional*, defaults to `"korean"`): the transcription language (no detection); `None`
            for models without language tokens.
        timestamps (`bool`, *optional*, defaults to `True`): predict timestamp tokens and return `chunks`: words
            when the model has alignment heads ([`has_alignment_heads`]), else segments. Past 30 s Whisper always
            predicts timestamps (the window moves by them); only the `chunks` are then left out.
        guard ([`HallucinationGuard`], *optional*): decoding thresholds with temperature fallback, and the
            repetition check on the result (whose removals are listed in `dropped`).
        batch_size (`int`, *optional*, defaults to 1): recordings decoded together.
        sampling_rate (`int`, *optional*, defaults to 16000): the rate of `waveforms` (the feature extractor's).

    Returns:
        `list[dict]`: per waveform, `text`, `chunks` of `{"text", "timestamp": (start_s, end_s)}` when
        `timestamps`, and `dropped` (what the guard's repetition check removed, each with a `reason`) with a guard.
    """
    words = timestamps and has_alignment_heads(model)
    # `None` leaves the choice to `generate`: past 30 s it must predict timestamps (False would be refused there)
    kwargs: dict[str, Any] = {"return_segments": True, "return_timestamps": True if timestamps else None}
    if language is not None:
        kwargs.update(language=language, task="transcribe")
    if words:
        kwargs["return_token_timestamps"] = True
    if guard is not None:
        kwargs.update(guard.generate_kwargs())
    device, dtype = model.device, model.dtype
    results: list[dict[str, Any]] = []
    for first in range(0, len(waveforms), batch_size):
        batch = whisper_features(feature_extractor, waveforms[first:first + batch_size], sampling_rate)
        with guard.sampling(device) if guard is not None else nullcontext():
            output = model.generate(input_features=batch["input_features"].to(device, dtype),
                                    attention_mask=batch["attention_mask"].to(device), **kwargs)
        lengths = [w.size / sampling_rate for w in waveforms[first:first + batch_size]]
        for segments, duration in zip(output["segments"], lengths):
            results.append(segments_result(tokenizer, segments, duration, timestamps, words, language, guard,
                                           end_token_id(model)))
    return results


def end_token_id(model) -> int:
    """The model's end-of-text token (the first, when the generation config lists several)."""
    eos = model.generation_config.eos_token_id
    return eos[0] if isinstance(eos, (list, tuple)) else eos


def segments_result(
    tokenizer, segments: Sequence[dict], duration: float, timestamps: bool, words: bool, language: str | None,
    guard: HallucinationGuard | None, eos_token_id: int,
) -> dict[str, Any]:
    """One input's output (`text`, `chunks` when `timestamps`, `dropped` with a guard) from its `generate` segments:
    the guard drops the windows unlikely at every temperature, then runs its repetition check."""
    unlikely = []
    if guard is not None:
        segments, unlikely = guard.split_unlikely(segments, eos_token_id)
    result: dict[str, Any] = {"text": segments_text(tokenizer, segments)}
    if timestamps or guard is not None:  # the repetition check works on segments
        result["chunks"] = segment_chunks(tokenizer, segments, words, language, duration)
    if guard is not None:
        result = guard.filter_output(result, words)
        dropped = [{**c, "reason": UNLIKELY} for c in segment_chunks(tokenizer, unlikely, False, language, duration)]
        result["dropped"] = sorted(dropped + result["dropped"], key=lambda d: d["timestamp"][0] or 0.0)
    if not timestamps:
        result.pop("chunks", None)
    return result


__all__ = [
    "end_token_id",
    "has_alignment_heads",
    "segment_chunks",
    "segments_result",
    "segments_text",
    "transcribe_whisper",
    "whisper_features",
]
