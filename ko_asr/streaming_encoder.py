"""DeepSpeech2 as a stateful step function: feature frames and state in, the logits they complete and new state out.

Written as one `nn.Module` whose traced path has no data-dependent Python control flow, so the same code runs eagerly
(`ko_asr.streaming.StreamingRecognizer`) and exports to ONNX with its state as inputs and outputs
(`ko_asr.onnx_export`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .models.deepspeech2.modeling_deepspeech2 import _CLIP_MAX, DeepSpeech2ForCTC


@dataclass(frozen=True)
class _TimeConv:
    """Time geometry of one streamed convolution: kernel, stride and the `kernel // 2` zero frames it pads with."""

    kernel: int
    stride: int

    @property
    def padding(self) -> int:
        return self.kernel // 2

    def outputs(self, buffered: int, final: bool) -> int:
        """Output frames computable from `buffered` input frames (cache included, the left padding counted in it);
        at the end of the utterance the right padding joins them."""
        available = buffered + (self.padding if final else 0)
        return max(0, (available - self.kernel) // self.stride + 1)


@dataclass(frozen=True)
class DeepSpeech2StreamingGeometry:
    """What a streaming host needs to know of a unidirectional DeepSpeech2 without running it: the state's shapes and
    how many logit frames a call will emit (shared by the PyTorch and the ONNX engines)."""

    convs: tuple[_TimeConv, ...]
    conv_state_shapes: tuple[tuple[int, int, int], ...]  # (channels, bins, initial frames) per convolution
    rnn_states: int  # state tensors per recurrent layer: 1 (GRU) or 2 (LSTM)
    num_layers: int
    hidden_size: int
    lookahead: int
    time_reduction: int

    @classmethod
    def from_config(cls, config) -> DeepSpeech2StreamingGeometry:
        if config.bidirectional:
            raise ValueError(
                "this DeepSpeech2 model is bidirectional: its backward RNNs read the utterance from the end, so it "
                "cannot emit anything until the audio is complete. Stream a unidirectional model "
                "(DeepSpeech2Config(bidirectional=False), e.g. the 'streaming' preset)."
            )
        convs = tuple(_TimeConv(kernel[1], stride[1]) for kernel, stride in zip(config.conv_kernel_sizes, config.conv_strides))
        channels = [1, *config.conv_channels]
        shapes = tuple((channels[i], config.conv_bins_after(i), conv.padding) for i, conv in enumerate(convs))
        return cls(
            convs=convs, conv_state_shapes=shapes, rnn_states=2 if config.rnn_type == "lstm" else 1,
            num_layers=config.num_hidden_layers, hidden_size=config.hidden_size,
            lookahead=config.lookahead_context, time_reduction=config.time_reduction,
        )

    def state_names(self) -> list[str]:
        """Names of the state tensors, in the order the step takes and returns them."""
        names = [f"conv{i}_cache" for i in range(len(self.convs))]
        for i in range(self.num_layers):
            names += [f"rnn{i}_h", f"rnn{i}_c"] if self.rnn_states == 2 else [f"rnn{i}_h"]
        return names + ["lookahead_cache"]

    def initial_state_shapes(self, batch_size: int = 1) -> list[tuple[int, ...]]:
        """Shapes of the state before any audio: each convolution's left zero padding, zero RNN states, an empty
        lookahead cache."""
        shapes = [(batch_size, *shape) for shape in self.conv_state_shapes]
        shapes += [(1, batch_size, self.hidden_size)] * (self.num_layers * self.rnn_states)
        return shapes + [(batch_size, 0, self.hidden_size)]

    @staticmethod
    def cache_lengths(state) -> list[int]:
        """Time lengths of the caches in a state (convolutions: last axis; lookahead: axis 1)."""
        return [s.shape[-1] for s in state[:-1] if s.ndim == 4] + [state[-1].shape[1]]

    def output_frames(self, cache_lengths: list[int], new_frames: int, final: bool) -> int:
        """Logit frames a call would emit given the caches' time lengths and the feature frames it gets. Hosts use it
        to wait for enough audio instead of calling with too little (an RNN cannot run on zero frames)."""
        frames = new_frames
        for conv, cached in zip(self.convs, cache_lengths):
            frames = conv.outputs(cached + frames, final)
        buffered = cache_lengths[-1] + frames
        return buffered if final else max(0, buffered - self.lookahead)

    def min_first_chunk(self) -> int:
        """Feature frames the first call needs to emit at least one logit frame."""
        lengths = [conv.padding for conv in self.convs] + [0]
        frames = 1
        while self.output_frames(lengths, frames, final=False) < 1:
            frames += 1
        return frames


class DeepSpeech2StreamingEncoder(nn.Module):
    r"""A unidirectional [`DeepSpeech2ForCTC`] as a streaming step:
    `(input_features, final, *state) -> (logits, *new_state)`.

    Each layer keeps what it still needs of its input: a convolution the frames its next windows overlap (starting as
    its `kernel // 2` frames of zero padding), each RNN its hidden state, the lookahead convolution its last
    `lookahead_context` frames. A call emits every output frame whose inputs are all known; with `final=1` the right
    zero padding of every convolution (and of the lookahead) is appended, which flushes the rest. Fed an utterance in
    any split, the logits it emits are the offline model's (up to float rounding), because every frame sees exactly
    the inputs and zero padding it sees offline.

    Args:
        model ([`DeepSpeech2ForCTC`]):
            A unidirectional model in eval mode (the wrapper shares its weights).

    Raises:
        ValueError: for a bidirectional model, which needs the whole utterance before it can emit a frame.
    """

    def __init__(self, model: DeepSpeech2ForCTC):
        super().__init__()
        self.geometry = DeepSpeech2StreamingGeometry.from_config(model.config)  # refuses bidirectional models
        self.model = model.eval()
        self.config = model.config
        self.convs = self.geometry.convs
        self.lookahead = self.geometry.lookahead  # 0 exactly when the model has no lookahead convolution
        self.is_lstm = self.geometry.rnn_states == 2
        self.eval()  # an inference wrapper (exporters restore this flag on the wrapped model afterwards)

    def initial_state(self, batch_size: int = 1) -> list[torch.Tensor]:
        """Zero state tensors before any audio (see [`DeepSpeech2StreamingGeometry.initial_state_shapes`])."""
        parameter = next(self.model.parameters())
        return [parameter.new_zeros(shape) for shape in self.geometry.initial_state_shapes(batch_size)]

    # ----- the step --------------------------------------------------------------------------------------------------
    def forward(self, input_features: torch.Tensor, final: torch.Tensor, *state: torch.Tensor):
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, frames, num_input_features)`):
                New feature frames (normalized with fixed statistics, see `DeepSpeech2FeatureExtractor`); may be
                empty on the final call.
            final (`torch.LongTensor` of shape `()`):
                1 on the utterance's last call (flushes the right padding), else 0.
            state (`torch.FloatTensor`...):
                As [`~DeepSpeech2StreamingEncoder.initial_state`] or the previous call returned it.

        Returns:
            `tuple`: `logits` `(batch_size, new_output_frames, vocab_size)` followed by the new state.
        """
        encoder = self.model.deepspeech2
        state = list(state)
        hidden = input_features.transpose(1, 2).unsqueeze(1)  # (batch, 1, bins, frames)
        new_state: list[torch.Tensor] = []
        for index, (layer, geometry) in enumerate(zip(encoder.conv_layers, self.convs)):
            hidden, cache = self._conv_step(layer, geometry, hidden, state[index], final)
            new_state.append(cache)
        batch, channels, bins, frames = hidden.shape
        hidden = hidden.permute(0, 3, 1, 2).reshape(batch, frames, channels * bins)

        position = len(self.convs)
        if hidden.shape[1] == 0 and not torch.jit.is_tracing():
            # Nothing new reached the RNNs (a final call right after a full one): eager torch refuses empty
            # sequences, and their state would not change. Exported graphs are only called with frames to emit.
            n_rnn_states = len(state) - position - 1
            new_state += state[position:position + n_rnn_states]
            hidden = hidden.new_zeros(batch, 0, self.config.hidden_size)
            hidden, lookahead_cache = self._lookahead_step(hidden, state[-1], final)
            return (self._head(hidden), *new_state, lookahead_cache)
        for layer in encoder.layers:
            if isinstance(layer.norm, nn.BatchNorm1d):
                hidden = layer.norm(hidden.transpose(1, 2)).transpose(1, 2)
            elif layer.norm is not None:
                hidden = layer.norm(hidden)
            if self.is_lstm:
                hidden, (h, c) = layer.rnn(hidden, (state[position], state[position + 1]))
                new_state += [h, c]
                position += 2
            else:
                hidden, h = layer.rnn(hidden, state[position])
                new_state.append(h)
                position += 1

        hidden, lookahead_cache = self._lookahead_step(hidden, state[-1], final)
        return (self._head(hidden), *new_state, lookahead_cache)

    def _head(self, hidden: torch.Tensor) -> torch.Tensor:
        model = self.model
        if isinstance(model.head_norm, nn.BatchNorm1d):
            hidden = model.head_norm(hidden.transpose(1, 2)).transpose(1, 2)
        else:
            hidden = model.head_norm(hidden)
        return model.lm_head(hidden)

    @staticmethod
    def _conv_step(layer, geometry: _TimeConv, hidden, cache, final):
        """Append the new frames to the cache, emit every complete window, keep the frames later windows need.

        Only the final call appends zero frames (`kernel` of them, of which the windows ending inside the right padding
        are kept): streaming calls compute no window twice. Hosts call with enough frames for every layer to emit one
        (`DeepSpeech2StreamingGeometry.output_frames`), so a streaming buffer is never shorter than the kernel."""
        kernel, stride, padding = geometry.kernel, geometry.stride, geometry.padding
        buffered = cache.shape[-1] + hidden.shape[-1]
        zeros = hidden.new_zeros(hidden.shape[0], hidden.shape[1], hidden.shape[2], kernel)[..., : kernel * final]
        buffer = torch.cat([cache, hidden, zeros], dim=-1)
        streamed = torch.div(buffered - kernel, stride, rounding_mode="floor") + 1
        flushed = torch.div(buffered + padding - kernel, stride, rounding_mode="floor") + 1
        count = torch.where(final > 0, flushed, streamed).clamp_min(0)
        conv = layer.conv
        out = F.conv2d(buffer, conv.weight, conv.bias, stride=conv.stride, padding=(conv.padding[0], 0))
        out = F.hardtanh(layer.norm(out[..., :count]), 0.0, _CLIP_MAX)
        # After the final call nothing is cached; otherwise keep the frames from the next window's start.
        keep_from = torch.where(final > 0, torch.as_tensor(buffered), count * stride)
        return out, buffer[..., keep_from:buffered]

    def _lookahead_step(self, hidden, cache, final):
        """DS2's lookahead over the cached and new RNN frames: emit frames whose `context` future frames exist (on the
        final call, the zero padding stands in for them)."""
        if self.lookahead == 0:
            return hidden, cache
        context = self.lookahead
        buffered = cache.shape[1] + hidden.shape[1]
        zeros = hidden.new_zeros(hidden.shape[0], context, hidden.shape[2])[:, : context * final]
        buffer = torch.cat([cache, hidden, zeros], dim=1)
        count = torch.where(final > 0, torch.as_tensor(buffered), torch.as_tensor(buffered - context)).clamp_min(0)
        conv = self.model.deepspeech2.lookahead.conv
        out = F.hardtanh(F.conv1d(buffer.transpose(1, 2), conv.weight, groups=conv.groups), 0.0, _CLIP_MAX)
        return out.transpose(1, 2)[:, :count], buffer[:, count:buffered]


__all__ = ["DeepSpeech2StreamingEncoder", "DeepSpeech2StreamingGeometry"]
