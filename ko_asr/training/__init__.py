"""Shared training machinery for the recipes: the Accelerate loop, checkpoints and plots."""

from .checkpoints import LoopState, list_checkpoints, resolve_checkpoint
from .loop import TrainingLoopConfig, TrainingTask, make_accelerator, run_training
from .plots import plot_metrics

__all__ = [
    "LoopState",
    "TrainingLoopConfig",
    "TrainingTask",
    "list_checkpoints",
    "make_accelerator",
    "plot_metrics",
    "resolve_checkpoint",
    "run_training",
]
