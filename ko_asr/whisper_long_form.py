"""Whisper transcription of recordings of any length, with segment and word timestamps.

Past 30 s, `WhisperForConditionalGeneration.generate` runs Whisper's *sequential* long-form algorithm (Radford et
al., 2022, section 4.5; openai-whisper's `transcribe`): it decodes a 30 s window, moves the window to the last
timestamp the model predicted, and decodes again; with a guard (`ko_asr.hallucination_guard`), with temperature
fallback and the no-speech gate per window. Each window's text comes back as *segments* with absolute start and end times.

This module calls `generate` itself rather than through the `automatic-speech-recognition` pipeline: the pipeline
re-derives the times from the concatenated timestamp tokens, which pairs them wrongly when a window ends on two
timestamps (its segments then start at the previous window's end), while `generate`'s `segments` carry the times
its own seek arithmetic used. Word times come from the cross-attention alignment heads (dynamic time warping over
`generation_config.alignment_heads`, as openai-whisper's `word_timestamps=True`): checkpoints from the Hub name
theirs; a randomly initialized or from-scratch model has none, and then segments are the finest times.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .hallucination_guard import REPEATED_NGRAM, UNLIKELY, HallucinationGuard, chunks_text
from .whisper import WHISPER_WINDOW_SECONDS

#: Why a chunk is dropped even without a guard (see [`segment_chunks`]).
OUTSIDE_AUDIO = "timed outside the audio"


class _OwnCallWarning(logging.Filter):
    """transformers' Whisper `generate_with_fallback` passes a generation config together with `suppress_tokens`
    (its own workaround, "PR #48108" in its source), and the generic `generate` then warns on every process that
    this is deprecated. The call is transformers', not the caller's, so that one message is dropped; `--quiet` and
    users cannot act on it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Passing `generation_config` together with generation-related" not in record.getMessage()


logging.getLogger("transformers.generation.utils").addFilter(_OwnCallWarning())


def has_alignment_heads(model) -> bool:
    """Whether `model`'s generation config names cross-attention heads for word timestamps."""
    return bool(getattr(getattr(model, "generation_config", None), "alignment_heads", None))


def _timestamp_begin(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids("<|notimestamps|>") + 1


def _words(tokenizer, tokens: list[int], token_times: list[float], start: float, end: float, language: str | None):
    """Word chunks of one segment: each text token spans from the previous token's time to its own (the pipeline's
    convention for DTW token times); tokens are grouped into words by transformers' own Whisper word splitting."""
    # private, but it is the pipeline's own word grouping (spaces, CJK, punctuation), which no public API exposes
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
) -> tuple[list[dict], list[dict]]:
    """`generate(..., return_segments=True)`'s segments of one input as pipeline-style chunks: per segment
    `{"text", "timestamp": (start_s, end_s)}`, or per word when `words` (the segments need `token_timestamps`).

    Returns:
        `(chunks, outside)`: the chunks, and the ones outside the audio, with a `reason`: a model may time text in
        the padding of the last window (at or past `duration` seconds), or as an instantaneous segment
        (openai-whisper clears those too). Ends past `duration` are clamped to it.
    """
    inside: list[dict[str, Any]] = []
    outside: list[dict[str, Any]] = []
    for segment in segments:
        tokens = segment["tokens"].tolist()
        start, end = float(segment["start"]), float(segment["end"])
        if words:
            times = segment["token_timestamps"].tolist()
            for word in _words(tokenizer, tokens, times, start, max(end, start), language):
                if word["timestamp"][0] < duration:
                    inside.append({**word, "timestamp": (word["timestamp"][0], min(word["timestamp"][1], duration))})
                else:
                    outside.append({**word, "reason": OUTSIDE_AUDIO})
        elif text := tokenizer.decode(tokens, skip_special_tokens=True):
            if start < min(end, duration):
                inside.append({"text": text, "timestamp": (round(start, 2), round(min(end, duration), 2))})
            else:  # reported with the times the model gave
                outside.append({"text": text, "timestamp": (round(start, 2), round(end, 2)), "reason": OUTSIDE_AUDIO})
    return inside, outside


def segments_text(tokenizer, segments: Sequence[dict]) -> str:
    """The text of one input's segments, decoded together (as `generate`'s `sequences`)."""
    tokens = [t for segment in segments for t in segment["tokens"].tolist()]
    return tokenizer.decode(tokens, skip_special_tokens=True).strip()


def end_token_id(model) -> int:
    """The model's end-of-text token (the first, when the generation config lists several)."""
    eos = model.generation_config.eos_token_id
    return eos[0] if isinstance(eos, (list, tuple)) else eos


def is_multilingual(model) -> bool:
    """Whether `model` takes language tokens (English-only `.en` checkpoints do not)."""
    return bool(getattr(getattr(model, "generation_config", None), "is_multilingual", True))


def segments_result(
    tokenizer, segments: Sequence[dict], *, duration: float, timestamps: bool, words: bool, language: str | None,
    guard: HallucinationGuard | None, eos_token_id: int,
) -> dict[str, Any]:
    """One input's output from its `generate` segments: `text`, `chunks` when `timestamps`, and `dropped`: chunks
    outside the audio and, with a guard, the windows unlikely at every temperature and what its repetition check
    removed, each with a `reason`. The text is rebuilt from the chunks kept when anything was dropped."""
    dropped: list[dict[str, Any]] = []
    if guard is not None:
        segments, unlikely = guard.split_unlikely(segments, eos_token_id)
        inside, outside = segment_chunks(tokenizer, unlikely, False, language, duration)
        dropped += [{**c, "reason": UNLIKELY} for c in inside] + outside
        if words:  # the segment checks (loops without spaces, repeated segments) on the segments' own text first
            segments, removed = _whole_segment_checks(tokenizer, segments, guard)
            dropped += removed
    chunks, outside = segment_chunks(tokenizer, segments, words, language, duration)
    dropped += outside
    result: dict[str, Any] = {"text": segments_text(tokenizer, segments), "chunks": chunks}
    if dropped:
        result["text"] = chunks_text(chunks, words)
    if guard is not None:
        result = guard.filter_output(result, words)
        dropped += result["dropped"]
    result["dropped"] = sorted(dropped, key=lambda d: d["timestamp"][0] if d["timestamp"][0] is not None else 0.0)
    if not timestamps:
        result.pop("chunks")
    return result


def _whole_segment_checks(tokenizer, segments: Sequence[dict], guard: HallucinationGuard) -> tuple[list[dict], list[dict]]:
    """The segments the guard's segment-level checks keep whole, and what they drop (runs cut inside a segment are
    left to the word-level check, which reports them word by word)."""
    texts = [{"text": tokenizer.decode(s["tokens"].tolist(), skip_special_tokens=True), "index": i,
              "timestamp": (round(float(s["start"]), 2), round(float(s["end"]), 2))} for i, s in enumerate(segments)]
    _, dropped = guard.filter_chunks(texts, words=False)
    gone = {d["index"] for d in dropped if d["reason"] != REPEATED_NGRAM}
    whole = [{k: v for k, v in d.items() if k != "index"} for d in dropped if d["index"] in gone]
    return [s for i, s in enumerate(segments) if i not in gone], whole


def whisper_features(
    feature_extractor, waveforms: Sequence[np.ndarray], sampling_rate: int
) -> dict[str, torch.Tensor]:
    """Log-mel features of a batch: padded to the 30 s window when every waveform fits in it (short-form), else to
    the longest, untruncated, with the attention mask `generate` needs to know where each recording ends. Audio at
    another rate than the feature extractor's is resampled first (torchaudio)."""
    if sampling_rate != feature_extractor.sampling_rate:
        import torchaudio.functional

        waveforms = [torchaudio.functional.resample(torch.from_numpy(np.asarray(w, dtype=np.float32)), sampling_rate,
                                                    feature_extractor.sampling_rate).numpy() for w in waveforms]
    long_form = max(w.size for w in waveforms) > WHISPER_WINDOW_SECONDS * feature_extractor.sampling_rate
    extra = {"truncation": False, "padding": "longest"} if long_form else {}
    features = feature_extractor(list(waveforms), sampling_rate=feature_extractor.sampling_rate,
                                 return_attention_mask=True, return_tensors="pt", **extra)
    return {"input_features": features.input_features, "attention_mask": features.attention_mask}


def generate_segments(
    model, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None, *, language: str | None = None,
    timestamps: bool = False, words: bool = False, guard: HallucinationGuard | None = None, **generate_kwargs,
) -> list[list[dict]]:
    """`generate(..., return_segments=True)` on a batch of features: each input's segments.

    With a guard, its thresholds and temperature schedule are passed, and each input is decoded alone under the
    guard's seed: transformers (5.x) sets up the no-speech detector once per window for the whole batch, and after
    some inputs fall back it reads their no-speech probability at the wrong batch index.

    Args:
        model (`WhisperForConditionalGeneration`): the model.
        input_features (`torch.Tensor` of shape `(batch, mel_bins, frames)`), attention_mask (`torch.Tensor` of
            shape `(batch, frames)`, *optional*): from [`whisper_features`] (on any device; moved to the model's).
        language (`str`, *optional*): forced language; `None` for English-only models (or to detect it).
        timestamps (`bool`): predict timestamp tokens (always past 30 s, where the window moves by them).
        words (`bool`): also DTW token times from the alignment heads (for word chunks).
        guard ([`HallucinationGuard`], *optional*): the decoding thresholds and temperature fallback.
        generate_kwargs: more `generate` arguments (`max_new_tokens`, `num_beams`, ...); the guard's win on a clash.
    """
    # `None` leaves the choice to `generate`: past 30 s it must predict timestamps (False would be refused there)
    kwargs: dict[str, Any] = {**generate_kwargs, "return_segments": True, "return_dict_in_generate": False,
                              "return_timestamps": True if timestamps else None}
    if language is not None:
        kwargs.update(language=language, task="transcribe")
    if words:
        kwargs["return_token_timestamps"] = True
    device, dtype = model.device, model.dtype
    input_features = input_features.to(device, dtype)
    attention_mask = None if attention_mask is None else attention_mask.to(device)
    if guard is None:
        return model.generate(input_features=input_features, attention_mask=attention_mask, **kwargs)["segments"]
    kwargs.update(guard.generate_kwargs())
    segments = []
    for row in range(input_features.shape[0]):
        with guard.sampling():
            output = model.generate(input_features=input_features[row:row + 1], **kwargs, attention_mask=(
                None if attention_mask is None else attention_mask[row:row + 1]))
        segments.extend(output["segments"])
    return segments


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
        language (`str`, *optional*, defaults to `"korean"`): the transcription language (no detection); ignored
            for English-only models ([`is_multilingual`]).
        timestamps (`bool`, *optional*, defaults to `True`): predict timestamp tokens and return `chunks`: words
            when the model has alignment heads ([`has_alignment_heads`]), else segments. Past 30 s Whisper always
            predicts timestamps (the window moves by them); only the `chunks` are then left out.
        guard ([`HallucinationGuard`], *optional*): decoding thresholds with temperature fallback, and the
            repetition check on the result.
        batch_size (`int`, *optional*, defaults to 1): recordings decoded together (one at a time with a guard; see
            [`generate_segments`]).
        sampling_rate (`int`, *optional*, defaults to 16000): the rate of `waveforms`.

    Returns:
        `list[dict]`: per waveform, `text`, `chunks` of `{"text", "timestamp": (start_s, end_s)}` when
        `timestamps`, and `dropped`: text removed (timed outside the audio, or by the guard), each with a `reason`.
    """
    words = timestamps and has_alignment_heads(model)
    language = language if is_multilingual(model) else None
    results: list[dict[str, Any]] = []
    for first in range(0, len(waveforms), batch_size):
        batch = waveforms[first:first + batch_size]
        features = whisper_features(feature_extractor, batch, sampling_rate)
        found = generate_segments(model, features["input_features"], features["attention_mask"], language=language,
                                  timestamps=timestamps, words=words, guard=guard)
        for segments, waveform in zip(found, batch):
            results.append(segments_result(
                tokenizer, segments, duration=waveform.size / sampling_rate, timestamps=timestamps, words=words,
                language=language, guard=guard, eos_token_id=end_token_id(model),
            ))
    return results


__all__ = [
    "end_token_id",
    "generate_segments",
    "has_alignment_heads",
    "is_multilingual",
    "segment_chunks",
    "segments_result",
    "segments_text",
    "transcribe_whisper",
    "whisper_features",
]
