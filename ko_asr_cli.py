"""The `ko-asr` command line: its arguments and help.

This module is the console script's entry point and stays outside the `ko_asr` package on purpose: importing
`ko_asr` registers DeepSpeech2 with the transformers Auto classes, which imports torch and transformers (seconds),
and Python runs a package's `__init__` before any of its modules. Here only the standard library is imported, so
`ko-asr --help` and argument errors answer at once; a command's own code (`ko_asr.cli`) is imported once the
arguments have parsed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: `ko_asr.transcript_formats.FORMATS`, spelled out so that building the parser imports nothing of ko_asr.
FORMATS = ("text", "json", "srt", "vtt")


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line naming the command, the problem and where help is (argparse would print the
    whole usage first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _positive_int(value: str) -> int:
    number = int(value)  # a ValueError reads "invalid _positive_int value: 'x'"
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not number >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {value}")
    return number


def _hotwords(value: str) -> list[str]:
    words = [word.strip() for word in value.split(",") if word.strip()]
    if not words:
        raise argparse.ArgumentTypeError(f"no word in {value!r} (comma-separated words or phrases)")
    return words


def build_parser() -> argparse.ArgumentParser:
    """The `ko-asr` parser; the parsed `command` is a key of `ko_asr.cli.COMMANDS` (`lm` has its own `lm_command`)."""
    parser = _Parser(prog="ko-asr", description="Korean speech recognition tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    normalize = commands.add_parser("normalize", help="normalize raw KsponSpeech transcript lines")
    normalize.add_argument("path", help="file with one raw transcript per line (UTF-8 or CP949), or - for stdin")
    normalize.add_argument("--policy", choices=("spelling", "phonetic"), default="spelling")
    normalize.add_argument("--unintelligible", choices=("remove", "drop", "token"), default="remove")
    normalize.add_argument("--show-tokens", action="store_true", help="also print token ids and their decoding")
    normalize.add_argument("--units", choices=("syllable", "jamo"), default="syllable")

    synth = commands.add_parser("synth", help="write the synthetic corpus in the AI Hub KsponSpeech layout")
    synth.add_argument("root", help="output directory")
    synth.add_argument("--size", choices=("tiny", "demo"), default="demo")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--num-proc", type=int, default=None)
    synth.add_argument("--no-scripts", action="store_true", help="do not write scripts/*.trn")
    synth.add_argument("--flat-eval", action="store_true", help="eval folders without the KsponSpeech_eval/ level")
    synth.add_argument("--overwrite", action="store_true", help="replace ROOT even if it holds other files (deletes them)")

    prepare = commands.add_parser("prepare", help="prepare (and cache) a KsponSpeech directory; print the load report")
    prepare.add_argument("root")
    prepare.add_argument("--policy", choices=("spelling", "phonetic"), default="spelling")
    prepare.add_argument("--unintelligible", choices=("remove", "drop", "token"), default="remove")
    prepare.add_argument("--num-proc", type=int, default=None)
    prepare.add_argument("--cache-dir", default=None)

    transcribe = commands.add_parser(
        "transcribe",
        help="transcribe audio files with a saved model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Transcribe audio files with a saved model (a directory, or a Hub id already in the cache).

Output (--format), on stdout or with --output-dir one file per input named after it (speech.wav -> speech.srt):
  text  the transcript; on stdout `PATH<tab>TRANSCRIPT`, one line per file
  json  path, text, duration, timestamps ("word", "segment" or null), words and segments with start/end seconds,
        and `dropped`: text left out (by Whisper's guard, or timed outside the audio); on stdout one object per line
        (JSON Lines)
  srt   SubRip subtitles, one cue per segment (stdout takes one input; use --output-dir for several)
  vtt   WebVTT subtitles, likewise

Timestamps: CTC models (DeepSpeech2) time every word; segments are words grouped at pauses of at least 0.5 s,
none longer than 7 s. Whisper models time words when their generation config names alignment heads (checkpoints
from the Hub), else segments only (json `words` is null). Other seq2seq models give no times: one segment spans
the file.

Voice activity detection (Silero VAD) is on: only the speech in a file is transcribed, cut at its pauses into
pieces of up to 20 s (--chunk-length-s if shorter; longer unbroken speech is chunked as that option says), all
times in the file's time. A file without speech (silence, noise) gives an empty transcript instead of invented
text. --no-vad transcribes each whole file as it is: Whisper then runs its sequential long-form decoding over the
whole recording (30 s windows moved by the predicted timestamps).

Whisper's hallucination guard is on: a window is decoded again at higher temperatures when its text loops
(compression ratio) or is unlikely (log-probability), and skipped when Whisper's no-speech probability is high and
its text unlikely; runs of a word or segment n-gram repeated more than 4 times, text that still compresses like a
loop, and a segment of 3+ words repeating the previous one are cut. Each cut, and text Whisper timed outside the
audio, is a note on stderr and is listed under `dropped` in json (windows the no-speech gate skips are not: Whisper
returns nothing for them). --no-guard decodes greedily without any of it. Whisper predicts timestamp tokens only
for json/srt/vtt or past 30 s, so --format text can read a little differently from the json text.

Language model: a CTC model whose directory holds a language_model/ folder (written by `ko-asr lm build TEXT
MODEL_DIR`) is decoded with that n-gram LM's beam search; --no-lm decodes greedily instead. --beam-width and
--hotwords set the beam search per run (words or phrases to favour, e.g. --hotwords "서초구,양재 시민의 숲"); on a
CTC model without an LM they run a beam search without one (hotwords still boost; a note says so). Whisper models
refuse both.

A file that cannot be read or holds nothing to transcribe (empty, too short, silent, not audio) is reported on
stderr, one line, and skipped; the exit status is then 1. A model that cannot be loaded or a bad option is one line
on stderr and exit status 2.""",
    )
    transcribe.add_argument("model", help="model directory or Hub id")
    transcribe.add_argument(
        "audio", nargs="+", help="audio files: any rate and channel count; WAV/FLAC/OGG/MP3, M4A/WebM/... through FFmpeg; "
        ".pcm is read as KsponSpeech PCM (16 kHz s16le mono)",
    )
    transcribe.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    transcribe.add_argument("--output-dir", metavar="DIR", help="write one file per input into DIR instead of stdout")
    transcribe.add_argument(
        "--device", help="where the model runs: cpu, cuda, cuda:1, mps, ... (default: the first accelerator, else cpu)"
    )
    transcribe.add_argument(
        "--batch-size", type=_positive_int, default=1,
        help="files (or chunks of a long file) per forward pass (the pipeline's batch_size; default 1)",
    )
    transcribe.add_argument(
        "--chunk-length-s", type=_seconds, default=20.0,
        help="CTC models: audio longer than this is transcribed in overlapping chunks (default 20; 0 never chunks). "
        "Whisper decodes long audio sequentially in its 30 s windows",
    )
    transcribe.add_argument(
        "--no-vad", action="store_true",
        help="transcribe each whole file, silence and noise included, instead of only the speech VAD finds",
    )
    transcribe.add_argument(
        "--no-guard", action="store_true",
        help="Whisper: no hallucination guard (no thresholds, temperature fallback or repetition check)",
    )
    transcribe.add_argument(
        "--beam-width", type=_positive_int, metavar="N",
        help="CTC models: beams kept per frame in the LM beam search (default: the LM's decoder_config.json, else 32)",
    )
    transcribe.add_argument(
        "--hotwords", action="append", type=_hotwords, metavar="WORD[,WORD...]",
        help="CTC models: comma-separated words or phrases the beam search favours (the flag may be repeated)",
    )
    transcribe.add_argument(
        "--no-lm", action="store_true", help="decode greedily even when the model has a language_model/ folder"
    )
    transcribe.add_argument(
        "--onnx", action="store_true",
        help="MODEL is a directory written by `ko-asr export onnx`: run its model.onnx on onnxruntime (DeepSpeech2, "
        "greedy decoding)",
    )
    transcribe.add_argument(
        "--int8", action="store_true",
        help="dynamic int8 quantization: with --onnx the exported model.int8.onnx, else PyTorch's quantized RNN and "
        "Linear layers (CPU)",
    )
    transcribe.add_argument("--quiet", action="store_true", help="no progress bar or notes on stderr (errors still)")

    lm = commands.add_parser("lm", help="n-gram language models for CTC beam search")
    lm_commands = lm.add_subparsers(dest="lm_command", required=True)
    build = lm_commands.add_parser(
        "build",
        help="build an n-gram LM from training transcripts into OUT_DIR/language_model/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Build an n-gram language model (Kneser-Ney, ARPA) for CTC beam search and write it to OUT_DIR/language_model/
(lm.arpa, decoder_config.json, and unigrams.txt for word units).

Use TRAINING transcripts only: text from the dev or test sets in the LM makes their scores meaningless.

The usual use is OUT_DIR = the model directory (ko-asr lm build train.txt outputs/ds2 --model outputs/ds2): then
`ko-asr transcribe outputs/ds2 ...` and pipeline("automatic-speech-recognition", model="outputs/ds2") decode with
the LM, and AutoProcessor.from_pretrained("outputs/ds2") is a DeepSpeech2ProcessorWithLM. An existing
language_model/ there is replaced.

Transcripts are normalized as in training (raw KsponSpeech notation or plain text), with the model's saved
transcript policy when --model is given, else the spelling policy.""",
    )
    build.add_argument(
        "text", metavar="TEXT",
        help="a text file with one training transcript per line (UTF-8 or CP949), or a KsponSpeech corpus directory "
        "(its train split's transcripts are used)",
    )
    build.add_argument("output_dir", metavar="OUT_DIR", help="where language_model/ is written (usually the model directory)")
    build.add_argument(
        "--model", metavar="MODEL_DIR",
        help="the CTC model the LM is for: its tokenizer and transcript policy (needed for --units word; reports the "
        "LM units the model cannot produce)",
    )
    build.add_argument("--order", type=_positive_int, default=5, metavar="N", help="n-gram order (default 5)")
    build.add_argument(
        "--units", choices=("syllable", "word"), default="syllable",
        help="syllable: syllables and word boundaries, no out-of-vocabulary words (default); word: whole words",
    )
    build.add_argument("--alpha", type=float, help="LM weight saved as the decoding default (default 0.5)")
    build.add_argument("--beta", type=float, help="insertion bonus saved as the decoding default (default 1.0)")
    build.add_argument(
        "--beam-width", type=_positive_int, metavar="N", help="beam width saved as the decoding default (default 32)"
    )
    export = commands.add_parser("export", help="export a saved model for deployment")
    export_formats = export.add_subparsers(dest="export_format", required=True)
    onnx = export_formats.add_parser(
        "onnx",
        help="export a DeepSpeech2 to ONNX (offline and streaming graphs, int8), checked against PyTorch",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Export a saved DeepSpeech2 to ONNX into OUT_DIR:
  model.onnx                 input_features (batch, frames, bins) float32, attention_mask (batch, frames) int64
                             -> logits (batch, output_frames, vocab); batch and time axes dynamic
  model_streaming.onnx       unidirectional models: one streaming step, state in and state out
                             (ko_asr.streaming.StreamingRecognizer.from_pretrained(OUT_DIR, onnx=True))
  model.int8.onnx, model_streaming.int8.onnx   onnxruntime dynamic int8 quantization (MatMul weights) of both
  config.json and the processor files

Each graph is run on onnxruntime against PyTorch on random inputs of lengths the export did not see; the largest
logit difference is printed, and over 1e-4 the command fails (exit status 1). Transcribe with `ko-asr transcribe OUT_DIR audio.wav --onnx [--int8]`.""",
    )
    onnx.add_argument("model", metavar="MODEL_DIR", help="a saved DeepSpeech2 model directory")
    onnx.add_argument("output_dir", metavar="OUT_DIR", help="where the ONNX files are written (created if missing)")
    onnx.add_argument("--no-int8", action="store_true", help="do not write the int8 graphs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `ko-asr` with `argv` (default `sys.argv[1:]`) and return its exit status."""
    args = build_parser().parse_args(argv)
    commands = importlib.import_module("ko_asr.cli").COMMANDS  # the heavy imports start here
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
