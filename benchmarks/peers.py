"""ko_asr against a peer, measured in one run on one machine with the same thread count: openspeech's DeepSpeech2 and
its KsponSpeech transcript preprocessing (`openspeech-core` from PyPI, the kospeech lineage).

The peer lives in its own environment, `build/peers-venv`: a venv created on first use with `pip install
openspeech-core==0.4.0` and its declared dependencies from PyPI. It shares this environment's packages through a
`.pth` file, so torch is the same build for both sides. openspeech-core 0.4.0 cannot be imported as a package on
today's stack (`openspeech/utils.py` imports `LightningLoggerBase`, removed in pytorch-lightning 2, and downloads a
librosa example at import time), so this script loads the two things it measures from the installed files without
running the package's `__init__`: `openspeech.encoders.deepspeech2.DeepSpeech2` (with `openspeech.utils` reduced to
the one helper the model code imports, `get_class_name`) and
`openspeech.datasets.ksponspeech.preprocess.preprocess.sentence_filter`. The peer's code runs unchanged.

1. **Training throughput** (audio-seconds per wall-second, median over `--batches` steps after `--warmup`): the same
   architecture on both sides (two 2-D convolutions 32 ch (41x11)/(21x11), strides (2,2)/(2,1), over 161
   linear-spectrogram bins; 3 BiGRU layers of 256; `--vocab` outputs; CTC; Adam; hardtanh), on utterance lengths drawn
   from a KsponSpeech-like duration mix (log-normal, median 3 s, clipped to 0.5-15 s; ~4.5 labels per second):
   - identical random batches (the same utterances, `--batch_seconds` of audio each, in random order),
   - identical batches from ko_asr's duration-bucketed sampler (`DurationBucketBatchSampler`),
   - each with its own batching: the peer's `RandomSampler` (its default) and `SmartBatchingSampler` (length-sorted
     bins), `--peer_batch_size` (its default 32) utterances at a time, vs ko_asr's bucketed batches.
   The two models take turns on every batch. `--profile` adds a `torch.profiler` table of ko_asr's step.
   One architectural difference is the peer's: its BiGRU concatenates the two directions (512 features into the next
   layer) where DS2 and ko_asr sum them (256), so the peer has more parameters; both counts are printed.
2. **Transcript normalization**: the peer's `sentence_filter` and ko_asr's `TranscriptPolicy.normalize` on the same raw
   lines (the worked examples of docs/ksponspeech_format.md plus `benchmarks/text.py`'s generated lines): lines per
   second (after a warm-up pass), and the lines where they differ, with what docs/ksponspeech_format.md says is right.
   That document is ko_asr's written reading of AI Hub's transcription rules, so "right" means "as those rules read
   there"; each differing line is printed for the reader to judge.

3. **GPU mode** (`--gpu`, on a CUDA device; not run in this repository, whose task had no GPU): ko_asr's DeepSpeech2
   `base` and `paper` presets and the FastConformer-CTC `demo` preset train in bf16 autocast on KsponSpeech-like
   batches (`--gpu_batch_seconds` of audio, bucketed), reported in audio-hours per GPU-hour (published: ~113 for
   Nervana's DS2, ~235 for ESPnet's Conformer; the goal for DS2 `base` is >= 300). No peer is needed for it.

Run: `.venv/bin/python benchmarks/peers.py [--threads 2] [--batches 8] [--profile]`, or `--gpu` on a GPU machine (the first run creates build/peers-venv; the
script re-executes itself there).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER_VENV = REPO / "build" / "peers-venv"
PEER_PACKAGE = "openspeech-core==0.4.0"


# ----- the peer's environment ----------------------------------------------------------------------------------------
def ensure_peer_environment() -> Path:
    """Create build/peers-venv with the peer from PyPI (once); returns its python."""
    python = PEER_VENV / "bin" / "python"
    if (PEER_VENV / ".installed").is_file():
        return python
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([str(base), "-m", "venv", str(PEER_VENV)], check=True)
    here = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()][0]
    peer_site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                               check=True, capture_output=True, text=True).stdout.strip()
    # this environment's packages (torch, ko_asr's dependencies) and the repository, visible to the peer's venv
    Path(peer_site, "ko_asr_shared.pth").write_text(f"{here}\n{REPO}\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", PEER_PACKAGE, "librosa"], check=True)
    (PEER_VENV / ".installed").write_text(PEER_PACKAGE + "\n")
    return python


def load_peer():
    """`(DeepSpeech2 encoder class, sentence_filter)` from the installed openspeech-core, without its `__init__`."""
    import importlib.util

    spec = importlib.util.find_spec("openspeech")
    root = Path(spec.submodule_search_locations[0])
    package = types.ModuleType("openspeech")
    package.__path__ = [str(root)]
    sys.modules["openspeech"] = package
    utils = types.ModuleType("openspeech.utils")
    utils.get_class_name = lambda obj: obj.__class__.__name__  # the whole of openspeech.utils.get_class_name
    sys.modules["openspeech.utils"] = utils
    for name in ("encoders", "datasets", "datasets.ksponspeech", "datasets.ksponspeech.preprocess"):
        module = types.ModuleType(f"openspeech.{name}")  # bare packages: their __init__ imports the whole library
        module.__path__ = [str(root.joinpath(*name.split(".")))]
        sys.modules[f"openspeech.{name}"] = module
    from openspeech.datasets.ksponspeech.preprocess.preprocess import sentence_filter
    from openspeech.encoders.deepspeech2 import DeepSpeech2

    return DeepSpeech2, sentence_filter


# ----- training throughput -------------------------------------------------------------------------------------------
def kspon_like_durations(count: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(mean=np.log(3.0), sigma=0.6, size=count), 0.5, 15.0)


def random_batches(durations, batch_seconds: float, seed: int = 0) -> list[list[int]]:
    """Random order, cut greedily so each batch's padded length (longest x count) stays under `batch_seconds`."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(durations))
    batches, current = [], []
    for index in order:
        if current and max(durations[i] for i in [*current, index]) * (len(current) + 1) > batch_seconds:
            batches.append(current)
            current = []
        current.append(int(index))
    return batches + ([current] if current else [])


def peer_own_batches(durations, batch_size: int, smart: bool, seed: int = 0) -> list[list[int]]:
    """openspeech's samplers (openspeech/data/sampler.py), `batch_size` utterances per batch, bins shuffled:
    `RandomSampler` (its default, `trainer.sampler: else`) bins consecutive ids of the corpus, i.e. random lengths;
    `SmartBatchingSampler` (`trainer.sampler: smart`) bins the utterances sorted by length."""
    import numpy as np

    ids = np.random.default_rng(seed).permutation(len(durations)).tolist()
    if smart:
        ids = sorted(ids, key=lambda i: durations[i])
    bins = [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)]
    np.random.default_rng(seed + 1).shuffle(bins)
    return bins


def bucketed_batches(durations, batch_seconds: float, seed: int = 0) -> list[list[int]]:
    from ko_asr.data.batching import DurationBucketBatchSampler

    sampler = DurationBucketBatchSampler(durations, batch_seconds, shuffle=True, sortagrad=False, seed=seed)
    return sampler.epoch_batches(0)


def make_batch(durations, indices, vocab: int, seed: int):
    import torch

    generator = torch.Generator().manual_seed(seed)
    # longest first, as the peer's collate function orders a batch (its packed RNNs require it); same for both sides
    indices = sorted(indices, key=lambda i: -durations[i])
    frames = [int(durations[i] * 100) for i in indices]
    features = torch.zeros(len(indices), max(frames), 161)
    for row, length in enumerate(frames):
        features[row, :length] = torch.randn(length, 161, generator=generator)
    label_lengths = [max(1, int(durations[i] * 4.5)) for i in indices]
    labels = torch.full((len(indices), max(label_lengths)), -100, dtype=torch.long)
    for row, length in enumerate(label_lengths):
        labels[row, :length] = torch.randint(1, vocab, (length,), generator=generator)
    return features, torch.tensor(frames), labels, float(sum(durations[i] for i in indices))


class KoAsrStep:
    name = "ko_asr DeepSpeech2ForCTC"

    def __init__(self, vocab: int):
        import torch

        from ko_asr import DeepSpeech2Config, DeepSpeech2ForCTC

        config = DeepSpeech2Config(num_hidden_layers=3, hidden_size=256, vocab_size=vocab, rnn_norm="batch")
        self.model = DeepSpeech2ForCTC(config).train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)

    def __call__(self, features, lengths, labels):
        import torch

        mask = (torch.arange(features.shape[1])[None, :] < lengths[:, None]).long()
        loss = self.model(features, attention_mask=mask, labels=labels).loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class PeerStep:
    name = "openspeech DeepSpeech2"

    def __init__(self, vocab: int, encoder_class):
        import torch

        self.model = encoder_class(input_dim=161, num_classes=vocab, rnn_type="gru", num_rnn_layers=3,
                                   rnn_hidden_dim=256, dropout_p=0.0, bidirectional=True, activation="hardtanh").train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)

    def __call__(self, features, lengths, labels):
        import torch.nn.functional as F

        log_probs, output_lengths = self.model(features, lengths)  # the peer's encoder returns log-probabilities
        targets_mask = labels >= 0
        loss = F.ctc_loss(log_probs.transpose(0, 1), labels[targets_mask], output_lengths.long(),
                          targets_mask.sum(-1), blank=0, zero_infinity=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def throughput(steps, durations, batches, vocab: int, warmup: int, measured: int) -> list[float]:
    """Median audio-seconds per wall-second of each step over `measured` batches after `warmup` ones; the steps take
    turns on every batch, so a slow patch of the machine costs them alike."""
    rates = [[] for _ in steps]
    for number, indices in enumerate(batches[: warmup + measured]):
        features, lengths, labels, seconds = make_batch(durations, indices, vocab, seed=number)
        for step, measured_rates in zip(steps, rates):
            began = time.perf_counter()
            step(features, lengths, labels)
            if number >= warmup:
                measured_rates.append(seconds / (time.perf_counter() - began))
    return [statistics.median(r) for r in rates]


def profile_step(step, durations, batches, vocab: int) -> None:
    """Where a training step's time goes (`torch.profiler`, 3 batches after 2 warm-up ones)."""
    from torch.profiler import ProfilerActivity, profile

    made = [make_batch(durations, indices, vocab, seed=n) for n, indices in enumerate(batches[:5])]
    for features, lengths, labels, _ in made[:2]:
        step(features, lengths, labels)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for features, lengths, labels, _ in made[2:]:
            step(features, lengths, labels)
    print(f"\n## Profile of the {step.name} step (3 batches)")
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


# ----- transcript normalization --------------------------------------------------------------------------------------
def format_examples() -> list[tuple[str, str, str]]:
    """`(raw, spelling, phonetic)` rows of docs/ksponspeech_format.md's table ("same" resolved)."""
    rows = []
    for line in (REPO / "docs" / "ksponspeech_format.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0].endswith("`"):
            raw, spelling = cells[0][1:-1], cells[1].strip("`")
            phonetic = spelling if cells[2] == "same" else cells[2].strip("`")
            rows.append((raw, spelling, phonetic))
    return rows


def compare_normalizers(sentence_filter, lines: int) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from text import generate_lines

    from ko_asr.text import MalformedTranscriptError
    from ko_asr.text.policy import TranscriptPolicy

    examples = format_examples()
    generated = generate_lines(lines, seed=0)
    raw_lines = [raw for raw, _, _ in examples] + generated
    print(f"\n## Transcript normalization: {len(examples)} FORMAT examples + {len(generated):,} generated lines")
    print("| normalizer | policy | lines/s | ratio (ko_asr / peer) |")
    print("|---|---|---:|---:|")
    for policy in ("spelling", "phonetic"):
        ours = TranscriptPolicy(policy=policy)

        def run_ours(ours=ours):
            for raw in raw_lines:
                with contextlib.suppress(MalformedTranscriptError):  # refused lines cost their time too
                    ours.normalize(raw)

        def run_peer(policy=policy):
            for raw in raw_lines:
                sentence_filter(raw, policy, "퍼센트")

        rates = {}
        for name, run in (("peer", run_peer), ("ko_asr", run_ours)):
            run()  # warm-up (regex compilation, caches)
            began = time.perf_counter()
            run()
            rates[name] = len(raw_lines) / (time.perf_counter() - began)
        print(f"| openspeech `sentence_filter` | {policy} | {rates['peer']:,.0f} | |")
        print(f"| ko_asr `TranscriptPolicy.normalize` | {policy} | {rates['ko_asr']:,.0f} | "
              f"{rates['ko_asr'] / rates['peer']:.2f}x |")

    print("\nFORMAT examples where the two differ (docs/ksponspeech_format.md gives the right output):")
    print("| raw | policy | FORMAT.md (right) | ko_asr | openspeech |")
    print("|---|---|---|---|---|")
    differ = agree_ours = agree_peer = 0
    for raw, spelling, phonetic in examples:
        for policy, right in (("spelling", spelling), ("phonetic", phonetic)):
            try:
                ours = TranscriptPolicy(policy=policy).normalize(raw)
            except MalformedTranscriptError as error:
                ours = f"refused: {error}"
            theirs = sentence_filter(raw, policy, "퍼센트")
            agree_ours += ours == right
            agree_peer += theirs == right
            if ours != theirs:
                differ += 1
                print(f"| `{raw}` | {policy} | `{right}` | `{ours}` | `{theirs}` |")
    total = 2 * len(examples)
    print(f"\n{differ} of {total} (example, policy) pairs differ; matching FORMAT.md: ko_asr {agree_ours}/{total}, "
          f"openspeech {agree_peer}/{total}")
    mismatched = 0
    for raw in generated:
        try:
            ours = TranscriptPolicy(policy="spelling").normalize(raw)
        except MalformedTranscriptError:
            ours = None
        mismatched += ours != sentence_filter(raw, "spelling", "퍼센트")
    print(f"generated lines where the outputs differ (spelling): {mismatched:,} of {len(generated):,}")


def gpu_throughput(args) -> None:
    """Audio-hours per GPU-hour of ko_asr's models training in bf16 on bucketed KsponSpeech-like batches."""
    import torch

    from ko_asr import DeepSpeech2Config, DeepSpeech2ForCTC
    from ko_asr.ctc_families import fastconformer_ctc
    from ko_asr.models.deepspeech2 import DeepSpeech2CTCTokenizer

    device = torch.device(args.gpu_device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    tokenizer = DeepSpeech2CTCTokenizer.from_hangul()  # the original project's all-syllable vocabulary (11,300)
    durations = kspon_like_durations(20000)
    batches = bucketed_batches(durations, args.gpu_batch_seconds)
    models = {
        "DeepSpeech2 base": DeepSpeech2ForCTC(DeepSpeech2Config.from_preset("base", vocab_size=len(tokenizer))),
        "DeepSpeech2 paper": DeepSpeech2ForCTC(DeepSpeech2Config.from_preset("paper", vocab_size=len(tokenizer))),
        "FastConformer-CTC demo": fastconformer_ctc(tokenizer, "demo", num_mel_bins=160)[0],
    }
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device} (a dry run, not a GPU figure)"
    print(f"# {name}, bf16 autocast, batches of <= {args.gpu_batch_seconds:.0f} s, "
          f"median of {args.batches} steps after {args.warmup}")
    print("| model | parameters | audio-hours per GPU-hour |")
    print("|---|---:|---:|")
    for name, model in models.items():
        model = model.to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        bins = 161 if "DeepSpeech2" in name else 160
        rates = []
        for number, indices in enumerate(batches[: args.warmup + args.batches]):
            features, lengths, labels, seconds = make_batch(durations, indices, len(tokenizer), seed=number)
            features = features[..., :bins].to(device)
            mask = (torch.arange(features.shape[1])[None, :] < lengths[:, None]).long().to(device)
            synchronize()
            began = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = model(features, attention_mask=mask, labels=labels.to(device)).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            synchronize()
            if number >= args.warmup:
                rates.append(seconds / (time.perf_counter() - began))
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"| {name} | {params:.1f} M | {statistics.median(rates):,.0f} |")
        del model, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch_seconds", type=float, default=60.0)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--peer_batch_size", type=int, default=32, help="openspeech's default trainer.batch_size")
    parser.add_argument("--profile", action="store_true", help="also profile a ko_asr training step")
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--gpu", action="store_true", help="measure ko_asr's models in bf16 on a CUDA device instead")
    parser.add_argument("--gpu_batch_seconds", type=float, default=600.0)
    parser.add_argument("--gpu_device", default="cuda", help="cuda, cuda:1, ... (cpu: a dry run of the code path)")
    args = parser.parse_args()
    if args.gpu:
        gpu_throughput(args)
        return
    if Path(sys.prefix).resolve() != PEER_VENV.resolve():  # run inside the peer's environment
        python = ensure_peer_environment()
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])

    import torch

    torch.set_num_threads(args.threads)
    encoder_class, sentence_filter = load_peer()
    durations = kspon_like_durations(4000)
    random_order = random_batches(durations, args.batch_seconds)
    bucketed = bucketed_batches(durations, args.batch_seconds)
    steps = [PeerStep(args.vocab, encoder_class), KoAsrStep(args.vocab)]
    params = {s.name: sum(p.numel() for p in s.model.parameters()) / 1e6 for s in steps}
    print(f"# ko_asr vs {PEER_PACKAGE}: {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"DeepSpeech2, conv 2x32 over 161 bins + 3 BiGRU-256, vocab {args.vocab}: "
          + ", ".join(f"{name} {count:.1f} M parameters" for name, count in params.items()))
    print(f"batches of <= {args.batch_seconds:.0f} s padded audio from a KsponSpeech-like duration mix; median of "
          f"{args.batches} steps after {args.warmup} warm-up steps; audio-seconds per wall-second")
    print("| batches | openspeech | ko_asr | ko_asr / openspeech |")
    print("|---|---:|---:|---:|")
    results = {}
    for label, batches in (("identical, random order", random_order), ("identical, ko_asr bucketed", bucketed)):
        peer, ours = throughput(steps, durations, batches, args.vocab, args.warmup, args.batches)
        results[label] = (peer, ours)
        print(f"| {label} | {peer:.1f} | {ours:.1f} | {ours / peer:.2f}x |")
    ours_own = results["identical, ko_asr bucketed"][1]
    for sampler, smart in (("RandomSampler (its default)", False), ("SmartBatchingSampler", True)):
        batches = peer_own_batches(durations, args.peer_batch_size, smart)
        (peer_own,) = throughput(steps[:1], durations, batches, args.vocab, args.warmup, args.batches)
        print(f"| each its own: openspeech {sampler}, {args.peer_batch_size} per batch; ko_asr bucketed | "
              f"{peer_own:.1f} | {ours_own:.1f} | {ours_own / peer_own:.2f}x |")
    if args.profile:
        profile_step(steps[1], durations, bucketed, args.vocab)
    compare_normalizers(sentence_filter, args.lines)


if __name__ == "__main__":
    main()
