"""Write a self-contained Hugging Face Space folder: space/ (app, README front matter, requirements, packages), the
ko_asr package source beside app.py, the given models, and example clips from a synthetic corpus.

The Space builder installs requirements.txt before it copies the repository in, so ko_asr cannot come from a file in
the Space: its source sits next to app.py (imported from the working directory) and requirements.txt lists its
runtime dependencies, checked here against pyproject.toml so the two cannot drift.

    python scripts/build_space_bundle.py --model outputs/ds2-demo --corpus data/synthetic-demo --output build/space

Push the output folder as the Space repository (e.g. `huggingface-cli upload <user>/<space> build/space . --repo-type space`).
"""

from __future__ import annotations

import argparse
import shutil
import tomllib
from pathlib import Path

from ko_asr.serving.examples import eval_clean_folder
from ko_asr.serving.registry import model_family

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "space"
SPACE_FILES = ("app.py", "README.md", "requirements.txt", "packages.txt")
# What a model directory needs at inference; checkpoints, logs and evaluation outputs stay behind.
# ".py": saved DeepSpeech2 models carry their own code (auto_map), so the bundled model loads with trust_remote_code
# too, like the folder it was copied from.
MODEL_FILE_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".md", ".model", ".py")


def copy_package(target: Path) -> int:
    """Copy ko_asr's source files (.py and text package data), no caches. The noise recordings under
    `ko_asr/assets/` stay out (3.7 MB that only training and `recipes/compare.py` read; the licence texts, being
    `.txt`, come along)."""
    count = 0
    for path in (REPO / "ko_asr").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".txt", ".json") and "__pycache__" not in path.parts:
            destination = target / path.relative_to(REPO)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            count += 1
    return count


def check_requirements_match_pyproject(requirements: Path) -> None:
    listed = {line.strip() for line in requirements.read_text().splitlines() if line.strip() and not line.startswith("#")}
    with open(REPO / "pyproject.toml", "rb") as handle:
        declared = set(tomllib.load(handle)["project"]["dependencies"])
    if listed != declared:
        raise SystemExit(
            f"{requirements} must list ko_asr's dependencies exactly as pyproject.toml does; "
            f"missing {sorted(declared - listed)}, extra {sorted(listed - declared)}"
        )


def copy_model(source: Path, target: Path) -> None:
    if not model_family(str(source)):
        raise SystemExit(f"{source}: not a saved model (config.json + weights); train one with `make demo`")
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix in MODEL_FILE_SUFFIXES:
            shutil.copy2(path, target / path.name)
    if not model_family(str(target)):
        raise SystemExit(f"{source}: its weights were not copied (suffixes {MODEL_FILE_SUFFIXES})")


def copy_examples(corpus: Path, target: Path, count: int) -> int:
    folder = eval_clean_folder(corpus)
    if folder is None:
        return 0
    target.mkdir(parents=True)
    clips = sorted(folder.glob("*.pcm"))[:count]
    for pcm in clips:
        shutil.copy2(pcm, target / pcm.name)
        shutil.copy2(pcm.with_suffix(".txt"), target / pcm.with_suffix(".txt").name)
    return len(clips)


def build_bundle(output: Path, models: list[Path], corpus: Path | None, examples: int = 4) -> Path:
    """Write the bundle to `output` (replaced if it exists) and return it."""
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    for name in SPACE_FILES:
        shutil.copy2(SPACE / name, output / name)
    check_requirements_match_pyproject(output / "requirements.txt")
    files = copy_package(output)
    for model in models:
        copy_model(model, output / "models" / model.resolve().name)
    copied = copy_examples(corpus, output / "examples" / "eval_clean", examples) if corpus is not None else 0
    print(f"Space bundle in {output}: ko_asr ({files} files), {len(models)} model(s), {copied} example clip(s)")
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
