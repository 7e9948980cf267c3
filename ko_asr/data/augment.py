"""Waveform augmentation: additive noise at a target SNR (real clips or generated) and speed perturbation.

SpecAugment lives in the model (`DeepSpeech2Config.mask_time_prob` ...), applied in training forward only."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .audio import SAMPLING_RATE, decode_audio, to_mono_resampled


def fit_noise(noise: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Cut (from a random offset) or loop `noise` to exactly `length` samples."""
    if noise.size == 0:
        raise ValueError("noise is empty")
    if noise.size < length:
        noise = np.tile(noise, -(-length // noise.size))
    start = int(rng.integers(0, noise.size - length + 1))
    return noise[start : start + length]


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Add `noise` to `speech` so that 10·log10(P_speech / P_noise) equals `snr_db` over the whole utterance.

    The noise is looped or cut to the speech length. Silent speech or noise is returned unchanged (no SNR exists).
    """
    rng = rng or np.random.default_rng()
    noise = fit_noise(np.asarray(noise, dtype=np.float32), speech.size, rng)
    speech_power = float(np.mean(speech.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise.astype(np.float64) ** 2))
    if speech_power == 0.0 or noise_power == 0.0:
        return speech.astype(np.float32)
    scale = np.sqrt(speech_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (speech + scale * noise).astype(np.float32)


def generated_noise(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f²) noise, unit variance."""
    white = rng.standard_normal(length)
    if kind == "white":
        return white.astype(np.float32)
    spectrum = np.fft.rfft(white)
    frequencies = np.maximum(np.fft.rfftfreq(length), 1.0 / length)
    exponent = {"pink": 0.5, "brown": 1.0}[kind]
    shaped = np.fft.irfft(spectrum / frequencies**exponent, n=length)
    return (shaped / (shaped.std() or 1.0)).astype(np.float32)


def load_noise_clips(directory: str | os.PathLike[str] | None) -> list[np.ndarray]:
    """Every `.wav` under `directory` (recursively, sorted) as 16 kHz mono; none when `directory` is unset."""
    return [decode_audio(path) for path in sorted(Path(directory).rglob("*.wav"))] if directory else []


def speed_perturb(waveform: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi-style speed perturbation: play `factor` times faster (tempo and pitch together), by resampling."""
    if factor == 1.0:
        return waveform
    # Reading the samples as if recorded at rate·factor and resampling to rate shortens the audio by `factor`.
    return to_mono_resampled(waveform, int(round(SAMPLING_RATE * factor)), SAMPLING_RATE)


@dataclass
class WaveformAugmenter:
    """Training-time waveform augmentation: speed perturbation, then additive noise at a random SNR.

    Random draws come from [`batch_rng`], a function of (seed, epoch, utterance ids): the same batch is augmented
    the same way in any process or DataLoader worker and after a resume, with no state to save.

    Args:
        noise_prob (`float`): probability of adding noise to an utterance.
        snr_range_db (`tuple[float, float]`): SNR drawn uniformly from this range.
        noise_clips (`list[np.ndarray]`): real noise recordings (16 kHz); when empty, noise is generated
            (white / pink / brown).
        speed_factors (`tuple[float, ...]`): speed factors drawn uniformly (e.g. 0.9, 1.0, 1.1); `(1.0,)` is off.
        seed (`int`): base seed; the training loop sets `epoch`.
    """

    noise_prob: float = 0.0
    snr_range_db: tuple[float, float] = (0.0, 20.0)
    noise_clips: list[np.ndarray] = field(default_factory=list)
    speed_factors: tuple[float, ...] = (1.0,)
    seed: int = 0
    epoch: int = 0

    @property
    def active(self) -> bool:
        return self.noise_prob > 0 or any(f != 1.0 for f in self.speed_factors)

    def batch_rng(self, ids: list[str]) -> np.random.Generator:
        key = zlib.crc32("\x00".join(ids).encode("utf-8"))
        return np.random.default_rng([self.seed, self.epoch, key])

    def __call__(self, waveform: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        waveform = speed_perturb(waveform, float(rng.choice(self.speed_factors)))
        if self.noise_prob > 0 and rng.random() < self.noise_prob:
            if self.noise_clips:
                noise = self.noise_clips[int(rng.integers(len(self.noise_clips)))]
            else:
                noise = generated_noise(str(rng.choice(("white", "pink", "brown"))), waveform.size, rng)
            waveform = mix_at_snr(waveform, noise, float(rng.uniform(*self.snr_range_db)), rng)
        return waveform
