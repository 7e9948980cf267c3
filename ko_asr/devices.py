"""Checking a requested torch device before any model loads, for the CLI (`--device`) and the Space
(`$KO_ASR_DEVICE`): one answer to "can this machine run on it?", said in words rather than as a torch error later."""

from __future__ import annotations


def device_problem(device: str) -> str | None:
    """Why `device` (`cpu`, `cuda`, `cuda:1`, `mps`, ...) cannot be used on this machine, or `None` when it can.

    The text names no option, so each caller prefixes what the user typed (`--device cuda: ...`).
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        return "not a device; use cpu, cuda, cuda:N, mps, ..."
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return "no CUDA device is available on this machine (use cpu)"
        if parsed.index is not None and parsed.index >= count:
            return f"this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        return "MPS (Apple silicon) is not available on this machine (use cpu)"
    return None
