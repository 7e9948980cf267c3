"""Audio values of ko_asr datasets (`{"path": ..., "bytes": ...}`): decoding them for the `datasets` transform, and
their durations without decoding.

A path goes through `ko_asr.audio_io.load_audio`, the front door the CLI and the Space use too (KsponSpeech `.pcm`,
soundfile, FFmpeg for other containers); embedded bytes (FLAC written by `to_audio_dataset`) through soundfile and
the same `to_mono_resampled`. Output is always a mono float32 waveform at the requested rate.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import soundfile

from .. import audio_io

# Re-exported: the data modules (and users) import the rate and the PCM reader from here.
from ..audio_io import PCM_EXTENSION, SAMPLING_RATE, AudioError, read_pcm, to_mono_resampled

__all__ = [
    "PCM_EXTENSION",
    "SAMPLING_RATE",
    "audio_duration",
    "decode_audio",
    "decode_audio_batch",
    "read_pcm",
    "to_mono_resampled",
]


def decode_audio(audio: dict[str, Any] | str | os.PathLike[str], sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Decode one `audio` value of a ko_asr dataset (`{"path": ..., "bytes": ...}`) or a file path.

    Returns:
        `np.ndarray` of float32, shape `(samples,)`, mono at `sampling_rate`.

    Raises:
        AudioError (a `ValueError`): naming the file when it cannot be decoded.
    """
    if not isinstance(audio, dict):
        return audio_io.load_audio(audio, sampling_rate)
    path, data = audio.get("path"), audio.get("bytes")
    if data is None:
        return audio_io.load_audio(path, sampling_rate)
    try:
        waveform, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (soundfile.SoundFileError, RuntimeError) as error:
        raise AudioError(f"{path or '<bytes>'} cannot be decoded ({error})") from None
    return to_mono_resampled(waveform, rate, sampling_rate)


def audio_duration(audio: dict[str, Any]) -> float:
    """Duration in seconds without decoding the samples (file size for PCM, the header otherwise)."""
    path, data = audio.get("path"), audio.get("bytes")
    if data is None and str(path).endswith(PCM_EXTENSION):
        return (os.path.getsize(path) // 2) / SAMPLING_RATE
    info = soundfile.info(io.BytesIO(data) if data is not None else path)
    return info.frames / info.samplerate


def decode_audio_batch(batch: dict[str, list]) -> dict[str, list]:
    """A `datasets` transform: replaces each `audio` value by `{"path", "array", "sampling_rate"}`."""
    if "audio" in batch:
        batch["audio"] = [
            {"path": audio.get("path"), "array": decode_audio(audio), "sampling_rate": SAMPLING_RATE}
            for audio in batch["audio"]
        ]
    return batch
