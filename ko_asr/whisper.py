"""A Whisper processor built offline from the tokenizer files that ship inside the `openai-whisper` package.

No Hub access is needed: `whisper/assets/multilingual.tiktoken` holds the byte-level BPE ranks; the special tokens
(`<|endoftext|>`, `<|startoftranscript|>`, the 99 language tokens, tasks, timestamps) come from
`whisper.tokenizer.get_encoding`, in the same order, so every id matches the Hub checkpoints'.

    from ko_asr.whisper import offline_whisper_processor, whisper_generation_config
    processor = offline_whisper_processor(language="korean")
"""

from __future__ import annotations

import os
import re

from transformers import (
    AddedToken,
    GenerationConfig,
    WhisperFeatureExtractor,
    WhisperProcessor,
    WhisperTokenizer,
)
from transformers.convert_slow_tokenizer import TikTokenConverter

#: Whisper's timestamp tokens, `<|0.00|>` to `<|30.00|>` in 20 ms steps.
TIMESTAMP_TOKEN = re.compile(r"<\|\d+\.\d\d\|>")
#: Special tokens decoding suppresses (openai-whisper's list).
NEVER_GENERATED = ("<|translate|>", "<|transcribe|>", "<|startoftranscript|>", "<|startofprev|>", "<|startoflm|>",
                   "<|nospeech|>")
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
    # Timestamp tokens (`<|0.00|>` ... `<|30.00|>`, the last ids) are added as ordinary tokens, as in the Hub
    # checkpoints' tokenizers: the pipeline's timestamp decoding ignores anything registered as special.
    timestamps = [t for t, _ in specials if TIMESTAMP_TOKEN.fullmatch(t)]
    tokenizer = WhisperTokenizer(
        vocab=vocab, merges=merges, language=language, task=task,
        additional_special_tokens=[t for t, _ in specials if t != "<|endoftext|>" and t not in timestamps],
    )
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in timestamps])
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
        # openai-whisper's decoding never emits the task and prompt tokens nor `<|nospeech|>`, whose probability
        # is only read for the no-speech gate (`DecodingTask._get_suppress_tokens`), and lets the first timestamp
        # be at most 1 s (`max_initial_timestamp`), as the Hub checkpoints' generation configs do.
        suppress_tokens=[specials[t] for t in NEVER_GENERATED],
        prev_sot_token_id=specials["<|startofprev|>"],
        max_initial_timestamp_index=50,
    )
