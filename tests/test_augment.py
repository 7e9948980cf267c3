import numpy as np
import pytest

from ko_asr.data.augment import WaveformAugmenter, generated_noise, mix_at_snr, speed_perturb


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0, 0.0, -5.0])
@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_mixer_hits_the_requested_snr(snr, kind):
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    speech = (0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    noise = generated_noise(kind, 10000, rng)  # shorter than speech: looped
    mixed = mix_at_snr(speech, noise, snr, rng)
    added = mixed - speech
    measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(added.astype(np.float64) ** 2))
    assert abs(measured - snr) < 0.5


def test_silent_inputs_are_left_alone():
    speech = np.zeros(100, dtype=np.float32)
    assert np.array_equal(mix_at_snr(speech, np.ones(100), 10.0), speech)


def test_speed_perturbation_changes_length():
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert speed_perturb(wave, 1.1).size == pytest.approx(16000 / 1.1, abs=2)
    assert speed_perturb(wave, 0.9).size == pytest.approx(16000 / 0.9, abs=2)
    assert speed_perturb(wave, 1.0) is wave


def test_augmenter_is_deterministic_per_batch_and_epoch():
    wave = np.random.default_rng(1).standard_normal(8000).astype(np.float32)
    augmenter = WaveformAugmenter(noise_prob=1.0, speed_factors=(0.9, 1.0, 1.1), seed=3)
    first = augmenter(wave, augmenter.batch_rng(["a", "b"]))
    again = augmenter(wave, augmenter.batch_rng(["a", "b"]))
    np.testing.assert_array_equal(first, again)
    augmenter.epoch = 1
    assert not np.array_equal(augmenter(wave, augmenter.batch_rng(["a", "b"])), first)
