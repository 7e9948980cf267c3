"""`pipeline("automatic-speech-recognition", model=directory)` decoding with the directory's language model.

transformers' pipeline factory side-loads an LM only as pyctcdecode's own word-level decoder (for processor classes
named `...WithLM`), which cannot score the syllable-level LM ko_asr builds for Korean. `import ko_asr` therefore
points the task at [`KoreanSpeechRecognitionPipeline`]: transformers' ASR pipeline, unchanged, except that a CTC
model whose directory holds a ko_asr `language_model/` gets that LM's beam search as its `decoder` (greedy decoding
otherwise, or with `use_lm=False`). Per-call settings go through the pipeline's `decoder_kwargs`
(`asr(audio, decoder_kwargs={"hotwords": ["서초구"], "beam_width": 64})`); word timestamps come from the beam's word
frames (`return_timestamps="word"`).

The pipeline's LM path is deprecated in transformers 6 (pyproject pins transformers < 6).
"""

from __future__ import annotations

from typing import Any

from transformers.pipelines.automatic_speech_recognition import AutomaticSpeechRecognitionPipeline
from transformers.utils import logging

logger = logging.get_logger(__name__)

TASK = "automatic-speech-recognition"


class KoreanSpeechRecognitionPipeline(AutomaticSpeechRecognitionPipeline):
    """transformers' ASR pipeline with ko_asr's LM beam search for models saved with a `language_model/`.

    Args:
        use_lm (`bool`, *optional*, defaults to `True`): `False` decodes greedily even when the model has an LM.
        decoder (*optional*): an explicit decoder (a [`HangulBeamSearch`], or pyctcdecode's), used as given.
        Other arguments: as [`~transformers.AutomaticSpeechRecognitionPipeline`].
    """

    def __init__(self, model, *args: Any, decoder=None, use_lm: bool = True, **kwargs: Any):
        if decoder is None and use_lm and not getattr(model.config, "is_encoder_decoder", False):
            decoder = _saved_beam_search(model, kwargs.get("tokenizer"))
        super().__init__(model, *args, **kwargs)
        if decoder is not None and self.type == "ctc":
            # transformers' own LM path ("ctc_with_lm": logits to postprocess, `decoder.decode_beams`), entered
            # without its pyctcdecode deprecation notice, which is about pyctcdecode decoders it loads itself.
            self.decoder, self.type = decoder, "ctc_with_lm"


def _saved_beam_search(model, tokenizer):
    """The beam search saved with `model` (its `name_or_path`), or `None`."""
    from .models.deepspeech2.language_model_deepspeech2 import HangulBeamSearch, find_language_model

    source = getattr(model, "name_or_path", "") or ""
    directory = find_language_model(source, local_files_only=True) if source else None
    if directory is None:
        return None
    try:
        import kenlm  # noqa: F401
        import pyctcdecode  # noqa: F401
    except ImportError as error:  # as transformers does for its own LM side-loading: greedy, said once
        logger.warning_once(f"{source} has a language model, but decoding is greedy: {error}")
        return None
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source)
    return HangulBeamSearch.from_directory(directory, tokenizer)


def register() -> None:
    """Point transformers' `automatic-speech-recognition` task at [`KoreanSpeechRecognitionPipeline`] (a dotted path:
    nothing is imported until a pipeline is built). Everything else about the task stays as transformers has it."""
    from transformers.pipelines import PIPELINE_REGISTRY

    PIPELINE_REGISTRY.supported_tasks[TASK]["impl"] = f"{__name__}.{KoreanSpeechRecognitionPipeline.__name__}"


__all__ = ["KoreanSpeechRecognitionPipeline", "register"]
