"""Evaluation and the one batch-transcription interface, on a tiny random DeepSpeech2 and a tiny random Whisper."""

import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.evaluation import evaluate_dataset, load_asr_model, transcribe_dataset
from ko_asr.metrics import compute_metrics
from ko_asr.text.policy import TranscriptPolicy
from ko_asr.transcription import CTCTranscriber, Seq2SeqTranscriber, transcriber_for

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["안녕하세요", "오늘 날씨가 좋네요", "이십 년 전", "네", "백 프로"]


def dataset(texts=TEXTS) -> datasets.Dataset:
    rng = np.random.default_rng(1)
    return datasets.Dataset.from_list([
        {"id": f"utt{i}", "audio": {"array": (0.1 * rng.standard_normal(4000 + 1500 * i)).astype(np.float32).tolist()},
         "text": text}
        for i, text in enumerate(texts)
    ])


@pytest.fixture(scope="module")
def ds2():
    torch.manual_seed(0)
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(TEXTS)
    config = DeepSpeech2Config.from_preset("tiny", vocab_size=len(tokenizer))
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor.from_model_config(config), tokenizer)
    return DeepSpeech2ForCTC(config).eval(), processor


@pytest.fixture(scope="module")
def whisper():
    sys.path.insert(0, str(REPO / "recipes"))
    from finetune_whisper import WhisperArguments, build_model

    torch.manual_seed(0)
    model, processor = build_model(WhisperArguments(model_name_or_path="tiny-random"))
    return model.eval(), processor


def test_references_come_from_the_batches_in_dataset_order_and_hypotheses_from_generate(ds2):
    model, processor = ds2
    data = dataset()
    rows, loss = transcribe_dataset(CTCTranscriber(processor), model, data, batch_size=2)
    assert [r["id"] for r in rows] == data["id"] and [r["reference"] for r in rows] == TEXTS
    for row, item in zip(rows, data):
        inputs = processor(audio=np.asarray(item["audio"]["array"], np.float32), sampling_rate=16000, return_tensors="pt")
        expected = processor.batch_decode(model.generate(**inputs))[0]
        assert row["hypothesis"] == TranscriptPolicy().normalize_hypothesis(expected)
    assert isinstance(loss, float) and loss > 0
    metrics, scored = evaluate_dataset(CTCTranscriber(processor), model, data, batch_size=2)
    assert scored == rows
    assert metrics == {**compute_metrics(TEXTS, [r["hypothesis"] for r in rows]), "loss": loss}


def test_ctc_and_seq2seq_transcribers_satisfy_one_interface(ds2, whisper):
    data = dataset()
    for (model, processor), kind in ((ds2, CTCTranscriber), (whisper, Seq2SeqTranscriber)):
        transcriber = transcriber_for(model, processor, {"max_new_tokens": 5} if kind is Seq2SeqTranscriber else None)
        assert type(transcriber) is kind
        batch = transcriber.collator()([data[0], data[1]])
        result = transcriber.transcribe(model, batch.inputs)
        assert len(result.texts) == 2 and all(isinstance(t, str) for t in result.texts)
        assert isinstance(result.loss, float)  # the batch had labels
        unlabelled = {k: v for k, v in batch.inputs.items() if k != "labels"}
        assert transcriber.transcribe(model, unlabelled).loss is None
        assert isinstance(transcriber.transcribe_waveform(model, np.zeros(8000, np.float32)), str)
        logits = model(**batch.inputs).logits
        assert transcriber.decode_logits(logits) == processor.batch_decode(logits.argmax(-1), skip_special_tokens=kind is Seq2SeqTranscriber)


def test_seq2seq_generation_from_the_loss_pass_equals_generation_from_audio(whisper):
    model, processor = whisper
    transcriber = Seq2SeqTranscriber(processor, {"max_new_tokens": 6}, model.config.decoder_start_token_id)
    batch = transcriber.collator()([dataset()[0], dataset()[2]])
    with_labels = transcriber.transcribe(model, batch.inputs)
    from_audio = transcriber.transcribe(model, {"input_features": batch.inputs["input_features"]})
    assert with_labels.texts == from_audio.texts


@pytest.mark.parametrize("family", ["ds2", "whisper"])
def test_the_policy_travels_with_the_saved_model(family, ds2, whisper, tmp_path):
    model, processor = ds2 if family == "ds2" else whisper
    TranscriptPolicy(policy="phonetic", unintelligible="token").save_to(processor.tokenizer)
    try:  # the fixtures are shared by the module: the policy must not outlive this test
        model.save_pretrained(tmp_path)
        processor.save_pretrained(tmp_path)
    finally:
        del processor.tokenizer.init_kwargs["transcript_policy"]
    import ko_asr  # noqa: F401

    _, loaded, transcriber = load_asr_model(str(tmp_path))
    assert TranscriptPolicy.from_tokenizer(loaded) == TranscriptPolicy(policy="phonetic", unintelligible="token")
    assert TranscriptPolicy.resolve(loaded) == TranscriptPolicy(policy="phonetic", unintelligible="token")
    # an explicit choice overrides the side, keeps the rest
    assert TranscriptPolicy.resolve(loaded, "spelling") == TranscriptPolicy(policy="spelling", unintelligible="token")
    assert transcriber_for(model, loaded).processor is not None


def test_a_model_saved_without_a_policy_is_scored_with_the_default(ds2):
    _, processor = ds2
    assert TranscriptPolicy.from_tokenizer(processor) is None
    assert TranscriptPolicy.resolve(processor) == TranscriptPolicy()


def test_evaluation_normalizes_hypotheses_with_the_saved_policy(ds2, monkeypatch):
    model, processor = ds2
    transcriber = CTCTranscriber(processor)
    monkeypatch.setattr(CTCTranscriber, "transcribe", lambda self, m, inputs: type("R", (), {
        "texts": ["(70%) 확률이라니 b/"] * inputs["input_features"].shape[0], "loss": None})())
    TranscriptPolicy(policy="phonetic").save_to(processor.tokenizer)
    try:
        rows, _ = transcribe_dataset(transcriber, model, dataset(["x"]), batch_size=1)
        assert rows[0]["hypothesis"] == "70퍼센트 확률이라니"  # model output brackets are characters, never a pair
        rows, _ = transcribe_dataset(transcriber, model, dataset(["x"]), batch_size=1, policy="spelling")
        assert rows[0]["hypothesis"] == "70% 확률이라니"
    finally:
        del processor.tokenizer.init_kwargs["transcript_policy"]


@pytest.mark.parametrize("raw", ["(20년)/(이십 년", "(A)/(B)/(C)", "()/(x)", "((("])
def test_hypothesis_normalization_never_raises(raw):
    assert isinstance(TranscriptPolicy(policy="phonetic").normalize_hypothesis(raw), str)


def test_hypothesis_brackets_are_dropped_without_splitting_words():
    assert TranscriptPolicy().normalize_hypothesis("그래(요) (웃음) 좋아") == "그래요 웃음 좋아"


def test_only_whisper_gets_language_prompts_in_the_pipeline():
    from types import SimpleNamespace

    from ko_asr.transcription import LongFormOptions

    for model_type, prompts in (("whisper", True), ("bart", False)):
        config = SimpleNamespace(is_encoder_decoder=True, model_type=model_type, decoder_start_token_id=2)
        transcriber = transcriber_for(SimpleNamespace(config=config), processor=None)
        short, long = (transcriber.pipeline_kwargs(s, LongFormOptions()) for s in (10.0, 45.0))
        if prompts:  # ko_asr.whisper_long_form.transcribe_whisper's arguments: sequential long-form, no chunking
            assert short == long == {"language": "korean", "timestamps": False}
            assert transcriber.generate_kwargs == {"language": "korean", "task": "transcribe"}  # evaluation too
        else:
            assert short == {} and long == {}  # a plain call, as before the transcriber existed
