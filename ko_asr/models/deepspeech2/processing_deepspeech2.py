"""DeepSpeech2 processors: feature extractor + Hangul CTC tokenizer, and the same with an n-gram language model."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from transformers.models.wav2vec2.processing_wav2vec2 import Wav2Vec2Processor


class DeepSpeech2Processor(Wav2Vec2Processor):
    r"""
    Wraps a [`DeepSpeech2FeatureExtractor`] and a [`DeepSpeech2CTCTokenizer`] into one processor.

    `processor(audio=..., sampling_rate=16000)` returns `input_features` and `attention_mask`;
    `processor(text=...)` returns `input_ids`; given both, the token ids come back as `labels`. `pad` pads a list of
    such examples (features with the feature extractor, labels with the tokenizer), and `batch_decode` /
    `decode` are the tokenizer's CTC decoding.

    `AutoProcessor.from_pretrained` on a directory that also holds a `language_model/` folder returns a
    [`DeepSpeech2ProcessorWithLM`] instead (as `AutoProcessor` does for wav2vec2 checkpoints with an LM).

    Args:
        feature_extractor ([`DeepSpeech2FeatureExtractor`]): the audio front end.
        tokenizer ([`DeepSpeech2CTCTokenizer`]): the CTC vocabulary.
    """

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        if cls is DeepSpeech2Processor and kwargs.get("_from_auto") and kwargs.pop("use_lm", True):
            from .language_model_deepspeech2 import find_language_model

            if find_language_model(pretrained_model_name_or_path, **kwargs) is not None:
                return DeepSpeech2ProcessorWithLM.from_pretrained(pretrained_model_name_or_path, **kwargs)
        kwargs.pop("use_lm", None)
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)


class DeepSpeech2ProcessorWithLM(DeepSpeech2Processor):
    r"""
    A [`DeepSpeech2Processor`] that decodes logits with CTC beam search and an n-gram language model: the
    [`~transformers.Wav2Vec2ProcessorWithLM`] contract (`batch_decode(logits, ...)` / `decode(logits, ...)` with
    `beam_width`, `alpha`, `beta`, `hotwords`, `n_best`, `output_word_offsets`, a `pool` or `num_processes`), with
    pyctcdecode's beam search and KenLM scores (see `language_model_deepspeech2` for the syllable-level LM and jamo
    handling). Texts come back composed (NFC).

    `save_pretrained` writes the processor files and `language_model/` (`lm.arpa`, `decoder_config.json`); a model
    directory holding both decodes with the LM through `AutoProcessor` and, after `import ko_asr`,
    `pipeline("automatic-speech-recognition", model=directory)`.

    Args:
        feature_extractor ([`DeepSpeech2FeatureExtractor`]): the audio front end.
        tokenizer ([`DeepSpeech2CTCTokenizer`]): the CTC vocabulary.
        beam_search ([`HangulBeamSearch`]): the decoder with its language model and settings.
    """

    def __init__(self, feature_extractor, tokenizer, beam_search=None):
        super().__init__(feature_extractor, tokenizer)
        if beam_search is None:
            raise ValueError("DeepSpeech2ProcessorWithLM needs a beam_search (see from_language_model)")
        self.beam_search = beam_search

    @property
    def decoder_config(self):
        """The [`DecoderConfig`]: LM units and order, alpha, beta, beam width, pruning, hotword weight."""
        return self.beam_search.config

    @classmethod
    def from_language_model(cls, processor: DeepSpeech2Processor, directory: str, **overrides: Any):
        """Attach the `language_model/` folder at `directory` (e.g. written by `ko-asr lm build`) to `processor`;
        `overrides` replace saved decoder settings (`alpha=0.8`, `beam_width=64`, ...)."""
        from .language_model_deepspeech2 import HangulBeamSearch

        beam_search = HangulBeamSearch.from_directory(directory, processor.tokenizer, **overrides)
        return cls(processor.feature_extractor, processor.tokenizer, beam_search)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load the processor and its language model; decoder settings among `kwargs` (`alpha`, `beta`,
        `beam_width`, ...) replace the saved ones.

        Raises:
            OSError: when the directory or repository has no `language_model/`.
            ImportError: without `kenlm` and `pyctcdecode`.
        """
        from .language_model_deepspeech2 import DecoderConfig, find_language_model

        overrides = {name: kwargs.pop(name) for name in DecoderConfig.field_names() if name in kwargs}
        kwargs.pop("_from_auto", None)
        kwargs.pop("use_lm", None)
        directory = find_language_model(pretrained_model_name_or_path, **kwargs)
        if directory is None:
            raise OSError(f"{pretrained_model_name_or_path}: no language_model/ folder (build one with `ko-asr lm build`)")
        processor = DeepSpeech2Processor.from_pretrained(pretrained_model_name_or_path, **kwargs)
        return cls.from_language_model(processor, directory, **overrides)

    def save_pretrained(self, save_directory, **kwargs):
        """Write the processor files, then `language_model/`. The files name the processor `DeepSpeech2Processor`:
        transformers' pipeline factory side-loads pyctcdecode's own decoder for any processor class ending in
        `WithLM`, which cannot read a syllable-level LM; ko_asr finds the LM by its folder instead."""
        plain = DeepSpeech2Processor(self.feature_extractor, self.tokenizer)
        result = plain.save_pretrained(save_directory, **kwargs)
        self.beam_search.save(os.path.join(save_directory))
        return result

    def with_settings(self, **settings: Any) -> DeepSpeech2ProcessorWithLM:
        """A copy whose decoder settings are replaced (the tuned alpha/beta before `save_pretrained`)."""
        beam_search = self.beam_search.with_config(replace(self.decoder_config, **settings))
        return type(self)(self.feature_extractor, self.tokenizer, beam_search)

    def batch_decode(self, logits, pool=None, num_processes: int | None = None, n_best: int = 1,
                     output_word_offsets: bool = False, **settings: Any):
        """Beam-search each utterance of `logits`.

        Args:
            logits (`np.ndarray` of shape `(batch_size, frames, vocab_size)` or a list of `(frames, vocab_size)`):
                the model's logits (raw or log-softmax); trim padding first or leave DeepSpeech2's padded frames,
                which are certain blanks and change nothing.
            pool (`multiprocessing.Pool`, *optional*): decode utterances in its (fork) processes.
            num_processes (`int`, *optional*): without `pool`, decode in this many forked processes (sequential
                when unset or 1).
            n_best (`int`, *optional*, defaults to 1): hypotheses per utterance.
            output_word_offsets (`bool`, *optional*): also return word offsets in output frames.
            settings: per-call decoder settings (`beam_width`, `alpha`, `beta`, `beam_prune_logp`,
                `token_min_logp`, `hotwords`, `hotword_weight`); unset ones keep the saved values.

        Returns:
            [`~transformers.models.wav2vec2_with_lm.processing_wav2vec2_with_lm.Wav2Vec2DecoderWithLMOutput`]:
            `text`, `logit_score`, `lm_score`, `word_offsets` per utterance (lists of `n_best` when `n_best > 1`).
        """
        beams = self.beam_search.decode_batch(list(logits), pool=pool, num_processes=num_processes, **settings)
        return _output(beams, n_best, output_word_offsets, batched=True)

    def decode(self, logits, n_best: int = 1, output_word_offsets: bool = False, **settings: Any):
        """[`batch_decode`] for one utterance's `logits` `(frames, vocab_size)`."""
        return _output([self.beam_search.decode_beams(logits, **settings)], n_best, output_word_offsets, batched=False)


def _output(beams_per_utterance, n_best: int, output_word_offsets: bool, batched: bool):
    from transformers.models.wav2vec2_with_lm.processing_wav2vec2_with_lm import Wav2Vec2DecoderWithLMOutput

    columns = {"text": [], "logit_score": [], "lm_score": [], "word_offsets": []}
    for beams in beams_per_utterance:
        kept = beams[:n_best]
        columns["text"].append([beam.text for beam in kept])
        columns["logit_score"].append([beam.logit_score for beam in kept])
        columns["lm_score"].append([beam.lm_score for beam in kept])
        columns["word_offsets"].append([beam.word_offsets for beam in kept])
    if not output_word_offsets:
        columns["word_offsets"] = None
    for name, values in columns.items():
        if values is not None:
            values = [hyps[0] for hyps in values] if n_best == 1 else values
            columns[name] = values if batched else values[0]
    return Wav2Vec2DecoderWithLMOutput(**columns)


DeepSpeech2Processor.register_for_auto_class()  # saved as custom code, see configuration_deepspeech2.py
