"""Augmentation throughput on one core: each effect alone and the full chain as `recipes/configs/ds2_demo.yaml` sets
it, in seconds of audio per second (x real time), beside the feature extraction the collator does anyway.

The goal (issue 11): the full chain at >= 200x real time per core, so augmentation never starves a GPU (a DataLoader
worker per core feeds it). Utterances are synthetic espeak-ng-like signals of 2-6 s (the demo corpus's lengths);
the audio content does not change the cost of these effects.

Run: `.venv/bin/python benchmarks/augment.py [--seconds 300]`
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))

from ko_asr import DeepSpeech2Config, DeepSpeech2FeatureExtractor  # noqa: E402
from ko_asr.data.audio import SAMPLING_RATE  # noqa: E402
from ko_asr.data.augment import AugmentationConfig, WaveformAugmenter  # noqa: E402
from ko_asr.data.effects import (  # noqa: E402
    gain_and_clip,
    insert_pause,
    lossy_codec,
    mix_at_snr,
    pad_silence,
    pitch_shift,
    reverberate,
    speed_perturb,
    telephone,
)
from ko_asr.data.noise_bank import noise_clips, room_impulse_responses  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def utterances(total_seconds: float) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out, seconds = [], 0.0
    while seconds < total_seconds:
        length = rng.uniform(2.0, 6.0)
        t = np.arange(int(length * SAMPLING_RATE)) / SAMPLING_RATE
        f0 = rng.uniform(100, 250)
        voiced = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 20)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
        out.append((0.1 * voiced + 0.01 * rng.standard_normal(t.size)).astype(np.float32))
        seconds += length
    return out


def real_time_factor(function, waveforms: list[np.ndarray]) -> float:
    """Seconds of audio processed per second of one core."""
    function(waveforms[0])  # warm-up (kernels, codec initialisation)
    started = time.perf_counter()
    for waveform in waveforms:
        function(waveform)
    return sum(w.size for w in waveforms) / SAMPLING_RATE / (time.perf_counter() - started)


def demo_chain_config() -> AugmentationConfig:
    """The demo's probabilities at full strength: the ramp (clean audio first) is taken out, or nothing would run."""
    values = yaml.safe_load((REPO / "recipes/configs/ds2_demo.yaml").read_text(encoding="utf-8"))
    names = set(AugmentationConfig.__dataclass_fields__)
    config = AugmentationConfig(**{k: v for k, v in values.items() if k in names})
    return replace(config, ramp_start_step=0, ramp_steps=0, ramp_below_train_loss=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300.0, help="Audio seconds per measurement.")
    args = parser.parse_args()
    torch.set_num_threads(1)  # per core
    waveforms = utterances(args.seconds)
    rng = np.random.default_rng(0)
    clips, rooms = noise_clips("train"), room_impulse_responses("train")
    features = DeepSpeech2FeatureExtractor.from_model_config(DeepSpeech2Config.from_preset("demo"))

    baseline = real_time_factor(lambda w: features([w], sampling_rate=SAMPLING_RATE), waveforms)
    rows = [("feature extraction (baseline, always done)", baseline)]
    effects = {
        "speed perturbation (0.9)": lambda w: speed_perturb(w, 0.9),
        "pitch shift (+2 semitones, Rubber Band)": lambda w: pitch_shift(w, 2.0),
        "reverberation (measured room, 1 s tail)": lambda w: reverberate(w, rooms[0]),
        "real noise at 10 dB": lambda w: mix_at_snr(w, clips[0], 10.0, rng),
        "silence around + pause inside": lambda w: insert_pause(pad_silence(w, 0.5, 0.5), 0.3, rng),
        "telephone (8 kHz, mu-law)": telephone,
        "MP3 (LAME VBR 9)": lambda w: lossy_codec(w, "mp3", 9.0),
        "GSM 06.10": lambda w: lossy_codec(w, "gsm"),
        "gain and clipping": lambda w: gain_and_clip(w, 6.0, 1.0),
    }
    for name, effect in effects.items():
        rows.append((name, real_time_factor(effect, waveforms)))

    config = demo_chain_config()
    augmenter = WaveformAugmenter.from_config(config, seed=0)
    assert augmenter.active and not config.ramped  # the chain really runs
    batches = [waveforms[i : i + 8] for i in range(0, len(waveforms), 8)]
    started = time.perf_counter()
    for number, batch in enumerate(batches):
        augmenter.augment_batch(batch, [f"{number}-{i}" for i in range(len(batch))])
    chain = sum(w.size for w in waveforms) / SAMPLING_RATE / (time.perf_counter() - started)
    rows.append(("full chain, ds2_demo.yaml probabilities", chain))

    print(f"{len(waveforms)} utterances, {sum(w.size for w in waveforms) / SAMPLING_RATE:.0f} s of audio, 1 thread")
    print(f"{'step':<46} {'x real time':>12} {'vs features':>12}")
    for name, factor in rows:
        print(f"{name:<46} {factor:>12.0f} {factor / baseline:>12.2f}")
    verdict = "met" if chain >= 200 else "NOT met"
    print(f"goal: full chain >= 200x real time per core: {verdict} ({chain:.0f}x)")


if __name__ == "__main__":
    main()
