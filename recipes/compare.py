"""Compare saved models (DeepSpeech2 and Whisper, mixed) on the same splits, normalization and metrics, and on the
conditions that broke the original project's model: real noise, reverberation, telephone, silence.

    python recipes/compare.py --models outputs/ds2-demo-clean outputs/ds2-demo --dataset synthetic \
        --splits eval_clean eval_other --noise_sweep true        # policy: the one the models were trained with

Writes `comparison.md`, `comparison.json`, `cer_by_split.png` and, with `--noise_sweep`, `noise_sweep.png`. The sweep
re-runs the first split under each condition: ko_asr's held-out real noise recordings (`ko_asr/assets/noise/clips/
eval`, never used in training) at 20/10/5/0 dB, the held-out measured rooms (`rir/eval`), and a telephone channel;
it counts the characters each model emits on silence, faint room noise and each held-out noise recording alone (with
`--vad`, also behind a VAD gate that transcribes a clip whole when it finds any speech in it; for Whisper models also
with the hallucination guard of `ko_asr.hallucination_guard`, and with VAD + guard); and
it scores the 11 real Korean clips in `tests/data/real_korean_speech`, clean and at 10 dB. `--vad true` gates every
utterance and probe with voice activity detection, as `ko-asr transcribe` and the Space do.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
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
from ko_asr.data.effects import generated_noise, mix_at_snr, reverberate, telephone  # noqa: E402
from ko_asr.data.noise_bank import (  # noqa: E402
    audio_files,
    load_noise_clips,
    noise_clip_names,
    noise_clips,
    room_impulse_responses,
)
from ko_asr.data.sources import load_corpus  # noqa: E402
from ko_asr.evaluation import evaluate_dataset, load_asr_model, measure_peak_rss  # noqa: E402
from ko_asr.hallucination_guard import HallucinationGuard  # noqa: E402
from ko_asr.metrics import METRICS  # noqa: E402
from ko_asr.text.policy import TranscriptPolicy  # noqa: E402
from ko_asr.transcription import Seq2SeqTranscriber  # noqa: E402
from ko_asr.vad import speech_segments  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: The goals of issue 11 for a model trained on synthetic speech (ratios against the clean CER of the same split).
GOALS = {"noise_10dB": 1.5, "noise_0dB": 3.0, "reverberant": 2.0, "clean_cer": 0.15, "real_speech_cer": 0.75}


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
    max_samples: int | None = field(default=None, metadata={"help": "Score only the first N rows of each split (and of the real clips)."})
    batch_size: int = field(default=16, metadata={"help": "Utterances per batch."})
    noise_sweep: bool = field(
        default=False,
        metadata={"help": "Re-run the first split with real noise at each SNR, reverberant and over a telephone; count "
                  "characters on silence and noise alone; score the real clips clean and at 10 dB."},
    )
    snrs: list[float] = field(default_factory=lambda: [20.0, 10.0, 5.0, 0.0], metadata={"help": "Sweep SNRs, dB."})
    noise_dir: str | None = field(
        default=None,
        metadata={"help": "Noise recordings (.wav/.flac) for the sweep; default: ko_asr's held-out (eval) recordings."},
    )
    real_speech: str = field(
        default=str(REPO / "tests/data/real_korean_speech"),
        metadata={"help": "A folder of real transcribed clips scored in the sweep ('' skips them)."},
    )
    vad: bool = field(default=False, metadata={"help": "Gate every utterance and probe with voice activity detection."})
    guard_drop_unlikely: bool = field(
        default=False,
        metadata={"help": "Whisper's guard also drops windows unlikely at every temperature (HallucinationGuard's "
                  "drop_unlikely; off by default, as in the CLI and the Space)."},
    )
    output_dir: str = field(default="outputs/compare", metadata={"help": "Where the table, JSON and plots go."})


def degraded(dataset, condition: str, effect):
    """The dataset with every waveform passed through `effect(waveform, rng)`, `rng` seeded by (utterance id,
    condition): each condition is the same audio for every model and every run."""

    def transform(batch):
        batch = decode_audio_batch(batch)
        for utt_id, audio in zip(batch["id"], batch["audio"]):
            rng = np.random.default_rng([int.from_bytes(str(utt_id).encode()[-8:], "little"),
                                         int.from_bytes(condition.encode()[-8:], "little")])
            audio["array"] = effect(audio["array"], rng)
        return batch

    return dataset.with_transform(transform)


def conditions(snrs: list[float], clips: list[np.ndarray], rooms: list[np.ndarray]) -> dict:
    """Name -> `effect(waveform, rng)` of every robustness condition."""

    def noise_at(snr):
        return lambda w, rng: mix_at_snr(w, clips[int(rng.integers(len(clips)))], snr, rng)

    found = {f"noise {snr:g} dB": noise_at(snr) for snr in snrs}
    found["reverberant"] = lambda w, rng: reverberate(w, rooms[int(rng.integers(len(rooms)))])
    found["telephone"] = lambda w, rng: telephone(w)
    return found


def probe_waveforms(clips: list[np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Inputs without speech: 3 s of digital silence, 3 s of faint room noise (-70 dBFS), each noise clip alone."""
    room = generated_noise("pink", 3 * SAMPLING_RATE, np.random.default_rng(0))
    probes = {"silence (3 s)": np.zeros(3 * SAMPLING_RATE, dtype=np.float32),
              "room noise -70 dBFS (3 s)": (room * 10 ** (-70 / 20)).astype(np.float32)}
    probes.update({f"noise: {name}": clip for name, clip in zip(names, clips)})
    return probes


def emitted_characters(transcriber, model, waveform: np.ndarray, vad: bool) -> int:
    """Characters (spaces aside) the model emits on `waveform`; with `vad`, none where no speech is detected."""
    if vad and not speech_segments(waveform, SAMPLING_RATE):
        return 0
    return len(transcriber.transcribe_waveform(model, waveform).replace(" ", ""))


def goal_rows(results: dict, snrs: list[float]) -> list[str]:
    """The issue-11 goals per model, measured figure and whether it is met."""
    if not all("conditions" in e for e in results["models"].values()):
        return []
    lines = ["", "| goal | " + " | ".join(Path(p).name for p in results["models"]) + " |",
             "|---|" + "---|" * len(results["models"])]

    def ratio(noisy: float, clean: float) -> float:
        return noisy / clean if clean else (math.inf if noisy else 1.0)

    def cell(value, limit, digits):
        return f"{value:.{digits}f} {'✓' if value <= limit else '✗'}"

    checks = []
    if 10.0 in snrs:
        checks.append((f"CER at 10 dB / clean ≤ {GOALS['noise_10dB']}", lambda e: (ratio(e["conditions"]["noise 10 dB"], e["clean_cer"]), GOALS["noise_10dB"], 3)))
    if 0.0 in snrs:
        checks.append((f"CER at 0 dB / clean ≤ {GOALS['noise_0dB']}", lambda e: (ratio(e["conditions"]["noise 0 dB"], e["clean_cer"]), GOALS["noise_0dB"], 3)))
    checks.append((f"reverberant / clean ≤ {GOALS['reverberant']}", lambda e: (ratio(e["conditions"]["reverberant"], e["clean_cer"]), GOALS["reverberant"], 3)))
    checks.append((f"clean CER ≤ {GOALS['clean_cer']}", lambda e: (e["clean_cer"], GOALS["clean_cer"], 4)))
    checks.append(("characters on silence and noise alone = 0 (model alone)", lambda e: (sum(e["hallucination_chars"].values()), 0, 0)))
    if all("real speech" in e["conditions"] for e in results["models"].values()):
        checks.append((f"real-speech CER ≤ {GOALS['real_speech_cer']}", lambda e: (e["conditions"]["real speech"], GOALS["real_speech_cer"], 4)))
    for name, check in checks:
        lines.append(f"| {name} | " + " | ".join(cell(*check(e)) for e in results["models"].values()) + " |")
    return lines


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
    if args.noise_dir:
        clips = load_noise_clips(args.noise_dir)
        clip_names = [path.stem for path in audio_files(args.noise_dir)]
    else:
        clips, clip_names = noise_clips("eval"), noise_clip_names("eval")
    probes = probe_waveforms(clips, clip_names)
    sweep = conditions(args.snrs, clips, room_impulse_responses("eval"))
    real = None
    if args.noise_sweep and args.real_speech:
        real = load_corpus(args.real_speech, ["train"], policy=policy)["train"]
        real = real.select(range(min(args.max_samples, len(real)))) if args.max_samples else real
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    results: dict = {"dataset": args.dataset, "policy": policy.policy, "models": {}}
    guard = HallucinationGuard(drop_unlikely=args.guard_drop_unlikely)
    for path, model, _, transcriber in loaded:
        entry = {"type": type(model).__name__, "parameters": sum(p.numel() for p in model.parameters()), "splits": {}}
        # Whisper also with its hallucination guard (decoding thresholds, temperature fallback, repetition check): on
        # speech (what it costs) and on the probes below (what it saves)
        guarded = replace(transcriber, guard=guard) if isinstance(transcriber, Seq2SeqTranscriber) else None
        entry["splits_guard"] = None if guarded is None else {}
        for split, dataset in splits.items():
            for key, split_transcriber, suffix in (("splits", transcriber, ""), ("splits_guard", guarded, " + guard")):
                if split_transcriber is None:
                    continue
                with measure_peak_rss() as memory:
                    start = time.perf_counter()
                    metrics, _ = evaluate_dataset(split_transcriber, model, dataset, batch_size=args.batch_size,
                                                  policy=policy, desc=f"{Path(path).name}{suffix} {split}", vad=args.vad)
                    elapsed = time.perf_counter() - start
                audio_seconds = float(sum(column(dataset, "duration")))
                entry[key][split] = {**metrics, "cpu_rtf": elapsed / audio_seconds, "peak_rss_growth_mib": memory.peak_mib}
        # the model alone (the goal: blanks from the model itself), and with the VAD gate in front when asked
        gates = {"hallucination_chars": (transcriber, False), "hallucination_chars_guard": (guarded, False)}
        if args.vad:
            gates.update(hallucination_chars_vad=(transcriber, True), hallucination_chars_vad_guard=(guarded, True))
        for key, (probe_transcriber, vad) in gates.items():
            entry[key] = None if probe_transcriber is None else {
                name: emitted_characters(probe_transcriber, model, wave, vad) for name, wave in probes.items()}
        if args.noise_sweep:
            first = next(iter(splits))

            def score(dataset, name):
                return evaluate_dataset(transcriber, model, dataset, batch_size=args.batch_size, policy=policy,  # noqa: B023
                                        desc=f"{Path(path).name} {name}", vad=args.vad)[0]["cer"]  # noqa: B023

            entry["clean_cer"] = entry["splits"][first]["cer"]
            entry["conditions"] = {name: score(degraded(splits[first], name, effect), name) for name, effect in sweep.items()}
            entry["noise_sweep"] = {str(snr): entry["conditions"][f"noise {snr:g} dB"] for snr in args.snrs}
            if real is not None:
                entry["conditions"]["real speech"] = score(real, "real speech")
                if 10.0 in args.snrs:
                    entry["conditions"]["real speech, noise 10 dB"] = score(
                        degraded(real, "noise 10 dB", sweep["noise 10 dB"]), "real speech 10 dB")
        results["models"][path] = entry

    lines = [f"Models on {args.dataset}, policy `{policy.policy}`" + (" (synthetic speech)" if args.dataset == "synthetic" else ""),
             "", "| model | split | " + " | ".join(METRICS) + " | parameters | CPU RTF | peak RSS growth (MiB) |",
             "|---|---|" + "---:|" * (len(METRICS) + 3)]
    for path, entry in results["models"].items():
        rows = [(path, split, values) for split, values in entry["splits"].items()]
        rows += [(f"{path} + guard", split, values) for split, values in (entry["splits_guard"] or {}).items()]
        for name, split, values in rows:
            lines.append(f"| {name} | {split} | " + " | ".join(f"{values[m]:.4f}" for m in METRICS)
                         + f" | {entry['parameters']:,} | {values['cpu_rtf']:.3f} | {values['peak_rss_growth_mib']:.0f} |")
    names = [Path(p).name for p in results["models"]]
    if args.noise_sweep:
        first = next(iter(splits))
        lines += ["", f"CER (spaces removed) under each condition: {first} for the synthetic rows"
                  + (", the clips in " + Path(args.real_speech).name + " for the real-speech rows" if real is not None else ""),
                  "", "| condition | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names),
                  "| clean | " + " | ".join(f"{e['clean_cer']:.4f}" for e in results["models"].values()) + " |"]
        for condition in next(iter(results["models"].values()))["conditions"]:
            lines.append(f"| {condition} | " + " | ".join(f"{e['conditions'][condition]:.4f}" for e in results["models"].values()) + " |")
    entries = list(results["models"].values())
    gates = [("", "hallucination_chars"), (" + guard", "hallucination_chars_guard")]
    if args.vad:
        gates += [(" + VAD", "hallucination_chars_vad"), (" + VAD + guard", "hallucination_chars_vad_guard")]
    # (column title, entry, key); the guard columns only for the models it applies to (Whisper)
    columns = [(name + suffix, entry, key) for suffix, key in gates for name, entry in zip(names, entries)
               if entry[key] is not None]
    lines += ["", "Characters emitted on input without speech (should be 0): the model alone"
              + (", behind the VAD gate" if args.vad else "") + " and, for Whisper, with its hallucination guard"
              + (" (dropping windows unlikely at every temperature)" if guard.drop_unlikely else "") + ":",
              "", "| input | " + " | ".join(c for c, _, _ in columns) + " |", "|---|" + "---:|" * len(columns)]
    for probe in probes:
        lines.append(f"| {probe} | " + " | ".join(str(entry[key][probe]) for _, entry, key in columns) + " |")
    lines.append("| **total** | " + " | ".join(str(sum(entry[key].values())) for _, entry, key in columns) + " |")
    lines += goal_rows(results, args.snrs)
    results["vad"] = args.vad
    results["guard"] = asdict(guard)
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
        axis.set_ylabel(f"CER on {next(iter(splits))} + held-out real noise")
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
