"""Turn whatever a user hands the demo (an uploaded file, a microphone recording) into one 16 kHz mono waveform, or
an `InvalidInputError` that says what is wrong in words a user can act on.

Files are read and judged by `ko_asr.audio_io` (the front door the CLI and the datasets use too); this module only
adds Gradio's `(rate, samples)` recordings and turns `AudioError` into the Space's `InvalidInputError`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np

from .. import audio_io
from ..audio_io import SAMPLING_RATE, AudioError, duration_text

__all__ = ["InvalidInputError", "duration_text", "from_array", "read_audio_file", "validate_waveform"]


class InvalidInputError(ValueError):
    """The request cannot be served (its audio, reference or model); the message is meant for the person who made
    it."""


@contextlib.contextmanager
def _for_the_user() -> Iterator[None]:
    # The library's messages are already user-facing; only the class changes, so the app catches one type.
    try:
        yield
    except AudioError as error:
        raise InvalidInputError(str(error)) from error


def read_audio_file(
    path: str | os.PathLike[str], sampling_rate: int = SAMPLING_RATE, max_seconds: float | None = None
) -> np.ndarray:
    """`ko_asr.audio_io.load_audio` with messages naming the file by its base name (uploads live in temporary
    folders the user never saw).

    Raises:
        InvalidInputError: naming the file when it is missing, is not audio, or is too long.
    """
    with _for_the_user():
        return audio_io.load_audio(path, sampling_rate, max_seconds, name=os.path.basename(os.fspath(path)))


def from_array(rate: int, samples: np.ndarray, sampling_rate: int = SAMPLING_RATE, max_seconds: float | None = None) -> np.ndarray:
    """A `(rate, samples)` pair as Gradio's numpy audio gives it (integer or float PCM, `(frames,)` or
    `(frames, channels)`), scaled, downmixed and resampled as files are (`pcm_to_float`, `to_mono_resampled`).

    Raises:
        InvalidInputError: when longer than `max_seconds` (checked before any conversion).
    """
    samples = np.asarray(samples)
    with _for_the_user():
        audio_io.check_max_seconds(samples.shape[0] / rate, max_seconds, "the recording")
    return audio_io.to_mono_resampled(audio_io.pcm_to_float(samples), int(rate), sampling_rate)


def validate_waveform(waveform: np.ndarray, max_seconds: float, name: str = "the audio", sampling_rate: int = SAMPLING_RATE) -> None:
    """`ko_asr.audio_io.validate_waveform` (empty, NaN, too long, too short, silent) raising `InvalidInputError`."""
    with _for_the_user():
        audio_io.validate_waveform(waveform, name=name, max_seconds=max_seconds, sampling_rate=sampling_rate)
