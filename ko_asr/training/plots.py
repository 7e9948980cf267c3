"""metrics.csv -> PNG curves of loss and CER per step and per epoch (train and eval), and the learning rate per step."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS_FIELDS = ("step", "epoch", "split", "name", "value")


def read_metrics(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return [
            {"step": int(r["step"]), "epoch": float(r["epoch"]), "split": r["split"], "name": r["name"], "value": float(r["value"])}
            for r in csv.DictReader(handle)
        ]


def _series(rows: list[dict], name: str, x: str) -> dict[str, tuple[list[float], list[float]]]:
    grouped: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["name"] == name:
            # per epoch: train steps of epoch n (fractional epoch in (n-1, n]) average into epoch n, the eval at its end
            key = row["step"] if x == "step" else max(1, math.ceil(row["epoch"] - 1e-9)) if row["split"] == "train" else row["epoch"]
            grouped[row["split"]][key].append(row["value"])
    return {
        split: (sorted(points), [sum(points[k]) / len(points[k]) for k in sorted(points)])
        for split, points in grouped.items()
    }


#: (metric, axis label, x axes drawn): the learning rate is a schedule of steps, so it has no per-epoch curve.
CURVES = (
    ("loss", "CTC / cross-entropy loss", ("step", "epoch")),
    ("cer", "CER (spaces removed)", ("step", "epoch")),
    ("learning_rate", "learning rate", ("step",)),
)


def plot_metrics(metrics_csv: str | Path, output_dir: str | Path) -> list[Path]:
    """Draw `{loss,cer}_per_{step,epoch}.png` and `learning_rate_per_step.png` from a metrics.csv written by the
    training loop.

    Per epoch (numbered from 1), train values are the means over the epoch's logged steps and eval values are the
    evaluations at the epoch's end. Returns the written paths.
    """
    rows = read_metrics(metrics_csv)
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for name, label, axes in CURVES:
        for x in axes:
            series = _series(rows, name, x)
            if x == "epoch":  # eval at epoch ends only: integer epochs
                series = {
                    s: ([k for k in xs if float(k).is_integer()], [v for k, v in zip(xs, ys) if float(k).is_integer()])
                    if s != "train" else (xs, ys)
                    for s, (xs, ys) in series.items()
                }
            series = {s: v for s, v in series.items() if v[0]}
            if not series:
                continue
            figure, axis = plt.subplots(figsize=(7, 4))
            for split, (xs, ys) in sorted(series.items()):
                axis.plot(xs, ys, marker="o" if x == "epoch" or len(xs) < 30 else None, label=split)
            axis.set_xlabel("optimizer step" if x == "step" else "epoch")
            axis.set_ylabel(label)
            if name in ("cer", "learning_rate"):
                axis.set_ylim(bottom=0)
            axis.grid(alpha=0.3)
            axis.legend()
            axis.set_title(f"{label} per {x}")
            figure.tight_layout()
            path = output / f"{name}_per_{x}.png"
            figure.savefig(path, dpi=110)
            plt.close(figure)
            written.append(path)
    return written
