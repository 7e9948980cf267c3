"""Export a saved DeepSpeech2 to ONNX (offline and streaming graphs), check it against PyTorch, quantize it to int8.

    ko-asr export onnx outputs/ds2-streaming build/ds2-streaming-onnx

writes into the output directory:

- `model.onnx`: `input_features` `(batch, frames, num_input_features)` float32 and `attention_mask` `(batch, frames)`
  int64 in, `logits` `(batch, output_frames, vocab_size)` out; batch and time axes are dynamic;
- `model_streaming.onnx` (unidirectional models): the [`DeepSpeech2StreamingEncoder`] step, `input_features`,
  `final` and the state tensors in, `logits` and the new state out (`ko_asr.streaming.StreamingRecognizer` runs it);
- `model.int8.onnx` / `model_streaming.int8.onnx`: onnxruntime's dynamic int8 quantization of both (MatMul weights
  int8, activations quantized per call; see `quantize_onnx_int8` for what stays float32);
- `config.json` and the processor files, so the directory is also what `ko-asr transcribe --onnx` reads.

The TorchScript-based exporter (`dynamo=False`) is used on purpose: torch 2.14's dynamo exporter fails to decompose
`nn.GRU` ("Failed to decompose the FX graph"), while the TorchScript one maps it to ONNX's `GRU` operator.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .streaming import STREAMING_ONNX, _OnnxStep, _TorchStep
from .streaming_encoder import DeepSpeech2StreamingEncoder

OFFLINE_ONNX = "model.onnx"
#: The largest logit difference from PyTorch an export may show; float rounding gives ~1e-6.
MAX_ABS_DIFF = 1e-4
OPSET = 17


def int8_name(graph: str) -> str:
    """`model.onnx` -> `model.int8.onnx`."""
    return graph.replace(".onnx", ".int8.onnx")


@dataclass
class ExportReport:
    """What `export_onnx` wrote and how closely onnxruntime reproduces PyTorch (max absolute logit difference on
    random inputs of lengths the trace did not see)."""

    output_dir: Path
    files: list[str] = field(default_factory=list)
    max_abs_diff: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every graph reproduces PyTorch within `MAX_ABS_DIFF`."""
        return all(diff <= MAX_ABS_DIFF for diff in self.max_abs_diff.values())

    def describe(self) -> str:
        lines = [f"wrote {', '.join(self.files)} to {self.output_dir}"]
        lines += [f"onnxruntime vs PyTorch, max |logit difference|: {name} {diff:.2e}"
                  + ("" if diff <= MAX_ABS_DIFF else f" (over {MAX_ABS_DIFF:.0e}: this graph is wrong)")
                  for name, diff in self.max_abs_diff.items()]
        return "\n".join(lines)


class _OfflineGraph(nn.Module):
    """`(input_features, attention_mask) -> logits`, the signature the ONNX graph gets."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_features, attention_mask=attention_mask).logits


def _quiet_export(*args, **kwargs) -> None:
    with warnings.catch_warnings():  # the TorchScript exporter warns about every traced shape computation
        warnings.simplefilter("ignore")
        torch.onnx.export(*args, dynamo=False, opset_version=OPSET, do_constant_folding=True, **kwargs)


def export_offline(model: nn.Module, path: Path) -> None:
    """Write the whole-utterance graph of `model` (a `DeepSpeech2ForCTC` in eval mode) to `path`."""
    config = model.config
    features = torch.randn(2, 97, config.num_input_features)
    mask = torch.ones(2, 97, dtype=torch.long)
    mask[1, 61:] = 0  # a padded row, so the trace keeps the masking
    # eval() on the wrapper too: the exporter restores the wrapper's training flag recursively afterwards, and a fresh
    # nn.Module is in training mode, which would leave the model in training mode (BatchNorm on batch statistics).
    _quiet_export(
        _OfflineGraph(model).eval(), (features, mask), str(path),
        input_names=["input_features", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_features": {0: "batch", 1: "frames"}, "attention_mask": {0: "batch", 1: "frames"},
                      "logits": {0: "batch", 1: "output_frames"}},
    )


def export_streaming(model: nn.Module, path: Path) -> None:
    """Write the streaming step of a unidirectional `model` to `path` (state in, state out).

    Raises:
        ValueError: for a bidirectional model.
    """
    encoder = DeepSpeech2StreamingEncoder(model)
    names = encoder.geometry.state_names()
    state = encoder.initial_state(1)
    features = torch.randn(1, 2 * encoder.geometry.min_first_chunk() + 3, model.config.num_input_features)
    dynamic = {"input_features": {0: "batch", 1: "frames"}, "logits": {0: "batch", 1: "output_frames"}}
    for name, tensor in zip(names, state):
        if name.startswith("rnn"):  # (1, batch, hidden)
            dynamic[name] = dynamic[f"{name}_out"] = {1: "batch"}
        else:  # caches: their time axis (last for convolutions, 1 for the lookahead) changes length between calls
            time_axis = 3 if tensor.ndim == 4 else 1
            dynamic[name] = {0: "batch", time_axis: f"{name}_frames"}
            dynamic[f"{name}_out"] = {0: "batch", time_axis: f"{name}_out_frames"}
    _quiet_export(
        encoder, (features, torch.tensor(0), *state), str(path),
        input_names=["input_features", "final", *names], output_names=["logits", *(f"{n}_out" for n in names)],
        dynamic_axes=dynamic,
    )


def quantize_onnx_int8(source: Path, target: Path) -> None:
    """onnxruntime's dynamic quantization of the MatMul/Gemm weights to int8 (activations quantized on the fly).

    Convolutions stay float32: their int8 form (`ConvInteger`) ran the `base` model slower than float32 on a 2-core
    x86 CPU (1 thread) in our trial. onnxruntime has no quantized `GRU`/`LSTM` operator either, so
    for DeepSpeech2 the gain is small; PyTorch's dynamic quantization (`quantize_torch_int8`) covers the RNNs.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its "consider pre-processing" advice is for static quantization of CNNs
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        root.setLevel(level)


def quantize_torch_int8(model: nn.Module) -> nn.Module:
    """PyTorch's dynamic int8 quantization (`torch.ao.quantization.quantize_dynamic`) of a model's RNNs and Linear
    layers, in a copy (the convolutions stay float32); CPU inference only."""
    import copy

    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.GRU, nn.LSTM, nn.Linear}, dtype=torch.qint8)


def _max_diff_offline(model, path: Path, rng: np.random.Generator) -> float:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    features = rng.standard_normal((3, 143, model.config.num_input_features)).astype(np.float32)
    mask = np.ones((3, 143), dtype=np.int64)
    mask[1, 120:] = 0
    mask[2, 31:] = 0
    (logits,) = session.run(None, {"input_features": features, "attention_mask": mask})
    with torch.no_grad():
        reference = model(torch.from_numpy(features), attention_mask=torch.from_numpy(mask)).logits.numpy()
    real = model._get_feat_extract_output_lengths(torch.from_numpy(mask.sum(-1)))
    return max(float(np.abs(logits[i, :n] - reference[i, :n]).max()) for i, n in enumerate(real.tolist()))


def _max_diff_streaming(model, path: Path, rng: np.random.Generator) -> float:
    """PyTorch vs onnxruntime streaming steps on uneven chunks, each engine called as `StreamingRecognizer` calls it
    (once enough frames are pending for a logit frame), then flushed."""
    features = rng.standard_normal((1, 151, model.config.num_input_features)).astype(np.float32)
    runs = []
    for engine in (_TorchStep(model), _OnnxStep(path, model.config)):
        state, outputs, pending = engine.initial_state(), [], features[:, :0]
        for start in range(0, features.shape[1], 7):
            pending = np.concatenate([pending, features[:, start:start + 7]], axis=1)
            if engine.geometry.output_frames(engine.geometry.cache_lengths(state), pending.shape[1], False) >= 1:
                logits, state = engine(pending, False, state)
                outputs.append(logits)
                pending = pending[:, :0]
        logits, state = engine(pending, True, state)
        runs.append(np.concatenate([*outputs, logits]))
    return float(np.abs(runs[0] - runs[1]).max())


def export_onnx(model_dir: str | os.PathLike, output_dir: str | os.PathLike, int8: bool = True) -> ExportReport:
    """Export the DeepSpeech2 saved in `model_dir` into `output_dir` (see the module docstring) and check it.

    Args:
        model_dir (`str` or `os.PathLike`): a directory `DeepSpeech2ForCTC.from_pretrained` loads, with its processor.
        output_dir (`str` or `os.PathLike`): created if missing.
        int8 (`bool`, *optional*, defaults to `True`): also write the int8 graphs.

    Returns:
        [`ExportReport`].

    Raises:
        ValueError: when `model_dir` is not a DeepSpeech2 model.
    """
    from transformers import AutoConfig, AutoModelForCTC

    from .models.deepspeech2 import DeepSpeech2Processor

    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type != "deepspeech2":
        raise ValueError(f"{model_dir}: ONNX export covers DeepSpeech2 models; this one is {config.model_type!r}")
    model = AutoModelForCTC.from_pretrained(model_dir).eval()
    processor = DeepSpeech2Processor.from_pretrained(model_dir, use_lm=False)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    report = ExportReport(output)
    rng = np.random.default_rng(0)

    export_offline(model, output / OFFLINE_ONNX)
    report.files.append(OFFLINE_ONNX)
    report.max_abs_diff[OFFLINE_ONNX] = _max_diff_offline(model, output / OFFLINE_ONNX, rng)
    graphs = [OFFLINE_ONNX]
    if not config.bidirectional:
        export_streaming(model, output / STREAMING_ONNX)
        report.files.append(STREAMING_ONNX)
        report.max_abs_diff[STREAMING_ONNX] = _max_diff_streaming(model, output / STREAMING_ONNX, rng)
        graphs.append(STREAMING_ONNX)
    if int8:
        for graph in graphs:
            quantize_onnx_int8(output / graph, output / int8_name(graph))
            report.files.append(int8_name(graph))
    config.save_pretrained(output)
    processor.save_pretrained(output)
    report.files += ["config.json", "processor files"]
    return report


__all__ = ["ExportReport", "export_onnx", "export_offline", "export_streaming", "quantize_onnx_int8", "quantize_torch_int8"]
