"""DeepSpeech2 processor: feature extractor + Hangul CTC tokenizer."""

from __future__ import annotations

from transformers.models.wav2vec2.processing_wav2vec2 import Wav2Vec2Processor


class DeepSpeech2Processor(Wav2Vec2Processor):
    r"""
    Wraps a [`DeepSpeech2FeatureExtractor`] and a [`DeepSpeech2CTCTokenizer`] into one processor.

    `processor(audio=..., sampling_rate=16000)` returns `input_features` and `attention_mask`;
    `processor(text=...)` returns `input_ids`; given both, the token ids come back as `labels`. `pad` pads a list of
    such examples (features with the feature extractor, labels with the tokenizer), and `batch_decode` /
    `decode` are the tokenizer's CTC decoding.

    Args:
        feature_extractor ([`DeepSpeech2FeatureExtractor`]): the audio front end.
        tokenizer ([`DeepSpeech2CTCTokenizer`]): the CTC vocabulary.
    """


DeepSpeech2Processor.register_for_auto_class()  # saved as custom code, see configuration_deepspeech2.py
