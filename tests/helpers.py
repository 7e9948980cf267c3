"""Shared test helpers."""

import numpy as np


def make_waveform(rng, seconds: float, sampling_rate: int = 16000) -> np.ndarray:
    """A speech-like test signal: a few harmonic tones with an amplitude envelope, plus a little noise."""
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sampling_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.1 * voiced * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def train_memorizing_model(directory, waveform: np.ndarray, text: str, max_steps: int = 400):
    """Save a tiny DeepSpeech2 (with processor) trained on one clip until greedy decoding reproduces `text`.

    It stands in for a trained model where a test must assert a real transcript end to end (UI, API) without
    shipping weights; it knows only this clip.
    """
    import torch

    from ko_asr import (
        DeepSpeech2Config,
        DeepSpeech2CTCTokenizer,
        DeepSpeech2FeatureExtractor,
        DeepSpeech2ForCTC,
        DeepSpeech2Processor,
    )

    tokenizer = DeepSpeech2CTCTokenizer.from_corpus([text])
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor(), tokenizer)
    torch.manual_seed(0)
    config = DeepSpeech2Config.from_preset("tiny", num_input_features=161, vocab_size=len(tokenizer))
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
