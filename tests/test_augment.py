"""The augmentation chain: each effect's contract (level, alignment, length, band), the shipped noise and rooms, and
determinism per (seed, epoch, batch)."""

import csv

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ko_asr.data.audio import SAMPLING_RATE
from ko_asr.data.augment import AugmentationConfig, WaveformAugmenter
from ko_asr.data.effects import (
    align_room_impulse_response,
    babble,
    gain_and_clip,
    generated_noise,
    insert_pause,
    lossy_codec,
    mix_at_snr,
    pad_silence,
    pitch_shift,
    power,
    reverberate,
    speed_perturb,
    telephone,
)
from ko_asr.data.noise_bank import (
    NOISE_ASSETS,
    noise_clip_names,
    noise_clips,
    room_impulse_response_names,
    room_impulse_responses,
    simulated_room_impulse_responses,
)


def speech_like(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-modulated signal with harmonics up to 6 kHz (so band limits show)."""
    t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 40))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    rng = np.random.default_rng(seed)
    return (0.1 * voiced * envelope + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def noise_bursts(seconds: float = 2.0) -> np.ndarray:
    """Non-periodic broadband bursts: cross-correlation finds a shift in them unambiguously (unlike a voiced tone)."""
    rng = np.random.default_rng(42)
    t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    return (0.1 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


def snr_of(clean: np.ndarray, mixed: np.ndarray, speech_power: float | None = None) -> float:
    return 10 * np.log10((speech_power or power(clean)) / power(mixed - clean))


def band_energy(waveform: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(waveform)) ** 2
    freqs = np.fft.rfftfreq(waveform.size, 1 / SAMPLING_RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def lag(reference: np.ndarray, signal: np.ndarray, search: int = 400) -> int:
    """The shift (samples) of `signal` against `reference` that correlates best."""
    scores = [float(np.dot(reference[search:-search], signal[search + s : signal.size - search + s]))
              for s in range(-search, search + 1)]
    return int(np.argmax(scores)) - search


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0, 0.0, -5.0])
@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_mixer_hits_the_requested_snr(snr, kind):
    rng = np.random.default_rng(0)
    speech = speech_like()
    mixed = mix_at_snr(speech, generated_noise(kind, 10000, rng), snr, rng)  # noise shorter than speech: looped
    assert abs(snr_of(speech, mixed) - snr) < 0.5


@pytest.mark.parametrize("snr", [20.0, 10.0, 0.0])
def test_real_noise_clips_are_mixed_at_the_requested_snr(snr):
    rng = np.random.default_rng(1)
    speech = speech_like(3.0)
    for clip in noise_clips("train") + noise_clips("eval"):
        assert abs(snr_of(speech, mix_at_snr(speech, clip, snr, rng)) - snr) < 0.1


def test_snr_is_measured_against_the_speech_not_the_padding():
    speech = speech_like()
    padded = pad_silence(speech, 1.0, 1.0)
    mixed = mix_at_snr(padded, generated_noise("pink", padded.size, np.random.default_rng(0)), 10.0,
                       speech_power=power(speech))
    assert abs(snr_of(padded, mixed, power(speech)) - 10.0) < 0.1


def test_silent_inputs_are_left_alone():
    speech = np.zeros(100, dtype=np.float32)
    assert np.array_equal(mix_at_snr(speech, np.ones(100), 10.0), speech)


def test_speed_perturbation_changes_length():
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert speed_perturb(wave, 1.1).size == pytest.approx(16000 / 1.1, abs=2)
    assert speed_perturb(wave, 0.9).size == pytest.approx(16000 / 0.9, abs=2)
    assert speed_perturb(wave, 1.0) is wave


def test_pitch_shift_moves_the_pitch_and_keeps_the_duration():
    t = np.arange(SAMPLING_RATE) / SAMPLING_RATE
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    shifted = pitch_shift(tone, 2.0)
    assert shifted.size == tone.size
    spectrum = np.abs(np.fft.rfft(shifted[4000:12000] * np.hanning(8000)))
    peak = np.fft.rfftfreq(8000, 1 / SAMPLING_RATE)[np.argmax(spectrum)]
    assert peak == pytest.approx(200 * 2 ** (2 / 12), abs=4)


def test_room_impulse_responses_are_aligned_at_their_direct_path():
    shipped = room_impulse_responses("train") + room_impulse_responses("eval")
    assert len(shipped) == 5
    for rir in shipped + simulated_room_impulse_responses(4, seed=0):
        assert rir[0] == 1.0 and np.max(np.abs(rir)) == 1.0  # starts at the (unit) direct path
        assert rir.size <= SAMPLING_RATE
    raw = np.zeros(3000, np.float32)
    raw[700], raw[900] = -0.5, 0.2
    aligned = align_room_impulse_response(raw, max_seconds=0.05)
    assert aligned.size == 800 and aligned[0] == 1.0 and aligned[200] == pytest.approx(-0.4)
    with pytest.raises(ValueError, match="silent"):
        align_room_impulse_response(np.zeros(10))


def test_reverberation_keeps_length_and_alignment():
    speech = speech_like()
    for rir in room_impulse_responses("train") + room_impulse_responses("eval") + simulated_room_impulse_responses(3):
        wet = reverberate(speech, rir)
        assert wet.size == speech.size
        assert power(wet) == pytest.approx(power(speech), rel=1e-3)
        assert not np.allclose(wet, speech, atol=1e-3)
        # a click comes out where it went in, loudest there (the direct path), the room after it: labels still fit
        click = np.zeros(8000, np.float32)
        click[1000] = 1.0
        echo = reverberate(click, rir)
        assert echo.size == click.size and int(np.argmax(np.abs(echo))) == 1000
        assert np.allclose(echo[:1000], 0.0, atol=1e-4)


def test_simulated_rooms_are_deterministic_in_the_seed():
    first, again, other = (simulated_room_impulse_responses(2, seed=s) for s in (5, 5, 6))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_telephone_channel_is_narrow_band_and_keeps_length():
    speech = speech_like()
    phone = telephone(speech)
    assert phone.size == speech.size
    assert band_energy(phone, 4200, 8000) < 1e-3 * band_energy(speech, 4200, 8000)
    assert band_energy(phone, 50, 200) < 0.2 * band_energy(speech, 50, 200)
    bursts = noise_bursts()
    assert lag(bursts, telephone(bursts), search=50) == 0
    assert np.corrcoef(bursts, telephone(bursts))[0, 1] > 0.5  # white: ~40 % of its energy is in the phone band


@pytest.mark.parametrize("codec", ["mp3", "gsm"])
def test_lossy_codecs_keep_length_and_alignment(codec):
    speech = speech_like()
    coded = lossy_codec(speech, codec)
    assert coded.size == speech.size
    assert not np.allclose(coded, speech, atol=1e-3)
    bursts = noise_bursts()
    assert abs(lag(bursts, lossy_codec(bursts, codec), search=50)) <= 1
    if codec == "gsm":  # 8 kHz sampling inside the codec
        assert band_energy(coded, 4200, 8000) < 0.01 * band_energy(speech, 4200, 8000)
    with pytest.raises(ValueError, match="unknown codec"):
        lossy_codec(speech, "opus")


def test_gain_and_clipping():
    speech = speech_like()
    louder = gain_and_clip(speech, 20.0, clip_level=1.0)
    assert np.max(np.abs(louder)) == pytest.approx(1.0)
    assert np.allclose(gain_and_clip(speech, -6.0), speech * 10 ** (-6 / 20), atol=1e-7)


def test_pause_goes_into_the_quiet_gap_and_padding_adds_silence():
    speech = speech_like(1.0)
    gap = np.zeros(1600, np.float32)
    signal = np.concatenate([speech, gap, speech])
    paused = insert_pause(signal, 0.25, np.random.default_rng(0))
    assert paused.size == signal.size + 4000
    zeros = np.flatnonzero(paused == 0)
    assert zeros.size >= 4000 + 1600 and zeros.min() >= speech.size and zeros.max() < speech.size + 1600 + 4000
    padded = pad_silence(speech, 0.5, 0.25)
    assert padded.size == speech.size + 12000 and not padded[:8000].any() and not padded[-4000:].any()


def test_babble_is_a_sum_of_equal_power_voices():
    voices = [speech_like(1.0, seed=s) * g for s, g in ((0, 1.0), (1, 10.0), (2, 0.1))]
    mixed = babble(voices, 24000, np.random.default_rng(0))
    assert mixed.size == 24000 and 1.0 < power(mixed) < 6.0  # three unit-power voices, partly correlated
    with pytest.raises(ValueError):
        babble([], 100, np.random.default_rng(0))


def test_shipped_noise_is_split_by_recording_with_its_licences():
    train, evaluation = noise_clip_names("train"), noise_clip_names("eval")
    assert len(train) == 11 and len(evaluation) == 6 and not set(train) & set(evaluation)
    assert len(noise_clips("eval")) == 6 and all(c.dtype == np.float32 and c.size >= 7 * SAMPLING_RATE for c in noise_clips("eval"))
    assert not set(room_impulse_response_names("train")) & set(room_impulse_response_names("eval"))
    with open(NOISE_ASSETS / "manifest.csv", encoding="utf-8") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    files = {p.relative_to(NOISE_ASSETS).as_posix() for p in NOISE_ASSETS.rglob("*.flac")}
    assert set(rows) == files and all(rows[f]["licence"] and rows[f]["original_url"] for f in files)
    assert all(rows[f]["split"] == f.split("/")[1] for f in files)
    readme = (NOISE_ASSETS / "README.md").read_text(encoding="utf-8")
    assert "Attribution" in readme and "CC BY-SA" in readme
    for licence in ("CC0-1.0", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0"):
        assert (NOISE_ASSETS / "licenses" / f"{licence}.txt").is_file()
    with pytest.raises(ValueError, match="unknown split"):
        noise_clips("test")


FULL_CHAIN = AugmentationConfig(
    noise_prob=0.8, snr_min_db=-5, snr_max_db=25, reverb_prob=0.5, simulated_rooms=4, speed_perturb=True,
    pitch_prob=0.3, silence_prob=0.5, pause_prob=0.3, telephone_prob=0.2, codec_prob=0.2, gain_prob=0.5,
    noise_only_prob=0.1,
)


def test_config_refuses_impossible_values():
    with pytest.raises(ValueError, match="noise_prob"):
        AugmentationConfig(noise_prob=1.5)
    with pytest.raises(ValueError, match="snr_min_db"):
        AugmentationConfig(snr_min_db=10, snr_max_db=0)
    assert not AugmentationConfig().active and FULL_CHAIN.active


def test_augmenter_is_deterministic_per_seed_epoch_and_batch():
    waveforms = [speech_like(1.0 + i / 4, seed=i) for i in range(6)]
    ids = [f"u{i}" for i in range(6)]
    augmenter = WaveformAugmenter.from_config(FULL_CHAIN, seed=3)
    first, keeps = augmenter.augment_batch(waveforms, ids)
    # a fresh augmenter (another worker, or a resumed run) at the same epoch: the same audio, nothing to restore
    again, keeps_again = WaveformAugmenter.from_config(FULL_CHAIN, seed=3).augment_batch(waveforms, ids)
    assert keeps == keeps_again and all(np.array_equal(a, b) for a, b in zip(first, again))
    augmenter.epoch = 1
    later, _ = augmenter.augment_batch(waveforms, ids)
    assert not all(a.size == b.size and np.array_equal(a, b) for a, b in zip(first, later))
    assert all(np.isfinite(w).all() and w.dtype == np.float32 for w in first)


def test_noise_only_utterances_get_an_empty_transcript(processor_and_rows):
    from ko_asr.data.collators import CTCCollator

    processor, rows = processor_and_rows
    augmenter = WaveformAugmenter.from_config(AugmentationConfig(noise_only_prob=1.0), seed=0)
    batch = CTCCollator(processor, augmenter)(rows)
    assert batch.texts == ["", "", ""]
    assert (batch.inputs["labels"] == -100).all()
    clean = CTCCollator(processor)(rows)
    assert clean.texts == [r["text"] for r in rows] and (clean.inputs["labels"] >= 0).any()


def test_collated_batches_match_across_dataloader_workers(processor_and_rows):
    from ko_asr.data.collators import CTCCollator

    processor, rows = processor_and_rows
    collator = CTCCollator(processor, WaveformAugmenter.from_config(FULL_CHAIN, seed=7))
    single = [b.inputs["input_features"] for b in DataLoader(rows * 2, batch_size=3, collate_fn=collator)]
    workers = [b.inputs["input_features"] for b in DataLoader(rows * 2, batch_size=3, collate_fn=collator, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(single, workers))


@pytest.fixture
def processor_and_rows():
    from ko_asr import (
        DeepSpeech2Config,
        DeepSpeech2CTCTokenizer,
        DeepSpeech2FeatureExtractor,
        DeepSpeech2Processor,
    )

    texts = ["안녕하세요", "오늘 날씨", "가나다"]
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(texts)
    config = DeepSpeech2Config.from_preset("tiny", vocab_size=len(tokenizer))
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor.from_model_config(config), tokenizer)
    rows = [{"id": f"utt{i}", "audio": {"array": speech_like(0.8 + i / 5, seed=i)}, "text": t} for i, t in enumerate(texts)]
    return processor, rows


def test_ramp_starts_clean_and_reaches_the_configured_chain():
    config = AugmentationConfig(noise_prob=1.0, noise_only_prob=0.5, speed_perturb=True, ramp_start_step=100, ramp_steps=200)
    assert [config.strength(s) for s in (0, 99, 100, 200, 300, 1000)] == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    half = config.scaled(0.5)
    assert half.noise_prob == 0.5 and half.noise_only_prob == 0.25 and half.speed_perturb
    assert not config.scaled(0.0).speed_perturb and config.scaled(1.0) is config
    waveforms = [speech_like(1.0, seed=i) for i in range(4)]
    augmenter = WaveformAugmenter.from_config(config, seed=0)
    before, keeps = augmenter.augment_batch(waveforms, ["a", "b", "c", "d"])  # step 0: before the ramp
    assert all(np.array_equal(a, b) for a, b in zip(before, waveforms)) and all(keeps)
    augmenter.step = 300
    after, _ = augmenter.augment_batch(waveforms, ["a", "b", "c", "d"])
    assert not any(a.size == b.size and np.array_equal(a, b) for a, b in zip(after, waveforms))
    with pytest.raises(ValueError, match="ramp"):
        AugmentationConfig(ramp_steps=-1)
