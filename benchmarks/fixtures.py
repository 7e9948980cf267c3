"""Models the benchmarks share: what they measure is compute, so random weights stand in for trained ones."""

from __future__ import annotations

import os

import numpy as np

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


def save_random_base_model(directory: str | os.PathLike[str], bidirectional: bool = True) -> str | os.PathLike[str]:
    """A random-init `base`-preset DeepSpeech2 (161-bin linear spectrogram, 5 x GRU-512, the full 11,300-syllable
    vocabulary) saved with its processor; unidirectional ones get global feature statistics (of noise: only compute is
    measured), so they can stream."""
    tokenizer = DeepSpeech2CTCTokenizer.from_hangul()
    config = DeepSpeech2Config.from_preset("base", bidirectional=bidirectional, vocab_size=len(tokenizer))
    extractor = DeepSpeech2FeatureExtractor.from_model_config(config)
    if not bidirectional:
        extractor.fit_global_normalization([np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1])
    DeepSpeech2ForCTC(config).eval().save_pretrained(directory)
    DeepSpeech2Processor(extractor, tokenizer).save_pretrained(directory)
    return directory
