"""Voice activity detection: where a recording holds speech, and where to cut it for transcription.

Detection is [Silero VAD](https://github.com/snakers4/silero-vad) (the `silero-vad` package, which bundles its
model, so it runs offline): a small recurrent network that scores every 32 ms window (512 samples at 16 kHz) with a
speech probability; `get_speech_timestamps` turns the scores into segments. [`speech_segments`] wraps it with
options that suit dictation and returns seconds; [`plan_chunks`] groups the segments into pieces a model
transcribes in one pass, cutting at the pauses between them. `ko_asr.segmented_transcription` runs a pipeline on
those pieces.

Silence and noise without speech give no segments, so a caller can return an empty transcript instead of letting a
model invent text from them. The model is loaded once per process and runs in a thread of its own, one call at a
time, with one intra-op thread; the process's torch thread count is left as it was.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

#: The rates the Silero model scores (512-sample windows at 16 kHz, 256 at 8 kHz); resample anything else first.
SUPPORTED_SAMPLING_RATES = (8000, 16000)


@dataclass(frozen=True)
class VadOptions:
    """How speech is detected and cut (Silero VAD's `get_speech_timestamps` arguments, and the chunk limit).

    Args:
        threshold (`float`, *optional*, defaults to 0.5): a window whose speech probability is at least this starts
            or continues speech (speech ends below `threshold - 0.15`); Silero's own default.
        min_speech_duration_ms (`int`, *optional*, defaults to 250): shorter bursts are dropped (clicks, a cough);
            Silero's default, about one short syllable.
        min_silence_duration_ms (`int`, *optional*, defaults to 300): a pause must last this long to end a
            segment. Longer than Silero's 100 ms so that the short gaps within a dictated phrase do not split it.
        speech_pad_ms (`int`, *optional*, defaults to 200): each segment is widened by this much on both sides (not
            past the recording, nor into its neighbour), so soft onsets and word endings reach the model.
        max_chunk_seconds (`float`, *optional*, defaults to 20.0): [`plan_chunks`] groups segments into chunks no
            longer than this (the CTC pipeline's chunk length), cut at pauses.

    Raises:
        ValueError: when an option is out of range.
    """

    threshold: float = 0.5
    min_speech_duration_ms: int = 250
    min_silence_duration_ms: int = 300
    speech_pad_ms: int = 200
    max_chunk_seconds: float = 20.0

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must lie strictly between 0 and 1, got {self.threshold}")
        for name in ("min_speech_duration_ms", "min_silence_duration_ms", "speech_pad_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.max_chunk_seconds > 0:
            raise ValueError(f"max_chunk_seconds must be > 0, got {self.max_chunk_seconds}")


def _load_in_worker():
    """Runs in the runner's thread: one intra-op thread for it, then the model and its timestamp function."""
    # torch sets a thread's count from the process default on its first parallel call, once: that happens here
    # first, so that `set_num_threads(1)` holds for this thread after the caller restores the default.
    torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        # The package still loads TorchScript; torch 2.9+ calls `torch.jit.load` deprecated.
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=FutureWarning)
        from silero_vad import get_speech_timestamps, load_silero_vad

        return load_silero_vad(), get_speech_timestamps


class _SileroRunner:
    """Silero VAD's TorchScript model (loaded from the package's own files, no download), run in a thread of its own.

    The model is hundreds of tiny operations per second of audio: with more than one intra-op thread each of them
    pays for waking the others, and the VAD runs many times slower (20x here on two busy cores). Silero's answer,
    `torch.set_num_threads(1)` when `silero_vad` is imported, would slow every other model in the process, so the
    model runs in one dedicated thread instead, which alone keeps the count of 1 (torch's OpenMP thread counts are
    per thread; the process default is restored for threads yet to start). One thread also means one call at a
    time, which the model needs: it carries its recurrent state from window to window (reset per call), and the
    Space calls it from several request threads.
    """

    def __init__(self):
        threads = torch.get_num_threads()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="silero-vad")
        try:
            self._model, self._get_speech_timestamps = self._executor.submit(_load_in_worker).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        finally:
            torch.set_num_threads(threads)

    def speech_timestamps(self, audio: torch.Tensor, **kwargs) -> list[dict[str, int]]:
        return self._executor.submit(self._get_speech_timestamps, audio, self._model, **kwargs).result()

    def intra_op_threads(self) -> int:
        """torch's thread count in the runner's thread (1 where torch's threads are OpenMP's, as in its wheels)."""
        return self._executor.submit(torch.get_num_threads).result()


_RUNNER_LOCK = threading.Lock()


@functools.cache
def _cached_runner() -> _SileroRunner:
    return _SileroRunner()


def _runner() -> _SileroRunner:
    """The process's one runner, made on first use."""
    with _RUNNER_LOCK:  # two first calls at once would each load a model
        return _cached_runner()


def _forget_runner_in_child() -> None:
    # A forked child (a DataLoader worker, `datasets.map(num_proc=...)`) has no copy of the runner's thread, nor of
    # a thread that held the lock: it makes its own runner rather than wait forever on the parent's.
    global _RUNNER_LOCK
    _RUNNER_LOCK = threading.Lock()
    _cached_runner.cache_clear()


os.register_at_fork(after_in_child=_forget_runner_in_child)


def speech_segments(
    waveform: np.ndarray, sampling_rate: int = 16000, options: VadOptions | None = None
) -> list[tuple[float, float]]:
    """Where `waveform` holds speech, according to Silero VAD.

    Args:
        waveform (`np.ndarray`): mono audio of shape `(samples,)`, float in [-1, 1] (other dtypes are cast to
            float32).
        sampling_rate (`int`, *optional*, defaults to 16000): the rate of `waveform`, 8000 or 16000 Hz.
        options ([`VadOptions`], *optional*): detection settings; the defaults when `None`.

    Returns:
        `list[tuple[float, float]]`: `(start_s, end_s)` per speech segment, in seconds from the start of
        `waveform`, padded by `options.speech_pad_ms`, sorted and not overlapping. Empty for silence, for noise
        without speech, and for an empty waveform.

    Raises:
        ValueError: when `sampling_rate` is not 8000 or 16000, or `waveform` is not one-dimensional.
    """
    options = options or VadOptions()
    if sampling_rate not in SUPPORTED_SAMPLING_RATES:
        raise ValueError(
            f"Silero VAD scores 8000 or 16000 Hz audio, got sampling_rate={sampling_rate}; resample first "
            "(ko_asr.audio_io.to_mono_resampled)"
        )
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"expected a mono waveform of shape (samples,), got shape {waveform.shape}")
    if waveform.size == 0:
        return []
    audio = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))
    found = _runner().speech_timestamps(
        audio, sampling_rate=sampling_rate, threshold=options.threshold,
        min_speech_duration_ms=options.min_speech_duration_ms,
        min_silence_duration_ms=options.min_silence_duration_ms, speech_pad_ms=options.speech_pad_ms,
    )
    # Samples, not `return_seconds=True`, which rounds to 0.1 s.
    return [(segment["start"] / sampling_rate, segment["end"] / sampling_rate) for segment in found]


def plan_chunks(segments: Sequence[tuple[float, float]], max_chunk_seconds: float) -> list[tuple[float, float]]:
    """Group consecutive speech `segments` into chunks to transcribe, each cut at a pause between segments.

    A chunk runs from its first segment's start to its last one's end (the pauses inside it are kept, so times
    within it are the recording's times minus the chunk's start). A segment joins the current chunk while the chunk
    stays within `max_chunk_seconds`; otherwise it starts the next one. A single segment longer than the limit is a
    chunk of its own: the caller's fixed-window chunking (the pipeline's `chunk_length_s`) handles it.

    Args:
        segments (`Sequence[tuple[float, float]]`): `(start_s, end_s)` in seconds, sorted and not overlapping, as
            [`speech_segments`] returns them.
        max_chunk_seconds (`float`): the longest chunk, in seconds, that several segments are grouped into.

    Returns:
        `list[tuple[float, float]]`: `(start_s, end_s)` per chunk, in the segments' time; empty without segments.

    Raises:
        ValueError: when `max_chunk_seconds` is not positive.
    """
    if not max_chunk_seconds > 0:
        raise ValueError(f"max_chunk_seconds must be > 0, got {max_chunk_seconds}")
    chunks: list[tuple[float, float]] = []
    for start, end in segments:
        if chunks and end - chunks[-1][0] <= max_chunk_seconds:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
    return chunks


__all__ = ["SUPPORTED_SAMPLING_RATES", "VadOptions", "plan_chunks", "speech_segments"]
