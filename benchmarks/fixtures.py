"""Models the benchmarks share: what they measure is compute, so random weights stand in for trained ones."""

from __future__ import annotations

import os

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)


def save_random_demo_model(directory: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """A random-init `demo`-preset DeepSpeech2 (log-mel 64, full syllable vocabulary) saved with its processor."""
    tokenizer = DeepSpeech2CTCTokenizer.from_hangul()
    config = DeepSpeech2Config.from_preset("demo", vocab_size=len(tokenizer))
    DeepSpeech2ForCTC(config).save_pretrained(directory)
    DeepSpeech2Processor(DeepSpeech2FeatureExtractor.from_model_config(config), tokenizer).save_pretrained(directory)
    return directory
