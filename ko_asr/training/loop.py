"""The Accelerate training loop the recipes share (DeepSpeech2 now; written so a seq2seq recipe can reuse it).

Model-specific parts come in through [`TrainingTask`]; everything else (batching by audio seconds with SortaGrad
and exact DDP sharding, mixed precision, accumulation, clipping, AdamW + warmup schedule, periodic evaluation with
`gather_for_metrics`, trackers, atomic rotated checkpoints, exact resume, SIGTERM/SIGINT handling, metrics.csv,
plots and the model card) lives here once.
"""

from __future__ import annotations

import csv
import json
import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..data.audio import column
from ..data.batching import DurationBucketBatchSampler
from ..metrics import cer
from .checkpoints import LoopState, load_checkpoint, resolve_checkpoint, save_checkpoint
from .plots import METRICS_FIELDS, plot_metrics


@dataclass
class TrainingLoopConfig:
    """Optimization, evaluation and checkpointing options of the training loop."""

    output_dir: str = field(metadata={"help": "Where checkpoints, the final model, metrics.csv and plots go."})
    seed: int = field(default=42, metadata={"help": "Seed for initialization, shuffling, augmentation and SpecAugment."})
    num_train_epochs: int = field(default=10, metadata={"help": "Epochs to train."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps to train; overrides num_train_epochs when > 0."})
    stop_at_step: int = field(
        default=-1, metadata={"help": "Save a checkpoint and stop at this step without changing the schedule (time-boxing)."}
    )
    max_batch_seconds: float = field(default=200.0, metadata={"help": "Padded audio seconds per batch and process."})
    max_batch_size: int | None = field(default=None, metadata={"help": "Cap on utterances per batch."})
    sortagrad: bool = field(default=True, metadata={"help": "Epoch 0 shortest-first (SortaGrad, DS2)."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Peak AdamW learning rate."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases and norms)."})
    lr_scheduler_type: str = field(default="linear", metadata={"help": "transformers scheduler: linear, cosine, constant_with_warmup..."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Fraction of steps spent warming up the learning rate."})
    max_grad_norm: float = field(default=5.0, metadata={"help": "Gradient clipping norm (0 disables)."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    mixed_precision: str = field(default="no", metadata={"help": "no, bf16 or fp16 (CTC loss stays fp32)."})
    logging_steps: int = field(default=10, metadata={"help": "Log train loss/CER every N steps."})
    eval_steps: int = field(default=0, metadata={"help": "Evaluate every N steps (0: at epoch ends and at the end only)."})
    eval_batch_size: int = field(default=16, metadata={"help": "Utterances per evaluation batch."})
    eval_max_samples: int | None = field(default=None, metadata={"help": "Rows of each eval split used during training (all at the end)."})
    save_steps: int = field(default=500, metadata={"help": "Checkpoint every N steps (0 disables periodic saves)."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep only the newest N checkpoints."})
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "'latest' or a checkpoint path."})
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"], metadata={"help": "Trackers: tensorboard, trackio, or none."})
    dataloader_num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes (feature extraction runs there)."})
    record_sample_order: bool = field(
        default=False, metadata={"help": "Write the utterance ids each process trains on, per epoch, to sample_order/ (audits data order)."}
    )


@dataclass
class TrainingTask:
    """The model-specific parts of a training run.

    Args:
        model: the model (a `PreTrainedModel` returning `.loss`).
        processor: its processor; saved beside the model in checkpoints and in the final directory.
        train_dataset: ko_asr dataset with `duration`.
        eval_datasets (`dict`): split name -> dataset, evaluated periodically and at the end.
        train_collator (`Callable`): examples -> batch dict (with `ids`); may hold an `augment` with an `epoch`.
        evaluate (`Callable[[model, dataset, Accelerator], tuple[dict, list]]`): metrics (with `cer`, maybe `loss`)
            and transcribed rows of one dataset.
        batch_hypotheses (`Callable[[outputs, batch], list[str]] | None`): cheap train-batch decoding for train CER
            (references come from the training set's `text` column).
        describe (`dict`): config, data and options for the model card and trackers.
    """

    model: Any
    processor: Any
    train_dataset: Any
    eval_datasets: dict[str, Any]
    train_collator: Callable
    evaluate: Callable
    batch_hypotheses: Callable | None = None
    describe: dict[str, Any] = field(default_factory=dict)


    def save_pretrained(self, directory: Path) -> None:
        """Model and processor, loadable with `from_pretrained`."""
        self.model.save_pretrained(directory)
        self.processor.save_pretrained(directory)


class _StopRequest:
    """SIGTERM/SIGINT set a flag; the loop saves a checkpoint at the next step boundary and exits cleanly."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _MetricsWriter:
    """Appends `step,epoch,split,name,value` rows to metrics.csv (main process) and forwards them to trackers."""

    def __init__(self, path: Path, accelerator: Accelerator, resume_step: int):
        self.path = path
        self.accelerator = accelerator
        if accelerator.is_main_process:
            kept = []
            if resume_step and path.exists():  # drop what the resumed run will redo
                with open(path, encoding="utf-8", newline="") as handle:
                    kept = [r for r in csv.DictReader(handle) if int(r["step"]) <= resume_step]
            with open(path, "w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, METRICS_FIELDS)
                writer.writeheader()
                writer.writerows(kept)

    def write(self, step: int, epoch: float, split: str, values: dict[str, float]) -> None:
        if not self.accelerator.is_main_process:
            return
        with open(self.path, "a", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            for name, value in values.items():
                writer.writerow([step, f"{epoch:.4f}", split, name, f"{value:.6g}"])
        self.accelerator.log({f"{split}/{name}": value for name, value in values.items()}, step=step)


def _optimizer(model, config: TrainingLoopConfig) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "norm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def make_accelerator(config: TrainingLoopConfig) -> Accelerator:
    trackers = [t for t in config.report_to if t and t != "none"]
    return Accelerator(
        # Without an accelerator device, Accelerate only sets up multi-process CPU (gloo) DDP when told it runs on CPU.
        cpu=not torch.accelerator.is_available(),
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=trackers or None,
        project_dir=config.output_dir,
    )


def run_training(task: TrainingTask, config: TrainingLoopConfig, accelerator: Accelerator) -> dict[str, Any]:
    """Train, evaluate, checkpoint; write the final model, metrics.csv, plots and model card into `output_dir`.

    Returns:
        `dict` with the final evaluation metrics per split, `stopped_early` and the paths written.
    """
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(config.seed)
    sampler = DurationBucketBatchSampler(
        column(task.train_dataset, "duration"), config.max_batch_seconds, config.max_batch_size,
        num_replicas=accelerator.num_processes, rank=accelerator.process_index,
        sortagrad=config.sortagrad, seed=config.seed,
    )
    loader = DataLoader(
        task.train_dataset, batch_sampler=sampler, collate_fn=task.train_collator,
        num_workers=config.dataloader_num_workers,
    )
    steps_per_epoch = max(1, math.ceil(len(sampler) / config.gradient_accumulation_steps))
    total_steps = config.max_steps if config.max_steps > 0 else steps_per_epoch * config.num_train_epochs
    num_epochs = math.ceil(total_steps / steps_per_epoch) if config.max_steps > 0 else config.num_train_epochs
    if config.max_steps > 0:
        num_epochs = max(num_epochs, 1) + 1  # epoch lengths vary a little with shuffling; max_steps ends the run

    model = task.model
    optimizer = _optimizer(model, config)
    scheduler = get_scheduler(
        config.lr_scheduler_type, optimizer,
        num_warmup_steps=int(config.warmup_ratio * total_steps), num_training_steps=total_steps,
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)  # stepped once per optimizer step, on every process

    state = LoopState()
    checkpoint = resolve_checkpoint(output_dir, config.resume_from_checkpoint)
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint)
        accelerator.print(f"resumed from {checkpoint} at step {state.step} (epoch {state.epoch}, batch {state.batch_in_epoch})")
    if accelerator.is_main_process and config.report_to:
        flat = {k: v for k, v in {**asdict(config), **task.describe}.items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("ko_asr", config=flat)
    metrics = _MetricsWriter(output_dir / "metrics.csv", accelerator, state.step)

    def evaluate(step: int, epoch: float, limit: int | None) -> dict[str, dict[str, float]]:
        results = {}
        for split, dataset in task.eval_datasets.items():
            subset = dataset.select(range(min(limit, len(dataset)))) if limit else dataset
            values, _ = task.evaluate(model, subset, accelerator)
            results[split] = values
            metrics.write(step, epoch, split, values)
        model.train()
        return results

    progress = tqdm(total=total_steps, initial=state.step, desc="training", unit="step", disable=not accelerator.is_main_process)
    window_loss, window_count, window_seconds, window_start = 0.0, 0, 0.0, time.perf_counter()
    stopped_early = False
    references = dict(zip(column(task.train_dataset, "id"), column(task.train_dataset, "text")))  # train-batch CER
    model.train()
    with _StopRequest() as stop:
        for epoch in range(state.epoch, num_epochs):
            start_batch = state.batch_in_epoch if epoch == state.epoch else 0
            sampler.set_epoch(epoch, start_batch=start_batch)
            batches_in_epoch = max(1, len(sampler) + start_batch)  # once per epoch: len() lays the epoch out anew
            augment = getattr(task.train_collator, "augment", None)
            if augment is not None and hasattr(augment, "epoch"):
                augment.epoch = epoch
            state.epoch, state.batch_in_epoch = epoch, start_batch
            epoch_losses = []
            for batch in loader:
                ids = batch.pop("ids")
                if config.record_sample_order:
                    order_file = output_dir / "sample_order" / f"epoch{epoch}_rank{accelerator.process_index}.txt"
                    order_file.parent.mkdir(exist_ok=True)
                    with open(order_file, "a", encoding="utf-8") as handle:
                        handle.write("".join(f"{i}\n" for i in ids))
                window_seconds += batch.pop("audio_seconds", 0.0)
                inputs = {k: v.to(accelerator.device) for k, v in batch.items()}
                with accelerator.accumulate(model):
                    outputs = model(**inputs)
                    accelerator.backward(outputs.loss)
                    if accelerator.sync_gradients and config.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    optimizer.zero_grad()
                state.batch_in_epoch += 1
                window_loss += outputs.loss.detach().float().item()
                window_count += 1
                if not accelerator.sync_gradients:
                    continue
                scheduler.step()
                state.step += 1
                progress.update(1)
                fractional_epoch = epoch + state.batch_in_epoch / batches_in_epoch
                if state.step % config.logging_steps == 0 or state.step == total_steps:
                    loss = accelerator.reduce(torch.tensor(window_loss / window_count, device=accelerator.device), "mean").item()
                    values = {"loss": loss, "learning_rate": scheduler.get_last_lr()[0],
                              "audio_seconds_per_second": window_seconds / max(time.perf_counter() - window_start, 1e-9)}
                    if task.batch_hypotheses is not None:
                        values["cer"] = cer([references[i] for i in ids], task.batch_hypotheses(outputs, inputs))
                    metrics.write(state.step, fractional_epoch, "train", values)
                    epoch_losses.append(loss)
                    progress.set_postfix(loss=f"{loss:.3f}", cer=f"{values.get('cer', float('nan')):.3f}")
                    window_loss, window_count, window_seconds, window_start = 0.0, 0, 0.0, time.perf_counter()
                if config.eval_steps and state.step % config.eval_steps == 0 and state.step < total_steps:
                    evaluate(state.step, fractional_epoch, config.eval_max_samples)
                stop_now = stop.requested or state.step == config.stop_at_step
                if accelerator.num_processes > 1:  # every process must stop at the same step
                    stop_now = bool(accelerator.reduce(torch.tensor(int(stop_now), device=accelerator.device), "max").item())
                periodic = config.save_steps and state.step % config.save_steps == 0
                if periodic or stop_now:
                    save_checkpoint(accelerator, output_dir, state, task.save_pretrained, config.save_total_limit)
                if stop_now:
                    stopped_early = True
                    break
                if state.step >= total_steps:
                    break
            if stopped_early or state.step >= total_steps:
                break
            if config.eval_steps == 0 or state.step % config.eval_steps:  # epoch-end evaluation
                evaluate(state.step, epoch + 1, config.eval_max_samples)
            state.batch_in_epoch = 0
    progress.close()

    result: dict[str, Any] = {"stopped_early": stopped_early, "step": state.step}
    if stopped_early:
        accelerator.print(f"stopped at step {state.step}; resume with --resume_from_checkpoint latest")
        accelerator.end_training()
        return result
    final = evaluate(state.step, float(num_epochs if config.max_steps <= 0 else state.epoch + 1), None)
    result["eval"] = final
    if accelerator.is_main_process:
        task.save_pretrained(output_dir)
        (output_dir / "eval_results.json").write_text(json.dumps(final, indent=1))
        result["plots"] = [str(p) for p in plot_metrics(output_dir / "metrics.csv", output_dir / "plots")]
        write_model_card(output_dir, task.describe, final, config)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result


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
