"""The real noise recordings and room impulse responses shipped with ko_asr, and simulated rooms.

`ko_asr/assets/noise/` holds 17 openly licensed noise recordings and 5 measured room impulse responses (its README
lists sources, licences and the attribution line), split by recording: `train` files are the only ones augmentation
mixes in, `eval` files (other recordings, other rooms) are what `recipes/compare.py` measures robustness with.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np

from .audio import SAMPLING_RATE, decode_audio
from .effects import align_room_impulse_response

NOISE_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "noise"
SPLITS = ("train", "eval")
AUDIO_SUFFIXES = (".wav", ".flac")


def audio_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Every `.wav`/`.flac` under `directory`, recursively, sorted by path."""
    return sorted(p for p in Path(directory).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def _shipped(kind: str, split: str) -> Path:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {SPLITS}")
    return NOISE_ASSETS / kind / split


def load_noise_clips(directory: str | os.PathLike[str] | None) -> list[np.ndarray]:
    """Every `.wav`/`.flac` under `directory` (recursively, sorted by path) as 16 kHz mono; none when unset.

    Raises:
        FileNotFoundError: `directory` is set but holds no audio file.
    """
    if not directory:
        return []
    files = audio_files(directory)
    if not files:
        raise FileNotFoundError(f"{directory}: no .wav or .flac noise recordings found")
    return [decode_audio(path) for path in files]


@cache
def _shipped_clips(split: str) -> tuple[np.ndarray, ...]:
    return tuple(load_noise_clips(_shipped("clips", split)))


def noise_clips(split: str = "train") -> list[np.ndarray]:
    """The shipped noise recordings of `split` (`"train"`: 11 recordings, `"eval"`: 6 others), 16 kHz mono."""
    return list(_shipped_clips(split))


def noise_clip_names(split: str = "train") -> list[str]:
    """File stems of [`noise_clips`]`(split)`, in the same order."""
    return [path.stem for path in audio_files(_shipped("clips", split))]


def room_impulse_responses(split: str = "train", max_seconds: float = 1.0) -> list[np.ndarray]:
    """The shipped measured room impulse responses of `split` (`"train"`: 3 rooms, `"eval"`: 2 others), aligned at
    their direct path with tails cut at `max_seconds` (see [`align_room_impulse_response`])."""
    return [align_room_impulse_response(decode_audio(p), max_seconds) for p in audio_files(_shipped("rir", split))]


def room_impulse_response_names(split: str = "train") -> list[str]:
    """File stems of [`room_impulse_responses`]`(split)`, in the same order."""
    return [path.stem for path in audio_files(_shipped("rir", split))]


def simulated_room_impulse_responses(
    count: int, seed: int = 0, rt60_range_s: tuple[float, float] = (0.2, 0.9), max_seconds: float = 1.0
) -> list[np.ndarray]:
    """`count` impulse responses of random shoebox rooms (image-source method, pyroomacoustics), aligned like the
    measured ones.

    Each room is 3-10 m by 3-8 m by 2.5-4 m with wall absorption set (Sabine) for a reverberation time drawn from
    `rt60_range_s` (seconds), source and microphone at least 0.5 m from the walls and each other. The image-source
    order is capped at 40 to keep start-up short (16 rooms in well under a second), so the drawn RT60 is only
    approximate: small reverberant rooms are cut short (a 3 x 3 x 2.5 m room drawn at 0.9 s measures T30 ~0.43 s),
    large ones can ring a little longer than drawn (10 x 8 x 4 m at 0.9 s: ~1.16 s). Deterministic in `seed`.

    Raises:
        ValueError: when `rt60_range_s` cannot be reached by these rooms (no room found in 1000 draws).

    Source: Allen & Berkley, "Image method for efficiently simulating small-room acoustics", JASA 1979; Scheibler et
    al., "Pyroomacoustics", ICASSP 2018.
    """
    import pyroomacoustics as pra  # imported on use: only training with simulated rooms needs it

    rng = np.random.default_rng(seed)
    responses = []
    for _ in range(1000 * max(count, 1)):
        if len(responses) == count:
            break
        size = rng.uniform([3.0, 3.0, 2.5], [10.0, 8.0, 4.0])
        rt60 = float(rng.uniform(*rt60_range_s))
        try:
            absorption, max_order = pra.inverse_sabine(rt60, size)
        except ValueError:  # this room cannot reach that RT60 (too little absorption possible): draw another
            continue
        room = pra.ShoeBox(size, fs=SAMPLING_RATE, materials=pra.Material(absorption), max_order=min(max_order, 40))
        source, microphone = (rng.uniform(0.5, size - 0.5) for _ in range(2))
        if np.linalg.norm(source - microphone) < 0.5:
            continue
        room.add_source(source)
        room.add_microphone(microphone)
        room.compute_rir()
        responses.append(align_room_impulse_response(np.asarray(room.rir[0][0]), max_seconds))
    if len(responses) < count:
        raise ValueError(f"no shoebox room of 3-10 x 3-8 x 2.5-4 m reaches an RT60 in {rt60_range_s} s")
    return responses


__all__ = [
    "NOISE_ASSETS",
    "audio_files",
    "load_noise_clips",
    "noise_clip_names",
    "noise_clips",
    "room_impulse_response_names",
    "room_impulse_responses",
    "simulated_room_impulse_responses",
]
