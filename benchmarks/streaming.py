"""Streaming DeepSpeech2: time from speech onset to the first partial transcript, and the streaming real-time factor.

Latency (`--model`, the trained streaming model): each of `--utterances` synthetic eval_clean utterances gets 0.5 s
of silence in front (microphones record before anyone speaks; the corpus is trimmed tight) and is fed to a
`StreamingRecognizer` in chunks of 160 / 320 / 640 ms as if arriving live. Chunk k is complete at (k + 1) x chunk
seconds of audio time; its partial is shown when `accept` returns. Latency = that moment - the speech onset (the
first 10 ms frame within 20 dB of the utterance's loudest). Utterances whose partial stays empty until `finish` are
counted apart. The recognizer's algorithmic delay (analysis window, convolution context, lookahead) is printed too.

Real-time factor (1 torch thread, 320 ms chunks): compute seconds / audio seconds for the trained model and for a
random-init `base`-size unidirectional model (5 x GRU-512 over the 161-bin linear spectrogram, the full 11,300-token
syllable vocabulary of the original project), on PyTorch and on the exported streaming ONNX graph (onnxruntime, 1 thread),
each in fp32 and with dynamic int8 quantization.

Run: `.venv/bin/python benchmarks/streaming.py [--model outputs/ds2-streaming] [--utterances 100]`
(needs the streaming model: `accelerate launch recipes/train.py recipes/configs/ds2_streaming.yaml`).
Synthetic espeak-ng speech: latency depends on when the model emits its first character, which is a property of
this model on this data, not of real speech.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
from fixtures import save_random_base_model  # noqa: E402 - benchmarks/ is the script directory

import ko_asr  # noqa: F401
from ko_asr import DeepSpeech2ForCTC
from ko_asr.data.sources import load_corpus
from ko_asr.onnx_export import export_onnx
from ko_asr.streaming import StreamingRecognizer
from ko_asr.text.policy import TranscriptPolicy

RATE = 16000
LEAD_SILENCE = 0.5


def speech_onset(waveform: np.ndarray) -> float:
    """Seconds to the first 10 ms frame whose RMS is within 20 dB of the loudest frame's."""
    frames = waveform[: waveform.size // 160 * 160].reshape(-1, 160)
    rms = np.sqrt(np.square(frames).mean(axis=1))
    return float(np.argmax(rms >= 0.1 * rms.max()) * 0.01)


def first_partial_latency(recognizer: StreamingRecognizer, waveform: np.ndarray, chunk_seconds: float) -> float | None:
    """Seconds from the speech onset to the first non-empty partial, or None when only `finish` produced text."""
    onset, chunk = speech_onset(waveform), round(chunk_seconds * RATE)
    recognizer.reset()
    latency = None
    for index, start in enumerate(range(0, waveform.size, chunk)):
        began = time.perf_counter()
        text = recognizer.accept(waveform[start:start + chunk])
        compute = time.perf_counter() - began
        if text and latency is None:
            latency = min((index + 1) * chunk, waveform.size) / RATE + compute - onset
            break
    recognizer.reset()
    return latency


def streaming_rtf(recognizer: StreamingRecognizer, waveforms: list[np.ndarray], chunk_seconds: float = 0.32) -> float:
    """Compute seconds per audio second, streaming every waveform in `chunk_seconds` chunks."""
    chunk, audio, began = round(chunk_seconds * RATE), sum(w.size for w in waveforms) / RATE, time.perf_counter()
    for waveform in waveforms:
        for start in range(0, waveform.size, chunk):
            recognizer.accept(waveform[start:start + chunk])
        recognizer.finish()
    return (time.perf_counter() - began) / audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="outputs/ds2-streaming")
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--rtf_utterances", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)

    recognizer = StreamingRecognizer.from_pretrained(args.model)
    policy = TranscriptPolicy.resolve(recognizer.processor)
    rows = load_corpus("synthetic", ["eval_clean"], policy=policy)["eval_clean"]
    rows = rows.select(range(min(args.utterances, len(rows))))
    silence = np.zeros(round(LEAD_SILENCE * RATE), dtype=np.float32)
    waveforms = [np.concatenate([silence, np.asarray(row["audio"]["array"], dtype=np.float32)]) for row in rows]

    print(f"{len(waveforms)} synthetic eval_clean utterances with {LEAD_SILENCE} s of leading silence; "
          f"{os.cpu_count()} cores, torch threads 1; load average {os.getloadavg()[0]:.2f}")
    print(f"algorithmic delay of {args.model}: {1000 * recognizer.delay_seconds:.0f} ms "
          f"(first logit after {recognizer.geometry.min_first_chunk()} feature frames)")
    print("\n| chunk | first partial: median | p90 | max | utterances without a partial before finish |")
    print("|---:|---:|---:|---:|---:|")
    for chunk_ms in (160, 320, 640):
        latencies = [first_partial_latency(recognizer, w, chunk_ms / 1000) for w in waveforms]
        measured = sorted(latency for latency in latencies if latency is not None)
        p90 = measured[int(0.9 * (len(measured) - 1))]
        print(f"| {chunk_ms} ms | {1000 * statistics.median(measured):.0f} ms | {1000 * p90:.0f} ms | "
              f"{1000 * measured[-1]:.0f} ms | {len(latencies) - len(measured)} of {len(latencies)} |")

    sample = waveforms[: args.rtf_utterances]
    with tempfile.TemporaryDirectory() as scratch:
        base = save_random_base_model(os.path.join(scratch, "base"), bidirectional=False)
        engines = {}
        for name, path in ((f"trained `{os.path.basename(args.model.rstrip('/'))}`", args.model), ("random-init `base` size", base)):
            export = os.path.join(scratch, f"onnx-{len(engines)}")
            export_onnx(path, export)
            engines[f"{name}, PyTorch fp32"] = StreamingRecognizer.from_pretrained(path)
            engines[f"{name}, PyTorch int8"] = StreamingRecognizer.from_pretrained(path, int8=True)
            engines[f"{name}, ONNX fp32 (onnxruntime)"] = StreamingRecognizer.from_pretrained(export, onnx=True, threads=1)
            engines[f"{name}, ONNX int8 (onnxruntime)"] = StreamingRecognizer.from_pretrained(
                export, onnx=True, int8=True, threads=1)
        parameters = sum(p.numel() for p in DeepSpeech2ForCTC.from_pretrained(base).parameters())
        print(f"\nStreaming real-time factor, 320 ms chunks, 1 thread, {len(sample)} utterances "
              f"({sum(w.size for w in sample) / RATE:.1f} s); `base` size = {parameters / 1e6:.1f} M parameters")
        print("| model | RTF (compute s / audio s) |")
        print("|---|---:|")
        for name, engine in engines.items():
            streaming_rtf(engine, sample[:2])  # warm-up
            print(f"| {name} | {streaming_rtf(engine, sample):.4f} |")


if __name__ == "__main__":
    main()
