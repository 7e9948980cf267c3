"""Waveform effects for training-time augmentation: noise at an SNR, reverberation, channels, voice, silence.

Every function takes and returns a 1-D float32 waveform at 16 kHz (`(samples,)`) and never changes what was said, so
the utterance's transcript still applies. The signal processing comes from well-kept libraries: torchaudio
(resampling, FFT convolution, mu-law, biquad filters) and Spotify's pedalboard (LAME MP3 and GSM 06.10 codecs, Rubber
Band pitch shifting), whose codecs compensate their latency so the audio stays aligned. What is written here is the
glue: levels, alignment and the choice of segments.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.functional as F

from .audio import SAMPLING_RATE, to_mono_resampled


def power(waveform: np.ndarray) -> float:
    """Mean power (mean square) of `waveform`."""
    return float(np.mean(np.square(waveform, dtype=np.float64))) if waveform.size else 0.0


def fit_noise(noise: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Cut (from a random offset) or loop `noise` to exactly `length` samples."""
    if noise.size == 0:
        raise ValueError("noise is empty")
    if noise.size < length:
        noise = np.tile(noise, -(-length // noise.size))
    start = int(rng.integers(0, noise.size - length + 1))
    return noise[start : start + length]


def mix_at_snr(
    speech: np.ndarray,
    noise: np.ndarray,
    snr_db: float,
    rng: np.random.Generator | None = None,
    speech_power: float | None = None,
) -> np.ndarray:
    """Add `noise` so that 10·log10(P_speech / P_noise) equals `snr_db`.

    Args:
        speech (`np.ndarray` of shape `(samples,)`): the signal.
        noise (`np.ndarray`): looped or cut (at a random offset) to the signal's length.
        snr_db (`float`): signal-to-noise ratio in dB.
        speech_power (`float`, *optional*): the speech's power when `speech` holds more than speech (silence padded
            around it); by default the power of all of `speech`. Written here rather than with
            `torchaudio.functional.add_noise` because that measures the whole (padded) signal.

    Returns:
        `np.ndarray` (float32) of `speech`'s shape; `speech` unchanged when it or the noise is silent (no SNR exists).
    """
    rng = rng or np.random.default_rng()
    noise = fit_noise(np.asarray(noise, dtype=np.float32), speech.size, rng)
    reference = power(speech) if speech_power is None else speech_power
    noise_power = power(noise)
    if reference == 0.0 or noise_power == 0.0:
        return speech.astype(np.float32)
    scale = np.sqrt(reference / (noise_power * 10.0 ** (snr_db / 10.0)))
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


def babble(utterances: list[np.ndarray], length: int, rng: np.random.Generator) -> np.ndarray:
    """Babble noise: the sum of `utterances` (other speakers), each looped to `length` from a random offset and
    brought to the same power, so no single voice dominates."""
    if not utterances:
        raise ValueError("babble needs at least one utterance")
    mixed = np.zeros(length, dtype=np.float64)
    for utterance in utterances:
        part = fit_noise(utterance, length, rng).astype(np.float64)
        mixed += part / np.sqrt(power(part) or 1.0)
    return mixed.astype(np.float32)


def speed_perturb(waveform: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi-style speed perturbation: play `factor` times faster (tempo and pitch together), by resampling
    (Ko et al., "Audio augmentation for speech recognition", Interspeech 2015)."""
    if factor == 1.0:
        return waveform
    # Reading the samples as if recorded at rate·factor and resampling to rate shortens the audio by `factor`.
    return to_mono_resampled(waveform, int(round(SAMPLING_RATE * factor)), SAMPLING_RATE)


def pitch_shift(waveform: np.ndarray, semitones: float) -> np.ndarray:
    """Shift pitch and formants together by `semitones`, keeping the duration (Rubber Band through pedalboard): a
    scaling of the spectrum akin to vocal-tract-length perturbation (Jaitly & Hinton 2013, which warps the
    filterbank's frequency axis instead), widening a few synthetic voices into many."""
    if semitones == 0.0:
        return waveform
    import pedalboard  # on use: inference paths import this module (through ko_asr.data) but never augment

    shifted = pedalboard.PitchShift(semitones=float(semitones))(waveform.astype(np.float32), SAMPLING_RATE)
    return shifted.reshape(-1)[: waveform.size].astype(np.float32)


def align_room_impulse_response(rir: np.ndarray, max_seconds: float = 1.0) -> np.ndarray:
    """A room impulse response ready for [`reverberate`]: starting at its direct path (the peak), so the reverberant
    speech stays aligned with its labels, its tail cut at `max_seconds`, scaled to a unit direct path.

    Raises:
        ValueError: an empty or all-zero response.
    """
    rir = np.asarray(rir, dtype=np.float32).reshape(-1)
    if rir.size == 0 or not np.any(rir):
        raise ValueError("room impulse response is empty or silent")
    onset = int(np.argmax(np.abs(rir)))
    aligned = rir[onset : onset + max(1, int(max_seconds * SAMPLING_RATE))]
    return (aligned / aligned[0]).astype(np.float32)


def reverberate(waveform: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with an aligned room impulse response ([`align_room_impulse_response`]); the tail past the utterance
    is cut so the length is unchanged, and the result is brought back to the input's power."""
    wet = F.fftconvolve(torch.from_numpy(waveform.astype(np.float32)), torch.from_numpy(rir))[: waveform.size].numpy()
    wet_power = power(wet)
    if wet_power == 0.0:
        return waveform
    return (wet * np.sqrt(power(waveform) / wet_power)).astype(np.float32)


def telephone(waveform: np.ndarray) -> np.ndarray:
    """A narrow-band telephone channel: 300 Hz high-pass, 8 kHz sampling, 8-bit mu-law (G.711), back to 16 kHz."""
    signal = F.highpass_biquad(torch.from_numpy(waveform.astype(np.float32)), SAMPLING_RATE, 300.0)
    # A longer sinc kernel than the default: the default leaves ~1 % of the energy above 4 kHz after the round trip.
    sharp = {"lowpass_filter_width": 16, "rolloff": 0.9}
    narrow = F.resample(signal, SAMPLING_RATE, 8000, **sharp).clamp(-1.0, 1.0)
    narrow = F.mu_law_decoding(F.mu_law_encoding(narrow, 256), 256)
    return F.resample(narrow, 8000, SAMPLING_RATE, **sharp)[: waveform.size].numpy().astype(np.float32)


def lossy_codec(waveform: np.ndarray, codec: str, mp3_vbr_quality: float = 9.0) -> np.ndarray:
    """A round trip through a low-bitrate codec: `"mp3"` (LAME VBR, quality 0 best .. 9.5 worst) or `"gsm"` (GSM 06.10
    full rate, 13 kbit/s, as on mobile calls). Length and alignment are kept (pedalboard compensates the latency)."""
    import pedalboard  # on use, as in pitch_shift

    if codec == "mp3":
        effect = pedalboard.MP3Compressor(vbr_quality=float(mp3_vbr_quality))
    elif codec == "gsm":
        effect = pedalboard.GSMFullRateCompressor()
    else:
        raise ValueError(f"unknown codec {codec!r}: use 'mp3' or 'gsm'")
    peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    scale = 0.9 / peak if peak > 0.9 else 1.0  # encoders clip above full scale
    coded = effect(waveform.astype(np.float32) * scale, SAMPLING_RATE).reshape(-1)[: waveform.size] / scale
    return np.pad(coded, (0, waveform.size - coded.size)).astype(np.float32)


def gain_and_clip(waveform: np.ndarray, gain_db: float, clip_level: float | None = None) -> np.ndarray:
    """Scale by `gain_db` and, when `clip_level` is given, hard-clip at that amplitude (an overdriven input stage)."""
    out = waveform * np.float32(10.0 ** (gain_db / 20.0))
    if clip_level is not None:
        out = np.clip(out, -clip_level, clip_level)
    return out.astype(np.float32)


def pad_silence(waveform: np.ndarray, leading_s: float, trailing_s: float) -> np.ndarray:
    """Digital silence before and after the utterance (noise added later fills it, as a microphone's would)."""
    return np.pad(waveform, (int(leading_s * SAMPLING_RATE), int(trailing_s * SAMPLING_RATE))).astype(np.float32)


def insert_pause(waveform: np.ndarray, pause_s: float, rng: np.random.Generator, frame_s: float = 0.02) -> np.ndarray:
    """Insert `pause_s` of silence at the quietest 20 ms frame of the middle 80 % of the utterance (a pause between
    words, rarely inside a sound); ties broken at random."""
    frame = int(frame_s * SAMPLING_RATE)
    frames = waveform.size // frame
    if frames < 5 or pause_s <= 0:
        return waveform
    energy = np.square(waveform[: frames * frame].reshape(frames, frame), dtype=np.float64).sum(1)
    first, last = frames // 10, frames - frames // 10
    candidates = np.flatnonzero(energy[first:last] <= energy[first:last].min() * 1.0001) + first
    cut = int(rng.choice(candidates)) * frame + frame // 2
    return np.concatenate([waveform[:cut], np.zeros(int(pause_s * SAMPLING_RATE), np.float32), waveform[cut:]])


__all__ = [
    "align_room_impulse_response",
    "babble",
    "fit_noise",
    "gain_and_clip",
    "generated_noise",
    "insert_pause",
    "lossy_codec",
    "mix_at_snr",
    "pad_silence",
    "pitch_shift",
    "power",
    "reverberate",
    "speed_perturb",
    "telephone",
]
