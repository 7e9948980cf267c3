"""A Whisper processor built offline from the tokenizer files that ship inside the `openai-whisper` package.

No Hub access is needed: `whisper/assets/multilingual.tiktoken` holds the byte-level BPE ranks; the special tokens
(`<|endoftext|>`, `<|startoftranscript|>`, the 99 language tokens, tasks, timestamps) come from
`whisper.tokenizer.get_encoding`, in the same order, so every id matches the Hub checkpoints'.

    from ko_asr.whisper import offline_whisper_processor, whisper_generation_config
    processor = offline_whisper_processor(language="korean")
"""

from __future__ import annotations

import os

from transformers import GenerationConfig, WhisperFeatureExtractor, WhisperProcessor, WhisperTokenizer
from transformers.convert_slow_tokenizer import TikTokenConverter

#: Audio Whisper sees at once; longer input is filtered out of training and windowed at inference.
WHISPER_WINDOW_SECONDS = 30.0


def _encoding():
    try:
        from whisper.tokenizer import get_encoding
    except ImportError as error:  # pragma: no cover - the message is the point
        raise ImportError("the offline Whisper processor needs `pip install openai-whisper` (ko-asr[whisper])") from error
    return get_encoding("multilingual")


def offline_whisper_tokenizer(language: str = "korean", task: str = "transcribe") -> WhisperTokenizer:
    """The multilingual Whisper tokenizer, ids identical to openai-whisper's `multilingual` encoding."""
    encoding = _encoding()  # first: its ImportError says how to install openai-whisper
    import whisper

    ranks_file = os.path.join(os.path.dirname(whisper.__file__), "assets", "multilingual.tiktoken")
    vocab, merges = TikTokenConverter(vocab_file=ranks_file).extract_vocab_merges_from_model(ranks_file)
    specials = sorted(encoding._special_tokens.items(), key=lambda item: item[1])
    tokenizer = WhisperTokenizer(
        vocab=vocab, merges=merges, language=language, task=task,
        additional_special_tokens=[t for t, _ in specials if t != "<|endoftext|>"],
    )
    wrong = [(t, i, tokenizer.convert_tokens_to_ids(t)) for t, i in specials if tokenizer.convert_tokens_to_ids(t) != i]
    if wrong:
        raise RuntimeError(f"special token ids differ from openai-whisper's: {wrong[:3]}")
    return tokenizer


def offline_whisper_processor(language: str = "korean", task: str = "transcribe", num_mel_bins: int = 80) -> WhisperProcessor:
    """Feature extractor (mel filters computed locally) + the offline tokenizer."""
    return WhisperProcessor(WhisperFeatureExtractor(feature_size=num_mel_bins), offline_whisper_tokenizer(language, task))


def whisper_generation_config(max_length: int = 128) -> GenerationConfig:
    """What `WhisperForConditionalGeneration.generate(language=..., task=...)` needs (language and task token ids,
    start/end/no-timestamps ids), from the openai-whisper encoding alone."""
    from whisper.tokenizer import LANGUAGES

    specials = _encoding()._special_tokens
    languages = {f"<|{code}|>": specials[f"<|{code}|>"] for code in LANGUAGES if f"<|{code}|>" in specials}
    return GenerationConfig(
        decoder_start_token_id=specials["<|startoftranscript|>"],
        eos_token_id=specials["<|endoftext|>"],
        pad_token_id=specials["<|endoftext|>"],
        bos_token_id=specials["<|endoftext|>"],
        no_timestamps_token_id=specials["<|notimestamps|>"],
        lang_to_id=languages,
        task_to_id={"transcribe": specials["<|transcribe|>"], "translate": specials["<|translate|>"]},
        is_multilingual=True,
        max_length=max_length,
        begin_suppress_tokens=[220, specials["<|endoftext|>"]],
    )
