"""DeepSpeech2 (Amodei et al., 2016) in the transformers model contract."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutput
from transformers.modeling_utils import PreTrainedModel
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices
from transformers.utils import ModelOutput

from .configuration_deepspeech2 import DeepSpeech2Config

# DS2 clips activations to [0, 20] ("clipped ReLU").
_CLIP_MAX = 20.0


@dataclass
class DeepSpeech2ModelOutput(BaseModelOutput):
    r"""
    output_mask (`torch.BoolTensor` of shape `(batch_size, output_frames)`):
        True for the output frames computed from real input frames, False for padding. The CTC head, its loss
        lengths and [`DeepSpeech2ForCTC.generate`] all read it, so the length arithmetic runs once.
    """

    output_mask: torch.BoolTensor | None = None


@dataclass
class DeepSpeech2CTCGenerateOutput(ModelOutput):
    r"""
    sequences (`torch.LongTensor` of shape `(batch_size, output_frames)`):
        Greedy (best path) token id per output frame, the CTC blank (`pad_token_id`) on padded frames; decode with
        `processor.batch_decode(sequences)`, which merges repeats and drops blanks.
    logits (`torch.FloatTensor` of shape `(batch_size, output_frames, vocab_size)`):
        The per-frame scores the sequences were taken from (for beam search or confidence).
    output_mask (`torch.BoolTensor` of shape `(batch_size, output_frames)`):
        True for real output frames.
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        The CTC loss, when `labels` were given (same forward pass).
    """

    sequences: torch.LongTensor | None = None
    logits: torch.FloatTensor | None = None
    output_mask: torch.BoolTensor | None = None
    loss: torch.FloatTensor | None = None


def _frame_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """`(batch, max_length)` bool mask of the first `lengths[i]` frames."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def _masked_batch_norm(norm: nn.BatchNorm1d, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sequence-wise BatchNorm whose statistics (and running averages) come from real frames only, so padding
    never changes an utterance's output, in training or in eval."""
    if not norm.training:  # running statistics: a per-frame affine map, padding cannot leak
        return norm(hidden.transpose(1, 2)).transpose(1, 2) * mask.unsqueeze(-1).to(hidden.dtype)
    if bool(mask.all()):  # nothing padded (e.g. batch of one): skip the gather/scatter
        return norm(hidden.reshape(-1, hidden.shape[-1])).reshape(hidden.shape).to(hidden.dtype)
    out = torch.zeros_like(hidden)
    out[mask] = norm(hidden[mask]).to(hidden.dtype)
    return out


def _masked_batch_norm_2d(norm: nn.BatchNorm2d, hidden: torch.Tensor, time_mask: torch.Tensor) -> torch.Tensor:
    """BatchNorm2d over `(batch, channels, bins, frames)` whose training statistics (and running averages) come from
    the real frames only, so an utterance's output does not depend on what it is batched with; padded frames come out
    0. In eval mode BatchNorm is a per-position affine map and runs as is."""
    if not norm.training or bool(time_mask.all()):
        return norm(hidden)
    frames = hidden.permute(0, 3, 1, 2)  # (batch, frames, channels, bins)
    out = torch.zeros_like(frames)
    # real frames as a batch of (channels, bins, 1) images: per-channel statistics over real frames x bins
    out[time_mask] = norm(frames[time_mask].unsqueeze(-1)).squeeze(-1).to(hidden.dtype)
    return out.permute(0, 2, 3, 1)


class DeepSpeech2ConvLayer(nn.Module):
    """Conv2d over (frequency, time) -> BatchNorm2d (statistics of real frames) -> clipped ReLU; padded frames are
    zeroed after each layer so the next convolution sees exactly the zeros it would see at the end of an unpadded
    utterance."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], stride: tuple[int, int]):
        super().__init__()
        self.kernel = tuple(kernel)
        self.stride = tuple(stride)
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size=self.kernel, stride=self.stride,
            padding=(self.kernel[0] // 2, self.kernel[1] // 2), bias=False,
        )
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, hidden: torch.Tensor, time_mask: torch.Tensor) -> torch.Tensor:
        hidden = F.hardtanh(_masked_batch_norm_2d(self.norm, self.conv(hidden), time_mask), 0.0, _CLIP_MAX)
        return hidden * time_mask[:, None, None, :].to(hidden.dtype)


class DeepSpeech2Lookahead(nn.Module):
    """DS2's lookahead ("row") convolution, once above the unidirectional recurrent stack (Amodei et al., 2016,
    section 3.7): each output frame mixes in `context` future frames per channel, so the model streams with a fixed
    delay of `context` output frames."""

    def __init__(self, hidden_size: int, context: int):
        super().__init__()
        self.context = context
        self.conv = nn.Conv1d(hidden_size, hidden_size, kernel_size=context + 1, groups=hidden_size, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = F.pad(hidden.transpose(1, 2), (0, self.context))
        return F.hardtanh(self.conv(hidden), 0.0, _CLIP_MAX).transpose(1, 2)


# Segments shorter than this are merged into the next one: an utterance then computes at most this many - 1
# padded RNN frames, in exchange for fewer, larger kernel calls.
MIN_SEGMENT_FRAMES = 8


def _segment_ends(sorted_lengths: torch.Tensor) -> list[int]:
    """Time boundaries at which the set of still-running utterances shrinks (lengths sorted descending)."""
    ends: list[int] = []
    for length in sorted(set(sorted_lengths.tolist())):
        if ends and length - ends[-1] < MIN_SEGMENT_FRAMES:
            ends[-1] = length
        else:
            ends.append(length)
    return ends


def _reverse_within_lengths(hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's first `lengths[i]` frames, leaving its padding at the end (an involution)."""
    steps = torch.arange(hidden.shape[1], device=hidden.device)[None, :]
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return hidden.gather(1, index.unsqueeze(-1).expand_as(hidden))


def _exporting() -> bool:
    """True while torch.onnx / torch.jit trace the model: data-dependent Python control flow must not run."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def _run_without_padding(rnn: nn.GRU | nn.LSTM, hidden: torch.Tensor, sorted_lengths: torch.Tensor) -> torch.Tensor:
    """Run a unidirectional RNN over a batch sorted by length (descending), padding at the end.

    Time is cut into segments at the utterance ends; each segment runs only the utterances still active, with
    the state carried over. Like a PackedSequence this skips padding, but every call is a full-sequence cuDNN/
    MKL kernel with its input projection batched over time, which `PackedSequence` on CPU loses.
    """
    if _exporting():
        # Padding sits at the end of every row, so a causal RNN's real frames do not depend on it: one call over
        # the padded batch gives the same real frames, without the length-dependent loop a trace cannot follow.
        return rnn(hidden)[0]
    batch, frames, _ = hidden.shape
    output = hidden.new_zeros(batch, frames, rnn.hidden_size)
    state = None
    start = 0
    for end in _segment_ends(sorted_lengths):
        active = int((sorted_lengths > start).sum())
        if state is not None:
            state = tuple(s[:, :active] for s in state) if isinstance(state, tuple) else state[:, :active]
        segment, state = rnn(hidden[:active, start:end], state)
        output[:active, start:end] = segment
        start = end
    return output


class DeepSpeech2RecurrentLayer(GradientCheckpointingLayer):
    """[norm] -> GRU/LSTM that computes no padding -> dropout.

    A bidirectional layer is two unidirectional RNNs; the backward one reads each utterance reversed within its
    own length, so padding never enters either direction. Their outputs are summed, as in DS2, so every layer
    outputs `hidden_size` features.
    """

    def __init__(self, config: DeepSpeech2Config, input_size: int, use_norm: bool):
        super().__init__()
        self.norm = None
        if use_norm:
            self.norm = nn.BatchNorm1d(input_size) if config.rnn_norm == "batch" else nn.LayerNorm(input_size)
        rnn_class = nn.GRU if config.rnn_type == "gru" else nn.LSTM
        self.rnn = rnn_class(input_size, config.hidden_size, batch_first=True)
        self.rnn_reverse = rnn_class(input_size, config.hidden_size, batch_first=True) if config.bidirectional else None
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if isinstance(self.norm, nn.BatchNorm1d):
            hidden = _masked_batch_norm(self.norm, hidden, mask)
        elif self.norm is not None:
            hidden = self.norm(hidden)
        order = torch.argsort(lengths, descending=True)
        sorted_lengths, hidden = lengths[order], hidden[order]
        output = _run_without_padding(self.rnn, hidden, sorted_lengths)
        if self.rnn_reverse is not None:
            reverse = _run_without_padding(self.rnn_reverse, _reverse_within_lengths(hidden, sorted_lengths), sorted_lengths)
            output = output + _reverse_within_lengths(reverse, sorted_lengths)
        output = output[torch.argsort(order)] * mask.unsqueeze(-1).to(output.dtype)
        return self.dropout(output)


class DeepSpeech2PreTrainedModel(PreTrainedModel):
    """Weight initialization, length arithmetic and the transformers loading/saving contract."""

    config: DeepSpeech2Config
    config_class = DeepSpeech2Config
    base_model_prefix = "deepspeech2"
    main_input_name = "input_features"
    input_modalities = "audio"
    supports_gradient_checkpointing = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module):
        if isinstance(module, (nn.GRU, nn.LSTM)):
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    init.orthogonal_(param)
                else:
                    init.zeros_(param)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
        elif isinstance(module, nn.Conv1d):  # lookahead: start as "mostly the current frame"
            init.normal_(module.weight, mean=1.0 / module.kernel_size[0], std=0.02)
        else:
            super()._init_weights(module)

    def _get_feat_extract_output_lengths(
        self, input_lengths: torch.Tensor | int, num_conv_layers: int | None = None
    ) -> torch.Tensor | int:
        """Output (logit) frames for `input_lengths` feature frames ([`DeepSpeech2Config.output_frames`], where the
        length arithmetic lives). The per-layer frame masks, the logits length, the CTC input lengths and the frame
        mask of the logits all come from here (`num_conv_layers` stops early, for the masks inside the front end);
        `config.inputs_to_logits_ratio` is its asymptotic slope.
        """
        return self.config.output_frames(input_lengths, num_conv_layers)

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs):
        """[`~transformers.PreTrainedModel.save_pretrained`], which also copies this folder's code beside the weights;
        `auto_map` names both heads (transformers writes only the saved class's), so `AutoModel` and
        `AutoModelForCTC` load the directory with `trust_remote_code=True` where ko_asr is not installed."""
        self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **_AUTO_MAP}
        super().save_pretrained(save_directory, *args, **kwargs)

    @staticmethod
    def _input_lengths(attention_mask: torch.Tensor | None, input_features: torch.Tensor) -> torch.Tensor:
        """Real feature frames per utterance (all frames when there is no `attention_mask`)."""
        if attention_mask is not None:
            return attention_mask.sum(-1).long()
        batch, frames = input_features.shape[:2]
        return torch.full((batch,), frames, dtype=torch.long, device=input_features.device)


class DeepSpeech2Model(DeepSpeech2PreTrainedModel):
    """The DeepSpeech2 encoder: convolutional front end and recurrent stack, returning per-frame hidden states."""

    def __init__(self, config: DeepSpeech2Config):
        super().__init__(config)
        channels = [1, *config.conv_channels]
        self.conv_layers = nn.ModuleList(
            DeepSpeech2ConvLayer(channels[i], channels[i + 1], config.conv_kernel_sizes[i], config.conv_strides[i])
            for i in range(len(config.conv_channels))
        )
        rnn_input = config.conv_channels[-1] * config.conv_output_bins
        self.layers = nn.ModuleList(
            DeepSpeech2RecurrentLayer(config, rnn_input if i == 0 else config.hidden_size, use_norm=i > 0)
            for i in range(config.num_hidden_layers)
        )
        self.lookahead = (
            DeepSpeech2Lookahead(config.hidden_size, config.lookahead_context)
            if not config.bidirectional and config.lookahead_context > 0
            else None
        )
        self.gradient_checkpointing = False
        self.post_init()

    def _spec_augment(self, input_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """SpecAugment time and feature masks (training only), spans drawn within each utterance's real frames.
        Masked values are set to 0, the mean of normalized features."""
        batch, frames, bins = input_features.shape
        if self.config.mask_time_prob > 0:
            time_mask = _compute_mask_indices(
                (batch, frames), self.config.mask_time_prob, self.config.mask_time_length,
                attention_mask=attention_mask, min_masks=self.config.mask_time_min_masks,
            )
            input_features = input_features.masked_fill(
                torch.as_tensor(time_mask, device=input_features.device)[:, :, None], 0.0
            )
        if self.config.mask_feature_prob > 0:
            feature_mask = _compute_mask_indices((batch, bins), self.config.mask_feature_prob, self.config.mask_feature_length)
            input_features = input_features.masked_fill(
                torch.as_tensor(feature_mask, device=input_features.device)[:, None, :], 0.0
            )
        return input_features

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput | tuple:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, frames, num_input_features)`):
                Spectrogram frames from [`DeepSpeech2FeatureExtractor`].
            attention_mask (`torch.Tensor` of shape `(batch_size, frames)`, *optional*):
                1 for real frames, 0 for padding. Needed for batches of different lengths.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if input_features.ndim != 3 or input_features.shape[-1] != self.config.num_input_features:
            raise ValueError(
                f"input_features must be (batch, frames, {self.config.num_input_features}), "
                f"got {tuple(input_features.shape)}"
            )
        frames = input_features.shape[1]
        lengths = self._input_lengths(attention_mask, input_features)
        if self.training:
            input_features = self._spec_augment(input_features, attention_mask)

        hidden = input_features.transpose(1, 2).unsqueeze(1)  # (batch, 1, bins, frames)
        hidden = hidden * _frame_mask(lengths, frames)[:, None, None, :].to(hidden.dtype)
        input_lengths = lengths
        for index, conv in enumerate(self.conv_layers, start=1):
            lengths = self._get_feat_extract_output_lengths(input_lengths, index)
            out_frames = self._get_feat_extract_output_lengths(frames, index)
            hidden = conv(hidden, _frame_mask(lengths, out_frames))
        batch, channels, bins, frames = hidden.shape
        hidden = hidden.permute(0, 3, 1, 2).reshape(batch, frames, channels * bins)

        mask = _frame_mask(lengths, frames)
        all_hidden_states = (hidden,) if output_hidden_states else None
        for layer in self.layers:
            hidden = layer(hidden, lengths, mask)
            if output_hidden_states:
                all_hidden_states += (hidden,)
        if self.lookahead is not None:
            hidden = self.lookahead(hidden) * mask.unsqueeze(-1).to(hidden.dtype)
        if not return_dict:
            return tuple(v for v in (hidden, all_hidden_states) if v is not None)
        return DeepSpeech2ModelOutput(last_hidden_state=hidden, hidden_states=all_hidden_states, output_mask=mask)


class DeepSpeech2ForCTC(DeepSpeech2PreTrainedModel):
    """DeepSpeech2 with its per-frame classifier and CTC loss.

    Padded output frames emit the blank with certainty, so `logits.argmax(-1)` of a padded batch decodes exactly
    with `batch_decode`.
    """

    def __init__(self, config: DeepSpeech2Config):
        super().__init__(config)
        self.deepspeech2 = DeepSpeech2Model(config)
        self.head_norm = nn.BatchNorm1d(config.hidden_size) if config.rnn_norm == "batch" else nn.LayerNorm(config.hidden_size)
        self.dropout = nn.Dropout(config.final_dropout)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> CausalLMOutput | tuple:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, frames, num_input_features)`):
                Spectrogram frames from [`DeepSpeech2FeatureExtractor`].
            attention_mask (`torch.Tensor` of shape `(batch_size, frames)`, *optional*):
                1 for real frames, 0 for padding.
            labels (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
                Token ids, padded with -100. The CTC loss is computed in float32, also under autocast.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if labels is not None and labels.max() >= self.config.vocab_size:
            raise ValueError(f"label ids must be < vocab_size ({self.config.vocab_size}), got {int(labels.max())}")
        outputs = self.deepspeech2(
            input_features, attention_mask=attention_mask, output_hidden_states=output_hidden_states, return_dict=True
        )
        mask = outputs.output_mask
        logits = self._head(outputs.last_hidden_state, mask)

        loss = None
        if labels is not None:
            loss = self._ctc_loss(logits, mask.sum(-1), labels)
        if not return_dict:
            output = (logits,) + ((outputs.hidden_states,) if outputs.hidden_states is not None else ())
            return ((loss,) + output) if loss is not None else output
        return CausalLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

    def _head(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Norm -> dropout -> classifier; padded frames emit the blank with certainty."""
        if isinstance(self.head_norm, nn.BatchNorm1d):
            hidden = _masked_batch_norm(self.head_norm, hidden, mask)
        else:
            hidden = self.head_norm(hidden)
        logits = self.lm_head(self.dropout(hidden))
        blank = torch.full_like(logits[0, 0], torch.finfo(logits.dtype).min / 2)
        blank[self.config.pad_token_id] = 0.0
        return torch.where(mask.unsqueeze(-1), logits, blank)

    @torch.no_grad()
    def generate(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict_in_generate: bool = False,
        **kwargs,
    ) -> DeepSpeech2CTCGenerateOutput | torch.LongTensor:
        r"""Greedy CTC decoding (best path), as `ParakeetForCTC.generate`: the arg-max token of every output frame,
        with padded frames set to the blank so `processor.batch_decode(sequences)` gives each utterance's text.

        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, frames, num_input_features)`):
                Spectrogram frames from [`DeepSpeech2FeatureExtractor`].
            attention_mask (`torch.Tensor` of shape `(batch_size, frames)`, *optional*):
                1 for real frames, 0 for padding.
            labels (`torch.LongTensor` of shape `(batch_size, target_length)`, *optional*):
                When given, the CTC loss of the same forward pass is returned in the output (evaluation needs both).
            return_dict_in_generate (`bool`, *optional*, defaults to `False`):
                Return a [`DeepSpeech2CTCGenerateOutput`] instead of the sequences alone.

        Returns:
            `torch.LongTensor` of shape `(batch_size, output_frames)`, or a [`DeepSpeech2CTCGenerateOutput`].

        Example:

        ```python
        >>> import ko_asr
        >>> from transformers import AutoModelForCTC, AutoProcessor

        >>> processor = AutoProcessor.from_pretrained("outputs/ds2-demo")
        >>> model = AutoModelForCTC.from_pretrained("outputs/ds2-demo")
        >>> inputs = processor(audio=waveform, sampling_rate=16000, return_tensors="pt")
        >>> text = processor.batch_decode(model.generate(**inputs))[0]
        ```
        """
        outputs = self.deepspeech2(input_features, attention_mask=attention_mask, return_dict=True)
        logits = self._head(outputs.last_hidden_state, outputs.output_mask)
        sequences = logits.argmax(dim=-1).masked_fill(~outputs.output_mask, self.config.pad_token_id)
        if not return_dict_in_generate:
            return sequences
        loss = self._ctc_loss(logits, outputs.output_mask.sum(-1), labels) if labels is not None else None
        return DeepSpeech2CTCGenerateOutput(
            sequences=sequences, logits=logits, output_mask=outputs.output_mask, loss=loss
        )

    def _ctc_loss(self, logits: torch.Tensor, output_lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels_mask = labels >= 0
        target_lengths = labels_mask.sum(-1)
        targets = labels.masked_select(labels_mask)
        # float32 whatever the autocast dtype: CTC's log-space sums lose too much precision in bf16/fp16.
        with torch.autocast(device_type=logits.device.type, enabled=False):
            log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
            with torch.backends.cudnn.flags(enabled=False):
                return F.ctc_loss(
                    log_probs, targets, output_lengths, target_lengths,
                    blank=self.config.pad_token_id,
                    reduction=self.config.ctc_loss_reduction,
                    zero_infinity=self.config.ctc_zero_infinity,
                )


DeepSpeech2Model.register_for_auto_class("AutoModel")
DeepSpeech2ForCTC.register_for_auto_class("AutoModelForCTC")
# `file.Class` references, the form transformers writes into `auto_map`.
_AUTO_MAP = {
    cls._auto_class: f"{__name__.rpartition('.')[2]}.{cls.__name__}" for cls in (DeepSpeech2Model, DeepSpeech2ForCTC)
}

__all__ = [
    "DeepSpeech2CTCGenerateOutput",
    "DeepSpeech2ForCTC",
    "DeepSpeech2Model",
    "DeepSpeech2ModelOutput",
    "DeepSpeech2PreTrainedModel",
]
