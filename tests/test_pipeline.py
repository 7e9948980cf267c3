"""Processor, Auto-class registration and the transformers ASR pipeline on a saved DeepSpeech2 directory."""

import numpy as np
import pytest
import torch
from helpers import make_waveform
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForCTC,
    AutoProcessor,
    AutoTokenizer,
    pipeline,
)

import ko_asr  # noqa: F401  (registers the Auto classes)
from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Model,
    DeepSpeech2Processor,
)


def make_frame_local(model: DeepSpeech2ForCTC) -> DeepSpeech2ForCTC:
    """Zero the GRUs' recurrence (update gate shut, no hidden-to-hidden weights): each output frame then depends
    only on the convolutions' receptive field, a few hundred milliseconds, which fits a chunking stride."""
    with torch.no_grad():
        for layer in model.deepspeech2.layers:
            for name, param in layer.rnn.named_parameters():
                hidden = layer.rnn.hidden_size
                if "weight_hh" in name or "bias_hh" in name:
                    param.zero_()
                elif "weight_ih" in name:
                    param[hidden : 2 * hidden].zero_()
                elif "bias_ih" in name:
                    param[hidden : 2 * hidden].fill_(-30.0)
    return model


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ds2")
    tokenizer = DeepSpeech2CTCTokenizer.from_hangul()
    feature_extractor = DeepSpeech2FeatureExtractor(do_normalize=False)
    torch.manual_seed(0)
    config = DeepSpeech2Config.from_preset("tiny", num_input_features=161, vocab_size=len(tokenizer))
    model = make_frame_local(DeepSpeech2ForCTC(config).eval())
    model.save_pretrained(directory)
    DeepSpeech2Processor(feature_extractor, tokenizer).save_pretrained(directory)
    return directory


def test_auto_classes_resolve(saved_model):
    assert isinstance(AutoConfig.from_pretrained(saved_model), DeepSpeech2Config)
    assert isinstance(AutoModel.from_pretrained(saved_model), DeepSpeech2Model)
    assert isinstance(AutoModelForCTC.from_pretrained(saved_model), DeepSpeech2ForCTC)
    assert isinstance(AutoFeatureExtractor.from_pretrained(saved_model), DeepSpeech2FeatureExtractor)
    assert isinstance(AutoTokenizer.from_pretrained(saved_model), DeepSpeech2CTCTokenizer)
    processor = AutoProcessor.from_pretrained(saved_model)
    assert isinstance(processor, DeepSpeech2Processor)
    assert processor.feature_extractor.do_normalize is False  # options survive the round trip
    assert processor.tokenizer.units == "syllable"


def test_processor_audio_text_and_pad(saved_model, rng):
    processor = AutoProcessor.from_pretrained(saved_model)
    out = processor(audio=make_waveform(rng, 0.5), text="안녕 하세요", sampling_rate=16000, return_tensors="pt")
    assert out["input_features"].shape == (1, 50, 161)
    assert processor.batch_decode(out["labels"], group_tokens=False) == ["안녕 하세요"]
    examples = [processor(audio=make_waveform(rng, s), sampling_rate=16000) for s in (0.3, 0.6)]
    features = [{"input_features": e["input_features"][0]} for e in examples]
    batch = processor.pad(input_features=features, labels=[{"input_ids": [5, 6, 7]}, {"input_ids": [8]}], return_tensors="pt")
    assert batch["input_features"].shape == (2, 60, 161)
    assert batch["attention_mask"].sum(-1).tolist() == [30, 60]


def test_pipeline_matches_manual_greedy_decoding(saved_model, rng):
    asr = pipeline("automatic-speech-recognition", model=str(saved_model))
    audio = make_waveform(rng, 3.0)
    model = AutoModelForCTC.from_pretrained(saved_model).eval()
    processor = AutoProcessor.from_pretrained(saved_model)
    with torch.no_grad():
        ids = model(**processor(audio=audio, sampling_rate=16000, return_tensors="pt")).logits.argmax(-1)
    expected = processor.batch_decode(ids)[0]
    assert expected  # a random model still emits characters
    assert asr(audio)["text"] == expected
    assert asr({"raw": audio, "sampling_rate": 16000})["text"] == expected


def test_chunked_transcript_equals_unchunked(saved_model, rng):
    asr = pipeline("automatic-speech-recognition", model=str(saved_model))
    audio = make_waveform(rng, 30.0)
    whole = asr(audio)["text"]
    assert len(whole) > 100
    assert asr(audio, chunk_length_s=4.0, stride_length_s=1.0)["text"] == whole
    assert asr(audio, chunk_length_s=6.0, stride_length_s=(1.0, 2.0), batch_size=3)["text"] == whole


def test_ten_minute_input_runs_in_bounded_chunks(saved_model, rng):
    asr = pipeline("automatic-speech-recognition", model=str(saved_model))
    largest = []
    handle = asr.model.register_forward_pre_hook(
        lambda module, args, kwargs: largest.append(kwargs["input_features"].shape[1]), with_kwargs=True
    )
    audio = np.tile(make_waveform(rng, 10.0), 60)  # 10 minutes
    text = asr(audio, chunk_length_s=20.0, stride_length_s=2.0)["text"]
    handle.remove()
    assert len(largest) >= 30
    assert max(largest) <= 20 * 100 + 1  # no forward pass ever sees more than one 20 s chunk of frames
    assert len(text) > 1000


@pytest.mark.parametrize("kind", ["char", "word"])
def test_timestamps(saved_model, rng, kind):
    asr = pipeline("automatic-speech-recognition", model=str(saved_model))
    audio = make_waveform(rng, 4.0)
    out = asr(audio, return_timestamps=kind)
    chunks = out["chunks"]
    assert chunks
    starts = [c["timestamp"][0] for c in chunks]
    assert starts == sorted(starts)
    assert all(0 <= c["timestamp"][0] < c["timestamp"][1] <= 4.0 + 0.05 for c in chunks)
    if kind == "word":
        assert " ".join(c["text"] for c in chunks) == out["text"]
    else:
        assert "".join(c["text"] for c in chunks).strip() == out["text"]
