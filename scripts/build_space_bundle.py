"""Write a self-contained Hugging Face Space folder: space/ (app, README front matter, requirements, packages), the
ko_asr wheel its requirements.txt names, the given models, and example clips from a synthetic corpus.

    python scripts/build_space_bundle.py --model outputs/ds2-demo --corpus data/synthetic-demo --output build/space

Push the output folder as the Space repository (e.g. `huggingface-cli upload <user>/<space> build/space . --repo-type space`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "space"
SPACE_FILES = ("app.py", "README.md", "requirements.txt", "packages.txt")
# What a model directory needs at inference; checkpoints, logs and evaluation outputs stay behind.
MODEL_FILE_SUFFIXES = (".json", ".safetensors", ".txt", ".md", ".model")


def build_wheel(output: Path) -> Path:
    before = set(output.glob("ko_asr-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(output), str(REPO)],
        check=True,
    )
    built = sorted(set(output.glob("ko_asr-*.whl")) - before) or sorted(output.glob("ko_asr-*.whl"))
    return built[-1]


def check_requirements_name_wheel(requirements: Path, wheel: Path) -> None:
    lines = [line.strip() for line in requirements.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if f"./{wheel.name}" not in lines:
        raise SystemExit(f"{requirements}: expected a line './{wheel.name}' (the wheel just built); found {lines}")


def copy_model(source: Path, target: Path) -> None:
    if not (source / "config.json").is_file():
        raise SystemExit(f"{source}: not a saved model (no config.json); train one with `make demo`")
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix in MODEL_FILE_SUFFIXES:
            shutil.copy2(path, target / path.name)


def copy_examples(corpus: Path, target: Path, count: int) -> int:
    for folder in (corpus / "KsponSpeech_eval" / "eval_clean", corpus / "eval_clean"):
        if folder.is_dir():
            target.mkdir(parents=True)
            clips = sorted(folder.glob("*.pcm"))[:count]
            for pcm in clips:
                shutil.copy2(pcm, target / pcm.name)
                shutil.copy2(pcm.with_suffix(".txt"), target / pcm.with_suffix(".txt").name)
            return len(clips)
    return 0


def build_bundle(output: Path, models: list[Path], corpus: Path | None, examples: int = 4) -> Path:
    """Write the bundle to `output` (replaced if it exists) and return it."""
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    for name in SPACE_FILES:
        shutil.copy2(SPACE / name, output / name)
    wheel = build_wheel(output)
    check_requirements_name_wheel(output / "requirements.txt", wheel)
    for model in models:
        copy_model(model, output / "models" / model.resolve().name)
    copied = copy_examples(corpus, output / "examples" / "eval_clean", examples) if corpus is not None else 0
    print(f"Space bundle in {output}: {wheel.name}, {len(models)} model(s), {copied} example clip(s)")
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", type=Path, default=[], help="saved model directory (repeatable)")
    parser.add_argument("--corpus", type=Path, default=None, help="synthetic corpus for example clips")
    parser.add_argument("--examples", type=int, default=4, help="number of example clips")
    parser.add_argument("--output", type=Path, default=REPO / "build" / "space")
    args = parser.parse_args(argv)
    build_bundle(args.output, args.model, args.corpus, args.examples)


if __name__ == "__main__":
    main()
