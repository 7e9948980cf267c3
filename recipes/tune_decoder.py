"""Grid-search the LM decoder's alpha and beta (and beam widths) on a dev split; save the best into the model.

    python recipes/tune_decoder.py --model outputs/ds2-demo --dataset synthetic --split dev

The model's logits on the split are computed once; each grid point only re-runs the beam search (pyctcdecode),
across `--num_processes` processes. The best point (lowest CER; ties go to the smaller beam) is written into the
model directory's `language_model/decoder_config.json` (`--save false` leaves it), and
`<model>/eval/decoder_grid.csv` and `decoder_grid.png` (CER over alpha x beta at the largest beam) show the grid.
Tune on dev, never on the eval splits the results report.
"""

from __future__ import annotations

import csv
import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arguments import parse_config  # noqa: E402

import ko_asr  # noqa: E402, F401  (registers DeepSpeech2 with the Auto classes)
from ko_asr.data.sources import load_corpus  # noqa: E402
from ko_asr.evaluation import load_asr_model  # noqa: E402
from ko_asr.metrics import compute_metrics  # noqa: E402
from ko_asr.text.policy import TranscriptPolicy  # noqa: E402


@dataclass
class TuneArguments:
    model: str = field(metadata={"help": "Saved model directory with a language_model/ (ko-asr lm build)."})
    dataset: str = field(default="synthetic", metadata={"help": "synthetic, ksponspeech, or a load_speech_dataset source."})
    data_root: str | None = field(default=None, metadata={"help": "Corpus directory."})
    synthetic_size: str = field(default="demo", metadata={"help": "Synthetic corpus size."})
    split: str = field(default="dev", metadata={"help": "The split to tune on (dev; never an eval split you report)."})
    alphas: list[float] = field(default_factory=lambda: [0.2, 0.35, 0.5, 0.65, 0.8, 1.0],
                                metadata={"help": "LM weights to try."})
    betas: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0, 1.5, 2.0, 3.0],
                               metadata={"help": "Insertion bonuses to try."})
    beam_widths: list[int] = field(default_factory=lambda: [32], metadata={"help": "Beam widths to try."})
    max_samples: int | None = field(default=None, metadata={"help": "Tune on the first N rows only."})
    batch_size: int = field(default=32, metadata={"help": "Utterances per forward pass."})
    num_processes: int = field(default=2, metadata={"help": "Processes for the beam searches."})
    save: bool = field(default=True, metadata={"help": "Write the best values into the model's decoder_config.json."})


def dev_logits(model, transcriber, dataset, batch_size: int) -> tuple[list[np.ndarray], list[str]]:
    """Each utterance's logits `(frames, vocab)` (padding trimmed) and its reference, in dataset order."""
    collator = transcriber.collator()
    logits, references = [], []
    for start in tqdm(range(0, len(dataset), batch_size), desc="logits", leave=False):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        logits += transcriber.logits(model, batch.inputs_on(next(model.parameters()).device))
        references.extend(batch.texts)
    return logits, references


def plot_grid(rows: list[dict], beam_width: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = sorted({r["alpha"] for r in rows})
    betas = sorted({r["beta"] for r in rows})
    grid = np.full((len(alphas), len(betas)), np.nan)
    for r in rows:
        if r["beam_width"] == beam_width:
            grid[alphas.index(r["alpha"]), betas.index(r["beta"])] = r["cer"]
    figure, axis = plt.subplots(figsize=(6, 4.5))
    image = axis.imshow(grid, origin="lower", cmap="viridis_r", aspect="auto")
    axis.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
    axis.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    axis.set_xlabel("beta (insertion bonus)")
    axis.set_ylabel("alpha (LM weight)")
    for (i, j), value in np.ndenumerate(grid):
        axis.text(j, i, f"{value:.3f}", ha="center", va="center", fontsize=7, color="white")
    axis.set_title(f"dev CER over the decoder grid (beam {beam_width})")
    figure.colorbar(image, label="CER")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    (args,) = parse_config((TuneArguments,), argv)
    model, processor, transcriber = load_asr_model(args.model)
    if getattr(transcriber, "beam_search", None) is None:
        raise SystemExit(f"{args.model}: no language_model/ to tune; build one first with `ko-asr lm build`")
    policy = TranscriptPolicy.resolve(processor)
    dataset = load_corpus(args.dataset, [args.split], data_root=args.data_root, policy=policy,
                          synthetic_size=args.synthetic_size)[args.split]
    if args.max_samples:
        dataset = dataset.select(range(min(args.max_samples, len(dataset))))
    logits, references = dev_logits(model, transcriber, dataset, args.batch_size)
    greedy = [policy.normalize_hypothesis(t) for t in processor.tokenizer.batch_decode(
        [row.argmax(-1) for row in logits], skip_special_tokens=False)]
    greedy_cer = compute_metrics(references, greedy)["cer"]

    rows = []
    grid = list(itertools.product(args.beam_widths, args.alphas, args.betas))
    for beam_width, alpha, beta in tqdm(grid, desc="decoder grid"):
        texts = processor.batch_decode(logits, num_processes=args.num_processes, beam_width=beam_width,
                                       alpha=alpha, beta=beta).text
        metrics = compute_metrics(references, [policy.normalize_hypothesis(t) for t in texts])
        rows.append({"beam_width": beam_width, "alpha": alpha, "beta": beta, **metrics})
    best = min(rows, key=lambda r: (r["cer"], r["beam_width"]))

    output = Path(args.model) / "eval"
    output.mkdir(parents=True, exist_ok=True)
    with open(output / "decoder_grid.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_grid(rows, max(args.beam_widths), output / "decoder_grid.png")
    print(f"{args.split} ({len(references)} utterances): greedy CER {greedy_cer:.4f}; best LM CER {best['cer']:.4f} "
          f"at alpha {best['alpha']}, beta {best['beta']}, beam {best['beam_width']} "
          f"({1 - best['cer'] / greedy_cer:.1%} relative)")
    print(f"written: {output / 'decoder_grid.csv'}, {output / 'decoder_grid.png'}")
    if args.save:
        tuned = processor.with_settings(alpha=best["alpha"], beta=best["beta"], beam_width=best["beam_width"])
        tuned.beam_search.save(args.model)
        print(f"saved into {Path(args.model) / 'language_model' / 'decoder_config.json'}")
    return {"greedy_cer": greedy_cer, "best": best, "grid": rows}


if __name__ == "__main__":
    main()
