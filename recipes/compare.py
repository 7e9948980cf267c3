"""Compare saved models (DeepSpeech2 and Whisper, mixed) on the same splits, normalization and metrics.

    python recipes/compare.py --models outputs/ds2-demo outputs/whisper-tiny --dataset synthetic \
        --splits eval_clean eval_other --noise_sweep true        # policy: the one the models were trained with

Writes `comparison.md`, `comparison.json`, `cer_by_split.png` and, with `--noise_sweep`, `noise_sweep.png` (CER
against SNR for every model: the test split mixed with noise at 20/10/5/0 dB).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from arguments import parse_config  # noqa: E402

import ko_asr  # noqa: E402, F401  (registers DeepSpeech2 with the Auto classes)
from ko_asr.data import SAMPLING_RATE, column  # noqa: E402
from ko_asr.data.audio import decode_audio_batch  # noqa: E402
from ko_asr.data.augment import generated_noise, load_noise_clips, mix_at_snr  # noqa: E402
from ko_asr.data.sources import load_corpus  # noqa: E402
from ko_asr.evaluation import evaluate_dataset, load_asr_model, measure_peak_rss  # noqa: E402
from ko_asr.metrics import METRICS  # noqa: E402
from ko_asr.text.policy import TranscriptPolicy  # noqa: E402


@dataclass
class CompareArguments:
    models: list[str] = field(metadata={"help": "Saved model directories (DeepSpeech2 and/or Whisper)."})
    dataset: str = field(default="synthetic", metadata={"help": "synthetic, ksponspeech, or a load_speech_dataset source."})
    data_root: str | None = field(default=None, metadata={"help": "Corpus directory."})
    synthetic_size: str = field(default="demo", metadata={"help": "Synthetic corpus size."})
    splits: list[str] = field(default_factory=lambda: ["eval_clean", "eval_other"], metadata={"help": "Splits to score."})
    policy: str | None = field(
        default=None,
        metadata={"help": "Transcript policy for references and hypotheses of every model (default: the first model's saved policy; "
                  "models must agree, since they are scored on the same references)."},
    )
    max_samples: int | None = field(default=None, metadata={"help": "Score only the first N rows of each split."})
    batch_size: int = field(default=16, metadata={"help": "Utterances per batch."})
    noise_sweep: bool = field(default=False, metadata={"help": "Re-run the first split mixed with noise at each SNR."})
    snrs: list[float] = field(default_factory=lambda: [20.0, 10.0, 5.0, 0.0], metadata={"help": "Sweep SNRs, dB."})
    noise_dir: str | None = field(default=None, metadata={"help": "Noise recordings (.wav) for the sweep; generated noise when unset."})
    output_dir: str = field(default="outputs/compare", metadata={"help": "Where the table, JSON and plots go."})


def noisy(dataset, snr_db: float, clips: list[np.ndarray]):
    """The dataset with every waveform mixed with noise at `snr_db` (deterministic per utterance id)."""

    def transform(batch):
        batch = decode_audio_batch(batch)
        for utt_id, audio in zip(batch["id"], batch["audio"]):
            rng = np.random.default_rng([int.from_bytes(str(utt_id).encode()[-8:], "little"), int(snr_db * 10) + 1000])
            noise = clips[int(rng.integers(len(clips)))] if clips else generated_noise("pink", audio["array"].size, rng)
            audio["array"] = mix_at_snr(audio["array"], noise, snr_db, rng)
        return batch

    return dataset.with_transform(transform)


def comparison_policy(models: list[tuple[str, object]], policy: str | None) -> TranscriptPolicy:
    """One policy for every model: the explicit one, else the one the models were saved with.

    Raises:
        ValueError: when no policy is given and the models were trained with different ones (the same references
            cannot score both fairly).
    """
    saved = {path: TranscriptPolicy.resolve(processor, policy) for path, processor in models}
    if len(set(saved.values())) > 1:
        raise ValueError(f"the models were trained with different transcript policies {saved}; the same references "
                         "cannot score them all fairly (--policy sets the side for all, not their u/ or punctuation choices)")
    return TranscriptPolicy.resolve(models[0][1], policy)


def main(argv: list[str] | None = None) -> dict:
    (args,) = parse_config((CompareArguments,), argv)
    loaded = [(path, *load_asr_model(path)) for path in args.models]
    policy = comparison_policy([(path, processor) for path, _, processor, _ in loaded], args.policy)
    corpus = load_corpus(args.dataset, args.splits, data_root=args.data_root, policy=policy,
                         synthetic_size=args.synthetic_size)
    splits = {s: corpus[s].select(range(min(args.max_samples, len(corpus[s])))) if args.max_samples else corpus[s]
              for s in args.splits}
    clips = load_noise_clips(args.noise_dir)
    probe_rng = np.random.default_rng(0)
    probes = {"silence": np.zeros(3 * SAMPLING_RATE, dtype=np.float32),
              "noise_only": (0.05 * generated_noise("pink", 3 * SAMPLING_RATE, probe_rng)).astype(np.float32)}
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    results: dict = {"dataset": args.dataset, "policy": policy.policy, "models": {}}
    for path, model, _, transcriber in loaded:
        entry = {"type": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters()), "splits": {}}
        for split, dataset in splits.items():
            with measure_peak_rss() as memory:
                start = time.perf_counter()
                metrics, _ = evaluate_dataset(transcriber, model, dataset, batch_size=args.batch_size, policy=policy,
                                              desc=f"{Path(path).name} {split}")
                elapsed = time.perf_counter() - start
            audio_seconds = float(sum(column(dataset, "duration")))
            entry["splits"][split] = {**metrics, "cpu_rtf": elapsed / audio_seconds, "peak_rss_growth_mib": memory.peak_mib}
        entry["hallucination_chars"] = {name: len(transcriber.transcribe_waveform(model, wave).replace(" ", ""))
                                        for name, wave in probes.items()}
        if args.noise_sweep:
            first = next(iter(splits))
            entry["noise_sweep"] = {
                str(snr): evaluate_dataset(transcriber, model, noisy(splits[first], snr, clips), batch_size=args.batch_size,
                                           policy=policy, desc=f"{Path(path).name} {snr} dB")[0]["cer"]
                for snr in args.snrs
            }
        results["models"][path] = entry

    lines = [f"Models on {args.dataset}, policy `{policy.policy}`" + (" (synthetic speech)" if args.dataset == "synthetic" else ""),
             "", "| model | split | " + " | ".join(METRICS) + " | parameters | CPU RTF | peak RSS growth (MiB) |",
             "|---|---|" + "---:|" * (len(METRICS) + 3)]
    for path, entry in results["models"].items():
        for split, values in entry["splits"].items():
            lines.append(f"| {path} | {split} | " + " | ".join(f"{values[m]:.4f}" for m in METRICS)
                         + f" | {entry['parameters']:,} | {values['cpu_rtf']:.3f} | {values['peak_rss_growth_mib']:.0f} |")
    lines += ["", "Characters emitted on 3 s of silence / noise only (should be 0):", ""]
    lines += [f"- {path}: {entry['hallucination_chars']}" for path, entry in results["models"].items()]
    (output / "comparison.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (output / "comparison.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))

    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(1, len(results["models"]))
    for index, (path, entry) in enumerate(results["models"].items()):
        xs = np.arange(len(splits)) + index * width
        axis.bar(xs, [entry["splits"][s]["cer"] for s in splits], width, label=Path(path).name)
    axis.set_xticks(np.arange(len(splits)) + width * (len(results["models"]) - 1) / 2, list(splits))
    axis.set_ylabel("CER (spaces removed)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(output / "cer_by_split.png", dpi=110)
    plt.close(figure)
    if args.noise_sweep:
        figure, axis = plt.subplots(figsize=(7, 4))
        for path, entry in results["models"].items():
            axis.plot(args.snrs, [entry["noise_sweep"][str(s)] for s in args.snrs], marker="o", label=Path(path).name)
        axis.set_xlabel("SNR (dB)")
        axis.set_ylabel(f"CER on {next(iter(splits))} + noise")
        axis.invert_xaxis()
        axis.grid(alpha=0.3)
        axis.legend()
        figure.tight_layout()
        figure.savefig(output / "noise_sweep.png", dpi=110)
        plt.close(figure)
    print(f"written: {output}/comparison.md, comparison.json, cer_by_split.png" + (", noise_sweep.png" if args.noise_sweep else ""))
    return results


if __name__ == "__main__":
    main()
