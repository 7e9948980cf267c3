"""Lean deployment: PyTorch fp32 vs PyTorch int8 vs ONNX fp32 vs ONNX int8, speed and CER, in the same run.

Each trained model in `--models` is exported with `ko_asr.onnx_export.export_onnx` (into a temporary directory),
then every variant transcribes the same `--utterances` synthetic eval_clean utterances one at a time (batch 1, as a
server answering requests), greedy decoding, 1 thread: features + network + decoding are timed together. CER is
ko_asr's (jiwer) against the normalized references. A random-init `base`-size model (5 x BiGRU-512, linear
spectrogram, the full 11,300-syllable vocabulary) is timed too (no CER: its weights are random).

- PyTorch int8: `torch.ao.quantization.quantize_dynamic` of the GRU/LSTM and Linear layers (convolutions stay fp32);
- ONNX int8: onnxruntime's `quantize_dynamic` of MatMul/Gemm (convolutions and onnxruntime's GRU operator stay fp32).

Run: `.venv/bin/python benchmarks/export.py [--models outputs/ds2-demo outputs/ds2-streaming] [--utterances 100]`
Synthetic espeak-ng speech: the CERs are not real-speech accuracy.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from fixtures import save_random_base_model  # noqa: E402 - benchmarks/ is the script directory
from transformers import AutoModelForCTC

import ko_asr  # noqa: F401
from ko_asr.data.sources import load_corpus
from ko_asr.metrics import cer
from ko_asr.models.deepspeech2 import DeepSpeech2Processor
from ko_asr.onnx_export import export_onnx, quantize_torch_int8
from ko_asr.onnx_inference import OnnxSpeechRecognizer
from ko_asr.text.policy import TranscriptPolicy


class TorchGreedy:
    def __init__(self, model, processor):
        self.model, self.processor = model.eval(), processor

    @torch.no_grad()
    def __call__(self, waveform: np.ndarray) -> str:
        inputs = self.processor(audio=waveform, sampling_rate=16000, return_tensors="pt")
        return self.processor.tokenizer.decode(self.model(**inputs).logits[0].argmax(-1).tolist())


class OnnxGreedy:
    def __init__(self, directory: str, int8: bool):
        self.recognizer = OnnxSpeechRecognizer(directory, int8=int8, threads=1)

    def __call__(self, waveform: np.ndarray) -> str:
        return self.recognizer([{"raw": waveform, "sampling_rate": 16000}])[0]["text"]


def run(transcribe, waveforms: list[np.ndarray]) -> tuple[list[str], float]:
    transcribe(waveforms[0])  # warm-up
    began = time.perf_counter()
    texts = [transcribe(waveform) for waveform in waveforms]
    return texts, time.perf_counter() - began


def variants(model_dir: str, export_dir: str) -> dict:
    model = AutoModelForCTC.from_pretrained(model_dir).eval()
    processor = DeepSpeech2Processor.from_pretrained(model_dir, use_lm=False)
    export_onnx(model_dir, export_dir)
    return {
        "PyTorch fp32": TorchGreedy(model, processor),
        "PyTorch int8 (dynamic)": TorchGreedy(quantize_torch_int8(model), processor),
        "ONNX fp32": OnnxGreedy(export_dir, int8=False),
        "ONNX int8 (dynamic)": OnnxGreedy(export_dir, int8=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["outputs/ds2-demo", "outputs/ds2-streaming"])
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--base_utterances", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"{os.cpu_count()} cores, 1 thread (torch and onnxruntime), batch 1, greedy decoding; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| model | variant | seconds | x real time | speed vs PyTorch fp32 | CER | CER change vs fp32 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        for index, model_dir in enumerate([*args.models, None]):
            if model_dir is None:
                name, model_dir = "random-init `base` (BiGRU 5x512)", save_random_base_model(os.path.join(scratch, "base"))
                rows, references = None, None
            else:
                name = f"`{os.path.basename(model_dir.rstrip('/'))}`"
                policy = TranscriptPolicy.resolve(DeepSpeech2Processor.from_pretrained(model_dir, use_lm=False))
                rows = load_corpus("synthetic", ["eval_clean"], policy=policy)["eval_clean"]
                rows = rows.select(range(min(args.utterances, len(rows))))
                references = list(rows.with_format(None)["text"])
            if rows is None:
                rng = np.random.default_rng(0)
                waveforms = [(0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32)
                             for s in rng.uniform(2, 6, args.base_utterances)]
            else:
                waveforms = [np.asarray(row["audio"]["array"], dtype=np.float32) for row in rows]
            seconds = sum(w.size for w in waveforms) / 16000
            baseline = reference_cer = None
            for variant, transcribe in variants(model_dir, os.path.join(scratch, f"onnx-{index}")).items():
                texts, elapsed = run(transcribe, waveforms)
                baseline = baseline or elapsed
                error = change = "-"
                if references is not None:
                    value = cer(references, [policy.normalize_hypothesis(text) for text in texts])
                    reference_cer = reference_cer if reference_cer is not None else value
                    error = f"{value:.4f}"
                    change = f"{100 * (value - reference_cer) / reference_cer:+.1f}%"
                print(f"| {name} | {variant} | {elapsed:.2f} | {seconds / elapsed:.0f}x | {baseline / elapsed:.2f}x "
                      f"| {error} | {change} |")
            print(f"| | ({len(waveforms)} utterances, {seconds:.1f} s of audio) | | | | | |")


if __name__ == "__main__":
    main()
