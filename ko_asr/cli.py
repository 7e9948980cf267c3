"""The `ko-asr` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _normalize(args: argparse.Namespace) -> int:
    from .models.deepspeech2 import DeepSpeech2CTCTokenizer
    from .text import normalize_transcript

    tokenizer = DeepSpeech2CTCTokenizer.from_hangul(units=args.units) if args.show_tokens else None
    handle = sys.stdin if args.path == "-" else open(args.path, encoding="utf-8")
    with handle:
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
