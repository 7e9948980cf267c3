"""benchmarks/whisper_memory.py on the tiny Whisper: every variant runs a real training step in its own process, and
the parameter accounting behind the 24 GB table is exact."""

import subprocess
import sys

from helpers import REPO, load_module

memory = load_module(REPO / "benchmarks" / "whisper_memory.py", "whisper_memory")


def test_tiny_run_prints_measured_and_derived_tables():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "whisper_memory.py"), "--sizes", "tiny",
                             "--batch", "1", "--label_tokens", "8"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    measured = [line for line in lines if line.startswith("| tiny |")]
    assert len(measured) == 4  # full / LoRA x with / without checkpointing
    assert all(float(line.split("|")[6].replace(",", "")) > 0 for line in measured)
    derived = [line for line in lines if line.startswith(("| small |", "| medium |", "| large-v3 |"))]
    assert len(derived) == 3 * 6 and all(line.rstrip().endswith(("| yes |", "| no |")) for line in derived)


def test_lora_trains_a_small_fraction_and_states_follow_the_trainable_count():
    parameters, full, lora = memory.parameter_counts("small")
    assert parameters == full and 240e6 < parameters < 245e6  # whisper-small is 241.7 M parameters
    assert 0 < lora < 0.1 * parameters
    assert memory.state_bytes(parameters, full) == 16 * parameters
    assert memory.state_bytes(parameters, lora) < 5 * parameters
    row = memory.measure("tiny", True, True, batch=1, label_tokens=8, device="cpu")
    assert row["trainable"] < row["parameters"] and row["peak_mib"] > 0
