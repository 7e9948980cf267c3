"""The Accelerate training loop the recipes share, for any model family with a [`BatchTranscriber`].

Model-specific parts come in through [`TrainingTask`] (model, processor, the family's transcriber, augmentation,
transcript policy); everything else (batching by audio seconds with SortaGrad and exact DDP sharding, mixed
precision, accumulation, clipping, AdamW + warmup schedule, periodic evaluation with `gather_for_metrics`,
trackers, atomic rotated checkpoints, exact resume, SIGTERM/SIGINT handling, metrics.csv, plots, the model card and
the push to the Hub) lives here once. [`run_training`] reads as its steps, in the way icefall's
`train_one_epoch`/`compute_loss` do: [`train_step`] (forward, backward, clip, optimizer), [`evaluate_splits`],
[`_TrainWindow`] (what is logged every `logging_steps`), checkpointing, and [`train_one_epoch`] that strings them
together.
"""

from __future__ import annotations

import csv
import json
import math
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..data.augment import WaveformAugmenter
from ..data.batching import DurationBucketBatchSampler
from ..data.collators import SpeechBatch
from ..data.speech_dataset import column
from ..evaluation import evaluate_dataset
from ..lora import save_model
from ..metrics import cer
from ..text.policy import TranscriptPolicy
from ..transcription import BatchTranscriber
from .checkpoints import LoopState, load_checkpoint, resolve_checkpoint, save_checkpoint
from .hub import create_hub_repo, push_model_folder
from .model_card import write_model_card
from .plots import METRICS_FIELDS, plot_metrics


@dataclass
class TrainingLoopConfig:
    """Optimization, evaluation, checkpointing, logging and Hub options of the training loop."""

    output_dir: str = field(metadata={"help": "Where checkpoints, the final model, metrics.csv and plots go."})
    seed: int = field(default=42, metadata={"help": "Seed for initialization, shuffling, augmentation and SpecAugment."})
    num_train_epochs: int = field(default=10, metadata={"help": "Epochs to train."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps to train; overrides num_train_epochs when > 0."})
    max_train_minutes: float | None = field(
        default=None,
        metadata={"help": "Wall-clock budget of the training loop (evaluations included), minutes. The learning-rate "
                  "schedule follows whichever is further along, steps or time, so a slow CPU reaches the schedule's "
                  "end (not a cut-off) in fewer steps; the run ends when either runs out."},
    )
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
    optim: str = field(default="adamw_torch", metadata={"help": "adamw_torch, or adamw_bnb_8bit (8-bit AdamW states, "
                                                        "bitsandbytes, CUDA only)."})
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
    logging_dir: str | None = field(
        default=None, metadata={"help": "Tracker (TensorBoard) logs; default <output_dir>/runs, as transformers does. Never uploaded."}
    )
    push_to_hub: bool = field(
        default=False,
        metadata={"help": "At the end of training, upload the final model, processor, card and plots to the Hub (not the "
                  "checkpoints, logs, metrics.csv or evaluation outputs). The repository is created when training starts."},
    )
    hub_model_id: str | None = field(
        default=None, metadata={"help": "Hub repository (name or namespace/name); default: the name of output_dir."}
    )
    hub_private_repo: bool | None = field(
        default=None, metadata={"help": "Create the Hub repository private (default: the account's default visibility)."}
    )

    @property
    def resolved_logging_dir(self) -> Path:
        """`logging_dir`, or `<output_dir>/runs` where the transformers TensorBoard callback writes too."""
        return Path(self.logging_dir) if self.logging_dir else Path(self.output_dir) / "runs"

    @property
    def resolved_hub_model_id(self) -> str:
        """`hub_model_id`, or the name of `output_dir` (as the transformers `Trainer` names it)."""
        return self.hub_model_id or Path(self.output_dir).resolve().name


@dataclass
class TrainingTask:
    """The model-specific parts of a training run.

    Args:
        model: the model (a `PreTrainedModel` returning `.loss`).
        processor: its processor; saved beside the model in checkpoints and in the final directory, with `policy`.
        transcriber ([`BatchTranscriber`]): the family's collator, batch transcription and logits decoding.
        train_dataset: ko_asr dataset with `duration`.
        eval_datasets (`dict`): split name -> dataset, evaluated periodically and at the end.
        policy ([`TranscriptPolicy`]): the policy the training text was normalized with; saved with the tokenizer so
            evaluation, comparison and the Space read it from the model.
        augment ([`WaveformAugmenter`], *optional*): training-time waveform augmentation (its `epoch` is set here).
        describe (`dict`): config, data and options for the model card and trackers.
    """

    model: Any
    processor: Any
    transcriber: BatchTranscriber
    train_dataset: Any
    eval_datasets: dict[str, Any]
    policy: TranscriptPolicy = field(default_factory=TranscriptPolicy)
    augment: WaveformAugmenter | None = None
    describe: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.policy.save_to(self.processor.tokenizer)

    def save_pretrained(self, directory: Path) -> None:
        """Model and processor (with the transcript policy), loadable with `from_pretrained` (a LoRA model: the merged
        model, and its adapter in `adapter/`, see `ko_asr.lora`)."""
        save_model(self.model, directory)
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


def _optimizer(model, config: TrainingLoopConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters (frozen ones, e.g. under LoRA, get no optimizer state); `optim:
    adamw_bnb_8bit` keeps its moments in 8 bits (bitsandbytes, CUDA only), as transformers' `optim` option does."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 or "norm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optim == "adamw_bnb_8bit":
        if not torch.cuda.is_available():
            raise ValueError("optim adamw_bnb_8bit (bitsandbytes) needs a CUDA device; use adamw_torch on this machine")
        try:
            import bitsandbytes
        except ImportError:
            raise ValueError("optim adamw_bnb_8bit needs bitsandbytes: pip install bitsandbytes") from None
        return bitsandbytes.optim.AdamW8bit(groups, lr=config.learning_rate)
    if config.optim != "adamw_torch":
        raise ValueError(f"optim must be adamw_torch or adamw_bnb_8bit, got {config.optim!r}")
    return torch.optim.AdamW(groups, lr=config.learning_rate)


def make_accelerator(config: TrainingLoopConfig) -> Accelerator:
    trackers = [t for t in config.report_to if t and t != "none"]
    return Accelerator(
        # Without an accelerator device, Accelerate only sets up multi-process CPU (gloo) DDP when told it runs on CPU.
        cpu=not torch.accelerator.is_available(),
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        log_with=trackers or None,
        # tracker logs go to logging_dir, kept apart from the model files that are uploaded
        project_config=ProjectConfiguration(project_dir=config.output_dir, logging_dir=str(config.resolved_logging_dir)),
    )


@dataclass
class _Schedule:
    """Steps and epochs of a run; `max_steps` wins over `num_train_epochs`."""

    steps_per_epoch: int
    total_steps: int
    num_epochs: int

    @classmethod
    def of(cls, config: TrainingLoopConfig, batches_per_epoch: int) -> _Schedule:
        steps_per_epoch = max(1, math.ceil(batches_per_epoch / config.gradient_accumulation_steps))
        if config.max_steps <= 0:
            return cls(steps_per_epoch, steps_per_epoch * config.num_train_epochs, config.num_train_epochs)
        # epoch lengths vary a little with shuffling: one epoch more than needed, max_steps ends the run
        return cls(steps_per_epoch, config.max_steps, max(math.ceil(config.max_steps / steps_per_epoch), 1) + 1)


class _Progress:
    """How far along the run is: optimizer steps over the schedule's, or the wall-clock budget spent, whichever is
    further. The learning-rate schedule reads [`schedule_step`], so with a budget it follows time on a slow machine.

    Time spent before a resume comes back from the checkpoint (`LoopState.extra["train_seconds"]`). With several
    processes the largest fraction across them is used, so every rank has the same learning rate and stops together.
    """

    def __init__(self, total_steps: int, budget_minutes: float | None, accelerator: Accelerator, seconds_before: float = 0.0):
        if budget_minutes is not None and budget_minutes <= 0:
            raise ValueError(f"max_train_minutes must be positive, got {budget_minutes}")
        self.total_steps = total_steps
        self.budget_seconds = None if budget_minutes is None else budget_minutes * 60.0
        self.accelerator = accelerator
        self.seconds_before = seconds_before
        self.started = time.perf_counter()
        self.time_fraction = 0.0

    @property
    def elapsed_seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def update(self) -> None:
        """Read the clock (once per optimizer step, the same value on every process)."""
        if self.budget_seconds is None:
            return
        fraction = torch.tensor(self.elapsed_seconds / self.budget_seconds, dtype=torch.float64)
        if self.accelerator.num_processes > 1:
            fraction = self.accelerator.reduce(fraction.to(self.accelerator.device), "max").cpu()
        self.time_fraction = float(fraction)

    def schedule_step(self, step: int) -> int:
        """The step the learning-rate schedule is at."""
        return max(step, min(self.total_steps, math.floor(self.time_fraction * self.total_steps)))

    def done(self, step: int) -> bool:
        return step >= self.total_steps or self.time_fraction >= 1.0


def _budgeted_scheduler(scheduler, progress: _Progress):
    """`scheduler` (a transformers `LambdaLR`) evaluated at `progress.schedule_step` instead of its own count."""
    lambdas = list(scheduler.lr_lambdas)
    return torch.optim.lr_scheduler.LambdaLR(
        scheduler.optimizer, [lambda step, f=f: f(progress.schedule_step(step)) for f in lambdas]
    )


@dataclass
class _TrainWindow:
    """What accumulates between two training log lines."""

    loss: float = 0.0
    batches: int = 0
    audio_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def add(self, loss: float, batch: SpeechBatch) -> None:
        self.loss += loss
        self.batches += 1
        self.audio_seconds += batch.audio_seconds


def train_step(model, batch: SpeechBatch, optimizer, accelerator: Accelerator, config: TrainingLoopConfig):
    """Forward, backward, clip and (when gradients sync) optimizer step on one batch; returns the model outputs."""
    with accelerator.accumulate(model):
        outputs = model(**batch.inputs_on(accelerator.device))
        accelerator.backward(outputs.loss)
        if accelerator.sync_gradients and config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
    return outputs


def evaluate_splits(
    task: TrainingTask, model, accelerator: Accelerator, config: TrainingLoopConfig, limit: int | None
) -> dict[str, dict[str, float]]:
    """Metrics of every eval split (the first `limit` rows of each, all when `None`); leaves the model training."""
    results = {}
    for split, dataset in task.eval_datasets.items():
        subset = dataset.select(range(min(limit, len(dataset)))) if limit else dataset
        results[split], _ = evaluate_dataset(
            task.transcriber, model, subset, accelerator=accelerator, batch_size=config.eval_batch_size,
            policy=task.policy, desc=f"evaluating {split}",
        )
    model.train()
    return results


def evaluation_line(step: int, epoch: float, results: dict[str, dict[str, float]]) -> str:
    """The console line of one evaluation: `step 200 (epoch 1.00) | dev loss 0.412 cer 0.1775`."""
    splits = (f"{split} loss {values.get('loss', float('nan')):.3f} cer {values['cer']:.4f}" for split, values in results.items())
    return " | ".join([f"step {step} (epoch {epoch:.2f})", *splits])


def _record_sample_order(output_dir: Path, epoch: int, rank: int, ids: list[str]) -> None:
    order_file = output_dir / "sample_order" / f"epoch{epoch}_rank{rank}.txt"
    order_file.parent.mkdir(exist_ok=True)
    with open(order_file, "a", encoding="utf-8") as handle:
        handle.write("".join(f"{i}\n" for i in ids))


@dataclass
class _Run:
    """Everything one run's steps share."""

    task: TrainingTask
    config: TrainingLoopConfig
    accelerator: Accelerator
    model: Any
    optimizer: Any
    scheduler: Any
    loader: DataLoader
    sampler: DurationBucketBatchSampler
    schedule: _Schedule
    progress_clock: _Progress
    state: LoopState
    metrics: _MetricsWriter
    progress: Any
    output_dir: Path
    window: _TrainWindow = field(default_factory=_TrainWindow)  # spans epoch ends, like the log interval

    def watch_loss_for_ramp(self, loss: torch.Tensor) -> None:
        """Start the augmentation ramp at the step where the loss's moving average (over processes, so every rank
        starts together) falls below the config's `ramp_below_train_loss` (CTC off its blank plateau). The average
        and the start step are kept in the loop state, so a resume continues both. Called once per optimizer step
        with that step's last batch loss (under gradient accumulation, one micro-batch of the window)."""
        augment = self.task.augment
        threshold = augment.config.ramp_below_train_loss if augment is not None else None
        if threshold is None or augment.loss_reached_at is not None:
            return
        loss = self.accelerator.reduce(loss.detach().float(), "mean").item()
        previous = self.state.extra.get("augment_loss_average")
        average = self.state.extra["augment_loss_average"] = loss if previous is None else 0.95 * previous + 0.05 * loss
        if self.state.step >= 20 and average < threshold:
            augment.loss_reached_at = self.state.extra["augment_ramp_from"] = self.state.step
            tqdm.write(f"step {self.state.step}: train loss {average:.2f} < {threshold:g}, augmentation ramps up")

    def log_train(self, window: _TrainWindow, batch: SpeechBatch, outputs, fractional_epoch: float) -> float:
        """Write the window's loss, learning rate, throughput and the last batch's train CER; returns the loss."""
        accelerator = self.accelerator
        loss = accelerator.reduce(torch.tensor(window.loss / window.batches, device=accelerator.device), "mean").item()
        values = {
            "loss": loss, "learning_rate": self.scheduler.get_last_lr()[0],
            "audio_seconds_per_second": window.audio_seconds / max(time.perf_counter() - window.started, 1e-9),
            "cer": cer(batch.texts, self.task.transcriber.decode_logits(outputs.logits)),
        }
        self.metrics.write(self.state.step, fractional_epoch, "train", values)
        self.progress.set_postfix(loss=f"{loss:.3f}", cer=f"{values['cer']:.3f}")
        return loss

    def evaluate(self, step: int, epoch: float, limit: int | None) -> dict[str, dict[str, float]]:
        results = evaluate_splits(self.task, self.model, self.accelerator, self.config, limit)
        for split, values in results.items():
            self.metrics.write(step, epoch, split, values)
        if self.accelerator.is_main_process:
            tqdm.write(evaluation_line(step, epoch, results))  # above the progress bar, which stays in place
        return results

    def should_stop(self, requested: bool) -> bool:
        """A stop request or `stop_at_step`, agreed by every process (they must stop at the same step)."""
        stop_now = requested or self.state.step == self.config.stop_at_step
        if self.accelerator.num_processes > 1:
            flag = torch.tensor(int(stop_now), device=self.accelerator.device)
            stop_now = bool(self.accelerator.reduce(flag, "max").item())
        return stop_now


def train_one_epoch(run: _Run, epoch: int, stop: _StopRequest) -> bool:
    """Train one epoch (from the resumed batch); returns `True` when the run stopped early (signal or
    `stop_at_step`, checkpoint saved)."""
    config, state, accelerator = run.config, run.state, run.accelerator
    start_batch = state.batch_in_epoch if epoch == state.epoch else 0
    run.sampler.set_epoch(epoch, start_batch=start_batch)
    batches_in_epoch = max(1, len(run.sampler) + start_batch)  # once per epoch: len() lays the epoch out anew
    if run.task.augment is not None:
        run.task.augment.epoch = epoch
    state.epoch, state.batch_in_epoch = epoch, start_batch
    augment = run.task.augment
    if augment is not None:  # a ramp reads the step; the next batch is collated when the loop asks for it
        augment.step = state.step
    for batch in run.loader:
        if config.record_sample_order:
            _record_sample_order(run.output_dir, epoch, accelerator.process_index, batch.ids)
        outputs = train_step(run.model, batch, run.optimizer, accelerator, config)
        state.batch_in_epoch += 1
        run.window.add(outputs.loss.detach().float().item(), batch)
        if not accelerator.sync_gradients:
            continue
        run.progress_clock.update()
        run.scheduler.step()
        state.step += 1
        run.watch_loss_for_ramp(outputs.loss)
        if augment is not None:
            augment.step = state.step
        state.extra["train_seconds"] = run.progress_clock.elapsed_seconds
        run.progress.update(1)
        fractional_epoch = epoch + state.batch_in_epoch / batches_in_epoch
        finished = run.progress_clock.done(state.step)
        if state.step % config.logging_steps == 0 or finished:
            run.log_train(run.window, batch, outputs, fractional_epoch)
            run.window = _TrainWindow()
        if config.eval_steps and state.step % config.eval_steps == 0 and not finished:
            run.evaluate(state.step, fractional_epoch, config.eval_max_samples)
        stop_now = run.should_stop(stop.requested)
        if (config.save_steps and state.step % config.save_steps == 0) or stop_now:
            save_checkpoint(accelerator, run.output_dir, state, run.task.save_pretrained, config.save_total_limit)
        if stop_now:
            return True
        if finished:
            return False
    return False


def run_training(task: TrainingTask, config: TrainingLoopConfig, accelerator: Accelerator) -> dict[str, Any]:
    """Train, evaluate, checkpoint; write the final model, metrics.csv, plots and model card into `output_dir`, and
    with `push_to_hub` upload the model folder (without the run's artefacts) to `hub_model_id`.

    Returns:
        `dict` with the final evaluation metrics per split (`eval`), `stopped_early`, `step`, the plots written and
        the Hub commit (`hub_commit`) when pushed.
    """
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    repo_id, failure = None, None
    if config.push_to_hub and accelerator.is_main_process:  # before training: no login or a taken name fails now
        try:
            repo_id = create_hub_repo(config.resolved_hub_model_id, config.hub_private_repo)
        except Exception as error:  # noqa: BLE001 - re-raised below, after every process knows
            failure = error
    if config.push_to_hub and accelerator.num_processes > 1:  # the others must not wait in prepare() for a dead main
        failed = accelerator.reduce(torch.tensor(int(failure is not None), device=accelerator.device), "max").item()
        if failed and failure is None:
            raise RuntimeError("the main process could not create the Hub repository; see its error")
    if failure is not None:
        raise failure
    set_seed(config.seed)
    sampler = DurationBucketBatchSampler(
        column(task.train_dataset, "duration"), config.max_batch_seconds, config.max_batch_size,
        num_replicas=accelerator.num_processes, rank=accelerator.process_index,
        sortagrad=config.sortagrad, seed=config.seed,
    )
    if task.augment is not None and task.augment.config.ramped and config.dataloader_num_workers > 0:
        raise ValueError("an augmentation ramp (ramp_start_step, ramp_steps, ramp_below_train_loss) follows the "
                         "optimizer step, which DataLoader workers do not see: use dataloader_num_workers 0 or no ramp")
    loader = DataLoader(
        task.train_dataset, batch_sampler=sampler, collate_fn=task.transcriber.collator(task.augment),
        num_workers=config.dataloader_num_workers,
    )
    schedule = _Schedule.of(config, len(sampler))
    clock = _Progress(schedule.total_steps, config.max_train_minutes, accelerator)
    optimizer = _optimizer(task.model, config)
    scheduler = _budgeted_scheduler(get_scheduler(
        config.lr_scheduler_type, optimizer,
        num_warmup_steps=int(config.warmup_ratio * schedule.total_steps), num_training_steps=schedule.total_steps,
    ), clock)
    model, optimizer = accelerator.prepare(task.model, optimizer)
    accelerator.register_for_checkpointing(scheduler)  # stepped once per optimizer step, on every process

    state = LoopState()
    checkpoint = resolve_checkpoint(output_dir, config.resume_from_checkpoint)
    if checkpoint is not None:
        state = load_checkpoint(accelerator, checkpoint)
        clock.seconds_before = float(state.extra.get("train_seconds", 0.0))
        if task.augment is not None:
            task.augment.loss_reached_at = state.extra.get("augment_ramp_from")
        accelerator.print(f"resumed from {checkpoint} at step {state.step} (epoch {state.epoch}, batch {state.batch_in_epoch})")
    resumed_step = state.step
    if accelerator.is_main_process and config.report_to:
        flat = {k: v for k, v in {**asdict(config), **task.describe}.items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers("ko_asr", config=flat)
    progress = tqdm(total=schedule.total_steps, initial=state.step, desc="training", unit="step",
                    disable=not accelerator.is_main_process)
    clock.started = time.perf_counter()  # the budget counts the loop, not loading or the final evaluation
    run = _Run(task, config, accelerator, model, optimizer, scheduler, loader, sampler, schedule, clock, state,
               _MetricsWriter(output_dir / "metrics.csv", accelerator, state.step), progress, output_dir)

    stopped_early = False
    model.train()
    with _StopRequest() as stop:
        for epoch in range(state.epoch, schedule.num_epochs):
            stopped_early = train_one_epoch(run, epoch, stop)
            if stopped_early or clock.done(state.step):
                break
            if config.eval_steps == 0 or state.step % config.eval_steps:  # epoch-end evaluation
                run.evaluate(state.step, epoch + 1, config.eval_max_samples)
            state.batch_in_epoch = 0
    progress.close()

    result: dict[str, Any] = {"stopped_early": stopped_early, "step": state.step}
    if task.augment is not None and task.augment.config.ramp_below_train_loss is not None:
        result["augment_ramp_from"] = task.augment.loss_reached_at
        accelerator.print(
            f"augmentation ramp started at step {task.augment.loss_reached_at}" if task.augment.loss_reached_at
            is not None else f"augmentation never started: the train loss stayed above "
            f"{task.augment.config.ramp_below_train_loss:g}, so this run trained on clean audio only"
        )
    if config.max_train_minutes is not None:
        minutes = clock.elapsed_seconds / 60
        result["budget"] = {"steps": state.step, "scheduled_steps": schedule.total_steps, "minutes": minutes,
                            "budget_minutes": config.max_train_minutes}
        accelerator.print(
            f"time budget: {state.step} of {schedule.total_steps} scheduled steps in {minutes:.1f} of "
            f"{config.max_train_minutes:g} min ({(state.step - resumed_step) / max(clock.elapsed_seconds - clock.seconds_before, 1e-9):.2f} "
            "steps/s on this machine)" + ("; the schedule was shortened to the budget" if clock.time_fraction >= 1 else "")
        )
    if stopped_early:
        accelerator.print(f"stopped at step {state.step}; resume with --resume_from_checkpoint latest")
        accelerator.end_training()
        return result
    ran_all = config.max_steps <= 0 and state.step >= schedule.total_steps
    final = run.evaluate(state.step, float(schedule.num_epochs) if ran_all else state.step / schedule.steps_per_epoch, None)
    result["eval"] = final
    if accelerator.is_main_process:
        task.save_pretrained(output_dir)
        (output_dir / "eval_results.json").write_text(json.dumps(final, indent=1))
        result["plots"] = [str(p) for p in plot_metrics(output_dir / "metrics.csv", output_dir / "plots")]
        describe = {"model_type": getattr(task.model.config, "model_type", None), **task.describe}
        write_model_card(output_dir, describe, final, config, repo_id)
        if repo_id is not None:
            result["hub_commit"] = push_model_folder(
                output_dir, repo_id, private=config.hub_private_repo, commit_message=f"ko_asr training, step {state.step}",
                local_dirs=(config.resolved_logging_dir,),
            )
            accelerator.print(f"pushed {output_dir} to the Hub: {result['hub_commit']}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return result
