"""The model card (README.md) written beside a trained model."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any


def write_model_card(output_dir: Path, describe: dict[str, Any], final: dict[str, dict[str, float]], config) -> None:
    """README.md of the final model: what it is, the data, the options and the metrics it reached."""
    lines = [
        "---",
        "language: ko",
        "tags: [automatic-speech-recognition, ko_asr]",
        "---",
        f"# {describe.get('model_name', 'ko_asr model')}",
        "",
        describe.get("summary", ""),
        "",
        "## Evaluation",
        "",
        "| split | cer | cer_with_spaces | wer | swer |",
        "|---|---:|---:|---:|---:|",
    ]
    for split, values in final.items():
        lines.append(
            f"| {split} | {values.get('cer', float('nan')):.4f} | {values.get('cer_with_spaces', float('nan')):.4f} | "
            f"{values.get('wer', float('nan')):.4f} | {values.get('swer', float('nan')):.4f} |"
        )
    lines += [
        "",
        f"Transcript policy: `{describe.get('policy', 'spelling')}`. `cer` removes spaces; `swer` re-spaces the",
        "hypothesis to the reference (ESPnet1 sWER).",
        "",
        "## Data",
        "",
        str(describe.get("data", "")),
        "",
        "## Training options",
        "",
        "```json",
        json.dumps({**asdict(config), **{k: v for k, v in describe.items() if k not in ("summary", "data")}}, indent=1, default=str),
        "```",
        "",
        "Curves: `plots/loss_per_step.png`, `plots/cer_per_step.png`, `plots/*_per_epoch.png`; raw values in `metrics.csv`.",
    ]
    (output_dir / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
