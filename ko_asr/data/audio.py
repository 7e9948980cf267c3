"""Audio decoding for every ko_asr data source: raw KsponSpeech PCM, audio files and embedded bytes.

One decoder, no FFmpeg: raw PCM is a numpy read, everything else goes through soundfile (libsndfile: WAV, FLAC,
OGG, MP3). Output is always a mono float32 waveform at the requested rate.
"""

from __future__ import annotations

import functools
import io
import os
from typing import Any

import numpy as np
import soundfile
import torch
import torchaudio

SAMPLING_RATE = 16000
PCM_EXTENSION = ".pcm"


def read_pcm(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a headerless KsponSpeech PCM file (16 kHz, signed 16-bit little-endian, mono) as float32 in [-1, 1).

    An odd byte count (a few real files have one) drops the last byte.
    """
    data = np.fromfile(path, dtype="<i2")  # fromfile ignores a trailing odd byte
    return data.astype(np.float32) / 32768.0


@functools.lru_cache(maxsize=8)
def _resampler(original: int, target: int) -> torchaudio.transforms.Resample:
    # Building the windowed-sinc kernel costs more than applying it; keep one per rate pair.
    return torchaudio.transforms.Resample(original, target)


def to_mono_resampled(waveform: np.ndarray, rate: int, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Average channels (soundfile's `(frames, channels)` layout) and resample with torchaudio when needed."""
    if waveform.ndim == 2:
        waveform = waveform.mean(axis=1)
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    if rate != sampling_rate:
        with torch.no_grad():
            waveform = _resampler(rate, sampling_rate)(torch.from_numpy(waveform)).numpy()
    return waveform


def decode_audio(audio: dict[str, Any] | str | os.PathLike[str], sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Decode one `audio` value of a ko_asr dataset (`{"path": ..., "bytes": ...}`) or a file path.

    Raises:
        ValueError: naming the file when it cannot be decoded.
    """
    if isinstance(audio, dict):
        path, data = audio.get("path"), audio.get("bytes")
    else:
        path, data = os.fspath(audio), None
    try:
        if data is None and path is not None and str(path).endswith(PCM_EXTENSION):
            waveform = read_pcm(path)
            return waveform if sampling_rate == SAMPLING_RATE else to_mono_resampled(waveform, SAMPLING_RATE, sampling_rate)
        waveform, rate = soundfile.read(io.BytesIO(data) if data is not None else path, dtype="float32", always_2d=False)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"cannot decode audio {path or '<bytes>'}: {error}") from None
    return to_mono_resampled(waveform, rate, sampling_rate)


def audio_duration(audio: dict[str, Any]) -> float:
    """Duration in seconds without decoding the samples (file size for PCM, the header otherwise)."""
    path, data = audio.get("path"), audio.get("bytes")
    if data is None and str(path).endswith(PCM_EXTENSION):
        return (os.path.getsize(path) // 2) / SAMPLING_RATE
    info = soundfile.info(io.BytesIO(data) if data is not None else path)
    return info.frames / info.samplerate


def column(dataset, name: str) -> list:
    """All values of a non-audio column, read from Arrow without decoding any audio.

    `dataset[name]` on a dataset with the decoding transform is a lazy column that formats row by row, so summing
    durations or listing texts would decode every file; dropping the format first reads only the column.
    """
    return dataset.with_format(None)[name][:]


def decode_audio_batch(batch: dict[str, list]) -> dict[str, list]:
    """A `datasets` transform: replaces each `audio` value by `{"path", "array", "sampling_rate"}`."""
    if "audio" in batch:
        batch["audio"] = [
            {"path": audio.get("path"), "array": decode_audio(audio), "sampling_rate": SAMPLING_RATE}
            for audio in batch["audio"]
        ]
    return batch
