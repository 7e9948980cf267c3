"""Loopback load check of the demo Space: N concurrent `gradio_client` requests against the app served on
127.0.0.1, through Gradio's queue with the app's concurrency limit.

Reports per-request latency p50/p95/max and whether every request succeeded with the same transcript as a direct
call. Baselines measured in the same run: the same clip transcribed by `TranscriptionService` directly (no HTTP, no
queue) and one request at a time through the API.

Run: `.venv/bin/python benchmarks/space.py [--model outputs/ds2-demo] [--requests 20] [--concurrency 2] [--repeat 1]`
Without a trained model (`make demo`) it serves a random-init `demo`-preset model: same compute, meaningless text.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
from fixtures import save_random_demo_model
from gradio_client import Client, handle_file

from ko_asr.data import generate_synthetic_corpus
from ko_asr.serving import ServiceConfig, TranscriptionService, export_examples, find_models, read_audio_file

REPO = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "outputs" / "ds2-demo")
    parser.add_argument("--corpus", type=Path, default=REPO / "data" / "synthetic-demo")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2, help="the app's queue concurrency limit")
    parser.add_argument("--repeat", type=int, default=1, help="tile the clip this many times (long, chunked input)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="ko-asr-space-bench-"))
    model_dir = args.model if (args.model / "config.json").is_file() else save_random_demo_model(scratch / "random-demo")
    corpus = args.corpus if args.corpus.is_dir() else generate_synthetic_corpus(scratch / "corpus", size="tiny")
    examples = export_examples(corpus, scratch / "clips", count=1)
    clip, reference = examples[0]
    if args.repeat > 1:
        tiled = scratch / f"tiled_x{args.repeat}.wav"
        soundfile.write(tiled, np.tile(read_audio_file(clip), args.repeat), 16000)
        clip, reference = str(tiled), " ".join([reference] * args.repeat)

    service = TranscriptionService(find_models([str(model_dir)]), ServiceConfig())
    label = next(iter(service.models))
    expected = service.transcribe(label, clip).text  # also loads the model
    direct = []
    for _ in range(5):
        started = time.perf_counter()
        service.transcribe(label, clip)
        direct.append(time.perf_counter() - started)

    spec = importlib.util.spec_from_file_location("space_app", REPO / "space" / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    demo = app.build_demo(service, examples).queue(default_concurrency_limit=args.concurrency)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)

        def request(_: int) -> tuple[float, str | None, str | None]:
            started = time.perf_counter()
            try:
                text = client.predict(label, handle_file(clip), reference, api_name="/transcribe")[0]
                return time.perf_counter() - started, text, None
            except Exception as error:  # noqa: BLE001 - counted and reported, not hidden
                return time.perf_counter() - started, None, f"{type(error).__name__}: {error}"

        serial = [request(i)[0] for i in range(5)]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.requests) as pool:
            results = list(pool.map(request, range(args.requests)))
        wall = time.perf_counter() - started
    finally:
        demo.close()

    latencies = [latency for latency, _, _ in results]
    failures = [error for _, _, error in results if error is not None]
    wrong = [text for _, text, error in results if error is None and text != expected]
    audio_seconds = service.waveform_of(clip).size / 16000
    print(f"model: {model_dir} ({label}); clip {Path(clip).name}, {audio_seconds:.2f} s; queue concurrency {args.concurrency}")
    print(f"{'path':<44}{'p50 s':>8}{'p95 s':>8}{'max s':>8}")
    print(f"{'direct TranscriptionService call (x5)':<44}{statistics.median(direct):>8.3f}{percentile(direct, 95):>8.3f}{max(direct):>8.3f}")
    print(f"{'API, one request at a time (x5)':<44}{statistics.median(serial):>8.3f}{percentile(serial, 95):>8.3f}{max(serial):>8.3f}")
    label_concurrent = f"API, {args.requests} concurrent requests"
    print(f"{label_concurrent:<44}{statistics.median(latencies):>8.3f}{percentile(latencies, 95):>8.3f}{max(latencies):>8.3f}")
    print(f"succeeded: {args.requests - len(failures)}/{args.requests}; transcripts equal to the direct call: "
          f"{args.requests - len(failures) - len(wrong)}/{args.requests - len(failures)}")
    print(f"throughput: {args.requests / wall:.1f} requests/s ({args.requests * audio_seconds / wall:.1f} audio s/s); "
          f"API overhead per request (serial p50 - direct p50): {statistics.median(serial) - statistics.median(direct):.3f} s")
    for error in failures[:5]:
        print("  failure:", error)
    if failures or wrong:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
