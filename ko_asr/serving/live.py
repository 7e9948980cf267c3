"""Live microphone transcription for the Space: browser audio chunks at the device's rate -> 16 kHz -> a
`StreamingRecognizer`, with the partial transcript after every chunk."""

from __future__ import annotations

from math import gcd

import numpy as np
import torch
import torchaudio

from ..audio_io import SAMPLING_RATE
from ..streaming import StreamingRecognizer


class StreamResampler:
    r"""Resample a stream chunk by chunk to exactly what resampling the whole recording at once gives
    (`torchaudio.functional.resample`, to float rounding).

    torchaudio resamples arrays, and resampling each chunk alone would zero-pad every chunk edge (clicks the model
    hears). Here each call resamples the unconsumed input plus some left context and keeps only the output samples
    whose filter support is complete; the last `HOLD_BACK` of them wait for the next chunk or `flush`.

    Args:
        orig_freq (`int`): the input rate, Hz.
        new_freq (`int`, *optional*, defaults to 16000): the output rate, Hz.
    """

    HOLD_BACK = 32  # output samples; torchaudio's default filter reaches ~6 output samples (up: ~12) each side
    CONTEXT = 64  # input periods of left context kept before the next output

    def __init__(self, orig_freq: int, new_freq: int = SAMPLING_RATE):
        if orig_freq <= 0:
            raise ValueError(f"the sampling rate must be positive, got {orig_freq}")
        divisor = gcd(orig_freq, new_freq)
        self.orig_freq, self.new_freq = orig_freq, new_freq
        self._up, self._down = new_freq // divisor, orig_freq // divisor  # output/input samples per period
        self._raw = np.zeros(0, dtype=np.float32)
        self._raw_start = 0  # input index of _raw[0], a whole number of periods
        self._received = 0
        self._emitted = 0  # output samples returned so far

    def _emit(self, upto: int) -> np.ndarray:
        if upto <= self._emitted or self._raw.size == 0:
            return np.zeros(0, dtype=np.float32)
        out = torchaudio.functional.resample(torch.from_numpy(self._raw), self.orig_freq, self.new_freq).numpy()
        first = self._raw_start // self._down * self._up  # output index of out[0]
        chunk = out[self._emitted - first: upto - first]
        self._emitted += chunk.size
        # keep CONTEXT periods of input before the next output sample
        start = max(0, (self._emitted // self._up - self.CONTEXT) * self._down)
        self._raw = self._raw[start - self._raw_start:]
        self._raw_start = start
        return chunk

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next chunk; returns the output samples that are final (a little of it waits)."""
        if self.orig_freq == self.new_freq:
            return samples
        self._raw = np.concatenate([self._raw, samples.astype(np.float32)])
        self._received += samples.size
        return self._emit(self._received * self._up // self._down - self.HOLD_BACK)

    def flush(self) -> np.ndarray:
        """The remaining output at the end of the recording (zero padding after it, as for a whole recording)."""
        if self.orig_freq == self.new_freq:
            return np.zeros(0, dtype=np.float32)
        return self._emit(-(-self._received * self._up // self._down))  # ceil, torchaudio's output length


class LiveSession:
    """One microphone stream: chunks in as Gradio delivers them (`(rate, samples)`, int16 or float, mono or
    channels-last), the partial transcript out.

    Args:
        recognizer ([`StreamingRecognizer`]): a fresh recognizer (its model may be shared; its state is this stream's).
        max_seconds (`float`): the longest stream accepted; later audio is ignored and `limited` is set.
    """

    def __init__(self, recognizer: StreamingRecognizer, max_seconds: float):
        self.recognizer = recognizer
        self.max_seconds = max_seconds
        self.resampler: StreamResampler | None = None
        self.limited = False
        self.text = ""

    def feed(self, rate: int, samples: np.ndarray) -> str:
        """Add one browser chunk; returns the transcript so far.

        Raises:
            ValueError: when the rate changes within the stream.
        """
        if self.resampler is None:
            self.resampler = StreamResampler(int(rate))
        elif int(rate) != self.resampler.orig_freq:
            raise ValueError(f"the microphone's rate changed from {self.resampler.orig_freq} to {rate} Hz mid-stream")
        samples = np.asarray(samples)
        if np.issubdtype(samples.dtype, np.integer):  # scale before the downmix turns the dtype into float
            samples = samples.astype(np.float32) / np.iinfo(samples.dtype).max
        if samples.ndim == 2:  # (samples, channels), Gradio's layout
            samples = samples.mean(axis=1)
        if self.recognizer.seconds >= self.max_seconds:
            self.limited = True
            return self.text
        self.text = self.recognizer.accept(self.resampler(samples.astype(np.float32)))
        return self.text

    def finish(self) -> str:
        """End of the recording: the final transcript (the recognizer is ready for a new stream)."""
        if self.resampler is not None and not self.limited:
            self.recognizer.accept(self.resampler.flush())
        self.text = self.recognizer.finish()
        self.resampler, self.limited = None, False
        return self.text
