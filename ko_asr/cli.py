"""What the `ko-asr` commands do. Their arguments and help live in the top-level `ko_asr_cli` module (the console
script's entry point), which imports this module only once the arguments have parsed; `main` and `build_parser` are
re-exported here for `python -m ko_asr.cli` and for callers that import the package anyway."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ko_asr_cli import build_parser, main


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
    lines = data.splitlines()  # decode_transcript drops a BOM at the start of the first line
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

    try:
        root = generate_synthetic_corpus(
            args.root, size=args.size, seed=args.seed, num_proc=args.num_proc,
            write_scripts=not args.no_scripts, eval_level=not args.flat_eval, overwrite=args.overwrite,
        )
    except FileExistsError:  # the library's message names its keyword argument; here it is a flag
        print(f"ko-asr synth: {args.root} is not empty and holds no synthetic corpus; pass --overwrite to replace it "
              "(this deletes the files in it)", file=sys.stderr)
        return 1
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


def _device_problem(device: str | None) -> str | None:
    """Why `--device` cannot work here, or `None`: said before the model loads rather than as a torch error."""
    if device is None:
        return None
    from .devices import device_problem

    problem = device_problem(device)
    return f"--device {device}: {problem}" if problem else None


def _output_paths(args: argparse.Namespace) -> dict[str, Path] | str:
    """Each input's output file under `--output-dir` (named after the input), or why they cannot be written."""
    from .transcript_formats import EXTENSIONS

    directory = Path(args.output_dir)
    if directory.exists() and not directory.is_dir():
        return f"--output-dir {directory}: exists and is not a directory"
    targets: dict[str, Path] = {}
    owners: dict[Path, str] = {}
    for path in args.audio:
        target = directory / (Path(path).stem + EXTENSIONS[args.format])
        if owners.setdefault(target, path) != path:  # a.wav and a.mp3, or x/a.wav and y/a.wav
            return f"{owners[target]} and {path} would both be written to {target}; transcribe them separately"
        targets[path] = target
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"--output-dir {directory}: {error.strerror or error}"
    return targets


def _transcribe(args: argparse.Namespace) -> int:
    import math

    from tqdm.auto import tqdm

    # Files come in through the same front door as the Space's (looked up on the module at call time).
    from . import audio_io
    from .hallucination_guard import HallucinationGuard
    from .segmented_transcription import DEFAULT_VAD, transcribe_waveforms
    from .transcript_formats import render, timed_transcript
    from .transcription import CTCTranscriber, LongFormOptions, transcriber_for

    def refuse(message: str) -> int:  # a user error: one line, no traceback, nothing transcribed
        print(f"ko-asr transcribe: {message}", file=sys.stderr)
        return 2

    # Everything that can be checked without the model is checked first: loading takes seconds.
    if args.output_dir is None and args.format in ("srt", "vtt") and len(args.audio) > 1:
        return refuse(f"--format {args.format} on stdout takes one audio file; pass --output-dir for {len(args.audio)}")
    targets = _output_paths(args) if args.output_dir is not None else {}
    if isinstance(targets, str):
        return refuse(targets)
    if problem := _device_problem(args.device):
        return refuse(problem)
    decoder_kwargs = _decoder_kwargs(args)
    if args.onnx and (decoder_kwargs or args.device not in (None, "cpu")):
        return refuse("--onnx decodes greedily on the CPU (onnxruntime); it cannot be combined with "
                      + " and ".join(_beam_flags(args) + (["--device"] if args.device not in (None, "cpu") else [])))
    if args.no_lm and decoder_kwargs:
        return refuse(f"--no-lm (greedy decoding) cannot be combined with {' and '.join(_beam_flags(args))} "
                      "(beam search settings)")
    asr = _load_onnx(args) if args.onnx else _load_pipeline(args)
    if isinstance(asr, str):
        return refuse(asr)
    if args.int8 and not args.onnx:
        if asr.model.device.type != "cpu":
            return refuse("--int8 without --onnx quantizes with PyTorch, which runs int8 RNNs on the CPU only")
        asr = _quantized(asr)
    if decoder_kwargs:
        asr = _with_beam_search(asr, args)
        if isinstance(asr, str):
            return refuse(asr)

    # The family's own call arguments (CTC: word offsets and chunking; Whisper: language, 30 s windows, segment
    # times), as the Space uses them; the pipeline's tokenizer stands in for the processor.
    guard = None if args.no_guard else HallucinationGuard()
    transcriber = CTCTranscriber(asr.processor) if args.onnx else transcriber_for(asr.model, asr.tokenizer, guard=guard)
    # 0 never chunks; short chunks get proportionally less context, as the pipeline needs chunks longer than both strides
    options = LongFormOptions(args.chunk_length_s or math.inf, stride_length_s=min(2.0, args.chunk_length_s / 6))
    timestamps = args.format != "text"
    if timestamps and not transcriber.word_timestamps and not args.quiet:
        print("ko-asr transcribe: note: " + (
            "this model times segments only (its generation config names no alignment heads for word timing); "
            "json `words` is null"
            if transcriber.segment_timestamps else "this model gives no timestamps; each file is one segment spanning it"
        ), file=sys.stderr)

    progress = tqdm(total=len(args.audio), desc="transcribing", unit="file", file=sys.stderr,
                    disable=args.quiet or not sys.stderr.isatty())
    failed = written = 0
    for first in range(0, len(args.audio), args.batch_size):
        loaded = []
        for path in args.audio[first:first + args.batch_size]:
            # A bad file is one line on stderr (its message names it); the others are still transcribed.
            try:
                waveform = audio_io.load_audio(path)
                audio_io.validate_waveform(waveform, name=path)
            except audio_io.AudioError as error:
                progress.write(f"ko-asr transcribe: {error}", file=sys.stderr)
                failed += 1
                progress.update()
                continue
            loaded.append((path, waveform, waveform.size / audio_io.SAMPLING_RATE))
        # With VAD, only the speech of each file is transcribed, cut at pauses (a file without speech gives an
        # empty transcript); pieces that take the same pipeline arguments are batched, batch_size at a time.
        results = transcribe_waveforms(
            asr, [waveform for _, waveform, _ in loaded], transcriber, options, timestamps=timestamps,
            vad=None if args.no_vad else DEFAULT_VAD, sampling_rate=audio_io.SAMPLING_RATE,
            decoder_kwargs=decoder_kwargs,
        )
        for index, (path, _, seconds) in enumerate(loaded):
            transcript = timed_transcript(path, results[index], seconds, transcriber.word_timestamps,
                                          transcriber.segment_timestamps)
            if transcript.dropped and not args.quiet:  # text left out (Whisper's guard, times outside the audio)
                progress.write(f"ko-asr transcribe: note: {path}: left out "
                               + "; ".join(f"{d.text!r} ({d.reason})" for d in transcript.dropped), file=sys.stderr)
            if targets:
                targets[path].write_text(render(transcript, args.format), encoding="utf-8")
                written += 1
            else:  # several files share stdout: text lines carry their path, json is one object per line
                sys.stdout.write(render(transcript, args.format, with_path=args.format in ("text", "json")))
                sys.stdout.flush()
            progress.update()
    progress.close()
    if targets and not args.quiet:
        print(f"ko-asr transcribe: wrote {written} {args.format} file(s) to {args.output_dir}", file=sys.stderr)
    if failed:
        print(f"ko-asr transcribe: {failed} of {len(args.audio)} files could not be transcribed", file=sys.stderr)
    return 1 if failed else 0


def _load_pipeline(args: argparse.Namespace):
    """The `automatic-speech-recognition` pipeline of `args.model`, or one line saying why it cannot be loaded."""
    import os
    import re

    from transformers import pipeline
    from transformers.utils import logging as transformers_logging

    if args.quiet:
        transformers_logging.disable_progress_bar()
    # --no-lm: greedy decoding even when the model directory holds a language_model/ (see ko_asr.pipeline_with_lm)
    options = {"use_lm": False} if args.no_lm else {}
    try:  # importing ko_asr registered DeepSpeech2 with the Auto classes the pipeline loads through
        asr = pipeline("automatic-speech-recognition", model=args.model, device=args.device, batch_size=args.batch_size,
                       **options)
    except Exception as error:  # noqa: BLE001 - whatever fails here is about the model the user named
        reason = " ".join(str(error).split()) or type(error).__name__
        if len(reason) > 240 and ". " in reason[:240]:  # transformers' longer messages go on to upgrade advice
            reason = reason[: reason.rindex(". ", 0, 240) + 1]
        if os.path.isdir(args.model):
            return f"{args.model}: cannot load a speech recognition model from this directory ({reason})"
        if os.path.exists(args.model):
            return f"{args.model}: is a file; pass the directory the model was saved to"
        if not re.fullmatch(r"[\w-][\w.-]*(/[\w-][\w.-]*)?", args.model):  # cannot be a Hub id either
            return f"{args.model}: no such model directory"
        return f"{args.model}: no such model directory, nor a Hub model id that could be loaded ({reason})"
    if args.batch_size > 1 and asr.tokenizer is not None and asr.tokenizer.pad_token_id is None:
        # The pipeline refuses to batch without a pad token although audio batches pad features, not text
        # (offline Whisper tokenizers have none); end-of-text is the pad token the pipeline itself suggests.
        asr.tokenizer.pad_token_id = asr.model.config.eos_token_id
    return asr


def _load_onnx(args: argparse.Namespace):
    """The onnxruntime recognizer of an export directory, or one line saying why it cannot be loaded."""
    from .onnx_inference import OnnxSpeechRecognizer

    try:
        return OnnxSpeechRecognizer(args.model, int8=args.int8)
    except (OSError, ValueError) as error:
        return f"{args.model}: {error}"


def _quantized(asr):
    """`asr` with its model's RNN and Linear layers dynamically quantized to int8 (PyTorch, CPU)."""
    from .onnx_export import quantize_torch_int8

    asr.model = quantize_torch_int8(asr.model)
    return asr


def _beam_flags(args: argparse.Namespace) -> list[str]:
    return [flag for flag, value in (("--beam-width", args.beam_width), ("--hotwords", args.hotwords)) if value]


def _decoder_kwargs(args: argparse.Namespace) -> dict | None:
    """The beam search's per-call settings from `--beam-width` and `--hotwords`, or `None` when neither is given."""
    kwargs: dict = {}
    if args.beam_width is not None:
        kwargs["beam_width"] = args.beam_width
    if args.hotwords:  # each --hotwords is a list of words; the flag may be repeated
        kwargs["hotwords"] = list(dict.fromkeys(word for words in args.hotwords for word in words))
    return kwargs or None


def _with_beam_search(asr, args: argparse.Namespace):
    """`asr` able to take the beam search's `decoder_kwargs`: as it is when it decodes with a language model; for a
    CTC model without one, the same model with a beam search without LM (a note says so); for other models, one line
    saying why the flags do not apply."""
    if asr.type == "ctc_with_lm":
        return asr
    flags = " and ".join(_beam_flags(args))
    if asr.type != "ctc":
        kind = "a Whisper model" if asr.type == "seq2seq_whisper" else "a sequence-to-sequence model"
        return f"{flags}: beam search settings of CTC models; {args.model} is {kind}"
    from transformers import pipeline

    from .models.deepspeech2.language_model_deepspeech2 import DecoderConfig, HangulBeamSearch

    if not args.quiet:
        print(f"ko-asr transcribe: note: {args.model} has no language_model/ (see `ko-asr lm build`): beam search "
              f"without a language model for {flags}", file=sys.stderr)
    decoder = HangulBeamSearch(asr.tokenizer, DecoderConfig(), None)
    # the loaded model, tokenizer and feature extractor again, with the explicit decoder (nothing is reloaded)
    return pipeline("automatic-speech-recognition", model=asr.model, tokenizer=asr.tokenizer,
                    feature_extractor=asr.feature_extractor, decoder=decoder, device=asr.device,
                    batch_size=args.batch_size)


def _lm(args: argparse.Namespace) -> int:
    return {"build": _lm_build}[args.lm_command](args)


def _lm_texts(path: Path, policy) -> list[str] | str:
    """The training transcripts at `path` (a text file, one per line, or a KsponSpeech directory's train split), or
    one line saying why they cannot be read."""
    if path.is_dir():
        from .data.sources import load_corpus

        try:
            return list(load_corpus("ksponspeech", ["train"], data_root=str(path), policy=policy)["train"]["text"])
        except (OSError, ValueError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            return f"{path}: cannot read a KsponSpeech train split from this directory ({reason})"
    from .text.encoding import TranscriptDecodeError, read_text_file

    try:
        text = read_text_file(path)
    except TranscriptDecodeError as error:
        return str(error)
    except OSError as error:
        return f"{path}: {error.strerror or error}"
    return [line for line in text.splitlines() if line.strip()]  # blank lines are not transcripts


def _lm_tokenizer(model: str):
    """The tokenizer of the CTC model `model`, or one line saying why there is none."""
    import os

    from transformers import AutoConfig, AutoProcessor, AutoTokenizer

    if os.path.isfile(model):
        return f"--model {model}: is a file; pass the directory the model was saved to"
    if not os.path.exists(model) and (os.path.isabs(model) or model.startswith(".")):  # a path, not a Hub id
        return f"--model {model}: no such model directory"
    try:
        config = AutoConfig.from_pretrained(model)
        if getattr(config, "is_encoder_decoder", False):
            return f"--model {model}: a sequence-to-sequence model (Whisper); language models are for CTC models"
        try:
            return AutoTokenizer.from_pretrained(model)
        except (OSError, ValueError, KeyError):
            return AutoProcessor.from_pretrained(model).tokenizer
    except Exception as error:  # noqa: BLE001 - whatever fails here is about the model the user named
        reason = " ".join(str(error).split()) or type(error).__name__
        return f"--model {model}: cannot load its tokenizer ({reason[:240]})"


def _lm_build(args: argparse.Namespace) -> int:
    def refuse(message: str) -> int:
        print(f"ko-asr lm build: {message}", file=sys.stderr)
        return 2

    path, output = Path(args.text), Path(args.output_dir)
    if not path.exists():
        return refuse(f"{path}: no such file or directory")
    if args.units == "word" and args.model is None:
        return refuse("--units word needs --model MODEL_DIR (words are spelled in the model's tokenizer units)")
    if output.exists() and not output.is_dir():
        return refuse(f"{output}: exists and is not a directory")

    from .lm_build import build_language_model
    from .text.policy import TranscriptPolicy

    tokenizer = None
    if args.model is not None:
        tokenizer = _lm_tokenizer(args.model)
        if isinstance(tokenizer, str):
            return refuse(tokenizer)
    policy = (TranscriptPolicy.from_tokenizer(tokenizer) if tokenizer is not None else None) or TranscriptPolicy()
    texts = _lm_texts(path, policy)
    if isinstance(texts, str):
        return refuse(texts)
    settings = {name: getattr(args, name) for name in ("alpha", "beta", "beam_width") if getattr(args, name) is not None}
    try:
        report = build_language_model(texts, str(output), units=args.units, order=args.order, tokenizer=tokenizer,
                                      policy=policy, **settings)
    except ValueError as error:
        return refuse(f"{path}: {error}")
    except OSError as error:
        return refuse(f"{output}: {error.strerror or error}")

    skipped = sum(report.skipped.values())
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(report.skipped.items()))
    whose = "the model's" if args.model else "the default"
    print(f"transcripts: {report.lines} used, {skipped} skipped{f' ({reasons})' if skipped else ''}; "
          f"normalized with {whose} {policy.policy} policy")
    print("n-grams: " + ", ".join(f"{order}-gram {count}" for order, count in sorted(report.ngrams.items())))
    boundary = " (syllables and the word boundary |)" if args.units == "syllable" else ""
    print(f"vocabulary: {report.vocabulary} units{boundary}")
    if tokenizer is None:
        print("units the model cannot produce: not checked (no --model)")
    else:
        examples = " ".join(report.unreachable[:10]) + (" ..." if len(report.unreachable) > 10 else "")
        print(f"units the model cannot produce: {len(report.unreachable)}" + (f" ({examples})" if examples else ""))
    print(f"lm.arpa: {report.size_bytes / 1024:.1f} KiB")
    print(f"written: {report.directory}")
    if (output / "config.json").is_file():
        print(f"`ko-asr transcribe {output} ...` now decodes with this LM (--no-lm for greedy decoding)")
    else:
        print("copy language_model/ into a CTC model directory to decode with it")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .onnx_export import export_onnx

    try:
        report = export_onnx(args.model, args.output_dir, int8=not args.no_int8)
    except (OSError, ValueError) as error:
        print(f"ko-asr export onnx: {args.model}: {error}", file=sys.stderr)
        return 2
    print(report.describe())
    if not report.ok:
        print(f"ko-asr export onnx: the exported graph does not reproduce {args.model} (see above)", file=sys.stderr)
        return 1
    return 0


#: The commands `ko_asr_cli.main` dispatches to, by name (`lm` and `export` dispatch on their own sub-command).
COMMANDS = {"normalize": _normalize, "synth": _synth, "prepare": _prepare, "transcribe": _transcribe, "lm": _lm,
            "export": _export}

__all__ = ["COMMANDS", "build_parser", "main"]


if __name__ == "__main__":
    raise SystemExit(main())
