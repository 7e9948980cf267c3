"""DeepSpeech2 model configuration (architecture only)."""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import math
from typing import ClassVar

from huggingface_hub.dataclasses import strict
from transformers.configuration_utils import PreTrainedConfig

_PRETRAINED_CONFIG_FIELDS = frozenset(field.name for field in dataclasses.fields(PreTrainedConfig))
#: Attributes transformers itself sets on a config and writes to config.json without declaring them as fields
#: (`to_dict`: model_type, _name_or_path; custom code: auto_map; quantizers, kernel fusion, weight-file pointer,
#: custom pipelines), so they come back as keyword arguments when the config loads.
_SAVED_LIBRARY_ATTRIBUTES = frozenset(
    {"model_type", "_name_or_path", "auto_map", "quantization_config", "fusion_config", "transformers_weights",
     "custom_pipelines"}
)


logger = logging.getLogger(__name__)
# Set while a saved config loads (`from_dict`, which `from_pretrained` uses): a key this version does not know (written
# by a newer transformers, or set by a user on the config) is kept with a warning there, as transformers does, instead of
# refused; constructing a config directly refuses it.
_LOADING_SAVED = contextvars.ContextVar("deepspeech2_loading_saved_config", default=False)


def conv_output_length(length, kernel: int, stride: int):
    """Frames (or bins) after one convolution padded by `kernel // 2` on each side; ints or tensors."""
    return (length + 2 * (kernel // 2) - kernel) // stride + 1


class _DeepSpeech2ConfigFields(PreTrainedConfig):
    """The fields of [`DeepSpeech2Config`], documented there. They sit in a base class so that dataclass machinery
    writes their keyword `__init__`, and [`DeepSpeech2Config.__init__`] can merge a preset in before it runs."""

    vocab_size: int = 11300
    num_input_features: int = 161
    input_feature_type: str = "linear"
    input_hop_length: int = 160
    conv_channels: list[int] | tuple[int, ...] = (32, 32)
    conv_kernel_sizes: list | tuple = ((41, 11), (21, 11))
    conv_strides: list | tuple = ((2, 2), (2, 1))
    rnn_type: str = "gru"
    num_hidden_layers: int = 5
    hidden_size: int = 1024
    bidirectional: bool = True
    lookahead_context: int = 20
    rnn_norm: str = "batch"
    hidden_dropout: float | int = 0.0
    final_dropout: float | int = 0.0
    pad_token_id: int | None = 0
    ctc_loss_reduction: str = "mean"
    ctc_zero_infinity: bool = True
    mask_time_prob: float | int = 0.0
    mask_time_length: int = 10
    mask_time_min_masks: int = 0
    mask_feature_prob: float | int = 0.0
    mask_feature_length: int = 10
    initializer_range: float = 0.02


@strict
class DeepSpeech2Config(_DeepSpeech2ConfigFields):
    r"""
    Configuration of a [`DeepSpeech2ForCTC`] model (Amodei et al., 2016, "Deep Speech 2"): a 2-D convolutional front
    end over a spectrogram, a stack of recurrent layers and a per-frame classifier trained with CTC.

    Named presets: `DeepSpeech2Config(preset="tiny" | "demo" | "streaming" | "base" | "paper", **overrides)` (or
    [`~DeepSpeech2Config.from_preset`]); fields passed explicitly override the preset's.

    Args:
        preset (`str`, *optional*):
            Start from a named preset in `PRESETS` instead of the defaults below. It is not stored: the fields it sets
            are.
        vocab_size (`int`, *optional*, defaults to 11300):
            Output classes, CTC blank included (the full Hangul syllable tokenizer has 11,300 tokens).
        num_input_features (`int`, *optional*, defaults to 161):
            Feature bins per input frame (161 linear-spectrogram bins for a 20 ms window; the mel bin count for log-mel).
        input_feature_type (`str`, *optional*, defaults to `"linear"`):
            The spectrogram the model reads: `"linear"` (DS2's 161-bin linear spectrogram) or `"mel"` (log-mel with
            `num_input_features` bins). Presets set it, and [`DeepSpeech2FeatureExtractor.from_model_config`] builds
            the matching feature extractor from it, so no recipe guesses it from the bin count.
        input_hop_length (`int`, *optional*, defaults to 160):
            Raw samples between input feature frames (10 ms at 16 kHz); with the time strides it gives
            `inputs_to_logits_ratio`. Must equal the feature extractor's `hop_length`.
        conv_channels (`tuple[int]`, *optional*, defaults to `(32, 32)`):
            Output channels of each 2-D convolution.
        conv_kernel_sizes (`tuple[tuple[int, int]]`, *optional*, defaults to `((41, 11), (21, 11))`):
            (frequency, time) kernel of each convolution.
        conv_strides (`tuple[tuple[int, int]]`, *optional*, defaults to `((2, 2), (2, 1))`):
            (frequency, time) stride of each convolution.
        rnn_type (`str`, *optional*, defaults to `"gru"`):
            `"gru"` or `"lstm"`.
        num_hidden_layers (`int`, *optional*, defaults to 5):
            Recurrent layers.
        hidden_size (`int`, *optional*, defaults to 1024):
            Units per direction; bidirectional outputs are summed, as in DS2, so every layer outputs `hidden_size`.
        bidirectional (`bool`, *optional*, defaults to `True`):
            Bidirectional RNNs. A unidirectional model adds DS2's lookahead convolution above its recurrent stack and
            can stream ([`ko_asr.streaming.StreamingRecognizer`]).
        lookahead_context (`int`, *optional*, defaults to 20):
            Future output frames the lookahead convolution sees (unidirectional models only; 0 for none).
        rnn_norm (`str`, *optional*, defaults to `"batch"`):
            Normalization of each recurrent layer's input: `"batch"` (DS2's sequence-wise BatchNorm, statistics over
            real frames only) or `"layer"`.
        hidden_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on recurrent layer outputs.
        final_dropout (`float`, *optional*, defaults to 0.0):
            Dropout before the classifier.
        pad_token_id (`int`, *optional*, defaults to 0):
            Padding token id, which is also the CTC blank.
        ctc_loss_reduction (`str`, *optional*, defaults to `"mean"`):
            `torch.nn.functional.ctc_loss` reduction: `"mean"` (per-target-length mean, batch mean) or `"sum"`.
        ctc_zero_infinity (`bool`, *optional*, defaults to `True`):
            Zero infinite losses (an utterance whose label is longer than its logits).
        mask_time_prob (`float`, *optional*, defaults to 0.0):
            SpecAugment in training forward: approximate fraction of frames masked along time.
        mask_time_length (`int`, *optional*, defaults to 10):
            Length of each time mask, in input frames.
        mask_time_min_masks (`int`, *optional*, defaults to 0):
            Minimum time masks per utterance when `mask_time_prob > 0`.
        mask_feature_prob (`float`, *optional*, defaults to 0.0):
            SpecAugment: approximate fraction of feature bins masked.
        mask_feature_length (`int`, *optional*, defaults to 10):
            Width of each feature mask, in bins.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the classifier's initialization.
        kwargs:
            Standard [`~transformers.PreTrainedConfig`] keys (`dtype`, `return_dict`, `id2label`, `auto_map`, ... as
            `from_pretrained` passes them).

    Raises:
        ValueError: for an unknown `preset`.
        TypeError: for a key that is neither a field, `preset`, nor a standard `PreTrainedConfig` key (a stray key
            would otherwise be kept as an attribute that nothing reads).
        huggingface_hub.errors.StrictDataclassClassValidationError: for field values that cannot build a model.
    """

    model_type = "deepspeech2"
    PRESETS: ClassVar[dict[str, dict]] = {
        # Unit tests: a few thousand parameters, milliseconds per step.
        "tiny": dict(
            input_feature_type="mel", num_input_features=33, conv_channels=(4, 4), conv_kernel_sizes=((5, 5), (5, 5)),
            conv_strides=((2, 2), (2, 1)), num_hidden_layers=2, hidden_size=16, vocab_size=64,
        ),
        # The make-demo model: log-mel input, small convolutions, 20 ms output frames (jamo CTC needs them), LayerNorm
        # between RNNs (it left CTC's blank plateau sooner than BatchNorm in our CPU runs); trains on 2 cores in minutes.
        "demo": dict(
            input_feature_type="mel", num_input_features=64, conv_channels=(16, 16), conv_kernel_sizes=((11, 7), (11, 5)),
            conv_strides=((2, 2), (2, 1)), num_hidden_layers=3, hidden_size=256, rnn_norm="layer",
        ),
        # The demo model made streamable: unidirectional GRUs and DS2's lookahead convolution over 4 output frames (80 ms)
        # on top; with the front end's own future context the model waits 150 ms behind the audio (ko_asr.streaming).
        "streaming": dict(
            input_feature_type="mel", num_input_features=64, conv_channels=(16, 16), conv_kernel_sizes=((11, 7), (11, 5)),
            conv_strides=((2, 2), (2, 1)), num_hidden_layers=3, hidden_size=256, rnn_norm="layer",
            bidirectional=False, lookahead_context=4,
        ),
        # ~25 M parameters with the full syllable vocabulary; one 24 GB GPU.
        "base": dict(num_hidden_layers=5, hidden_size=512),
        # The original project's model: 5 x BiGRU-1024 over the full DS2 front end.
        "paper": dict(num_hidden_layers=5, hidden_size=1024),
    }

    def __init__(self, *, preset: str | None = None, **kwargs):
        if preset is not None:
            kwargs = {**self._preset_fields(preset), **kwargs}  # explicit fields win
        super().__init__(**kwargs)

    def __post_init__(self, **kwargs):
        # JSON round trips turn tuples into lists; keep one canonical form so configs compare equal.
        self.conv_channels = [int(c) for c in self.conv_channels]
        self.conv_kernel_sizes = [[int(k) for k in pair] for pair in self.conv_kernel_sizes]
        self.conv_strides = [[int(s) for s in pair] for pair in self.conv_strides]
        super().__post_init__(**kwargs)
        # PreTrainedConfig consumes the keys it knows (torch_dtype, num_labels, generation options...) and would keep
        # any other one as a stray attribute, silently ignored by the model: refuse those (a misspelt field included).
        stray = sorted(key for key in kwargs if key in self.__dict__ and key not in _SAVED_LIBRARY_ATTRIBUTES)
        if stray and _LOADING_SAVED.get():
            logger.warning("%s: keeping configuration keys this version does not use: %s", type(self).__name__, stray)
        elif stray:
            own_fields = [f.name for f in dataclasses.fields(self) if f.name not in _PRETRAINED_CONFIG_FIELDS]
            raise TypeError(
                f"{type(self).__name__} got unknown configuration keys {stray}. Valid keys: `preset` "
                f"({', '.join(self.PRESETS)}), the model's fields {own_fields} and PreTrainedConfig's "
                f"{sorted(_PRETRAINED_CONFIG_FIELDS)}."
            )

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """As `PreTrainedConfig.from_dict` (used by `from_pretrained`), with unknown saved keys warned about rather than
        refused (see `_LOADING_SAVED`)."""
        token = _LOADING_SAVED.set(True)
        try:
            return super().from_dict(config_dict, **kwargs)
        finally:
            _LOADING_SAVED.reset(token)

    def validate_architecture(self):
        """Reject combinations that cannot build or train (called at construction)."""
        layers = len(self.conv_channels)
        if layers == 0 or len(self.conv_kernel_sizes) != layers or len(self.conv_strides) != layers:
            raise ValueError(
                "conv_channels, conv_kernel_sizes and conv_strides need one entry per convolution, got "
                f"{len(self.conv_channels)}, {len(self.conv_kernel_sizes)} and {len(self.conv_strides)}"
            )
        for name in ("conv_kernel_sizes", "conv_strides"):
            for pair in getattr(self, name):
                if len(pair) != 2 or min(pair) < 1:
                    raise ValueError(f"{name} entries must be (frequency, time) pairs of positive ints, got {pair}")
        if min(self.conv_channels) < 1:
            raise ValueError(f"conv_channels must be positive, got {self.conv_channels}")
        if self.input_feature_type not in ("linear", "mel"):
            raise ValueError(f"input_feature_type must be 'linear' or 'mel', got {self.input_feature_type!r}")
        if self.rnn_type not in ("gru", "lstm"):
            raise ValueError(f"rnn_type must be 'gru' or 'lstm', got {self.rnn_type!r}")
        if self.rnn_norm not in ("batch", "layer"):
            raise ValueError(f"rnn_norm must be 'batch' or 'layer', got {self.rnn_norm!r}")
        if self.num_hidden_layers < 1 or self.hidden_size < 1:
            raise ValueError("num_hidden_layers and hidden_size must be positive")
        if not self.bidirectional and self.lookahead_context < 0:
            raise ValueError(f"lookahead_context must be >= 0, got {self.lookahead_context}")
        if self.ctc_loss_reduction not in ("mean", "sum"):
            raise ValueError(f"ctc_loss_reduction must be 'mean' or 'sum', got {self.ctc_loss_reduction!r}")
        if self.pad_token_id is None or not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id (the CTC blank) must be a vocabulary id, got {self.pad_token_id}")
        for name in ("mask_time_prob", "mask_feature_prob", "hidden_dropout", "final_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("mask_time_length", "mask_feature_length", "input_hop_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def conv_output_bins(self) -> int:
        """Frequency bins left after the convolutions (each pads by kernel // 2)."""
        return self.conv_bins_after(len(self.conv_channels))

    def conv_bins_after(self, num_conv_layers: int) -> int:
        """Frequency bins after the first `num_conv_layers` convolutions."""
        bins = self.num_input_features
        for (kernel, _), (stride, _) in list(zip(self.conv_kernel_sizes, self.conv_strides))[:num_conv_layers]:
            bins = conv_output_length(bins, kernel, stride)
        return bins

    def output_frames(self, input_frames, num_conv_layers: int | None = None):
        """Output (logit) frames for `input_frames` feature frames (ints or tensors): the one place the length
        arithmetic lives; the model, its masks and the onnxruntime recognizer call it. Each convolution pads
        `kernel // 2` frames on both sides; `num_conv_layers` stops early (the masks inside the front end)."""
        for kernel, stride in list(zip(self.conv_kernel_sizes, self.conv_strides))[:num_conv_layers]:
            input_frames = conv_output_length(input_frames, kernel[1], stride[1])
        return input_frames

    @property
    def time_reduction(self) -> int:
        """Input frames per output frame."""
        return math.prod(stride[1] for stride in self.conv_strides)

    @property
    def inputs_to_logits_ratio(self) -> int:
        """Raw audio samples per output (logit) frame; the ASR pipeline aligns chunks to it."""
        return self.input_hop_length * self.time_reduction

    @classmethod
    def _preset_fields(cls, name: str) -> dict:
        if name not in cls.PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(cls.PRESETS)}")
        return cls.PRESETS[name]

    @classmethod
    def from_preset(cls, name: str, **overrides) -> DeepSpeech2Config:
        """Build a named preset (`"tiny"`, `"demo"`, `"streaming"`, `"base"`, `"paper"`), with any field overridden; the same as
        `DeepSpeech2Config(preset=name, **overrides)`."""
        return cls(preset=name, **overrides)


# Saving writes this file beside the weights and maps AutoConfig to it, so the model loads without ko_asr installed
# (`trust_remote_code=True`); the other classes of this folder do the same.
DeepSpeech2Config.register_for_auto_class()
