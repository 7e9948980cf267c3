"""The collators' batch contract: model inputs apart from the batch's ids, reference texts and durations."""

import numpy as np
import pytest
import torch

from ko_asr import DeepSpeech2CTCTokenizer, DeepSpeech2FeatureExtractor, DeepSpeech2Processor
from ko_asr.data.augment import AugmentationConfig, WaveformAugmenter
from ko_asr.data.collators import CTCCollator, Seq2SeqCollator, SpeechBatch
from ko_asr.whisper import offline_whisper_processor

TEXTS = ["안녕하세요", "오늘 날씨가 좋네요", "네"]


def rows(seconds=(0.5, 1.25, 0.3)):
    rng = np.random.default_rng(0)
    return [{"id": f"utt{i}", "audio": {"array": (0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32)},
             "text": text} for i, (s, text) in enumerate(zip(seconds, TEXTS))]


@pytest.fixture(scope="module")
def processor():
    return DeepSpeech2Processor(DeepSpeech2FeatureExtractor(), DeepSpeech2CTCTokenizer.from_corpus(TEXTS))


def test_ctc_batch_keeps_inputs_apart_from_metadata(processor):
    batch = CTCCollator(processor)(rows())
    assert isinstance(batch, SpeechBatch) and len(batch) == 3
    assert set(batch.inputs) == {"input_features", "attention_mask", "labels"}
    assert batch.ids == ["utt0", "utt1", "utt2"] and batch.texts == TEXTS
    assert batch.durations == pytest.approx([0.5, 1.25, 0.3]) and batch.audio_seconds == pytest.approx(2.05)
    frames = batch.inputs["attention_mask"].sum(-1).tolist()
    assert frames == [50, 125, 30]  # 10 ms hop: frames follow each utterance's own length
    for row, text in enumerate(TEXTS):
        ids = processor.tokenizer(text).input_ids
        labels = batch.inputs["labels"][row]
        assert labels[: len(ids)].tolist() == ids and (labels[len(ids) :] == -100).all()
    moved = batch.inputs_on("cpu")
    assert set(moved) == set(batch.inputs) and all(isinstance(v, torch.Tensor) for v in moved.values())


def test_durations_are_what_the_model_hears_after_augmentation(processor):
    # silence up to 1 s on each side of every utterance: the batch reports the padded lengths
    augment = WaveformAugmenter(AugmentationConfig(silence_prob=1.0, max_silence_seconds=1.0), seed=0)
    batch = CTCCollator(processor, augment)(rows())
    heard, _ = augment.augment_batch([np.asarray(r["audio"]["array"]) for r in rows()], batch.ids)
    assert batch.durations == pytest.approx([w.size / 16000 for w in heard])
    assert all(d > s for d, s in zip(batch.durations, (0.5, 1.25, 0.3)))
    assert batch.texts == TEXTS  # augmentation never touches the references


def test_seq2seq_labels_drop_the_decoder_start_token():
    whisper = offline_whisper_processor("korean", "transcribe")
    start = whisper.tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    batch = Seq2SeqCollator(whisper, decoder_start_token_id=start)(rows())
    assert set(batch.inputs) == {"input_features", "labels"}  # Whisper pads to 30 s and takes no mask
    assert batch.inputs["input_features"].shape[0] == 3 and batch.texts == TEXTS
    for row, text in enumerate(TEXTS):
        ids = whisper.tokenizer(text).input_ids
        assert ids[0] == start
        assert batch.inputs["labels"][row, : len(ids) - 1].tolist() == ids[1:]
