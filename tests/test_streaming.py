"""Streaming DeepSpeech2: chunk-by-chunk transcription equals offline transcription of the whole utterance."""

import numpy as np
import pytest
import torch
from helpers import make_waveform, train_memorizing_model

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.streaming import StreamingRecognizer
from ko_asr.streaming_encoder import DeepSpeech2StreamingGeometry

RATE = 16000


def random_streaming_model(rng, units="syllable", extractor_options=None, **overrides):
    """A random-init unidirectional DeepSpeech2 with global feature statistics (its transcripts are noise)."""
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(["가나다라 마바사 간단한 한국말"], units=units)
    extractor = DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=33, **(extractor_options or {}))
    extractor.fit_global_normalization([make_waveform(rng, 1.0), make_waveform(rng, 0.7)])
    torch.manual_seed(0)
    config = DeepSpeech2Config.from_preset(
        "tiny", **{"vocab_size": len(tokenizer), "bidirectional": False, "lookahead_context": 3, **overrides}
    )
    return DeepSpeech2ForCTC(config).eval(), DeepSpeech2Processor(extractor, tokenizer)


def offline(model, processor, waveform):
    inputs = processor(audio=waveform, sampling_rate=RATE, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[0].numpy()
    return processor.tokenizer.decode(logits.argmax(-1).tolist()), logits


def stream(recognizer, waveform, chunk_sizes):
    partials, position, index = [], 0, 0
    while position < waveform.size:
        size = chunk_sizes[index % len(chunk_sizes)]
        partials.append(recognizer.accept(waveform[position:position + size]))
        position, index = position + size, index + 1
    return partials, recognizer.finish()


@pytest.mark.parametrize("chunk_ms", [100, 160, 320, 640, 1000])
def test_streaming_equals_offline_for_each_chunk_size(chunk_ms):
    rng = np.random.default_rng(0)
    model, processor = random_streaming_model(rng)
    waveform = make_waveform(rng, 2.37)
    text, logits = offline(model, processor, waveform)
    recognizer = StreamingRecognizer(processor, model=model)
    _, final = stream(recognizer, waveform, [chunk_ms * RATE // 1000])
    assert recognizer.last_logits.shape == logits.shape
    assert np.abs(recognizer.last_logits - logits).max() < 1e-4
    assert final == text


@pytest.mark.parametrize("overrides", [{"rnn_type": "lstm", "rnn_norm": "batch"}, {"lookahead_context": 0}])
def test_streaming_equals_offline_with_irregular_chunks(overrides):
    rng = np.random.default_rng(1)
    model, processor = random_streaming_model(rng, **overrides)
    waveform = make_waveform(rng, 1.83)
    text, logits = offline(model, processor, waveform)
    recognizer = StreamingRecognizer(processor, model=model)
    _, final = stream(recognizer, waveform, [0, 1, 159, 161, 1600, 4003, 37])  # empty and sub-hop chunks included
    assert np.abs(recognizer.last_logits - logits).max() < 1e-4
    assert final == text


def test_other_stft_geometry_streams_exactly():
    """A window shorter than two hops (n_fft 256, hop 160): frames become computable sooner than offline counts them."""
    rng = np.random.default_rng(6)
    model, processor = random_streaming_model(rng, extractor_options={"n_fft": 256, "win_length": 256})
    for seconds in (0.50875, 1.3):  # 8,140 samples: offline has 50 frames where the window rule would allow 51
        waveform = make_waveform(rng, seconds)
        text, logits = offline(model, processor, waveform)
        recognizer = StreamingRecognizer(processor, model=model)
        _, final = stream(recognizer, waveform, [1000, 2500])
        assert recognizer.last_logits.shape == logits.shape
        assert np.abs(recognizer.last_logits - logits).max() < 1e-4 and final == text


def test_jamo_partials_are_never_revised():
    """Jamo tokens build a syllable over several frames ('ㄱ' -> '가' -> '간'): partials hold it back until it is done."""
    rng = np.random.default_rng(7)
    model, processor = random_streaming_model(rng, units="jamo", lookahead_context=1)
    revised = 0
    for _ in range(6):
        waveform = make_waveform(rng, 2.0)
        recognizer = StreamingRecognizer(processor, model=model)
        partials, final = stream(recognizer, waveform, [800])  # 50 ms: a few frames per call
        shown = [p for p in partials if p]
        assert shown, "the random model emits something"
        for earlier, later in zip(shown, shown[1:] + [final]):
            assert later.startswith(earlier), (earlier, later)
        # without the hold-back, the raw transcripts do change their last syllable
        raw = [processor.tokenizer.decode(recognizer.last_logits[:n].argmax(-1).tolist())
               for n in range(1, len(recognizer.last_logits) + 1)]
        revised += sum(not b.startswith(a) for a, b in zip(raw, raw[1:]))
    assert revised > 0


def test_trained_model_streams_its_transcript_and_never_revises(tmp_path):
    rng = np.random.default_rng(2)
    waveform = make_waveform(rng, 2.0)
    text = "안녕하세요 반갑습니다"
    train_memorizing_model(tmp_path, waveform, text, streaming=True)
    recognizer = StreamingRecognizer.from_pretrained(tmp_path)
    partials, final = stream(recognizer, waveform, [3200])  # 200 ms
    model, processor = recognizer.engine.encoder.model, recognizer.processor
    assert final == offline(model, processor, waveform)[0] == text
    for earlier, later in zip(partials, partials[1:] + [final]):
        assert later.startswith(earlier)  # partials only grow: nothing shown is revised
    assert partials[len(partials) // 2]  # something appears before the audio ends


def test_reset_and_consecutive_utterances_do_not_leak_state():
    rng = np.random.default_rng(3)
    model, processor = random_streaming_model(rng)
    first, second = make_waveform(rng, 1.1), make_waveform(rng, 0.9)
    recognizer = StreamingRecognizer(processor, model=model)
    stream(recognizer, first, [1600])
    _, after_first = stream(recognizer, second, [1600])
    fresh = StreamingRecognizer(processor, model=model)
    _, alone = stream(fresh, second, [1600])
    assert after_first == alone
    recognizer.accept(first[:8000])
    recognizer.reset()  # discards the half-heard utterance
    _, after_reset = stream(recognizer, second, [1600])
    assert after_reset == alone and np.abs(recognizer.last_logits - fresh.last_logits).max() == 0.0
    assert recognizer.finish() == ""  # nothing heard


def test_bidirectional_model_is_refused(tmp_path):
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(["가"])
    model = DeepSpeech2ForCTC(DeepSpeech2Config.from_preset("tiny", vocab_size=len(tokenizer)))
    extractor = DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=33, do_normalize=False)
    with pytest.raises(ValueError, match="bidirectional"):
        StreamingRecognizer(DeepSpeech2Processor(extractor, tokenizer), model=model)
    model.save_pretrained(tmp_path)
    DeepSpeech2Processor(extractor, tokenizer).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="bidirectional"):
        StreamingRecognizer.from_pretrained(tmp_path)


def test_per_utterance_normalization_is_refused():
    rng = np.random.default_rng(4)
    model, processor = random_streaming_model(rng)
    processor.feature_extractor.normalization = "utterance"
    with pytest.raises(ValueError, match="global"):
        StreamingRecognizer(processor, model=model)


def test_bad_input_and_arguments_are_refused():
    model, processor = random_streaming_model(np.random.default_rng(5))
    recognizer = StreamingRecognizer(processor, model=model)
    with pytest.raises(ValueError, match="mono"):
        recognizer.accept(np.zeros((2, 1600), dtype=np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        recognizer.accept(np.full(1600, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="onnx_path needs the exported model's config"):
        StreamingRecognizer(processor, onnx_path="model_streaming.onnx")
    with pytest.raises(ValueError, match="either a PyTorch model or an onnx_path"):
        StreamingRecognizer(processor)
    with pytest.raises(ValueError, match="waveform 0 has shape"):
        DeepSpeech2FeatureExtractor().fit_global_normalization([np.zeros((2, 1600), dtype=np.float32)])


def test_geometry_of_the_streaming_preset():
    geometry = DeepSpeech2StreamingGeometry.from_config(DeepSpeech2Config.from_preset("streaming"))
    # conv1 (time kernel 7, stride 2) needs 4 frames past its left padding for its first output; conv2 (kernel 5)
    # then 3 more outputs of conv1, the lookahead 4 more: first logit after 16 feature frames.
    assert geometry.min_first_chunk() == 16
    assert geometry.output_frames([3, 2, 0], 16, final=False) == 1
    assert geometry.output_frames([3, 2, 0], 16, final=True) == 8  # = conv_output_length(16), all flushed
