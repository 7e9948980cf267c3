"""Training on noise-only utterances (empty transcripts) teaches CTC to emit only blanks where nobody speaks, so the
model itself, through the stock `pipeline`, returns "" on silence and noise: the VAD is a second guard, not the only
one. Shown on a tiny model that memorizes one real utterance, with and without noise-only batches."""

import numpy as np
import pytest
import soundfile
import torch
from helpers import REPO
from transformers import pipeline

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.data.augment import AugmentationConfig, WaveformAugmenter
from ko_asr.data.collators import CTCCollator
from ko_asr.data.noise_bank import noise_clip_names, noise_clips
from ko_asr.metrics import cer

TEXT = "지난해 삼 월"
STEPS = 150


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    waveform, rate = soundfile.read(REPO / "tests/data/real_korean_speech/zeroth/104_003_0019.wav", dtype="float32")
    assert rate == 16000
    return waveform[int(0.8 * rate) : int(2.6 * rate)]  # the first words, "지난해 삼 월"


def train(directory, speech: np.ndarray, noise_only_prob: float):
    """A tiny DeepSpeech2 trained on batches of copies of `speech` (2, or 4 with `noise_only_prob`, where copies are
    replaced by noise or silence alone with an empty transcript: ko_asr's augmentation, shipped train noise)."""
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus([TEXT])
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=64), tokenizer)
    torch.manual_seed(0)
    model = DeepSpeech2ForCTC(DeepSpeech2Config.from_preset("tiny", num_input_features=64, vocab_size=len(tokenizer)))
    augment = WaveformAugmenter.from_config(AugmentationConfig(noise_only_prob=noise_only_prob), seed=0)
    collate = CTCCollator(processor, augment if noise_only_prob else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(STEPS):
        copies = 4 if noise_only_prob else 2
        batch = collate([{"id": f"{step}-{i}", "audio": {"array": speech}, "text": TEXT} for i in range(copies)])
        loss = model(**batch.inputs).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(directory)
    processor.save_pretrained(directory)
    return pipeline("automatic-speech-recognition", model=str(directory))


def probes() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    found = {"silence": np.zeros(3 * 16000, np.float32),
             "room noise -70 dBFS": (10 ** (-70 / 20) * rng.standard_normal(3 * 16000)).astype(np.float32)}
    # held-out recordings: the training above mixed in only the train split's
    found.update({name: clip[: 3 * 16000] for name, clip in zip(noise_clip_names("eval"), noise_clips("eval"))})
    return found


def test_noise_only_training_makes_the_stock_pipeline_return_nothing_on_silence_and_noise(tmp_path, speech):
    baseline = train(tmp_path / "clean", speech, noise_only_prob=0.0)
    robust = train(tmp_path / "robust", speech, noise_only_prob=0.25)
    assert cer([TEXT], [baseline({"raw": speech, "sampling_rate": 16000})["text"]]) <= 0.4
    # the robust model still hears the speech (fewer of its steps were on it, so it knows less of it)
    heard_speech = robust({"raw": speech, "sampling_rate": 16000})["text"]
    assert heard_speech.strip() and set(heard_speech) <= set(TEXT)
    invented = {name: baseline({"raw": w, "sampling_rate": 16000})["text"] for name, w in probes().items()}
    assert any(invented.values()), invented  # without noise-only training the model makes up text
    heard = {name: robust({"raw": w, "sampling_rate": 16000})["text"] for name, w in probes().items()}
    assert heard == dict.fromkeys(heard, ""), heard
