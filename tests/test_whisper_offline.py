"""An offline Whisper processor from openai-whisper's packaged files, and a tiny random Whisper that generates Korean
prefixes with it (no Hub access)."""

import numpy as np
import pytest
import torch
import whisper.tokenizer as whisper_tokenizer  # openai-whisper is a dev dependency
from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperProcessor

from ko_asr.whisper import offline_whisper_processor, whisper_generation_config


@pytest.fixture(scope="module")
def processor():
    return offline_whisper_processor(language="korean", task="transcribe")


@pytest.mark.parametrize("text", ["내일 세 시에 만나자.", "KTX 타고 가면 금방이야! 20년 전처럼", " 있었으면 좋겠어 ㅋㅋ"])
def test_ids_match_openai_whisper(processor, text):
    encoding = whisper_tokenizer.get_encoding("multilingual")
    ids = processor.tokenizer(text, add_special_tokens=False).input_ids
    assert ids == encoding.encode(text)
    assert processor.tokenizer.decode(ids) == text


def test_special_tokens_and_korean_prefix(processor):
    encoding = whisper_tokenizer.get_encoding("multilingual")
    assert len(processor.tokenizer) == encoding.n_vocab == 51865
    ids = processor.tokenizer("안녕").input_ids
    assert processor.tokenizer.convert_ids_to_tokens(ids[:4]) == [
        "<|startoftranscript|>", "<|ko|>", "<|transcribe|>", "<|notimestamps|>"
    ]
    assert ids[-1] == encoding.eot_token
    assert processor.tokenizer.decode(ids, skip_special_tokens=True) == "안녕"


def test_save_load_round_trip(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    again = WhisperProcessor.from_pretrained(tmp_path)
    assert again.tokenizer("한국어 음성 인식").input_ids == processor.tokenizer("한국어 음성 인식").input_ids
    assert again.feature_extractor.feature_size == 80


def test_tiny_random_whisper_generates_with_language_and_task(processor):
    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=len(processor.tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_target_positions=64, decoder_start_token_id=50258, pad_token_id=50257, eos_token_id=50257,
        bos_token_id=50257,
    )
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = whisper_generation_config(max_length=12)
    features = processor.feature_extractor(np.zeros(16000, dtype=np.float32), sampling_rate=16000, return_tensors="pt")
    for language, token in (("ko", "<|ko|>"), ("ja", "<|ja|>")):
        generated = model.generate(
            features.input_features, language=language, task="transcribe", max_new_tokens=5, return_dict_in_generate=True
        )
        tokens = processor.tokenizer.convert_ids_to_tokens(generated.sequences[0].tolist())
        assert tokens[:4] == ["<|startoftranscript|>", token, "<|transcribe|>", "<|notimestamps|>"]
        assert isinstance(processor.batch_decode(generated.sequences, skip_special_tokens=True)[0], str)
