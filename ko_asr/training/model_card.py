"""The model card (README.md) of a trained model: Hub metadata through `huggingface_hub.ModelCard`, then prose.

The front matter carries `license`, `library_name`, `pipeline_tag`, `language`, `datasets`, `tags` and a
`model-index` with one result per evaluated split and metric. The card's evaluation table is rendered from that
model-index, so [`update_model_card`] (called by `recipes/evaluate.py`) adds splits to both without touching the
rest of the card.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..metrics import METRICS

TASK = "automatic-speech-recognition"
METRIC_NAMES = {
    "cer": "CER (spaces removed)",
    "cer_with_spaces": "CER with spaces",
    "wer": "WER",
    "swer": "sWER (hypothesis re-spaced to the reference)",
}
#: The evaluation table lies between these markers; it is rewritten from the model-index, the rest is kept.
TABLE_START = "<!-- ko_asr:evaluation-table: written from the model-index above; edit that, not this table -->"
TABLE_END = "<!-- /ko_asr:evaluation-table -->"
# Keys of `describe` rendered as sections of their own rather than in the options JSON.
_PROSE_KEYS = ("summary", "data", "synthetic_note", "tags", "base_model")


def dataset_identity(dataset: str) -> tuple[str, str]:
    """`(type, name)` of a recipe's `--dataset` for the model-index and the card's `datasets`.

    Hub dataset ids stay as they are; the two corpora without a Hub id keep their recipe name; a local folder
    is named by its last component (its path means nothing on the Hub).
    """
    if dataset == "synthetic":
        return "synthetic", "ko_asr synthetic Korean speech (espeak-ng, AI Hub layout)"
    if dataset == "ksponspeech":
        return "ksponspeech", "KsponSpeech (AI Hub 한국어 음성)"
    if Path(dataset).exists():
        name = Path(dataset).resolve().name
        return name, name
    return dataset, dataset


def eval_results(results: dict[str, dict[str, float]], dataset: str) -> list[EvalResult]:
    """One `EvalResult` per split and metric of `results` (split -> metrics, e.g. the loop's final evaluation)."""
    dataset_type, dataset_name = dataset_identity(dataset)
    return [
        EvalResult(
            task_type=TASK, task_name="Speech Recognition", dataset_type=dataset_type, dataset_name=dataset_name,
            dataset_split=split, metric_type=metric, metric_value=round(float(values[metric]), 4),
            metric_name=METRIC_NAMES[metric],
        )
        for split, values in results.items()
        for metric in METRICS
        if metric in values
    ]


def merge_eval_results(old: list[EvalResult], new: list[EvalResult]) -> list[EvalResult]:
    """`old` with `new` added; a new result for the same dataset, split and metric replaces the old one in place."""
    key = lambda r: (r.task_type, r.dataset_type, r.dataset_config, r.dataset_split, r.metric_type)  # noqa: E731
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in new})
    return list(merged.values())


def evaluation_table(results: list[EvalResult]) -> str:
    """Markdown table of the model-index: one row per dataset and split, one column per metric."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for result in results:
        rows.setdefault((result.dataset_type, result.dataset_split or ""), {})[result.metric_type] = result.metric_value
    lines = [TABLE_START, "", "| dataset | split | " + " | ".join(METRICS) + " |", "|---|---|" + "---:|" * len(METRICS)]
    for (dataset, split), values in rows.items():
        cells = " | ".join(f"{values[m]:.4f}" if m in values else "" for m in METRICS)
        lines.append(f"| {dataset} | {split} | {cells} |")
    return "\n".join([*lines, "", TABLE_END])


def _usage(model_ref: str, model_type: str | None) -> list[str]:
    if model_type == "whisper":
        loading = ("Whisper loads with `transformers` alone; `ko_asr` (`pip install ko-asr`, or `pip install -e .` in "
                   "a clone of its repository) adds the transcript policy saved with the tokenizer and the metrics.")
    elif model_type != "deepspeech2":  # FastConformer (Parakeet) or the wav2vec2 family with ko_asr's tokenizer
        loading = ("The model is a `transformers` class; its Hangul CTC tokenizer and feature extractor are ko_asr's: "
                   "install `ko_asr` (`pip install ko-asr`, or `pip install -e .` in a clone of its repository) and "
                   "`import ko_asr` before loading.")
    else:
        loading = ("DeepSpeech2 is not part of `transformers`: install `ko_asr` (`pip install ko-asr`, or `pip install "
                   "-e .` in a clone of its repository) and `import ko_asr` before loading, or load the model with "
                   "`trust_remote_code=True` to run the modelling code stored in this repository.")
    return [
        "## Usage",
        "",
        loading,
        "",
        "```python",
        "import ko_asr  # registers DeepSpeech2 with the transformers Auto classes",
        "from transformers import pipeline",
        "",
        f'asr = pipeline("automatic-speech-recognition", model="{model_ref}")',
        'print(asr("speech.wav")["text"])  # 16 kHz mono; other rates are resampled',
        "```",
        "",
    ]


def _licence(dataset: str) -> list[str]:
    lines = [
        "## Licence",
        "",
        "`license: apache-2.0` is the licence of ko_asr, the code that built and trained this model. Weights trained "
        "on AI Hub data (KsponSpeech / 한국어 음성 and the other AI Hub corpora) follow the terms under which AI Hub "
        "grants that data: using or redistributing them is bound by those terms, which Apache-2.0 cannot widen.",
    ]
    if dataset == "ksponspeech":
        lines.append("**This model was trained on AI Hub data**: read AI Hub's terms before sharing or using it.")
    return [*lines, ""]


def build_model_card(
    describe: dict[str, Any], final: dict[str, dict[str, float]], config, repo_id: str | None = None
) -> ModelCard:
    """The card of a trained model.

    Args:
        describe (`dict`): what the recipe says about the run: `model_name`, `summary`, `data`, `dataset` (the
            recipe's `--dataset`), `synthetic_note`, `policy`, `model_type`, optional `tags` and `base_model`; the
            other keys go to the options block.
        final (`dict`): split -> metrics of the final evaluation.
        config: the `TrainingLoopConfig`.
        repo_id (`str`, *optional*): the Hub repository the model goes to; the usage snippet loads from it (from
            `output_dir` otherwise).
    """
    dataset = str(describe.get("dataset", "synthetic"))
    model_name = describe.get("model_name", "ko_asr model")
    synthetic_note = str(describe.get("synthetic_note", "")).strip()
    tags = ["ko_asr", "korean", TASK, *describe.get("tags", []), *(["synthetic-data"] if synthetic_note else [])]
    data = ModelCardData(
        language="ko", license="apache-2.0", library_name="transformers", pipeline_tag=TASK,
        datasets=[dataset_identity(dataset)[0]], tags=list(dict.fromkeys(tags)), metrics=["cer", "wer"],
        base_model=describe.get("base_model"), model_name=model_name, eval_results=eval_results(final, dataset),
    )
    options = {**asdict(config), **{k: v for k, v in describe.items() if k not in _PROSE_KEYS}}
    body = [
        f"# {model_name}",
        "",
        str(describe.get("summary", "")),
        "",
        *([f"> **{synthetic_note}** The figures below describe that synthetic speech, not real Korean speech.", ""]
          if synthetic_note else []),
        *_usage(repo_id or config.output_dir, describe.get("model_type")),
        "## Evaluation",
        "",
        evaluation_table(data.eval_results),
        "",
        f"Transcript policy: `{describe.get('policy', 'spelling')}`. `cer` removes spaces (kospeech), "
        "`cer_with_spaces` counts them (ESPnet), `swer` re-spaces the hypothesis to the reference (ESPnet1 sWER). "
        "`recipes/evaluate.py` adds the splits it scores to this table and to the model-index.",
        "",
        "## Data",
        "",
        str(describe.get("data", "")),
        "",
        *_licence(dataset),
        "## Training options",
        "",
        "```json",
        json.dumps(options, indent=1, default=str, ensure_ascii=False),
        "```",
        "",
        "Curves: `plots/loss_per_step.png`, `plots/cer_per_step.png`, `plots/learning_rate_per_step.png`, "
        "`plots/*_per_epoch.png`; raw values in `metrics.csv` and TensorBoard logs in the run's logging directory "
        "(kept with the run, not uploaded).",
        "",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n" + "\n".join(body))


def write_model_card(
    output_dir: Path, describe: dict[str, Any], final: dict[str, dict[str, float]], config, repo_id: str | None = None
) -> Path:
    """Write [`build_model_card`] to `output_dir/README.md`; returns its path."""
    path = Path(output_dir) / "README.md"
    build_model_card(describe, final, config, repo_id).save(path)
    return path


def update_model_card(path: str | Path, results: dict[str, dict[str, float]], dataset: str) -> ModelCard:
    """Add (or refresh) `results` (split -> metrics on `dataset`) in the card at `path`: its model-index and its
    evaluation table; everything else in the card is kept.

    A card without the table's markers (written by hand or by another tool) gets an evaluation section at the end.
    """
    card = ModelCard.load(path)
    card.data.eval_results = merge_eval_results(card.data.eval_results or [], eval_results(results, dataset))
    if not card.data.model_name:  # the Hub needs a name for the model-index
        card.data.model_name = Path(path).resolve().parent.name
    table = evaluation_table(card.data.eval_results)
    text = card.text
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start >= 0 and end > start:
        card.text = text[:start] + table + text[end + len(TABLE_END):]
    else:
        card.text = text.rstrip("\n") + "\n\n## Evaluation\n\n" + table + "\n"
    card.save(path)
    return card
