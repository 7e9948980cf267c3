"""Example clips for the demo: the first utterances of a synthetic corpus's `eval_clean`, as WAV files with their
references (pronunciation side of the notation, which is what espeak-ng spoke)."""

from __future__ import annotations

import os
from pathlib import Path

import soundfile

from ..data.audio import SAMPLING_RATE, read_pcm
from ..data.ksponspeech import eval_folder
from ..text import normalize_transcript, read_transcript


def eval_clean_folder(corpus_root: Path) -> Path | None:
    """`eval_clean` of a corpus in either eval layout (with or without `KsponSpeech_eval/`), or None."""
    return eval_folder(Path(corpus_root), "eval_clean")


def export_examples(corpus_root: str | os.PathLike[str], output_dir: str | os.PathLike[str], count: int = 4) -> list[tuple[str, str]]:
    """Write the first `count` `eval_clean` utterances of `corpus_root` as WAV under `output_dir`.

    Returns `(wav_path, reference)` pairs; an empty list when the corpus is not there (no examples, no error).
    """
    folder = eval_clean_folder(Path(corpus_root))
    if folder is None:
        return []
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    examples = []
    for pcm in sorted(folder.glob("*.pcm"))[:count]:
        wav = output_dir / f"{pcm.stem}.wav"
        # Always rewritten (milliseconds): a regenerated corpus must not pair old audio with new references.
        soundfile.write(wav, read_pcm(pcm), SAMPLING_RATE, subtype="PCM_16")
        examples.append((str(wav), normalize_transcript(read_transcript(pcm.with_suffix(".txt")), policy="phonetic")))
    return examples
