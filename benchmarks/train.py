"""Training throughput of the DeepSpeech2 `demo` preset on the synthetic corpus: duration-bucketed batches
(ko_asr's sampler) versus random batches padded to their longest utterance, same audio budget per batch.

Both runs use the same model, collator (features computed on the fly) and optimizer; only batch composition
differs. Throughput is audio seconds trained per wall second, data loading included.

Run: `.venv/bin/python benchmarks/train.py [--steps 40] [--batch-seconds 60]`
(generates `data/synthetic-demo` first if it is missing).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.data import column
from ko_asr.data.batching import DurationBucketBatchSampler
from ko_asr.data.collators import CTCCollator
from ko_asr.data.sources import load_corpus


def random_batches(durations: np.ndarray, max_batch_seconds: float, rng: np.random.Generator) -> list[list[int]]:
    """Baseline: shuffled order, each batch as many utterances as the budget allows *on average* (the same mean
    batch size as the bucketed sampler), padded to the longest."""
    order = rng.permutation(durations.size)
    size = max(1, int(max_batch_seconds / durations.mean()))
    return [order[i : i + size].tolist() for i in range(0, order.size, size)]


def run(model, collator, dataset, batches, steps: int) -> tuple[float, float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    audio = padded = 0.0
    model.train()
    start = time.perf_counter()
    for batch_indices in batches[:steps]:
        batch = collator([dataset[i] for i in batch_indices])
        audio += batch.audio_seconds
        padded += batch.inputs["attention_mask"].numel() * 0.01
        loss = model(**batch.inputs).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return audio / (time.perf_counter() - start), audio / padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-seconds", type=float, default=60.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    train = load_corpus("synthetic", ["train"], policy="phonetic")["train"]
    durations = np.asarray(column(train, "duration"))
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(column(train, "text"), units="jamo")
    config = DeepSpeech2Config.from_preset("demo", vocab_size=len(tokenizer))
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor.from_model_config(config), tokenizer)
    collator = CTCCollator(processor)
    torch.manual_seed(0)

    sampler = DurationBucketBatchSampler(durations, args.batch_seconds, seed=0)
    sampler.set_epoch(1)  # a shuffled epoch (epoch 0 is SortaGrad's shortest-first)
    bucketed = list(sampler)
    baseline = random_batches(durations, args.batch_seconds, np.random.default_rng(0))
    results = {}
    for name, batches in (("bucketed", bucketed), ("random", baseline)):
        torch.manual_seed(0)
        model = DeepSpeech2ForCTC(config)
        run(model, collator, train, batches, 2)  # warm-up
        results[name] = run(model, collator, train, batches[2:], args.steps)
    print(f"DeepSpeech2 'demo' preset, synthetic corpus ({len(train):,} utterances), {args.steps} steps, "
          f"{args.batch_seconds:.0f} s budget, 2 threads")
    for name, (speed, useful) in results.items():
        print(f"{name:<9}: {speed:6.1f} audio s / wall s, {100 * useful:.0f}% of computed frames are real audio")
    print(f"ratio bucketed / random: {results['bucketed'][0] / results['random'][0]:.2f}x")


if __name__ == "__main__":
    main()
