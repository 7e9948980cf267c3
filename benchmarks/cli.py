"""Start-up time of the `ko-asr` command: `ko-asr --help` against a bare `python -c pass`, the interpreter's own
start-up, measured in the same run; `python -c "import ko_asr"` (torch, transformers and the Auto class
registration) shows what the command no longer pays before parsing its arguments.

Each command runs as a whole process, `--runs` rounds after one warm-up, the commands taking turns within a round
so that a drift in machine load hits them alike; the medians are printed and compared.

Run: `.venv/bin/python benchmarks/cli.py [--runs N]`
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall_seconds(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):  # round 0 warms the file cache and bytecode, uncounted
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            if round_:
                times[name].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    script = str(Path(sys.executable).parent / "ko-asr")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "ko-asr --help": [sys.executable, script, "--help"],
        "ko-asr transcribe --help": [sys.executable, script, "transcribe", "--help"],
        'python -c "import ko_asr"': [sys.executable, "-c", "import ko_asr"],
    }
    medians = {name: statistics.median(times) for name, times in wall_seconds(commands, args.runs).items()}
    baseline = medians["python -c pass"]
    print(f"{'command':<28} {'median s':>9} {'x python -c pass':>17}   ({args.runs} runs each)")
    for name, seconds in medians.items():
        print(f"{name:<28} {seconds:>9.3f} {seconds / baseline:>17.1f}")
    print(f"goal: ko-asr --help under 1 s: {'yes' if medians['ko-asr --help'] < 1.0 else 'NO'}")


if __name__ == "__main__":
    main()
