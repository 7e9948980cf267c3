"""Atomic, rotated training checkpoints on Accelerate.

`checkpoint-{step}/` holds the model and processor (`save_pretrained`, loadable on its own) and
`training_state/` (Accelerate `save_state`: optimizer, scheduler, RNG of every process, plus the loop position).
It is written under a temporary name and renamed when complete, so a half-written checkpoint is never picked up.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
STATE_DIR = "training_state"
STATE_FILE = "trainer_state.json"


@dataclass
class LoopState:
    """Where the loop is: optimizer steps done, epoch, batches of this epoch done (per process)."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_metric: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Completed checkpoints, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := CHECKPOINT_PATTERN.match(p.name)) and (p / STATE_DIR / STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def resolve_checkpoint(output_dir: str | Path, resume_from_checkpoint: str | None) -> Path | None:
    """`"latest"` -> newest completed checkpoint in `output_dir` (None if there is none); a path -> that path."""
    if not resume_from_checkpoint:
        return None
    if resume_from_checkpoint == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(resume_from_checkpoint)
    if not (path / STATE_DIR / STATE_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no {STATE_DIR}/{STATE_FILE})")
    return path


def save_checkpoint(accelerator, output_dir: str | Path, state: LoopState, save_pretrained, limit: int | None) -> Path:
    """Write `checkpoint-{state.step}` atomically on every process, then rotate to the newest `limit`.

    Args:
        accelerator: the `accelerate.Accelerator`.
        save_pretrained (`Callable[[Path], None]`): writes model + processor into a directory (main process).
    """
    root = Path(output_dir)
    final = root / f"checkpoint-{state.step}"
    temporary = root / f".tmp-checkpoint-{state.step}"
    if accelerator.is_main_process:
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary / STATE_DIR))
    if accelerator.is_main_process:
        save_pretrained(temporary)
        (temporary / STATE_DIR / STATE_FILE).write_text(json.dumps(asdict(state), indent=1))
        shutil.rmtree(final, ignore_errors=True)
        temporary.rename(final)
        if limit is not None:
            for old in list_checkpoints(root)[:-limit] if limit > 0 else []:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, checkpoint: Path) -> LoopState:
    """Restore optimizer, scheduler, model and RNG states; return the loop position."""
    accelerator.load_state(str(checkpoint / STATE_DIR))
    return LoopState(**json.loads((checkpoint / STATE_DIR / STATE_FILE).read_text()))
