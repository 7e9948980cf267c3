"""What LM beam search costs: decoding speed against greedy decoding, the batch path across processes, the LM's
size and load time, all measured in the same run.

The model's logits on `--utterances` synthetic eval_clean utterances are computed once (the forward pass is the
same for every decoder and is not timed); then each decoder decodes all of them: greedy (arg-max + the tokenizer's
CTC collapse), beam search without LM, and beam search with the model's LM at `--beam_width`, on one process
(`x real time per core` = audio seconds / decoding seconds), then the LM decoder on `--processes` forked processes.
Medians of `--runs`; the LM is built and loaded again for its timings.

Run: `.venv/bin/python benchmarks/decoding.py [--model outputs/ds2-demo] [--utterances 100] [--beam_width 32]`
(needs `make demo`: a model directory with a `language_model/`, and the synthetic corpus).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

import ko_asr  # noqa: F401
from ko_asr.data.sources import load_corpus
from ko_asr.evaluation import load_asr_model
from ko_asr.lm_build import build_language_model
from ko_asr.models.deepspeech2.language_model_deepspeech2 import ARPA_NAME, DecoderConfig, HangulBeamSearch
from ko_asr.text.policy import TranscriptPolicy


def median_seconds(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="outputs/ds2-demo")
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--beam_width", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    model, processor, transcriber = load_asr_model(args.model, beam_width=args.beam_width)
    if transcriber.beam_search is None:
        raise SystemExit(f"{args.model} has no language_model/ (run make demo, or ko-asr lm build)")
    config = processor.decoder_config
    dataset = load_corpus("synthetic", ["eval_clean", "train"], policy=TranscriptPolicy.resolve(processor))
    rows = dataset["eval_clean"].select(range(min(args.utterances, len(dataset["eval_clean"]))))
    collator = transcriber.collator()
    logits, audio_seconds = [], 0.0
    for start in range(0, len(rows), 16):
        batch = [rows[i] for i in range(start, min(start + 16, len(rows)))]
        audio_seconds += sum(len(row["audio"]["array"]) / 16000 for row in batch)
        logits += transcriber.logits(model, collator(batch).inputs_on("cpu"))

    tokenizer = processor.tokenizer
    no_lm = HangulBeamSearch(tokenizer, DecoderConfig(beam_width=args.beam_width), None)
    timings = {
        "greedy (arg-max + CTC collapse)": median_seconds(
            lambda: tokenizer.batch_decode([row.argmax(-1) for row in logits]), args.runs),
        f"beam {args.beam_width}, no LM": median_seconds(lambda: no_lm.decode_batch(logits), args.runs),
        f"beam {args.beam_width} + {config.units} {config.order}-gram LM": median_seconds(
            lambda: processor.batch_decode(logits), args.runs),
        f"beam {args.beam_width} + LM, {args.processes} processes": median_seconds(
            lambda: processor.batch_decode(logits, num_processes=args.processes), args.runs),
    }
    print(f"{len(logits)} synthetic eval_clean utterances, {audio_seconds:.1f} s of audio, {os.cpu_count()} cores, "
          f"torch threads 1; median of {args.runs}; load average {os.getloadavg()[0]:.2f}")
    print("| decoder | seconds | x real time | x real time per core |")
    print("|---|---:|---:|---:|")
    for name, seconds in timings.items():
        cores = args.processes if "processes" in name else 1
        print(f"| {name} | {seconds:.2f} | {audio_seconds / seconds:.0f} | {audio_seconds / seconds / cores:.0f} |")
    lm_alone = timings[f"beam {args.beam_width} + {config.units} {config.order}-gram LM"]
    parallel = timings[f"beam {args.beam_width} + LM, {args.processes} processes"]
    print(f"parallel speed-up with {args.processes} processes: {lm_alone / parallel:.2f}x")

    directory = Path(args.model) / "language_model"
    arpa = directory / ARPA_NAME
    import kenlm

    load = median_seconds(lambda: kenlm.Model(str(arpa)), args.runs)
    texts = dataset["train"]["text"]
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        build_language_model(texts, scratch, units=config.units, order=config.order, tokenizer=tokenizer)
        build = time.perf_counter() - start
    print(f"LM: {config.units} {config.order}-gram ARPA, {arpa.stat().st_size / 1e6:.2f} MB; KenLM load {load:.2f} s; "
          f"built from {len(texts)} training transcripts in {build:.1f} s")


if __name__ == "__main__":
    main()
