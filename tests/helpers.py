"""Shared test helpers."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: The longest audio the Space fixtures accept (seconds).
SPACE_MAX_SECONDS = 30.0
#: What the service says for each of the `bad_inputs` files.
EXPECTED_ERRORS = {
    "empty.wav": "empty.wav is empty",
    "silent.wav": "silent.wav is silent",
    "notes.txt": "notes.txt is not an audio file",
    "long.wav": "long.wav is 0:31.0 long; the limit is 0:30.0",
}


def load_module(path: Path, name: str):
    """Import a script that is not part of the package (the Space app, the bundle builder) by path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def whisper_recipe():
    """recipes/finetune_whisper.py as a module, without leaving recipes/ on sys.path (its evaluate.py would shadow
    the `evaluate` package for every later import)."""
    saved = list(sys.path)
    try:
        sys.path.insert(0, str(REPO / "recipes"))
        import finetune_whisper

        return finetune_whisper
    finally:
        sys.path[:] = saved


def load_app_module():
    return load_module(REPO / "space" / "app.py", "space_app")


def encode_aac(source, target: Path, *options: str) -> Path:
    """An M4A (AAC) copy of `source`: a container libsndfile cannot read."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), "-c:a", "aac", *options, str(target)], check=True)
    return target


def make_waveform(rng, seconds: float, sampling_rate: int = 16000) -> np.ndarray:
    """A speech-like test signal: a few harmonic tones with an amplitude envelope, plus a little noise."""
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sampling_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.1 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def save_random_tiny_ds2(directory):
    """A tiny random-init DeepSpeech2 (linear spectrogram, full syllable vocabulary) saved with its processor: its
    transcripts are noise, but deterministic (seed 0)."""
    import torch

    from ko_asr import (
        DeepSpeech2Config,
        DeepSpeech2CTCTokenizer,
        DeepSpeech2FeatureExtractor,
        DeepSpeech2ForCTC,
        DeepSpeech2Processor,
    )

    tokenizer = DeepSpeech2CTCTokenizer.from_hangul()
    torch.manual_seed(0)
    config = DeepSpeech2Config.from_preset("tiny", num_input_features=161, vocab_size=len(tokenizer))
    DeepSpeech2ForCTC(config).eval().save_pretrained(directory)
    DeepSpeech2Processor(DeepSpeech2FeatureExtractor(), tokenizer).save_pretrained(directory)
    return directory


def train_memorizing_model(directory, waveform: np.ndarray, text: str, max_steps: int | None = None,
                           streaming: bool = False):
    """Save a tiny DeepSpeech2 (with processor) trained on one clip until greedy decoding reproduces `text`.

    It stands in for a trained model where a test must assert a real transcript end to end (UI, API) without
    shipping weights; it knows only this clip. `streaming=True`: unidirectional with a lookahead and global feature
    statistics (measured on the clip), so ko_asr.streaming can run it; it needs more steps (default 1,200, else 400):
    without future context it learns the word spaces late.
    """
    max_steps = max_steps or (1200 if streaming else 400)
    import torch

    from ko_asr import (
        DeepSpeech2Config,
        DeepSpeech2CTCTokenizer,
        DeepSpeech2FeatureExtractor,
        DeepSpeech2ForCTC,
        DeepSpeech2Processor,
    )

    tokenizer = DeepSpeech2CTCTokenizer.from_corpus([text])
    extractor = DeepSpeech2FeatureExtractor()
    if streaming:
        extractor.fit_global_normalization([waveform])
    processor = DeepSpeech2Processor(extractor, tokenizer)
    torch.manual_seed(0)
    overrides = dict(bidirectional=False, lookahead_context=2) if streaming else {}
    config = DeepSpeech2Config.from_preset("tiny", num_input_features=161, vocab_size=len(tokenizer), **overrides)
    model = DeepSpeech2ForCTC(config).train()
    inputs = processor(audio=[waveform], sampling_rate=16000, text=[text], return_tensors="pt")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(max_steps):
        loss = model(**inputs).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 20 == 19:
            model.eval()
            with torch.no_grad():
                decoded = processor.batch_decode(model(inputs["input_features"]).logits.argmax(-1))[0]
            model.train()
            if decoded == text:
                break
    else:
        raise AssertionError(f"the tiny model did not memorize {text!r} in {max_steps} steps (got {decoded!r})")
    model.eval().save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
