"""What voice activity detection costs: `ko_asr.vad.speech_segments` alone, and a `ko-asr transcribe`-style
transcription (`ko_asr.segmented_transcription.transcribe_waveform`, word times) of a long recording with VAD on
against VAD off, measured in the same run.

The recording is the real Zeroth clips in tests/data/real_korean_speech joined by 2 s pauses of quiet pink noise
(-50 dBFS), about 60 s; a second input of the same length is that noise alone (no speech: with VAD the model never
runs). Each measurement is the median of `--runs` after one warm-up, VAD on and off taking turns so that a drift in
machine load hits both alike; the load average is printed with the figures.

Run: `.venv/bin/python benchmarks/vad.py [--model outputs/ds2-demo] [--seconds 60] [--runs 5] [--threads N]`
Without a trained model (`make demo`) it uses a random-init `demo`-preset model: same compute, meaningless text.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
from fixtures import save_random_demo_model
from transformers import pipeline

from ko_asr.data.augment import generated_noise
from ko_asr.segmented_transcription import transcribe_waveform
from ko_asr.vad import _runner, speech_segments

REPO = Path(__file__).resolve().parents[1]
ZEROTH = REPO / "tests" / "data" / "real_korean_speech" / "zeroth"
RATE = 16000


def recording(seconds: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Real clips with 2 s noise pauses until at least `seconds`, and noise alone of the same length."""
    pause = lambda: 10 ** (-50 / 20) * generated_noise("pink", 2 * RATE, rng)  # noqa: E731
    parts: list[np.ndarray] = []
    for path in sorted(ZEROTH.glob("*.wav")):
        if sum(p.size for p in parts) >= seconds * RATE:
            break
        parts += [soundfile.read(path, dtype="float32")[0], pause()]
    speech = np.concatenate(parts[:-1]).astype(np.float32)
    return speech, (10 ** (-50 / 20) * generated_noise("pink", speech.size, rng)).astype(np.float32)


def timed(function, runs: int) -> list[float]:
    function()  # warm-up: model loading, TorchScript's first optimizing runs
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "outputs" / "ds2-demo")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the recording")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads of the ASR model "
                        "(default: torch's); 1 keeps a machine shared with other work from stalling OpenMP barriers")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    trained = (args.model / "config.json").is_file()
    model_dir = args.model if trained else save_random_demo_model(Path(tempfile.mkdtemp(prefix="ko-asr-vad-bench-")) / "m")
    asr = pipeline("automatic-speech-recognition", model=str(model_dir), device="cpu")
    speech, noise = recording(args.seconds, np.random.default_rng(0))
    seconds = speech.size / RATE
    segments = speech_segments(speech, RATE)
    print(f"model: {model_dir if trained else 'random-init demo preset'}; recording {seconds:.1f} s, "
          f"{len(segments)} speech segments covering {sum(e - s for s, e in segments):.1f} s; "
          f"torch threads {torch.get_num_threads()}, {_runner().intra_op_threads()} in the VAD's own thread")

    vad_alone = statistics.median(timed(lambda: speech_segments(speech, RATE), args.runs))
    print(f"\nspeech_segments alone: {vad_alone:.3f} s for {seconds:.1f} s: RTF {vad_alone / seconds:.4f} "
          f"({seconds / vad_alone:.0f}x real time)")

    print(f"\n{'input':<22} {'VAD off s':>10} {'VAD on s':>10} {'on / off':>9} {'RTF off':>8} {'RTF on':>8}")
    for name, waveform in (("speech with pauses", speech), ("noise only", noise)):
        settings = {"off": {"vad": None}, "on": {}}  # on: the default VadOptions, as ko-asr transcribe uses
        times: dict[str, list[float]] = {"off": [], "on": []}
        for kwargs in settings.values():  # warm-ups
            transcribe_waveform(asr, waveform, timestamps=True, **kwargs)
        for _ in range(args.runs):  # taking turns
            for setting, kwargs in settings.items():
                started = time.perf_counter()
                transcribe_waveform(asr, waveform, timestamps=True, **kwargs)
                times[setting].append(time.perf_counter() - started)
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        print(f"{name:<22} {off:>10.3f} {on:>10.3f} {on / off:>9.2f} {off / seconds:>8.4f} {on / seconds:>8.4f}")
    print(f"\n{args.runs} runs each, medians; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
