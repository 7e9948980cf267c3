"""A synthetic Korean speech corpus written in the exact AI Hub KsponSpeech layout (the embedded default).

Speech is espeak-ng's Korean voice with a voice variant, speaking rate and pitch drawn per utterance; the text comes
from a sentence bank of everyday Korean written for this project (`sentences_ko.txt`). Transcripts use the real
notation: dual `(spelling)/(pronunciation)` pairs for numbers and Latin words (the speech follows the
pronunciation side), fillers `어/`, repetitions `+`, unclear-word marks `*` and noise tags, so every demo run
exercises the loader and the normalizer. `eval_other` mixes in white or babble noise at 0-20 dB SNR.

Everything is deterministic from the seed. The numbers this corpus produces describe synthetic speech only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..audio_io import pcm_to_float
from ..text import normalize_transcript
from .audio import SAMPLING_RATE
from .effects import generated_noise, mix_at_snr

logger = logging.getLogger(__name__)

#: Utterances per split for each named size.
SIZES = {
    "tiny": {"train": 24, "dev": 6, "eval_clean": 6, "eval_other": 6},
    "demo": {"train": 3600, "dev": 150, "eval_clean": 200, "eval_other": 200},
}
#: espeak-ng voice variants used for speaker variety (novelty voices such as whisper or croak are left out).
VOICES = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
    "adam", "andy", "david", "john", "max", "michael", "paul", "rob", "robert", "victor",
    "annie", "belinda", "aunty", "linda", "steph", "grandpa", "grandma",
)
FILLERS = ("어/", "음/", "아/", "그/", "뭐/")
NOISE_TAGS = ("b/", "n/", "l/", "o/")
SNR_RANGE_DB = (0.0, 20.0)
#: Bumped whenever generation changes, so a corpus written by an older version is regenerated.
GENERATOR_VERSION = 2
FIRST_ID = {"train": 1, "dev": 620_001}
EVAL_FIRST_ID = {"eval_clean": 1, "eval_other": 3_001}


@dataclass(frozen=True)
class Utterance:
    """One planned utterance: where it goes, what is written and what is spoken, and how."""

    split: str
    relative_path: str  # of the .pcm, from the corpus root
    raw_transcript: str
    spoken_text: str
    voice: str
    rate: int
    pitch: int
    noise: str | None  # "white" / "babble" for eval_other
    snr_db: float
    seed: int


def load_sentence_bank() -> list[str]:
    """The shipped sentence bank: one raw sentence per line, numbers and Latin words as dual pairs."""
    text = resources.files("ko_asr.data").joinpath("sentences_ko.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def split_sentence_bank(sentences: Sequence[str]) -> dict[str, list[str]]:
    """Disjoint sentence pools by a stable hash: 80% train, 10% dev, 10% eval (eval_clean and eval_other).

    Dev and eval sentences are never spoken in train.
    """
    pools: dict[str, list[str]] = {"train": [], "dev": [], "eval": []}
    for sentence in sentences:
        bucket = int(hashlib.sha1(sentence.encode("utf-8")).hexdigest(), 16) % 10
        pools["dev" if bucket == 0 else "eval" if bucket == 1 else "train"].append(sentence)
    return pools


def decorate(sentence: str, rng: np.random.Generator) -> str:
    """Add spoken disfluencies and noise tags in KsponSpeech notation to a bank sentence."""
    words = sentence.split()
    if len(words) > 2 and rng.random() < 0.12:  # a repeated / restarted word: "전+ 전처럼"
        index = int(rng.integers(0, len(words) - 1))
        if "(" not in words[index]:
            stem = words[index].rstrip(".,?!")
            words.insert(index, stem[: max(1, len(stem) // 2)] + "+")
    if rng.random() < 0.06:
        index = int(rng.integers(0, len(words)))
        if "(" not in words[index] and words[index][-1] not in ".,?!":
            words[index] += "*"
    if rng.random() < 0.15:
        words.insert(0, str(rng.choice(FILLERS)))
    if rng.random() < 0.15:
        tag = str(rng.choice(NOISE_TAGS))
        if rng.random() < 0.5:
            words.insert(0, tag)
        elif words[-1][-1] in ".?!":
            words[-1] += tag  # glued after punctuation, as in "들어서.b/"
        else:
            words.append(tag)
    return " ".join(words)


def _kspon_path(split: str, number: int) -> str:
    if split in EVAL_FIRST_ID:
        return f"KsponSpeech_eval/{split}/KsponSpeech_E{number:05d}.pcm"
    folder = (number - 1) // 1000 + 1
    part = min((folder - 1) // 124 + 1, 5)
    return f"KsponSpeech_0{part}/KsponSpeech_{folder:04d}/KsponSpeech_{number:06d}.pcm"


def plan_corpus(counts: dict[str, int], seed: int = 0) -> list[Utterance]:
    """Decide every utterance (text, voice, rate, pitch, noise) deterministically from `seed`."""
    pools = split_sentence_bank(load_sentence_bank())
    plan = []
    for split_index, (split, count) in enumerate(counts.items()):
        rng = np.random.default_rng([seed, split_index])
        pool = pools["eval"] if split in EVAL_FIRST_ID else pools[split]
        order = rng.permutation(len(pool))
        first = EVAL_FIRST_ID.get(split, FIRST_ID.get(split))
        for i in range(count):
            raw = decorate(pool[order[i % len(pool)]], rng)
            noisy = split == "eval_other"
            plan.append(
                Utterance(
                    split=split,
                    relative_path=_kspon_path(split, first + i),
                    raw_transcript=raw,
                    spoken_text=normalize_transcript(raw, policy="phonetic"),
                    voice=str(rng.choice(VOICES)),
                    rate=int(rng.integers(130, 200)),
                    pitch=int(rng.integers(25, 75)),
                    noise=str(rng.choice(("white", "babble"))) if noisy else None,
                    snr_db=float(rng.uniform(*SNR_RANGE_DB)) if noisy else 0.0,
                    seed=int(rng.integers(0, 2**31)),
                )
            )
    return plan


def synthesize(text: str, voice: str = "m3", rate: int = 160, pitch: int = 50) -> np.ndarray:
    """espeak-ng Korean speech for `text`, resampled by sox to 16 kHz, as float32.

    Runs no torch code, so it is safe in forked worker processes of a parent that already started torch threads.
    """
    speech = subprocess.run(
        ["espeak-ng", "-v", f"ko+{voice}", "-s", str(rate), "-p", str(pitch), "--stdout", text],
        capture_output=True, check=True,
    ).stdout
    pcm = subprocess.run(
        ["sox", "-D", "-t", "wav", "-", "-t", "raw", "-r", str(SAMPLING_RATE), "-e", "signed", "-b", "16", "-c", "1", "-"],
        input=speech, capture_output=True, check=True,
    ).stdout
    return pcm_to_float(np.frombuffer(pcm, dtype="<i2"))


def _render(job: tuple[Utterance, tuple[str, ...], str]) -> float:
    utterance, babble_texts, root = job
    waveform = synthesize(utterance.spoken_text, utterance.voice, utterance.rate, utterance.pitch)
    if utterance.noise is not None:
        rng = np.random.default_rng(utterance.seed)
        if utterance.noise == "white":
            noise = generated_noise("white", waveform.size, rng)
        else:  # babble: other utterances spoken at once
            talkers = [synthesize(t, str(rng.choice(VOICES)), int(rng.integers(130, 200))) for t in babble_texts]
            length = max(t.size for t in talkers)
            noise = sum(np.pad(t, (0, length - t.size)) for t in talkers)
        waveform = mix_at_snr(waveform, noise, utterance.snr_db, rng)
    peak = float(np.abs(waveform).max()) or 1.0
    if peak > 0.99:  # keep the int16 conversion from clipping
        waveform = waveform * (0.99 / peak)
    pcm = os.path.join(root, utterance.relative_path)
    os.makedirs(os.path.dirname(pcm), exist_ok=True)
    (waveform * 32767).astype("<i2").tofile(pcm)
    with open(pcm[: -len(".pcm")] + ".txt", "w", encoding="cp949", newline="") as handle:
        handle.write(utterance.raw_transcript + "\n")
    return waveform.size / SAMPLING_RATE


def generate_synthetic_corpus(
    root: str | os.PathLike[str],
    size: str | dict[str, int] = "demo",
    seed: int = 0,
    num_proc: int | None = None,
    write_scripts: bool = True,
    eval_level: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic corpus in the AI Hub KsponSpeech layout under `root`.

    Args:
        root (`str` or `os.PathLike`): output directory.
        size (`str` or `dict`, *optional*, defaults to `"demo"`): `"tiny"` (tests), `"demo"` (trains the demo
            model), or utterances per split, e.g. `{"train": 100, "eval_clean": 10}`.
        seed (`int`, *optional*, defaults to 0): everything (text, voices, noise) follows from it.
        num_proc (`int`, *optional*): synthesis processes (all cores by default).
        write_scripts (`bool`, *optional*, defaults to `True`): also write the official `scripts/*.trn`.
        eval_level (`bool`, *optional*, defaults to `True`): put eval folders under `KsponSpeech_eval/` (`False`
            gives the other layout the real eval zip unpacks to).
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing corpus at `root`.

    Returns:
        `Path`: the corpus root. A finished corpus holds `SYNTHETIC_CORPUS.txt`; calling again with the same
        arguments returns at once.
    """
    counts = SIZES[size] if isinstance(size, str) else dict(size)
    root = Path(root)
    marker = root / "SYNTHETIC_CORPUS.txt"
    signature = f"version={GENERATOR_VERSION} size={counts} seed={seed} scripts={write_scripts} eval_level={eval_level}\n"
    if marker.exists() and marker.read_text() == signature and not overwrite:
        return root
    if root.exists() and any(root.iterdir()):
        if not (overwrite or marker.exists()):
            raise FileExistsError(f"{root} is not empty and holds no synthetic corpus; pass overwrite=True")
        if marker.exists() and not overwrite:  # reproducible from its seed, so replacing it loses nothing
            logger.warning("%s holds a synthetic corpus made with other settings (%s); regenerating it", root,
                           marker.read_text().strip())
        shutil.rmtree(root)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (apt-get install {tool}; `make demo` does it for you)")
    root.mkdir(parents=True, exist_ok=True)

    plan = plan_corpus(counts, seed)
    bank = load_sentence_bank()
    babble_rng = np.random.default_rng([seed, 99])
    jobs = [
        (u, tuple(bank[i] for i in babble_rng.choice(len(bank), 3)) if u.noise == "babble" else (), str(root))
        for u in plan
    ]
    jobs = [(u, tuple(normalize_transcript(t, policy="phonetic") for t in texts), r) for u, texts, r in jobs]
    with Pool(num_proc or os.cpu_count()) as pool:
        durations = list(
            tqdm(pool.imap(_render, jobs, chunksize=16), total=len(jobs), desc="synthesizing", unit="utt")
        )
    if write_scripts:
        (root / "scripts").mkdir(exist_ok=True)
        for split in counts:
            lines = [f"{u.relative_path} :: {u.raw_transcript}\n" for u in plan if u.split == split]
            (root / "scripts" / f"{split}.trn").write_text("".join(lines), encoding="utf-8")
    if not eval_level and (root / "KsponSpeech_eval").exists():
        for folder in (root / "KsponSpeech_eval").iterdir():
            folder.rename(root / folder.name)
        (root / "KsponSpeech_eval").rmdir()
    hours = sum(durations) / 3600
    marker.write_text(signature)
    (root / "README.txt").write_text(
        f"Synthetic KsponSpeech-layout corpus written by ko_asr (espeak-ng Korean, seed {seed}).\n"
        f"{len(plan)} utterances, {hours:.2f} h: {counts}. Synthetic speech: its numbers are not real-speech accuracy.\n",
        encoding="utf-8",
    )
    return root
