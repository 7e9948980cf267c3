"""Shared test helpers."""

import numpy as np


def make_waveform(rng, seconds: float, sampling_rate: int = 16000) -> np.ndarray:
    """A speech-like test signal: a few harmonic tones with an amplitude envelope, plus a little noise."""
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sampling_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.1 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
