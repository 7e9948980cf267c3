"""DeepSpeech2 speed on this CPU: feature extraction, training throughput (packed vs padded RNNs), inference RTF,
and the memory of chunked pipeline inference on long audio. Every ratio is against a baseline measured in the
same run. Models are random-init (speed does not depend on the weights).

Run: `.venv/bin/python benchmarks/model.py [--quick]`
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from fixtures import save_random_demo_model
from torch import nn
from transformers import WhisperFeatureExtractor

from ko_asr import DeepSpeech2Config, DeepSpeech2CTCTokenizer, DeepSpeech2FeatureExtractor, DeepSpeech2ForCTC
from ko_asr.models.deepspeech2 import modeling_deepspeech2

SAMPLING_RATE = 16000


def kspon_like_durations(count: int, rng: np.random.Generator) -> np.ndarray:
    """KsponSpeech-like utterance lengths: log-normal, median 3.5 s, clipped to 0.5-20 s."""
    return np.clip(rng.lognormal(mean=np.log(3.5), sigma=0.7, size=count), 0.5, 20.0)


def timed(function, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def bench_features(rng: np.random.Generator, seconds: float) -> None:
    torch.set_num_threads(1)
    waves = [rng.standard_normal(int(d * SAMPLING_RATE)).astype(np.float32) * 0.1
             for d in kspon_like_durations(int(seconds / 4), rng)]
    audio_seconds = sum(w.size for w in waves) / SAMPLING_RATE
    ours = DeepSpeech2FeatureExtractor()
    ours_mel = DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=80)
    # Baseline: transformers' own numpy spectrogram path, same 20 ms window and 10 ms hop, per utterance.
    whisper = WhisperFeatureExtractor(feature_size=80, n_fft=320, hop_length=160)
    # Batches of 16 consecutive utterances from length-sorted order, as a duration-bucketed loader makes them.
    ordered = sorted(waves, key=len)
    batches = [ordered[i : i + 16] for i in range(0, len(ordered), 16)]
    t_single = timed(lambda: [ours(w, sampling_rate=SAMPLING_RATE, return_tensors="pt") for w in waves], 2)
    t_linear = timed(lambda: [ours(b, sampling_rate=SAMPLING_RATE, return_tensors="pt") for b in batches], 2)
    t_mel = timed(lambda: [ours_mel(b, sampling_rate=SAMPLING_RATE, return_tensors="pt") for b in batches], 2)
    t_numpy = timed(lambda: [whisper._np_extract_fbank_features(np.asarray([w]), "cpu") for w in waves])
    print(f"\n## Feature extraction, 1 thread, {audio_seconds:.0f} s of audio in {len(waves)} utterances")
    print(f"DeepSpeech2FeatureExtractor linear, one call per utterance : {audio_seconds / t_single:8.0f}x real time")
    print(f"DeepSpeech2FeatureExtractor linear, batches of 16          : {audio_seconds / t_linear:8.0f}x real time")
    print(f"DeepSpeech2FeatureExtractor log-mel 80, batches of 16      : {audio_seconds / t_mel:8.0f}x real time")
    print(f"baseline WhisperFeatureExtractor numpy path, per utterance : {audio_seconds / t_numpy:8.0f}x real time")
    print(f"ratios vs the numpy baseline: per utterance {t_numpy / t_single:.1f}x, batched linear {t_numpy / t_linear:.1f}x, "
          f"batched log-mel {t_numpy / t_mel:.1f}x")


def _normalized(layer, hidden, mask):
    if isinstance(layer.norm, nn.BatchNorm1d):
        return modeling_deepspeech2._masked_batch_norm(layer.norm, hidden, mask)
    return layer.norm(hidden) if layer.norm is not None else hidden


def padded_rnn_forward(self, hidden, lengths, mask):
    """Baseline 1: the plain padded RNN, as nn.GRU(bidirectional=True) on a padded batch computes it."""
    hidden = _normalized(self, hidden, mask)
    output, _ = self.rnn(hidden)
    if self.rnn_reverse is not None:
        output = output + self.rnn_reverse(hidden.flip(1))[0].flip(1)
    return self.dropout(output * mask.unsqueeze(-1).to(output.dtype))


def packed_rnn_forward(self, hidden, lengths, mask):
    """Baseline 2: torch PackedSequence (no padding computed, but a per-step kernel on CPU)."""
    hidden = _normalized(self, hidden, mask)

    def run(rnn, x):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return nn.utils.rnn.pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])[0]

    output = run(self.rnn, hidden)
    if self.rnn_reverse is not None:
        reverse = modeling_deepspeech2._reverse_within_lengths
        output = output + reverse(run(self.rnn_reverse, reverse(hidden, lengths)), lengths)
    return self.dropout(output)


def bench_training(rng: np.random.Generator, preset: str, batches: int, batch_size: int, threads: int) -> None:
    torch.set_num_threads(threads)
    tokenizer_size = len(DeepSpeech2CTCTokenizer.from_hangul())
    config = DeepSpeech2Config.from_preset(preset, vocab_size=2000 if preset == "demo" else tokenizer_size)
    feature_extractor = DeepSpeech2FeatureExtractor.from_model_config(config)
    data = []
    for _ in range(batches):
        durations = kspon_like_durations(batch_size, rng)
        waves = [rng.standard_normal(int(d * SAMPLING_RATE)).astype(np.float32) * 0.1 for d in durations]
        inputs = feature_extractor(waves, sampling_rate=SAMPLING_RATE, return_tensors="pt")
        label_lengths = [max(1, int(d * 6)) for d in durations]  # ~6 syllables per second of speech
        labels = torch.full((batch_size, max(label_lengths)), -100)
        for i, n in enumerate(label_lengths):
            labels[i, :n] = torch.randint(1, config.vocab_size, (n,))
        data.append((inputs, labels, float(durations.sum())))
    audio_seconds = sum(d[2] for d in data)
    real = sum(int(d[0]["attention_mask"].sum()) for d in data)
    total = sum(d[0]["attention_mask"].numel() for d in data)

    def run(model, batches=data):
        for inputs, labels, _ in batches:
            loss = model(**inputs, labels=labels).loss
            loss.backward()
            model.zero_grad(set_to_none=True)

    torch.manual_seed(0)
    model = DeepSpeech2ForCTC(config).train()
    layer_class = modeling_deepspeech2.DeepSpeech2RecurrentLayer
    original = layer_class.forward
    timings = {}
    try:
        for name, forward in (("ko_asr", original), ("padded", padded_rnn_forward), ("packed", packed_rnn_forward)):
            layer_class.forward = forward
            run(model, data[:1])  # warm-up
            timings[name] = timed(lambda: run(model))
    finally:
        layer_class.forward = original
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"\n## Training forward+backward, preset '{preset}' ({params:.1f} M parameters), {threads} threads")
    print(f"{len(data)} random batches of {batch_size}, {audio_seconds:.0f} s audio, {100 * (1 - real / total):.0f}% of frames padding")
    print(f"ko_asr (length segments, no padding computed): {audio_seconds / timings['ko_asr']:6.1f} audio s / wall s")
    print(f"baseline plain padded RNN                    : {audio_seconds / timings['padded']:6.1f} audio s / wall s")
    print(f"baseline torch PackedSequence                : {audio_seconds / timings['packed']:6.1f} audio s / wall s")
    print(f"ratio ko_asr / padded: {timings['padded'] / timings['ko_asr']:.2f}x;  ko_asr / PackedSequence: "
          f"{timings['packed'] / timings['ko_asr']:.2f}x")


def bench_inference(rng: np.random.Generator, seconds: float) -> None:
    torch.set_num_threads(1)
    config = DeepSpeech2Config.from_preset("base", vocab_size=len(DeepSpeech2CTCTokenizer.from_hangul()))
    model = DeepSpeech2ForCTC(config).eval()
    feature_extractor = DeepSpeech2FeatureExtractor()
    waves = [rng.standard_normal(int(d * SAMPLING_RATE)).astype(np.float32) * 0.1
             for d in kspon_like_durations(int(seconds / 4), rng)]
    audio_seconds = sum(w.size for w in waves) / SAMPLING_RATE

    def run():
        with torch.inference_mode():
            for wave in waves:
                model(**feature_extractor(wave, sampling_rate=SAMPLING_RATE, return_tensors="pt")).logits.argmax(-1)

    elapsed = timed(run)
    print(f"\n## Inference, preset 'base', 1 thread, batch 1, features included, {audio_seconds:.0f} s of audio")
    print(f"real-time factor: {elapsed / audio_seconds:.4f}  ({audio_seconds / elapsed:.1f}x faster than real time)")


def _pipeline_peak_memory(model_dir: str, minutes: float, chunked: bool) -> tuple[float, float]:
    """Run in a fresh process: peak RSS (MiB) and seconds of one pipeline call on `minutes` of audio."""
    code = f"""
import time, numpy as np, torch, ko_asr
from transformers import pipeline
from ko_asr.evaluation import measure_peak_rss
torch.set_num_threads(1)
asr = pipeline("automatic-speech-recognition", model={model_dir!r})
audio = (np.random.default_rng(0).standard_normal(int({minutes} * 60 * 16000)) * 0.1).astype(np.float32)
start = time.perf_counter()
with measure_peak_rss() as memory:  # resident memory sampled every 5 ms while the pipeline runs
    asr(audio, **({{"chunk_length_s": 20.0, "stride_length_s": 2.0}} if {chunked} else {{}}))
print(memory.peak_mib, time.perf_counter() - start)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[-2]), float(out[-1])


def bench_long_audio(minutes: tuple[float, ...]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        save_random_demo_model(directory)
        print("\n## Long audio through pipeline('automatic-speech-recognition'), preset 'demo', 1 thread")
        print("peak resident memory growth during the call (MiB above the loaded model and input array; sampled every 5 ms)")
        results = {}
        for length in minutes:
            for chunked in (False, True):
                results[length, chunked] = _pipeline_peak_memory(directory, length, chunked)
                label = "chunk_length_s=20" if chunked else "unchunked        "
                mib, seconds = results[length, chunked]
                print(f"{length:4.0f} min  {label}: {mib:8.0f} MiB  {seconds:6.1f} s")
        longest, shortest = max(minutes), min(minutes)
        print(
            f"ratio of memory growth {longest:.0f} min / {shortest:.0f} min: chunked "
            f"{results[longest, True][0] / max(results[shortest, True][0], 1):.1f}x, unchunked "
            f"{results[longest, False][0] / max(results[shortest, False][0], 1):.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run, noisier figures)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available; max RSS so far "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    bench_features(rng, seconds=120 if args.quick else 600)
    bench_training(rng, "demo", batches=2 if args.quick else 6, batch_size=8, threads=2)
    bench_training(rng, "base", batches=1 if args.quick else 3, batch_size=8, threads=2)
    bench_inference(rng, seconds=20 if args.quick else 60)
    bench_long_audio((1.0, 3.0) if args.quick else (1.0, 10.0))


if __name__ == "__main__":
    main()
