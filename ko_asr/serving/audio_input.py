"""Turn whatever a user hands the demo (an uploaded file, a microphone recording) into one 16 kHz mono waveform, or
an `InvalidInputError` that says what is wrong in words a user can act on."""

from __future__ import annotations

import math
import os
import shutil
import subprocess

import numpy as np
import soundfile

from ..data.audio import SAMPLING_RATE, to_mono_resampled

# A peak below -60 dBFS is silence for speech recognition purposes (room tone of a muted microphone).
SILENCE_PEAK = 10 ** (-60 / 20)
FFMPEG_TIMEOUT_S = 120


class InvalidInputError(ValueError):
    """The request cannot be served (its audio, reference or model); the message is meant for the person who made
    it."""


def duration_text(seconds: float, round_up: bool = False) -> str:
    """`m:ss.s` (or `h:mm:ss.s`). A length over a limit is rounded up, so the two never read the same."""
    tenths = math.ceil(seconds * 10 - 1e-9) if round_up else round(seconds * 10)
    minutes, tenths = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    clock = f"{tenths // 10:02d}.{tenths % 10}"
    return f"{hours}:{minutes:02d}:{clock}" if hours else f"{minutes}:{clock}"


def _too_long(name: str, seconds: float, max_seconds: float) -> InvalidInputError:
    length, limit = duration_text(seconds, round_up=True), duration_text(max_seconds)
    return InvalidInputError(f"{name} is {length} long; the limit is {limit}")


def _read_with_ffmpeg(path: str, sampling_rate: int, max_seconds: float | None) -> np.ndarray:
    # Browsers record WebM/Opus and users upload M4A; libsndfile reads neither, FFmpeg reads both.
    name = os.path.basename(path)
    if shutil.which("ffmpeg") is None:
        raise InvalidInputError(f"{name}: not a format soundfile can read, and ffmpeg is not installed")
    # `-t` stops decoding just past the limit: a many-hour upload never fills memory.
    limit = [] if max_seconds is None else ["-t", f"{max_seconds + 1:.3f}"]
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", path, *limit, "-f", "f32le", "-ac", "1", "-ar", str(sampling_rate), "-"]
    try:
        result = subprocess.run(command, capture_output=True, check=False, timeout=FFMPEG_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InvalidInputError(f"{name}: decoding took longer than {FFMPEG_TIMEOUT_S} s; is it really audio?") from None
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        detail = reason[-1].replace(f"{path}: ", "") if reason else "no detail"
        raise InvalidInputError(f"{name} is not an audio file ({detail})")
    waveform = np.frombuffer(result.stdout, dtype=np.float32).copy()
    if max_seconds is not None and waveform.size > max_seconds * sampling_rate:
        raise InvalidInputError(f"{name} is longer than the limit of {duration_text(max_seconds)}")
    return waveform


def read_audio_file(
    path: str | os.PathLike[str], sampling_rate: int = SAMPLING_RATE, max_seconds: float | None = None
) -> np.ndarray:
    """Decode any audio file to mono float32 at `sampling_rate` (soundfile first, FFmpeg for other containers).

    With `max_seconds`, a longer file is refused from its header (or FFmpeg stops just past the limit) before the
    samples are held in memory.

    Raises:
        InvalidInputError: naming the file when it is missing, is not audio, or is too long.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise InvalidInputError(f"{path}: no such file")
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError):
        return _read_with_ffmpeg(path, sampling_rate, max_seconds)
    if max_seconds is not None and info.frames > max_seconds * info.samplerate:
        raise _too_long(name, info.frames / info.samplerate, max_seconds)
    waveform, rate = soundfile.read(path, dtype="float32", always_2d=False)
    return to_mono_resampled(waveform, rate, sampling_rate)


def from_array(rate: int, samples: np.ndarray, sampling_rate: int = SAMPLING_RATE, max_seconds: float | None = None) -> np.ndarray:
    """A `(rate, samples)` pair as Gradio's numpy audio gives it (integer or float PCM, `(frames,)` or
    `(frames, channels)`), downmixed and resampled explicitly.

    Raises:
        InvalidInputError: when longer than `max_seconds` (checked before any conversion).
    """
    samples = np.asarray(samples)
    if max_seconds is not None and samples.shape[0] > max_seconds * rate:
        raise _too_long("the recording", samples.shape[0] / rate, max_seconds)
    if np.issubdtype(samples.dtype, np.unsignedinteger):  # e.g. 8-bit WAV: silence is the midpoint, not 0
        midpoint = (float(np.iinfo(samples.dtype).max) + 1) / 2
        samples = (samples.astype(np.float32) - midpoint) / midpoint
    elif np.issubdtype(samples.dtype, np.integer):
        samples = samples.astype(np.float32) / (float(np.iinfo(samples.dtype).max) + 1)
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
    if waveform.size > max_seconds * sampling_rate:
        raise _too_long(name, waveform.size / sampling_rate, max_seconds)
    # Around the mean: a constant DC offset is not sound.
    peak = float(np.max(np.abs(waveform - waveform.mean())))
    if peak < SILENCE_PEAK:
        level = "no signal at all" if peak == 0 else f"peak {20 * np.log10(peak):.0f} dBFS"
        raise InvalidInputError(f"{name} is silent ({level}): nothing to transcribe")
