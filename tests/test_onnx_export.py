"""ONNX export (offline and streaming graphs), onnxruntime inference and int8 quantization of DeepSpeech2."""

import json

import numpy as np
import onnxruntime
import pytest
import soundfile
import torch
from helpers import make_waveform, train_memorizing_model
from transformers import AutoModelForCTC, pipeline

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.cli import main
from ko_asr.onnx_export import export_onnx, quantize_torch_int8
from ko_asr.onnx_inference import OnnxSpeechRecognizer
from ko_asr.streaming import StreamingRecognizer

TEXT = "오늘 일기를 씁니다"


def save_random(directory, bidirectional: bool, rnn_type: str = "gru"):
    rng = np.random.default_rng(0)
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus([TEXT])
    extractor = DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=33)
    if not bidirectional:
        extractor.fit_global_normalization([make_waveform(rng, 1.0)])
    torch.manual_seed(0)
    config = DeepSpeech2Config.from_preset(
        "tiny", vocab_size=len(tokenizer), bidirectional=bidirectional, lookahead_context=3, rnn_type=rnn_type
    )
    DeepSpeech2ForCTC(config).eval().save_pretrained(directory)
    DeepSpeech2Processor(extractor, tokenizer).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def memorized(tmp_path_factory):
    """A unidirectional tiny model trained to say TEXT on one clip, exported (its transcripts are real text)."""
    model_dir = tmp_path_factory.mktemp("memorized")
    waveform = make_waveform(np.random.default_rng(7), 1.6)
    train_memorizing_model(model_dir, waveform, TEXT, streaming=True)
    wav = model_dir / "clip.wav"
    soundfile.write(wav, waveform, 16000)
    export_dir = model_dir / "onnx"
    report = export_onnx(model_dir, export_dir)
    return model_dir, export_dir, waveform, wav, report


@pytest.mark.parametrize("bidirectional,rnn_type", [(True, "gru"), (False, "gru"), (False, "lstm")])
def test_offline_graph_matches_pytorch_for_other_batch_sizes_and_lengths(tmp_path, bidirectional, rnn_type):
    model_dir = save_random(tmp_path / "model", bidirectional, rnn_type)
    report = export_onnx(model_dir, tmp_path / "onnx", int8=False)
    assert report.max_abs_diff["model.onnx"] < 1e-4
    assert ("model_streaming.onnx" in report.files) is not bidirectional
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {"input_features": ("tensor(float)", ["batch", "frames", 33]),
                      "attention_mask": ("tensor(int64)", ["batch", "frames"])}
    (output,) = session.get_outputs()
    assert output.name == "logits" and output.shape[0] == "batch" and output.shape[2] == len(TEXT.replace(" ", "")) + 3
    model = AutoModelForCTC.from_pretrained(model_dir).eval()
    rng = np.random.default_rng(1)
    for batch, frames in ((1, 17), (4, 250)):
        features = rng.standard_normal((batch, frames, 33)).astype(np.float32)
        mask = np.ones((batch, frames), dtype=np.int64)
        mask[-1, frames // 2:] = 0
        (logits,) = session.run(None, {"input_features": features, "attention_mask": mask})
        with torch.no_grad():
            reference = model(torch.from_numpy(features), attention_mask=torch.from_numpy(mask)).logits.numpy()
        assert logits.shape == reference.shape
        real = model._get_feat_extract_output_lengths(torch.from_numpy(mask.sum(-1))).tolist()
        assert max(np.abs(logits[i, :n] - reference[i, :n]).max() for i, n in enumerate(real)) < 1e-4
    assert json.loads((tmp_path / "onnx" / "config.json").read_text())["model_type"] == "deepspeech2"


def test_streaming_graph_streams_like_pytorch_and_offline(memorized):
    model_dir, export_dir, waveform, _, report = memorized
    assert report.max_abs_diff["model_streaming.onnx"] < 1e-4
    recognizers = [StreamingRecognizer.from_pretrained(model_dir), StreamingRecognizer.from_pretrained(export_dir, onnx=True)]
    finals = []
    for recognizer in recognizers:
        for start in range(0, waveform.size, 5120):  # 320 ms chunks
            recognizer.accept(waveform[start:start + 5120])
        finals.append(recognizer.finish())
    assert finals == [TEXT, TEXT]
    assert np.abs(recognizers[0].last_logits - recognizers[1].last_logits).max() < 1e-4


def test_onnx_recognizer_and_int8_graph_transcribe(memorized):
    model_dir, export_dir, waveform, _, _ = memorized
    offline = pipeline("automatic-speech-recognition", model=str(model_dir))(waveform)["text"]
    assert OnnxSpeechRecognizer(export_dir)([{"raw": waveform, "sampling_rate": 16000}])[0]["text"] == offline == TEXT
    int8 = OnnxSpeechRecognizer(export_dir, int8=True)
    fp32_logits = OnnxSpeechRecognizer(export_dir).logits([waveform])[0]
    int8_logits = int8.logits([waveform])[0]
    assert int8_logits.shape == fp32_logits.shape and not np.array_equal(int8_logits, fp32_logits)  # really quantized
    assert (int8_logits.argmax(-1) == fp32_logits.argmax(-1)).mean() > 0.9  # and still the same model
    result = int8([{"raw": waveform, "sampling_rate": 16000}], return_timestamps="word")[0]
    assert isinstance(result["text"], str) and all(0 <= c["timestamp"][0] <= c["timestamp"][1] <= 1.6 for c in result["chunks"])


def test_torch_int8_quantization_decodes(memorized):
    model_dir, _, waveform, _, _ = memorized
    model = AutoModelForCTC.from_pretrained(model_dir).eval()
    quantized = quantize_torch_int8(model)
    assert type(quantized.deepspeech2.layers[0].rnn).__module__ == "torch.ao.nn.quantized.dynamic.modules.rnn"
    assert type(model.deepspeech2.layers[0].rnn) is torch.nn.GRU  # the original is untouched
    processor = DeepSpeech2Processor.from_pretrained(model_dir)
    inputs = processor(audio=waveform, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        reference, logits = model(**inputs).logits, quantized(**inputs).logits
    assert logits.shape == reference.shape and not torch.equal(logits, reference)
    assert (logits.argmax(-1) == reference.argmax(-1)).float().mean() > 0.9
    assert isinstance(processor.batch_decode(logits.argmax(-1))[0], str)


def test_numpy_features_equal_torch_features():
    rng = np.random.default_rng(3)
    waveform = make_waveform(rng, 1.234)
    for extractor in (DeepSpeech2FeatureExtractor(), DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=64),
                      DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=64).fit_global_normalization([waveform])):
        reference = extractor(waveform, sampling_rate=16000, return_tensors="np")["input_features"][0]
        assert np.abs(extractor.extract_numpy(waveform) - reference).max() < 1e-3


def test_cli_export_and_transcribe_with_onnx(memorized, tmp_path, capsys):
    model_dir, _, _, wav, _ = memorized
    out = tmp_path / "export"
    assert main(["export", "onnx", str(model_dir), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "model.onnx" in printed and "model_streaming.int8.onnx" in printed and "max |logit difference|" in printed
    for flags in ([], ["--onnx"], ["--onnx", "--int8"], ["--int8"]):
        source = out if "--onnx" in flags else model_dir
        assert main(["transcribe", str(source), str(wav), "--no-vad", "--quiet", *flags]) == 0
        line = capsys.readouterr().out.strip()
        assert line.startswith(f"{wav}\t")
        if "--int8" not in flags:
            assert line.endswith(TEXT)


def test_cli_onnx_errors(memorized, tmp_path, capsys):
    model_dir, _, _, wav, _ = memorized
    assert main(["transcribe", str(model_dir), str(wav), "--onnx"]) == 2
    assert "model.onnx does not exist; export the model first" in capsys.readouterr().err
    assert main(["transcribe", str(model_dir), str(wav), "--onnx", "--beam-width", "4"]) == 2
    assert "cannot be combined with --beam-width" in capsys.readouterr().err
    assert main(["export", "onnx", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert "ko-asr export onnx: " in capsys.readouterr().err
