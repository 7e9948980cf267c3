"""LoRA fine-tuning through `peft` (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): the
base weights stay frozen and only low-rank adapters train, which is what fits a Whisper fine-tune on one 24 GB GPU
(`benchmarks/whisper_memory.py` measures it).

A LoRA run saves two things into every model directory: the adapter alone in `adapter/` (`PeftModel.from_pretrained
(base, directory / "adapter")`) and the adapter merged into the base weights at the top level, a plain transformers
model that `pipeline`, `recipes/evaluate.py`, the CLI and the Space load like any other.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

ADAPTER_DIR = "adapter"


@dataclass
class LoraOptions:
    """Which layers get adapters and how big they are.

    Args:
        r (`int`): the adapters' rank.
        alpha (`int`): scaling numerator (the update is scaled by `alpha / r`).
        dropout (`float`): dropout on the adapters' input.
        target_modules (`list[str]`): module names to adapt; Whisper's attention projections and feed-forward layers
            by default.
    """

    r: int = 32
    alpha: int = 64
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"])


def apply_lora(model, options: LoraOptions):
    """`model` wrapped by `peft.get_peft_model` with LoRA adapters; every other weight is frozen.

    Raises:
        ValueError: when no module of `model` matches `options.target_modules` (peft's error, which names them).
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout,
                        target_modules=list(options.target_modules))
    return get_peft_model(model, config)


def is_lora(model) -> bool:
    """Whether `model` is a peft model (it has `peft_config`)."""
    return hasattr(model, "peft_config")


def save_model(model, directory: str | Path) -> None:
    """`model.save_pretrained(directory)`; for a LoRA model, the adapter into `directory/adapter/` and the merged
    model (a copy: training goes on with the adapters) at the top level."""
    if not is_lora(model):
        model.save_pretrained(directory)
        return
    model.save_pretrained(Path(directory) / ADAPTER_DIR)
    copy.deepcopy(model).merge_and_unload().save_pretrained(directory)


__all__ = ["ADAPTER_DIR", "LoraOptions", "apply_lora", "is_lora", "save_model"]
