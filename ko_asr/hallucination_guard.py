"""Guards against Whisper writing text nobody said: on silence, music, noise, or in a decoding loop.

Whisper is a language model over audio: given no speech it still writes the most likely caption, and Korean
training data taught it YouTube endings such as "시청해 주셔서 감사합니다". Three guards stand between the model and
the transcript (a confident invented caption passes the first and third; the VAD gate is the one that stops it on
silence):

1. **Decoding thresholds with temperature fallback** (the options of openai-whisper's `transcribe`, which
   `WhisperForConditionalGeneration.generate` implements): a window whose greedy text compresses too well (a loop)
   or whose tokens are too unlikely is decoded again at the next temperature; a window whose no-speech probability
   (of the `<|nospeech|>` token after `<|startoftranscript|>`) is above `no_speech_threshold` *and* whose text is
   unlikely is skipped (`generate` returns nothing for it, so it cannot be listed). [`HallucinationGuard.generate_kwargs`]
   gives these to `generate`. When every temperature fails, openai-whisper and transformers keep the last sample;
   with `drop_unlikely=True` the guard drops such a window instead ([`HallucinationGuard.split_unlikely`]). It is off
   by default: on hard real speech a usable transcript can stay below the threshold, and what that costs has not
   been measured on a pretrained model here.
2. **VAD gating**: only what Silero VAD calls speech reaches the model (`ko_asr.segmented_transcription`, on by
   default in the CLI and the Space). Silence and most noise never do; noise holding voices (café babble) can.
3. **A repetition check** on the decoded text ([`HallucinationGuard.filter_chunks`]): a run of the same word (or
   segment) n-gram repeated more than `max_repeats` times is cut out, text that still compresses better than
   openai-whisper's `compression_ratio_threshold` (2.4, on UTF-8 text; a loop without spaces) is dropped, and so is
   a segment of three words or more that repeats the one before it (Whisper's long-form loop). With word times the
   segment checks run first, on the segments' text, then the word n-gram check on the words.

Everything the guard removes from the text is listed in the result's `dropped`, each entry with its reason (windows
the no-speech gate skips aside: `generate` does not return them).

The repetition check is written here because no maintained library applies one to `transformers` output; it is a
few lines of list scanning over the words or segments.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

#: Why a piece of text was removed, as reported in a result's `dropped` entries.
REPEATED_NGRAM = "repeated n-gram"
LOOPING_TEXT = "text compresses like a loop"
REPEATED_SEGMENT = "repeats the previous segment"
UNLIKELY = "unlikely at every temperature"


def text_compression_ratio(text: str) -> float:
    """UTF-8 bytes of `text` over their zlib-compressed size: openai-whisper's `compression_ratio`
    (`whisper/utils.py`); loops compress well, so their ratio is high. 0 for empty text."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def chunks_text(chunks: Sequence[dict[str, Any]], words: bool) -> str:
    """The transcript of `chunks`: words joined with spaces; segments as decoded (Whisper's carry their own leading
    space), stripped."""
    if words:
        return " ".join(str(c["text"]).strip() for c in chunks)
    return "".join(str(c["text"]) for c in chunks).strip()


def repeated_spans(units: Sequence[str], max_repeats: int, max_ngram: int = 4) -> list[tuple[int, int]]:
    """Index ranges `[start, end)` of `units` where one n-gram (`n <= max_ngram`) follows itself more than
    `max_repeats` times in a row: the whole run, first occurrence included (a loop is not speech).

    Args:
        units (`Sequence[str]`): words (or word chunks' texts) in order.
        max_repeats (`int`): the most consecutive occurrences of an n-gram that are kept.
        max_ngram (`int`, *optional*, defaults to 4): the longest n-gram looked for, in units.

    Returns:
        `list[tuple[int, int]]`: disjoint ranges in increasing order.
    """
    spans, start = [], 0
    while start < len(units):
        longest = None
        for n in range(1, max_ngram + 1):
            gram = list(units[start:start + n])
            if len(gram) < n:
                break
            count = 1
            while list(units[start + count * n:start + (count + 1) * n]) == gram:
                count += 1
            if count > max_repeats and (longest is None or count * n > longest):
                longest = count * n
        if longest is None:
            start += 1
        else:
            spans.append((start, start + longest))
            start += longest
    return spans


@dataclass(frozen=True)
class HallucinationGuard:
    """The guard's settings (see the module docstring). `None` turns a threshold off.

    Args:
        no_speech_threshold (`float`, *optional*, defaults to 0.6): a window is skipped when the probability of
            `<|nospeech|>` is above this and its average token log-probability is below `logprob_threshold`
            (openai-whisper's default).
        logprob_threshold (`float`, *optional*, defaults to -1.0): below this average log-probability a window is
            decoded again at the next temperature (openai-whisper's default).
        compression_ratio_threshold (`float`, *optional*, defaults to 1.35): above this zlib ratio of the window's
            *token bytes* (transformers' measure, for which its documentation recommends 1.35) a window is decoded
            again at the next temperature.
        temperatures (`tuple[float, ...]`, *optional*, defaults to `(0.0, 0.2, 0.4, 0.6, 0.8, 1.0)`): greedy first,
            then sampling at each temperature in turn (openai-whisper's schedule).
        max_repeats (`int`, *optional*, defaults to 4): a word n-gram repeated more often than this in a row is a
            loop and is cut out ("네 네 네 네" stays; Whisper's loops run until the token limit).
        text_compression_ratio_threshold (`float`, *optional*, defaults to 2.4): a segment whose UTF-8 text
            compresses better than this is dropped (openai-whisper's `compression_ratio_threshold`, on text; short
            text never reaches it).
        drop_unlikely (`bool`, *optional*, defaults to `False`): drop a window whose average log-probability is
            below `logprob_threshold` however its scores are read (at each temperature of the schedule), i.e. one
            that failed every temperature. `False` keeps the last sample, as openai-whisper does.
        seed (`int`, *optional*, defaults to 0): the fallback samples; each recording is decoded alone under this
            seed (in a forked RNG), so it gets the same transcript on every run on the same device. `None` samples
            from the global RNG.

    Raises:
        ValueError: for an empty or negative temperature schedule, or `max_repeats < 1`.
    """

    no_speech_threshold: float | None = 0.6
    logprob_threshold: float | None = -1.0
    compression_ratio_threshold: float | None = 1.35
    temperatures: tuple[float, ...] = field(default=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    max_repeats: int = 4
    text_compression_ratio_threshold: float | None = 2.4
    drop_unlikely: bool = False
    seed: int | None = 0

    def __post_init__(self):
        if not self.temperatures or any(t < 0 for t in self.temperatures):
            raise ValueError(f"temperatures must be a non-empty schedule of values >= 0, got {self.temperatures}")
        if self.max_repeats < 1:
            raise ValueError(f"max_repeats must be >= 1, got {self.max_repeats}")
        if self.no_speech_threshold is not None and self.logprob_threshold is None:
            # transformers reads the average log-probability to decide a skip; without it the gate cannot work
            raise ValueError("no_speech_threshold needs logprob_threshold (a window is skipped when both agree)")

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `WhisperForConditionalGeneration.generate` (or a pipeline's `generate_kwargs`)."""
        kwargs: dict[str, Any] = {"temperature": tuple(self.temperatures)}
        for name in ("no_speech_threshold", "logprob_threshold", "compression_ratio_threshold"):
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        return kwargs

    @contextmanager
    def sampling(self):
        """Context in which `generate` runs: the torch RNG (CPU and every CUDA device, which `manual_seed` seeds)
        forked and seeded with `seed`, so the temperature fallback's samples repeat from run to run and the caller's
        random state is left as it was; nothing when `seed` is `None`."""
        if self.seed is None:
            yield
            return
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            yield

    def window_logprob(self, result: dict[str, Any], eos_token_id: int, temperature: float) -> float:
        """Average log-probability of the tokens `generate` kept for one window (its `result`: `sequences` and the
        processed `scores` of each step), the end token included, with the scores read as sampled at
        `temperature`: transformers' `_retrieve_avg_logprobs`, which decides the fallback."""
        scores = torch.stack(list(result["scores"])).float()  # (steps, vocab)
        tokens = result["sequences"][-scores.shape[0]:]
        ends = (tokens == eos_token_id).nonzero()
        steps = int(ends[0]) + 1 if len(ends) else tokens.shape[0]  # padding after the end token is not scored
        logprobs = torch.log_softmax(scores[:steps] * (temperature if temperature > 0 else 1.0), dim=-1)
        return logprobs.gather(-1, tokens[:steps, None].to(logprobs.device)).mean().item()

    def split_unlikely(self, segments: Sequence[dict], eos_token_id: int) -> tuple[list[dict], list[dict]]:
        """`generate(..., return_segments=True)`'s segments of one input as `(kept, unlikely)`: a segment is
        unlikely when its window's text is below `logprob_threshold` at every temperature of the schedule. The
        window's actual temperature is not returned by `generate`; a window that passed did so at one of these,
        so it is never dropped. Nothing is dropped without `logprob_threshold`, with `drop_unlikely=False`, or when
        `generate` kept no scores."""
        if not self.drop_unlikely or self.logprob_threshold is None:
            return list(segments), []
        kept, unlikely, verdicts = [], [], {}
        for segment in segments:
            result = segment.get("result")
            if not isinstance(result, dict) or not result.get("scores"):
                kept.append(segment)
                continue
            if id(result) not in verdicts:  # the segments of one window share its result
                verdicts[id(result)] = all(self.window_logprob(result, eos_token_id, t) < self.logprob_threshold
                                           for t in self.temperatures)
            (unlikely if verdicts[id(result)] else kept).append(segment)
        return kept, unlikely

    def is_loop(self, text: str) -> bool:
        """Whether all of `text` is a decoding loop: it compresses better than `text_compression_ratio_threshold`
        (short text never does)."""
        threshold = self.text_compression_ratio_threshold
        return threshold is not None and text_compression_ratio(text) > threshold

    def cut_loops(self, text: str) -> tuple[str, list[str]]:
        """`text` without its runs of a word n-gram repeated more than `max_repeats` times: `(rest, runs)`, the rest
        joined with single spaces."""
        words = text.split()
        spans = repeated_spans(words, self.max_repeats)
        gone = {index for start, end in spans for index in range(start, end)}
        return " ".join(w for i, w in enumerate(words) if i not in gone), [" ".join(words[a:b]) for a, b in spans]

    def filter_text(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """`text` without timestamps, its loops removed; with the removed text and the reason of each removal."""
        kept, dropped = self.filter_chunks([{"text": text, "timestamp": (None, None)}], words=False)
        return (kept[0]["text"].strip() if kept else ""), dropped

    def filter_chunks(self, chunks: Sequence[dict[str, Any]], words: bool) -> tuple[list[dict], list[dict]]:
        """A pipeline output's `chunks` (`{"text", "timestamp"}`) without the loops.

        Args:
            chunks (`Sequence[dict]`): in time order.
            words (`bool`): whether each chunk is a word (then runs of repeated word n-grams across chunks are cut
                out) or a segment (then a segment goes whole when it is part of a run of repeated segments, or has
                three words or more and repeats the segment before it; otherwise runs of words are cut from its
                text, and what is left goes when it compresses like a loop).

        Returns:
            `(kept, dropped)`: the chunks kept (a segment's text may be shortened), and the removed text as chunks
            with the removed part's `text`, its chunk's `timestamp` and a `reason`.
        """
        if words:
            spans = repeated_spans([str(c["text"]).strip() for c in chunks], self.max_repeats)
            gone = {index for start, end in spans for index in range(start, end)}
            dropped = [{**chunks[i], "reason": REPEATED_NGRAM} for i in sorted(gone)]
            return [c for i, c in enumerate(chunks) if i not in gone], dropped
        texts = [" ".join(str(chunk["text"]).split()) for chunk in chunks]
        runs = {i for start, end in repeated_spans(texts, self.max_repeats) for i in range(start, end)}
        kept, dropped, previous = [], [], None
        for index, (chunk, text) in enumerate(zip(chunks, texts)):
            if index in runs or (len(text.split()) >= 3 and text == previous):
                dropped.append({**chunk, "text": text, "reason": REPEATED_SEGMENT})
                continue
            previous = text or previous
            # runs of words first, so that speech before a loop stays; then what is left, if it still loops
            rest, loops = self.cut_loops(text)
            dropped.extend({**chunk, "text": loop, "reason": REPEATED_NGRAM} for loop in loops)
            if rest and self.is_loop(rest):
                dropped.append({**chunk, "text": rest, "reason": LOOPING_TEXT})
            elif rest or not text:
                # a segment's text starts with a space in Whisper's decoding; a shortened one keeps that form
                kept.append(chunk if not loops else {**chunk, "text": " " + rest})
        return kept, dropped

    def filter_output(self, output: dict[str, Any], words: bool) -> dict[str, Any]:
        """A pipeline output (`text`, optional `chunks`) with its loops removed and `dropped` listing them; the text
        is rebuilt from the kept chunks when there are chunks."""
        if "chunks" not in output:
            text, dropped = self.filter_text(output["text"])
            return {**output, "text": text, "dropped": dropped}
        kept, dropped = self.filter_chunks(output["chunks"], words)
        text = chunks_text(kept, words) if dropped else output["text"]
        return {**output, "text": text, "chunks": kept, "dropped": dropped}


__all__ = [
    "HallucinationGuard",
    "chunks_text",
    "LOOPING_TEXT",
    "REPEATED_NGRAM",
    "REPEATED_SEGMENT",
    "UNLIKELY",
    "repeated_spans",
    "text_compression_ratio",
]
