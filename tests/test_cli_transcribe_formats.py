"""`ko-asr transcribe` output: text, JSON, SRT and VTT with word (CTC) or segment (Whisper) times, one file per input
under `--output-dir`, batching, devices, the progress bar, and user errors as one line each. Every format is parsed
back: JSON with `json.loads`, subtitles cue by cue, times monotone and within the audio."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from helpers import make_waveform

from ko_asr.audio_io import load_audio
from ko_asr.cli import main
from ko_asr.transcript_formats import FORMATS, TimedText, group_words, timed_transcript, to_srt, to_vtt
from ko_asr_cli import FORMATS as CLI_FORMATS

PREFIX = "ko-asr transcribe: "
CLOCK = r"(\d{2}):(\d{2}):(\d{2})SEP(\d{3})"


def _seconds(match: tuple[str, ...]) -> float:
    hours, minutes, seconds, milliseconds = map(int, match)
    assert minutes < 60 and seconds < 60
    return hours * 3600 + minutes * 60 + seconds + milliseconds / 1000


def parse_subtitles(document: str, kind: str) -> list[tuple[float, float, str]]:
    """Cues `(start, end, text)` of an SRT or VTT document; any deviation from the format fails the test."""
    separator = "," if kind == "srt" else "."
    clock = CLOCK.replace("SEP", separator)
    cue = re.compile(("(\\d+)\n" if kind == "srt" else "") + f"{clock} --> {clock}\n(\\S[^\n]*)")
    if kind == "vtt":
        assert document.startswith("WEBVTT\n\n")
        document = document[len("WEBVTT\n\n"):]
    assert document == "" or document.endswith("\n\n")
    cues = []
    for number, block in enumerate(document.split("\n\n")[:-1], start=1):
        match = cue.fullmatch(block)
        assert match, f"not a {kind} cue: {block!r}"
        groups = match.groups()
        if kind == "srt":
            assert int(groups[0]) == number
            groups = groups[1:]
        cues.append((_seconds(groups[0:4]), _seconds(groups[4:8]), groups[8]))
    return cues


def assert_timeline(spans: list[tuple[float, float]], duration: float) -> None:
    """Each span within `[0, duration]`, start <= end, and each starts no earlier than the previous one ended."""
    previous_end = 0.0
    for start, end in spans:
        assert previous_end <= start <= end <= duration + 5e-4, (spans, duration)
        previous_end = end


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(PREFIX)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory, examples):
    """The memorized example clip (a real transcript of several words) and a longer speech-like signal."""
    directory = tmp_path_factory.mktemp("clips")
    clip, text = examples[0]
    memorized = directory / "memorized.wav"
    soundfile.write(memorized, load_audio(clip), 16000)
    other = directory / "other.wav"
    soundfile.write(other, make_waveform(np.random.default_rng(1), 2.5), 16000)
    return {"memorized": memorized, "other": other, "text": text}


@pytest.fixture(scope="module")
def ctc_model(models_root):
    return models_root / "memorized"


def test_json_has_word_and_segment_times_within_the_audio(ctc_model, clips, capsys):
    paths = [str(clips["memorized"]), str(clips["other"])]
    assert main(["transcribe", str(ctc_model), *paths, "--format", "json", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]  # JSON Lines: one object per file
    assert [r["path"] for r in records] == paths
    first = records[0]
    assert first["text"] == clips["text"] and first["timestamps"] == "word"
    assert first["duration"] == pytest.approx(soundfile.info(paths[0]).duration, abs=1e-3)
    assert [w["text"] for w in first["words"]] == clips["text"].split()
    for record in records:
        assert_timeline([(w["start"], w["end"]) for w in record["words"]], record["duration"])
        assert_timeline([(s["start"], s["end"]) for s in record["segments"]], record["duration"])
        # segments are the words, regrouped
        assert " ".join(s["text"] for s in record["segments"]) == " ".join(w["text"] for w in record["words"])
        assert " ".join(s["text"] for s in record["segments"]) == record["text"]
    assert _lines(captured.err) == []  # no note: CTC models time words


@pytest.mark.parametrize("kind", ["srt", "vtt"])
def test_subtitles_on_stdout_parse_back_to_the_segments(ctc_model, clips, capsys, kind):
    path = str(clips["memorized"])
    assert main(["transcribe", str(ctc_model), path, "--format", kind]) == 0
    cues = parse_subtitles(capsys.readouterr().out, kind)
    assert cues and " ".join(text for _, _, text in cues) == clips["text"]
    assert_timeline([(start, end) for start, end, _ in cues], soundfile.info(path).duration)
    main(["transcribe", str(ctc_model), path, "--format", "json"])
    segments = json.loads(capsys.readouterr().out)["segments"]
    assert [s["text"] for s in segments] == [text for *_, text in cues]
    np.testing.assert_allclose([(s["start"], s["end"]) for s in segments], [cue[:2] for cue in cues], atol=1e-3)


def test_output_dir_holds_one_file_per_input_named_after_it(ctc_model, clips, tmp_path, capsys):
    out = tmp_path / "out" / "nested"
    paths = [str(clips["memorized"]), str(clips["other"])]
    for kind in FORMATS:
        assert main(["transcribe", str(ctc_model), *paths, "--format", kind, "--output-dir", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and _lines(captured.err) == []  # --quiet: not even the summary
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}.{ext}" for stem in ("memorized", "other") for ext in ("txt", "json", "srt", "vtt")
    )
    assert (out / "memorized.txt").read_text(encoding="utf-8") == clips["text"] + "\n"
    record = json.loads((out / "memorized.json").read_text(encoding="utf-8"))
    assert record["text"] == clips["text"] and record["path"] == paths[0]
    srt = parse_subtitles((out / "memorized.srt").read_text(encoding="utf-8"), "srt")
    vtt = parse_subtitles((out / "memorized.vtt").read_text(encoding="utf-8"), "vtt")
    assert srt == vtt and [text for *_, text in srt] == [s["text"] for s in record["segments"]]


def test_batches_give_what_single_files_give(ctc_model, clips, tmp_path, capsys):
    paths = [str(clips["memorized"]), str(tmp_path / "missing.wav"), str(clips["other"]), str(clips["memorized"])]
    assert main(["transcribe", str(ctc_model), *paths, "--format", "json"]) == 1
    single = capsys.readouterr()
    assert main(["transcribe", str(ctc_model), *paths, "--format", "json", "--batch-size", "3"]) == 1
    batched = capsys.readouterr()
    one, three = ([json.loads(line) for line in c.out.splitlines()] for c in (single, batched))
    assert [r["path"] for r in three] == [paths[0], paths[2], paths[3]]  # input order, the bad file reported
    assert [r["text"] for r in three] == [r["text"] for r in one]
    for a, b in zip(one, three):
        np.testing.assert_allclose([(w["start"], w["end"]) for w in b["words"]], [(w["start"], w["end"]) for w in a["words"]], atol=0.02)
    assert _lines(batched.err) == _lines(single.err) == [
        f"{PREFIX}{paths[1]}: no such file", f"{PREFIX}1 of 4 files could not be transcribed",
    ]


def test_long_audio_is_chunked_and_its_times_run_to_its_end(ctc_model, tmp_path, capsys, rng):
    path = tmp_path / "long.wav"
    soundfile.write(path, make_waveform(rng, 9.0), 16000)
    # --no-vad: the pipeline's fixed windows, on a signal VAD finds no speech in (tests/test_vad.py cuts real speech)
    assert main(["transcribe", str(ctc_model), str(path), "--format", "json", "--chunk-length-s", "3", "--no-vad"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["duration"] == pytest.approx(9.0) and record["words"]
    assert_timeline([(w["start"], w["end"]) for w in record["words"]], 9.0)
    assert_timeline([(s["start"], s["end"]) for s in record["segments"]], 9.0)


def test_whisper_gives_segments_only_and_says_so(whisper_dir, clips, tmp_path, capsys):
    paths = [str(clips["memorized"]), str(clips["other"])]
    out = tmp_path / "whisper"
    code = main(["transcribe", str(whisper_dir), *paths, "--format", "json", "--output-dir", str(out), "--batch-size", "2",
                 "--no-guard"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"{PREFIX}note: this model times segments only (its generation config names no alignment heads" in err
    for path in paths:
        record = json.loads((out / f"{Path(path).stem}.json").read_text(encoding="utf-8"))
        assert record["timestamps"] == "segment" and record["words"] is None
        assert_timeline([(s["start"], s["end"]) for s in record["segments"]], record["duration"])
    assert main(["transcribe", str(whisper_dir), paths[0], "--format", "vtt", "--no-guard"]) == 0
    parse_subtitles(capsys.readouterr().out, "vtt")
    main(["transcribe", str(whisper_dir), paths[0], "--format", "text", "--no-guard"])
    assert "note:" not in capsys.readouterr().err  # plain text asks for no times


@pytest.mark.parametrize("vad", [False, True], ids=["sequential long-form", "VAD segments"])
def test_two_minutes_of_whisper_give_monotonic_times_inside_the_audio_in_every_format(whisper_dir, examples, tmp_path,
                                                                                      capsys, vad):
    """Without VAD Whisper decodes the whole recording window after window; with VAD each stretch of speech (cut at
    pauses, at most 20 s) is decoded alone and its times shifted into the recording's. The recording: the synthetic
    example clips with 1 s pauses, repeated to two minutes."""
    rng = np.random.default_rng(2)
    pause = (1e-4 * rng.standard_normal(16000)).astype(np.float32)
    pieces, total = [], 0
    while total < 120 * 16000:
        for clip, _ in examples:
            pieces += [load_audio(clip), pause]
            total += pieces[-2].size + pause.size
    waveform = np.concatenate(pieces)
    path = tmp_path / "two_minutes.wav"
    soundfile.write(path, waveform, 16000)
    duration = waveform.size / 16000
    out = tmp_path / "out"
    flags = ["--no-guard"] + ([] if vad else ["--no-vad"])  # the times, not what the guard keeps of a random model
    formats = ("json",) if vad else ("json", "srt", "vtt")  # the writers are the same either way: checked once
    for output_format in formats:
        assert main(["transcribe", str(whisper_dir), str(path), "--format", output_format, "--output-dir", str(out), *flags]) == 0
    capsys.readouterr()
    record = json.loads((out / "two_minutes.json").read_text(encoding="utf-8"))
    assert record["duration"] == pytest.approx(duration, abs=1e-3) and record["timestamps"] == "segment"
    spans = [(s["start"], s["end"]) for s in record["segments"]]
    assert_timeline(spans, duration)
    assert spans[-1][1] > duration - 30.0  # times reach the last window of the recording
    for kind in formats[1:]:  # greedy decoding (no guard): every run gives the same segments
        cues = parse_subtitles((out / f"two_minutes.{kind}").read_text(encoding="utf-8"), kind)
        assert [(start, end) for start, end, _ in cues] == [(round(a, 3), round(b, 3)) for a, b in spans]
        assert [text for _, _, text in cues] == [s["text"] for s in record["segments"]]


def test_the_progress_bar_shows_on_a_terminal_unless_quiet(ctc_model, clips, capsys, monkeypatch):
    paths = [str(clips["other"])] * 2
    main(["transcribe", str(ctc_model), *paths])
    assert "transcribing" not in capsys.readouterr().err  # stderr is not a terminal here
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    main(["transcribe", str(ctc_model), *paths])
    captured = capsys.readouterr()
    assert "transcribing: 100%" in captured.err and "2/2" in captured.err
    assert captured.out.count("\n") == 2  # the bar stays on stderr
    main(["transcribe", str(ctc_model), *paths, "--quiet"])
    assert "transcribing" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["{missing}", "{clip}"], "{missing}: no such model directory"),
        (["{empty}", "{clip}"], "{empty}: cannot load a speech recognition model from this directory (Unrecognized model"),
        (["{clip}", "{clip}"], "{clip}: is a file; pass the directory the model was saved to"),
        (["{model}", "{clip}", "{clip}", "--format", "srt"], "--format srt on stdout takes one audio file; pass --output-dir for 2"),
        (["{model}", "{clip}", "{empty}/memorized.flac", "--output-dir", "{empty}/out"], "{clip} and {empty}/memorized.flac would both be written to {empty}/out/memorized.txt"),
        (["{model}", "{clip}", "--output-dir", "{clip}"], "--output-dir {clip}: exists and is not a directory"),
        (["{model}", "{clip}", "--device", "tpu9"], "--device tpu9: not a device; use cpu, cuda, cuda:N, mps, ..."),
        (["{model}", "{clip}", "--device", "cuda:99"], "--device cuda:99: "),
    ],
)
def test_user_errors_are_one_line_and_exit_2(ctc_model, clips, tmp_path, capsys, arguments, expected):
    names = {"missing": tmp_path / "no" / "model", "empty": tmp_path, "clip": clips["memorized"], "model": ctc_model}
    assert main(["transcribe", *(a.format(**names) for a in arguments)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if not line.startswith("Loading weights")]
    assert len(lines) == 1 and lines[0].startswith(PREFIX + expected.format(**names)), captured.err


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--chunk-length-s", "-1"], "argument --chunk-length-s: must be a number of seconds >= 0, got -1"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(capsys, arguments, expected):
    with pytest.raises(SystemExit) as exit_:
        main(["transcribe", "model", "a.wav", *arguments])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(PREFIX + expected) and err.endswith("(see `ko-asr transcribe --help`)\n") and err.count("\n") == 1


def test_the_help_says_what_each_family_times():
    from ko_asr_cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    text = " ".join(commands["transcribe"].format_help().split())
    assert "CTC models (DeepSpeech2) time every word" in text
    assert "Whisper models time words when their generation config names alignment heads" in text
    assert "else segments only" in text and "--no-guard" in text
    assert CLI_FORMATS == FORMATS  # the parser spells the formats out so that it imports nothing of ko_asr


def test_words_group_into_segments_at_pauses_and_length_limits():
    words = [TimedText(w, s, e) for w, s, e in [
        ("안녕", 0.0, 0.4), ("하세요", 0.5, 0.9),  # 0.1 s gap: one phrase
        ("오늘은", 1.6, 2.0),  # 0.7 s pause: a new segment
        *[(f"말{i}", 2.1 + i, 2.9 + i) for i in range(8)],  # continuous speech past 7 s splits
    ]]
    segments = group_words(words, pause=0.5, max_seconds=7.0)
    assert [s.text for s in segments] == ["안녕 하세요", "오늘은 말0 말1 말2 말3 말4 말5", "말6 말7"]
    np.testing.assert_allclose([(s.start, s.end) for s in segments], [(0.0, 0.9), (1.6, 7.9), (8.1, 9.9)])
    assert to_srt(segments).startswith("1\n00:00:00,000 --> 00:00:00,900\n안녕 하세요\n\n2\n00:00:01,600 --> 00:00:07,900\n")
    assert to_vtt(segments[2:]) == "WEBVTT\n\n00:00:08.100 --> 00:00:09.900\n말6 말7\n\n"
    assert to_srt([TimedText("끝", 3723.4567, 3723.5)]) == "1\n01:02:03,457 --> 01:02:03,500\n끝\n\n"


def test_times_are_clamped_to_the_audio_and_missing_ones_filled_in():
    # CTC end offsets may pass the last sample by a frame; Whisper leaves None where it predicted no timestamp
    ctc = timed_transcript("a.wav", {"text": "가 나", "chunks": [
        {"text": "가", "timestamp": (0.0, 0.5)}, {"text": "나", "timestamp": (0.9, 2.02)}]}, 2.0, True, False)
    assert [(w.start, w.end) for w in ctc.words] == [(0.0, 0.5), (0.9, 2.0)]
    whisper = timed_transcript("a.wav", {"text": " 가 나", "chunks": [
        {"text": " 가", "timestamp": (0.0, None)}, {"text": " 나", "timestamp": (1.2, None)}]}, 3.0, False, True)
    assert whisper.words is None and whisper.text == "가 나"
    assert [(s.text, s.start, s.end) for s in whisper.segments] == [("가", 0.0, 1.2), ("나", 1.2, 3.0)]
    untimed = timed_transcript("a.wav", {"text": "가"}, 1.5, False, False)
    assert untimed.timestamps is None and [(s.start, s.end) for s in untimed.segments] == [(0.0, 1.5)]
    # no speech (VAD): Whisper's empty transcript is still segment-timed, with no segments
    silent = timed_transcript("a.wav", {"text": "", "chunks": []}, 1.5, False, True)
    assert silent.timestamps == "segment" and silent.segments == [] and silent.words is None


def test_each_family_is_asked_for_the_times_it_has():
    from types import SimpleNamespace

    from ko_asr.transcription import LongFormOptions, transcriber_for

    def kwargs(is_encoder_decoder: bool, model_type: str, timestamps: bool) -> dict:
        config = SimpleNamespace(is_encoder_decoder=is_encoder_decoder, model_type=model_type, decoder_start_token_id=2)
        model = SimpleNamespace(config=config, generation_config=SimpleNamespace())
        return transcriber_for(model, processor=None).pipeline_kwargs(5.0, LongFormOptions(), timestamps)

    assert kwargs(False, "deepspeech2", False)["return_timestamps"] == "word" == kwargs(False, "deepspeech2", True)["return_timestamps"]
    # Whisper: the arguments of ko_asr.whisper_long_form.transcribe_whisper
    assert kwargs(True, "whisper", True) == {"language": "korean", "timestamps": True}
    assert kwargs(True, "whisper", False)["timestamps"] is False  # plain text: Whisper decodes without time tokens
    assert "return_timestamps" not in kwargs(True, "bart", True)
