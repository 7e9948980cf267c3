"""The `ko-asr` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _normalize(args: argparse.Namespace) -> int:
    from .models.deepspeech2 import DeepSpeech2CTCTokenizer
    from .text import normalize_transcript

    tokenizer = DeepSpeech2CTCTokenizer.from_hangul(units=args.units) if args.show_tokens else None
    with open(sys.stdin.fileno() if args.path == "-" else args.path, encoding="utf-8", closefd=args.path != "-") as handle:
        for line in handle:
            raw = line.rstrip("\n")
            if not raw.strip():
                continue
            text = normalize_transcript(raw, policy=args.policy, unintelligible=args.unintelligible)
            if tokenizer is None:
                print(text)
                continue
            ids = tokenizer(text).input_ids
            print(f"raw      : {raw}\n{args.policy:<9}: {text}")
            print(f"ids      : {ids[:20]}{' ...' if len(ids) > 20 else ''} ({len(ids)} {args.units} tokens)")
            print(f"decoded  : {tokenizer.decode(ids, group_tokens=False)}\n")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from .data import generate_synthetic_corpus

    root = generate_synthetic_corpus(
        args.root, size=args.size, seed=args.seed, num_proc=args.num_proc,
        write_scripts=not args.no_scripts, eval_level=not args.flat_eval, overwrite=args.overwrite,
    )
    print((root / "README.txt").read_text(encoding="utf-8").strip())
    return 0


def _prepare(args: argparse.Namespace) -> int:
    from .data import load_ksponspeech

    dataset_dict, report = load_ksponspeech(
        args.root, policy=args.policy, num_proc=args.num_proc, cache_dir=args.cache_dir,
        unintelligible=args.unintelligible, return_report=True,
    )
    print(dataset_dict)
    print(report.summary())
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from transformers import pipeline

    # Importing ko_asr registered the Auto classes. Files come in through the same front door as the Space's.
    from .audio_io import SAMPLING_RATE, AudioError, load_audio, validate_waveform

    asr = pipeline("automatic-speech-recognition", model=args.model)
    failed = 0
    for path in args.audio:
        # A bad file is one line on stderr (its message names it); the others are still transcribed.
        try:
            waveform = load_audio(path)
            validate_waveform(waveform, name=path)
        except AudioError as error:
            print(f"ko-asr transcribe: {error}", file=sys.stderr)
            failed += 1
            continue
        result = asr({"raw": waveform, "sampling_rate": SAMPLING_RATE}, chunk_length_s=args.chunk_length_s or None)
        print(f"{path}\t{result['text']}", flush=True)
    if failed:
        print(f"ko-asr transcribe: {failed} of {len(args.audio)} files could not be transcribed", file=sys.stderr)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ko-asr", description="Korean speech recognition tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    normalize = commands.add_parser("normalize", help="normalize raw KsponSpeech transcript lines")
    normalize.add_argument("path", help="UTF-8 file with one raw transcript per line, or - for stdin")
    normalize.add_argument("--policy", choices=("spelling", "phonetic"), default="spelling")
    normalize.add_argument("--unintelligible", choices=("remove", "drop", "token"), default="remove")
    normalize.add_argument("--show-tokens", action="store_true", help="also print token ids and their decoding")
    normalize.add_argument("--units", choices=("syllable", "jamo"), default="syllable")
    normalize.set_defaults(handler=_normalize)

    synth = commands.add_parser("synth", help="write the synthetic corpus in the AI Hub KsponSpeech layout")
    synth.add_argument("root", help="output directory")
    synth.add_argument("--size", choices=("tiny", "demo"), default="demo")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--num-proc", type=int, default=None)
    synth.add_argument("--no-scripts", action="store_true", help="do not write scripts/*.trn")
    synth.add_argument("--flat-eval", action="store_true", help="eval folders without the KsponSpeech_eval/ level")
    synth.add_argument("--overwrite", action="store_true")
    synth.set_defaults(handler=_synth)

    prepare = commands.add_parser("prepare", help="prepare (and cache) a KsponSpeech directory; print the load report")
    prepare.add_argument("root")
    prepare.add_argument("--policy", choices=("spelling", "phonetic"), default="spelling")
    prepare.add_argument("--unintelligible", choices=("remove", "drop", "token"), default="remove")
    prepare.add_argument("--num-proc", type=int, default=None)
    prepare.add_argument("--cache-dir", default=None)
    prepare.set_defaults(handler=_prepare)

    transcribe = commands.add_parser(
        "transcribe",
        help="transcribe audio files with a saved model",
        description="Print `PATH<tab>TRANSCRIPT` per file. A file that cannot be read or holds nothing to transcribe "
        "(empty, too short, silent, not audio) is reported on stderr and skipped; the exit status is then 1.",
    )
    transcribe.add_argument("model", help="model directory or id")
    transcribe.add_argument(
        "audio", nargs="+", help="audio files: any rate and channel count; WAV/FLAC/OGG/MP3, M4A/WebM/... through FFmpeg; "
        ".pcm is read as KsponSpeech PCM (16 kHz s16le mono)",
    )
    transcribe.add_argument("--chunk-length-s", type=float, default=20.0, help="0 disables chunking")
    transcribe.set_defaults(handler=_transcribe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
