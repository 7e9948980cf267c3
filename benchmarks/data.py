"""KsponSpeech loader speed and memory: preparation throughput and peak RSS at growing corpus sizes, cached
re-load time, and decode throughput.

A corpus in the real AI Hub layout is generated with short random PCM files and CP949 transcripts in the full
notation (0.25 s each: the loader's work per utterance does not depend on audio length, decoding does and is
reported per audio second). Each measurement runs in a fresh process so peak RSS is its own.

Run: `.venv/bin/python benchmarks/data.py [--sizes 10000 100000] [--num-proc 2]`
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SENTENCES = [
    "아/ 몬 소리야, 그건 또. b/",
    "그럼 (20년)/(이십 년) 전+ 전처럼 이메일로 l/ 소통하면 되잖아. l/",
    "b/ (70%)/(칠 십 퍼센트) 확률이라니 아/ (뭐+ 뭔)/(모+ 몬) 소리야 진짜 (100%)(백 프로)가 왜 안돼? n/",
    "(7명)/(일곱 명)+ (7명)/(일곱 명)? 마지막엔",
]


def write_corpus(root: Path, count: int, seconds: float = 0.25) -> None:
    rng = np.random.default_rng(0)
    samples = rng.integers(-2000, 2000, int(seconds * 16000)).astype("<i2").tobytes()
    for number in range(1, count + 1):
        folder = (number - 1) // 1000 + 1
        directory = root / f"KsponSpeech_0{min((folder - 1) // 124 + 1, 5)}" / f"KsponSpeech_{folder:04d}"
        if number % 1000 == 1:
            directory.mkdir(parents=True, exist_ok=True)
        stem = directory / f"KsponSpeech_{number:06d}"
        stem.with_suffix(".pcm").write_bytes(samples)
        stem.with_suffix(".txt").write_bytes((SENTENCES[number % len(SENTENCES)] + "\n").encode("cp949"))


MEASURE = """
import json, resource, sys, time, logging
logging.disable(logging.WARNING)
import datasets
datasets.disable_progress_bars()
from ko_asr.data import load_ksponspeech
imports_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
root, cache, num_proc, decode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
start = time.perf_counter()
train = load_ksponspeech(root, cache_dir=cache, num_proc=num_proc)["train"]
prepare = time.perf_counter() - start
result = {"rows": len(train), "seconds": prepare}
if decode:
    start = time.perf_counter()
    audio_seconds = sum(row["audio"]["array"].size for row in train.select(range(min(decode, len(train))))) / 16000
    result["decode_x_realtime"] = audio_seconds / (time.perf_counter() - start)
result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
result["imports_rss_mib"] = imports_rss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
result["peak_rss_worker_mib"] = children
print(json.dumps(result))
"""


def measure(root: Path, cache: Path, num_proc: int, decode: int = 0) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(root), str(cache), str(num_proc), str(decode)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--num-proc", type=int, default=2)
    args = parser.parse_args()
    print(f"| utterances | prepare (s) | utt/s ({args.num_proc} proc) | cached re-load (s) | peak RSS main / worker (MiB) | RSS after imports (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    decode = None
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root, cache = Path(tmp) / "corpus", Path(tmp) / "cache"
            start = time.perf_counter()
            write_corpus(root, size)
            written = time.perf_counter() - start
            first = measure(root, cache, args.num_proc)
            again = measure(root, cache, args.num_proc, decode=2000)
            decode = again["decode_x_realtime"]
            print(
                f"| {size:,} | {first['seconds']:.1f} | {size / first['seconds']:,.0f} | {again['seconds']:.1f} | "
                f"{first['peak_rss_mib']:.0f} / {first['peak_rss_worker_mib']:.0f} | {first['imports_rss_mib']:.0f} |"
            )
            print(f"(corpus written in {written:.0f} s)", file=sys.stderr)
    print(f"\ndecode throughput (numpy PCM read through the dataset, 2,000 rows): {decode:,.0f}x real time")


if __name__ == "__main__":
    main()
