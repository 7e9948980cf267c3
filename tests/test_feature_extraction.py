import numpy as np
import pytest
import torch
from helpers import make_waveform

from ko_asr import DeepSpeech2FeatureExtractor


def test_linear_spectrogram_shapes_and_mask(rng):
    fe = DeepSpeech2FeatureExtractor()
    waves = [make_waveform(rng, 1.0), make_waveform(rng, 0.37)]
    out = fe(waves, sampling_rate=16000, return_tensors="pt")
    assert out["input_features"].shape == (2, 100, 161)
    assert out["attention_mask"].sum(-1).tolist() == [100, 5920 // 160]
    assert out["input_features"][1, 37:].abs().max() == 0  # padded frames hold padding_value


def test_per_utterance_normalization_over_real_frames(rng):
    fe = DeepSpeech2FeatureExtractor()
    out = fe([make_waveform(rng, 1.0), make_waveform(rng, 0.5)], sampling_rate=16000, return_tensors="pt")
    short = out["input_features"][1, : int(out["attention_mask"][1].sum())]
    assert torch.allclose(short.mean(0), torch.zeros(161), atol=1e-4)
    assert torch.allclose(short.std(0, unbiased=False), torch.ones(161), atol=1e-2)


def test_batched_features_equal_single(rng):
    fe = DeepSpeech2FeatureExtractor()
    waves = [make_waveform(rng, 2.0), make_waveform(rng, 0.73)]
    batch = fe(waves, sampling_rate=16000, return_tensors="np")
    alone = fe(waves[1], sampling_rate=16000, return_tensors="np")
    n = alone["input_features"].shape[1]
    np.testing.assert_allclose(batch["input_features"][1, :n], alone["input_features"][0], atol=1e-5)


def test_input_types_agree(rng):
    fe = DeepSpeech2FeatureExtractor()
    wave = make_waveform(rng, 0.5)
    reference = fe(wave, sampling_rate=16000, return_tensors="np")["input_features"]
    for variant in (wave.tolist(), torch.from_numpy(wave), [wave], wave[None, :]):
        np.testing.assert_allclose(fe(variant, sampling_rate=16000, return_tensors="np")["input_features"], reference, atol=1e-5)
    unpadded = fe([wave, wave[:4000]], sampling_rate=16000)
    assert [f.shape for f in unpadded["input_features"]] == [(50, 161), (25, 161)]


def test_mel_option(rng):
    fe = DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=64)
    out = fe(make_waveform(rng, 1.0), sampling_rate=16000, return_tensors="pt")
    assert out["input_features"].shape == (1, 100, 64)
    assert torch.isfinite(out["input_features"]).all()


@pytest.mark.parametrize(
    ("audio", "kwargs", "message"),
    [
        (np.zeros(16000, dtype=np.float32), {"sampling_rate": 8000}, "16000 Hz, got 8000"),
        (np.zeros((2, 16000), dtype=np.float32).tolist(), {"sampling_rate": 16000}, None),  # a 2-D list is a batch
        ([np.zeros((16000, 2), dtype=np.float32)], {"sampling_rate": 16000}, "mono"),
        ([np.zeros(0, dtype=np.float32)], {"sampling_rate": 16000}, "waveform 0 is empty"),
        ([], {"sampling_rate": 16000}, "empty"),
    ],
)
def test_bad_input_raises_clearly(audio, kwargs, message):
    fe = DeepSpeech2FeatureExtractor()
    if message is None:
        assert fe(audio, return_tensors="pt", **kwargs)["input_features"].shape[0] == 2
        return
    with pytest.raises(ValueError, match=message):
        fe(audio, return_tensors="pt", **kwargs)


def test_invalid_configuration_raises():
    with pytest.raises(ValueError, match="161 bins"):
        DeepSpeech2FeatureExtractor(feature_size=80)
    with pytest.raises(ValueError, match="feature_type"):
        DeepSpeech2FeatureExtractor(feature_type="mfcc")


def test_save_load_round_trip(tmp_path, rng):
    fe = DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=40, window_type="hann")
    fe(make_waveform(rng, 0.2), sampling_rate=16000)  # builds the cached window and filterbank, never saved
    fe.save_pretrained(tmp_path)
    again = DeepSpeech2FeatureExtractor.from_pretrained(tmp_path)
    assert again.to_dict() == fe.to_dict()
    wave = make_waveform(rng, 0.3)
    np.testing.assert_array_equal(
        again(wave, sampling_rate=16000, return_tensors="np")["input_features"],
        fe(wave, sampling_rate=16000, return_tensors="np")["input_features"],
    )


@pytest.mark.parametrize(("feature_type", "feature_size"), [("linear", 161), ("mel", 64)])
def test_features_match_torchaudio_reference(rng, feature_type, feature_size):
    """The rfft-of-frames STFT equals torchaudio's transforms (same window, hop, centring, zero padding)."""
    import torchaudio

    fe = DeepSpeech2FeatureExtractor(feature_type=feature_type, feature_size=feature_size, do_normalize=False)
    wave = make_waveform(rng, 0.75)
    common = dict(n_fft=320, win_length=320, hop_length=160, window_fn=torch.hamming_window, center=True, pad_mode="constant")
    if feature_type == "linear":
        reference = torch.log1p(torchaudio.transforms.Spectrogram(power=1.0, **common)(torch.from_numpy(wave)))
    else:
        mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_mels=feature_size, power=2.0, **common)
        reference = torch.log(mel(torch.from_numpy(wave)) + 1e-6)
    ours = fe(wave, sampling_rate=16000, return_tensors="pt")["input_features"][0]
    torch.testing.assert_close(ours, reference.T[: ours.shape[0]], atol=2e-4, rtol=1e-4)
