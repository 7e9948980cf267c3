"""CTC models beyond DeepSpeech2 on the same Korean stack: FastConformer-CTC trained from scratch and pretrained
wav2vec2-family encoders fine-tuned with a fresh character head.

Each builder returns `(model, processor)` that `recipes/train.py` trains with the same loop, checkpoints, evaluation
and model card as DeepSpeech2, and that `pipeline`, `recipes/evaluate.py`, the CLI and the Space load: the model is a
transformers `*ForCTC` class; the processor pairs the family's feature extractor with ko_asr's Hangul CTC tokenizer
([`DeepSpeech2Processor`] is the generic feature-extractor + CTC-tokenizer processor).

- **FastConformer-CTC**: transformers' `ParakeetForCTC` (`ParakeetEncoderConfig` / `ParakeetCTCConfig`: NVIDIA's
  FastConformer encoder, Rekesh et al. 2023) sized by a preset, reading ko_asr's log-mel features, its CTC head sized
  to the Korean vocabulary (blank = pad = 0).
- **wav2vec2 family** (wav2vec2, XLS-R, MMS, HuBERT, Wav2Vec2-Conformer, any checkpoint `AutoModelForCTC` loads):
  the pretrained encoder with a new CTC head of `len(tokenizer)` outputs, the checkpoint's own raw-waveform feature
  extractor, the convolutional feature encoder frozen by default (as `run_speech_recognition_ctc.py` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: FastConformer-CTC sizes. `subsampling_factor` 4 (40 ms frames) rather than FastConformer's usual 8: Hangul jamo
#: units come at ~10 per second in the synthetic corpus, and 80 ms frames leave CTC too few frames per token.
#: `num_mel_bins` must be a multiple of it (the subsampling flattens channels x bins / factor).
FASTCONFORMER_PRESETS: dict[str, dict[str, Any]] = {
    # Unit tests: a few thousand parameters.
    "tiny": dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, conv_kernel_size=5,
                 subsampling_factor=4, subsampling_conv_channels=4, num_mel_bins=32),
    # The demo comparison: 3.2 M parameters with the demo vocabulary (the DeepSpeech2 demo model: 2.4 M), 64 log-mel bins.
    "demo": dict(hidden_size=144, num_hidden_layers=6, num_attention_heads=4, intermediate_size=576, conv_kernel_size=9,
                 subsampling_factor=4, subsampling_conv_channels=64, num_mel_bins=64, dropout=0.1,
                 attention_dropout=0.1, activation_dropout=0.1, layerdrop=0.0),
}

#: wav2vec2-family config fields the recipe may set when fine-tuning (SpecAugment, dropouts, layerdrop).
FINETUNE_CONFIG_FIELDS = (
    "mask_time_prob", "mask_time_length", "mask_feature_prob", "mask_feature_length", "layerdrop", "hidden_dropout",
    "attention_dropout", "activation_dropout", "feat_proj_dropout", "final_dropout",
)


@dataclass
class FineTuneOptions:
    """How a pretrained wav2vec2-family checkpoint is fine-tuned.

    Args:
        freeze_feature_encoder (`bool`, defaults to `True`): keep the convolutional feature encoder's weights fixed.
        config_overrides (`dict`): values for `FINETUNE_CONFIG_FIELDS` (e.g. `mask_time_prob`, `layerdrop`).
    """

    freeze_feature_encoder: bool = True
    config_overrides: dict[str, Any] = field(default_factory=dict)


def fastconformer_ctc(tokenizer, preset: str = "demo", feature_extractor=None, **overrides):
    """A randomly initialized FastConformer-CTC (`ParakeetForCTC`) for `tokenizer`'s vocabulary, with ko_asr's
    log-mel feature extractor.

    Args:
        tokenizer ([`DeepSpeech2CTCTokenizer`]): the Korean CTC vocabulary (blank = pad).
        preset (`str`): a key of `FASTCONFORMER_PRESETS`.
        feature_extractor ([`DeepSpeech2FeatureExtractor`], *optional*): default: log-mel with the preset's
            `num_mel_bins`, per-utterance normalization.
        overrides: `ParakeetEncoderConfig` fields replacing the preset's.

    Returns:
        `(ParakeetForCTC, DeepSpeech2Processor)`.

    Raises:
        ValueError: for an unknown preset, or a feature extractor whose bin count is not the encoder's.
    """
    from transformers import ParakeetCTCConfig, ParakeetForCTC

    from .models.deepspeech2 import DeepSpeech2FeatureExtractor, DeepSpeech2Processor

    if preset not in FASTCONFORMER_PRESETS:
        raise ValueError(f"unknown FastConformer preset {preset!r}; choose one of {sorted(FASTCONFORMER_PRESETS)}")
    encoder = {**FASTCONFORMER_PRESETS[preset], **overrides}
    if feature_extractor is None:
        feature_extractor = DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=encoder["num_mel_bins"])
    if feature_extractor.feature_size != encoder["num_mel_bins"]:
        raise ValueError(f"the feature extractor gives {feature_extractor.feature_size} bins; the encoder reads "
                         f"num_mel_bins={encoder['num_mel_bins']}")
    config = ParakeetCTCConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, ctc_loss_reduction="mean",
        ctc_zero_infinity=True, encoder_config=encoder,
    )
    # The ASR pipeline's chunking and word timestamps read it (wav2vec2 and DeepSpeech2 configs define it).
    config.inputs_to_logits_ratio = feature_extractor.hop_length * encoder["subsampling_factor"]
    return ParakeetForCTC(config), DeepSpeech2Processor(feature_extractor, tokenizer)


def finetune_pretrained_ctc(name_or_path: str, tokenizer, options: FineTuneOptions | None = None, **load_kwargs):
    """A pretrained wav2vec2-family encoder with a fresh CTC head for `tokenizer`, ready to fine-tune.

    Args:
        name_or_path (`str`): a Hub id or a local directory (`facebook/wav2vec2-xls-r-300m`, `facebook/mms-300m`, ...).
        tokenizer ([`DeepSpeech2CTCTokenizer`]): the Korean CTC vocabulary; the head gets `len(tokenizer)` outputs.
        options ([`FineTuneOptions`], *optional*): freezing and config overrides.
        load_kwargs: passed to `from_pretrained` (e.g. `cache_dir`, `revision`).

    Returns:
        `(model, DeepSpeech2Processor)` with the checkpoint's feature extractor.

    Raises:
        ValueError: for a checkpoint that is not a CTC-capable encoder, or an override that is not a config field.
    """
    import torch
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForCTC

    from .models.deepspeech2 import DeepSpeech2Processor

    options = options or FineTuneOptions()
    unknown = sorted(set(options.config_overrides) - set(FINETUNE_CONFIG_FIELDS))
    if unknown:
        raise ValueError(f"cannot set {unknown} when fine-tuning; allowed: {list(FINETUNE_CONFIG_FIELDS)}")
    config = AutoConfig.from_pretrained(name_or_path, **load_kwargs)
    missing = sorted(key for key in options.config_overrides if not hasattr(config, key))
    if missing:
        raise ValueError(f"{name_or_path}'s {type(config).__name__} has no {missing}")
    if config.model_type in ("deepspeech2", "parakeet_ctc", "parakeet_encoder"):
        raise ValueError(f"{name_or_path} is a {config.model_type} model; fine-tuning takes a pretrained "
                         "wav2vec2-family encoder (continue training a ko_asr model with its own architecture instead)")
    config.update({
        "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id, "ctc_loss_reduction": "mean",
        "ctc_zero_infinity": True, **options.config_overrides,
    })
    try:  # the CTC head's shape changes with the vocabulary: a new head, the encoder's weights kept
        model = AutoModelForCTC.from_pretrained(name_or_path, config=config, ignore_mismatched_sizes=True, **load_kwargs)
    except ValueError as error:
        raise ValueError(f"{name_or_path}: not an encoder with a CTC head in transformers ({error})") from None
    # A fresh head even when the checkpoint's happens to have len(tokenizer) outputs (ignore_mismatched_sizes only
    # replaces heads whose shape differs): its rows mean another alphabet.
    # (transformers' own _init_weights skips weights that came from the checkpoint, so the head is reset here as it
    # initializes a new Linear: normal(0, initializer_range), zero bias.)
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, getattr(config, "initializer_range", 0.02))
        if model.lm_head.bias is not None:
            model.lm_head.bias.zero_()
    if options.freeze_feature_encoder and hasattr(model, "freeze_feature_encoder"):
        model.freeze_feature_encoder()
    feature_extractor = AutoFeatureExtractor.from_pretrained(name_or_path, **load_kwargs)
    return model, DeepSpeech2Processor(feature_extractor, tokenizer)


__all__ = ["FASTCONFORMER_PRESETS", "FineTuneOptions", "fastconformer_ctc", "finetune_pretrained_ctc"]
