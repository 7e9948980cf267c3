"""FastConformer-CTC and wav2vec2-family fine-tuning through recipes/train.py, then everywhere a DeepSpeech2 model goes:
pipeline, evaluation, the CLI and the Space's service (tiny random configs, offline)."""

import json

import numpy as np
import pytest
import soundfile
import torch
from helpers import make_waveform
from safetensors.numpy import load_file
from test_training import train
from transformers import (
    AutoModelForCTC,
    AutoProcessor,
    ParakeetForCTC,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    pipeline,
)

import ko_asr  # noqa: F401
from ko_asr.cli import main as cli
from ko_asr.ctc_families import FineTuneOptions, fastconformer_ctc, finetune_pretrained_ctc
from ko_asr.data import generate_synthetic_corpus
from ko_asr.evaluation import evaluate_dataset, load_asr_model
from ko_asr.models.deepspeech2 import DeepSpeech2CTCTokenizer
from ko_asr.serving import ServiceConfig, TranscriptionService, find_models
from ko_asr.transcription import ctc_pass


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_synthetic_corpus(tmp_path_factory.mktemp("tiny") / "corpus", "tiny", seed=0)


@pytest.fixture(scope="module")
def pretrained_wav2vec2(tmp_path_factory):
    """A tiny random wav2vec2 'pretrained' checkpoint with an English-sized CTC head (32), as on the Hub."""
    directory = tmp_path_factory.mktemp("wav2vec2-pretrained")
    config = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
        conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
        vocab_size=32, do_stable_layer_norm=True, feat_extract_norm="layer",
    )
    torch.manual_seed(0)
    Wav2Vec2ForCTC(config).save_pretrained(directory)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(directory)
    return directory


def assert_usable_everywhere(model_dir, tmp_path, capsys):
    """The saved model transcribes through pipeline (with word times), evaluation, the CLI and the Space service."""
    waveform = make_waveform(np.random.default_rng(0), 1.5)
    result = pipeline("automatic-speech-recognition", model=str(model_dir))(waveform, return_timestamps="word")
    assert isinstance(result["text"], str)
    assert all(0 <= c["timestamp"][0] <= c["timestamp"][1] <= 1.5 + 1e-6 for c in result["chunks"])
    model, _, transcriber = load_asr_model(str(model_dir))  # what recipes/evaluate.py and compare.py load
    rows = [{"id": "a", "audio": {"array": waveform, "sampling_rate": 16000}, "text": "가나"},
            {"id": "b", "audio": {"array": waveform[:9000], "sampling_rate": 16000}, "text": "다"}]
    metrics, transcribed = evaluate_dataset(transcriber, model, rows, batch_size=2)
    assert metrics["cer"] >= 0 and metrics["loss"] > 0 and [r["id"] for r in transcribed] == ["a", "b"]
    wav = tmp_path / "clip.wav"
    soundfile.write(wav, waveform, 16000)
    assert cli(["transcribe", str(model_dir), str(wav), "--no-vad", "--format", "json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["timestamps"] == "word"
    service = TranscriptionService(find_models([str(model_dir)]), ServiceConfig(vad=False))
    assert isinstance(service.transcribe(next(iter(service.models)), (16000, waveform)).text, str)


def test_fastconformer_trains_through_the_recipe_and_works_everywhere(corpus, tmp_path, capsys):
    output = tmp_path / "fastconformer"
    train(corpus, output, "--architecture", "fastconformer", "--preset", "tiny", "--model_overrides", "{}")
    model = AutoModelForCTC.from_pretrained(output)
    assert isinstance(model, ParakeetForCTC)
    processor = AutoProcessor.from_pretrained(output)
    assert model.config.vocab_size == len(processor.tokenizer) and model.config.pad_token_id == 0
    assert model.config.inputs_to_logits_ratio == 160 * 4
    assert "FastConformer-CTC (tiny, jamo units) for Korean" in (output / "README.md").read_text()
    assert_usable_everywhere(output, tmp_path, capsys)


def test_wav2vec2_finetuning_keeps_the_feature_encoder_and_sizes_the_head(corpus, tmp_path, pretrained_wav2vec2, capsys):
    output = tmp_path / "wav2vec2"
    train(corpus, output, "--architecture", "wav2vec2", "--model_name_or_path", pretrained_wav2vec2,
          "--model_overrides", '{"layerdrop": 0.0}', "--mask_time_prob", "0.05", "--learning_rate", "0.01")
    before, after = load_file(str(pretrained_wav2vec2 / "model.safetensors")), load_file(str(output / "model.safetensors"))
    feature_encoder = [k for k in before if k.startswith("wav2vec2.feature_extractor.")]
    assert feature_encoder and all(np.array_equal(before[k], after[k]) for k in feature_encoder)  # frozen
    assert not np.array_equal(before["wav2vec2.encoder.layers.0.attention.q_proj.weight"],
                              after["wav2vec2.encoder.layers.0.attention.q_proj.weight"])  # the rest trained
    processor = AutoProcessor.from_pretrained(output)
    assert after["lm_head.weight"].shape[0] == len(processor.tokenizer) != before["lm_head.weight"].shape[0]
    assert isinstance(processor.feature_extractor, Wav2Vec2FeatureExtractor)
    assert AutoModelForCTC.from_pretrained(output).config.mask_time_prob == 0.05
    assert_usable_everywhere(output, tmp_path, capsys)


def test_ctc_pass_masks_padded_frames_of_every_family(pretrained_wav2vec2):
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(["가나다"])
    rng = np.random.default_rng(1)
    waveforms = [make_waveform(rng, 1.2), make_waveform(rng, 0.5)]
    for model, processor in (fastconformer_ctc(tokenizer, "tiny"),
                             finetune_pretrained_ctc(str(pretrained_wav2vec2), tokenizer, FineTuneOptions())):
        model.eval()
        batch = processor.feature_extractor(waveforms, sampling_rate=16000, return_tensors="pt", padding=True)
        output = ctc_pass(model, dict(batch))
        alone = ctc_pass(model, dict(processor.feature_extractor(waveforms[1:], sampling_rate=16000,
                                                                 return_tensors="pt", padding=True)))
        real = int(alone.output_mask.sum())
        assert bool(alone.output_mask.all()) and real == alone.logits.shape[1]
        assert int(output.output_mask[1].sum()) == real < int(output.output_mask[0].sum())
        # the padded utterance's real frames are the ones it gets alone
        torch.testing.assert_close(output.logits[1, :real], alone.logits[0], atol=1e-4, rtol=0)


def test_finetuning_always_starts_a_fresh_head_and_gets_masks(tmp_path):
    """A checkpoint whose head happens to have the Korean vocabulary's size still gets a new head; an extractor that
    returns no attention mask by default (wav2vec2-base style) still gives the collator one."""
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(["가나"])
    config = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_dim=(8, 8),
        conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
        vocab_size=len(tokenizer), feat_extract_norm="group",
    )
    torch.manual_seed(0)
    Wav2Vec2ForCTC(config).save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(tmp_path)
    before = load_file(str(tmp_path / "model.safetensors"))["lm_head.weight"]
    model, processor = finetune_pretrained_ctc(str(tmp_path), tokenizer)
    assert model.lm_head.weight.shape == before.shape and not np.allclose(model.lm_head.weight.detach().numpy(), before)
    from ko_asr.data.collators import CTCCollator

    rng = np.random.default_rng(2)
    rows = [{"id": str(i), "audio": {"array": make_waveform(rng, s), "sampling_rate": 16000}, "text": "가"}
            for i, s in enumerate((1.0, 0.4))]
    inputs = CTCCollator(processor)(rows).inputs
    assert inputs["attention_mask"].sum(-1).tolist() == [16000, 6400]
    with pytest.raises(ValueError, match="cannot set \\['not_a_field'\\] when fine-tuning"):
        finetune_pretrained_ctc(str(tmp_path), tokenizer, FineTuneOptions(config_overrides={"mask_time_prob": 0.1,
                                                                                             "not_a_field": 1}))


def test_recipe_refuses_what_a_family_cannot_do(corpus, tmp_path):
    result = train(corpus, tmp_path / "a", "--architecture", "wav2vec2", check=False)
    assert result.returncode != 0 and "set model_name_or_path" in result.stderr
    result = train(corpus, tmp_path / "b", "--architecture", "fastconformer", "--preset", "tiny", "--model_overrides",
                   "{}", "--mask_time_prob", "0.1", check=False)
    assert result.returncode != 0 and "fastconformer (ParakeetForCTC) has no ['mask_time_prob'] option" in result.stderr
    result = train(corpus, tmp_path / "c", "--architecture", "fastconformer", "--preset", "tiny", "--model_overrides",
                   "{}", "--feature_normalization", "global", check=False)
    assert result.returncode != 0 and "feature_normalization is DeepSpeech2's" in result.stderr
    with pytest.raises(ValueError, match="unknown FastConformer preset 'huge'"):
        fastconformer_ctc(DeepSpeech2CTCTokenizer.from_corpus(["가"]), "huge")
