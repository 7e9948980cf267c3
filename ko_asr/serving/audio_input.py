"""Turn whatever a user hands the demo (an uploaded file, a microphone recording) into one 16 kHz mono waveform, or
an `InvalidInputError` that says what is wrong in words a user can act on."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import soundfile

from ..data.audio import SAMPLING_RATE, to_mono_resampled

# A peak below -60 dBFS is silence for speech recognition purposes (room tone of a muted microphone).
SILENCE_PEAK = 10 ** (-60 / 20)


class InvalidInputError(ValueError):
    """The request cannot be served (its audio, reference or model); the message is meant for the person who made
    it."""


def _read_with_ffmpeg(path: str, sampling_rate: int) -> np.ndarray:
    # Browsers record WebM/Opus and users upload M4A; libsndfile reads neither, FFmpeg reads both.
    if shutil.which("ffmpeg") is None:
        raise InvalidInputError(f"{os.path.basename(path)}: not a format soundfile can read, and ffmpeg is not installed")
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "f32le", "-ac", "1", "-ar", str(sampling_rate), "-"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        name = os.path.basename(path)
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        detail = reason[-1].replace(f"{path}: ", "") if reason else "no detail"
        raise InvalidInputError(f"{name} is not an audio file ({detail})")
    return np.frombuffer(result.stdout, dtype=np.float32).copy()


def read_audio_file(path: str | os.PathLike[str], sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """Decode any audio file to mono float32 at `sampling_rate` (soundfile first, FFmpeg for other containers).

    Raises:
        InvalidInputError: naming the file when it is missing or is not audio.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InvalidInputError(f"{path}: no such file")
    try:
        waveform, rate = soundfile.read(path, dtype="float32", always_2d=False)
    except (soundfile.LibsndfileError, RuntimeError):
        return _read_with_ffmpeg(path, sampling_rate)
    return to_mono_resampled(waveform, rate, sampling_rate)


def from_array(rate: int, samples: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """A `(rate, samples)` pair as Gradio's numpy audio gives it (int16 or float, `(frames,)` or
    `(frames, channels)`), downmixed and resampled explicitly."""
    samples = np.asarray(samples)
    if np.issubdtype(samples.dtype, np.integer):
        samples = samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)
    return to_mono_resampled(samples.astype(np.float32, copy=False), int(rate), sampling_rate)


def validate_waveform(waveform: np.ndarray, max_seconds: float, name: str = "the audio", sampling_rate: int = SAMPLING_RATE) -> None:
    """Reject what would give a meaningless or unbounded transcription: empty, silent-only, too long.

    Raises:
        InvalidInputError: with the reason and, for length, the limit.
    """
    if waveform.size == 0:
        raise InvalidInputError(f"{name} is empty (0 samples)")
    if not np.all(np.isfinite(waveform)):
        raise InvalidInputError(f"{name} contains NaN or infinite samples")
    seconds = waveform.size / sampling_rate
    if seconds > max_seconds:
        raise InvalidInputError(f"{name} is {seconds / 60:.1f} min long; the limit is {max_seconds / 60:.1f} min")
    peak = float(np.max(np.abs(waveform)))
    if peak < SILENCE_PEAK:
        level = "every sample is zero" if peak == 0 else f"peak {20 * np.log10(peak):.0f} dBFS"
        raise InvalidInputError(f"{name} is silent ({level}): nothing to transcribe")
