"""The `ko-asr` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _normalize(args: argparse.Namespace) -> int:
    from collections import Counter

    from .data.skip_reasons import SkipReason
    from .models.deepspeech2 import DeepSpeech2CTCTokenizer
    from .text import (
        MalformedTranscriptError,
        TranscriptDecodeError,
        UnintelligibleUtteranceError,
        decode_transcript,
        normalize_transcript,
    )

    tokenizer = DeepSpeech2CTCTokenizer.from_hangul(units=args.units) if args.show_tokens else None
    name = "<stdin>" if args.path == "-" else args.path
    try:
        data = sys.stdin.buffer.read() if args.path == "-" else Path(args.path).read_bytes()
    except OSError as error:
        print(f"ko-asr normalize: {name}: {error.strerror or error}", file=sys.stderr)
        return 2
    skipped: Counter[str] = Counter()
    lines = data.removeprefix(b"\xef\xbb\xbf").splitlines()
    for number, line in enumerate(lines, start=1):
        where = f"{name}:{number}"
        try:  # line by line, like .trn scripts: UTF-8 or CP949, one bad line is reported and the rest go on
            raw = decode_transcript(line, where)
            if not raw.strip():
                continue
            text = normalize_transcript(raw, policy=args.policy, unintelligible=args.unintelligible)
        except (TranscriptDecodeError, MalformedTranscriptError, UnintelligibleUtteranceError) as error:
            reason = {TranscriptDecodeError: SkipReason.UNDECODABLE_TRANSCRIPT, MalformedTranscriptError:
                      SkipReason.MALFORMED_NOTATION, UnintelligibleUtteranceError: SkipReason.UNINTELLIGIBLE_DROPPED}[type(error)]
            skipped[reason] += 1
            print(f"ko-asr normalize: {where}: skipped ({reason}): {error}", file=sys.stderr)
            continue
        if tokenizer is None:
            print(text)
            continue
        ids = tokenizer(text).input_ids
        print(f"raw      : {raw}\n{args.policy:<9}: {text}")
        print(f"ids      : {ids[:20]}{' ...' if len(ids) > 20 else ''} ({len(ids)} {args.units} tokens)")
        print(f"decoded  : {tokenizer.decode(ids, group_tokens=False)}\n")
    if skipped:
        counts = ", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items()))
        print(f"ko-asr normalize: skipped {sum(skipped.values())} of {len(lines)} lines: {counts}", file=sys.stderr)
    # lines dropped on request (unintelligible="drop") are not a failure; unreadable or ambiguous input is
    return 1 if set(skipped) - {SkipReason.UNINTELLIGIBLE_DROPPED} else 0


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
    normalize.add_argument("path", help="file with one raw transcript per line (UTF-8 or CP949), or - for stdin")
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
