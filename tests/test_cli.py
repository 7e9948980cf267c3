"""`ko-asr transcribe`: every bad file is one line naming it and its problem, the good ones are still transcribed,
and the exit status says whether any failed. Files come in through the same front door as the Space's and the
datasets' (ko_asr.audio_io)."""

import subprocess

import numpy as np
import pytest
import soundfile
from helpers import make_waveform, save_random_tiny_ds2
from transformers import pipeline

from ko_asr import (
    audio_io,
)
from ko_asr.audio_io import AudioError, load_audio
from ko_asr.cli import main
from ko_asr.data.audio import decode_audio
from ko_asr.serving import InvalidInputError, TranscriptionService, read_audio_file

PREFIX = "ko-asr transcribe: "


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random DeepSpeech2 with its processor: its transcripts are noise, but deterministic."""
    directory = tmp_path_factory.mktemp("ds2")
    return save_random_tiny_ds2(directory)


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / "good.wav"
    soundfile.write(good, make_waveform(rng, 1.0), 16000)
    (tmp_path / "empty.pcm").write_bytes(b"")
    (tmp_path / "one_byte.pcm").write_bytes(b"\x01")
    soundfile.write(tmp_path / "short.wav", make_waveform(rng, 0.05), 16000)
    (tmp_path / "text.wav").write_text("이것은 오디오가 아닙니다\n", encoding="utf-8")
    stereo = tmp_path / "stereo.wav"
    soundfile.write(stereo, np.stack([make_waveform(rng, 1.2), 0.3 * make_waveform(rng, 1.2)], axis=1), 44100)
    m4a = tmp_path / "speech.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(stereo), "-c:a", "aac", "-b:a", "128k", str(m4a)], check=True)
    return {
        "good": good,
        "m4a": m4a,
        "bad": {
            tmp_path / "empty.pcm": "is empty (0 bytes)",
            tmp_path / "one_byte.pcm": "is empty (0 samples)",  # half a 16-bit sample
            tmp_path / "short.wav": "is too short (50 ms; at least 100 ms is needed to hold speech)",
            tmp_path / "text.wav": "is not an audio file (Invalid data found when processing input)",
            tmp_path / "missing.wav": ": no such file",
        },
    }


def _reports(stderr: str) -> list[str]:
    # transformers' loading progress also goes to stderr; the command's own lines carry its prefix
    return [line for line in stderr.splitlines() if line.startswith(PREFIX)]


def test_bad_files_are_reported_one_line_each_and_the_rest_transcribed(model_dir, files, capsys):
    bad = list(files["bad"])
    order = [bad[0], bad[1], files["m4a"], bad[2], bad[3], bad[4], files["good"]]
    # --no-vad: the good files are speech-like tones, which VAD (rightly) finds no speech in
    code = main(["transcribe", str(model_dir), *map(str, order), "--no-vad"])
    captured = capsys.readouterr()
    assert code == 1
    reports = _reports(captured.err)
    expected = [f"{PREFIX}{path}{' ' if not reason.startswith(':') else ''}{reason}" for path, reason in files["bad"].items()]
    assert reports == [*expected, f"{PREFIX}5 of 7 files could not be transcribed"]
    # the good files, in order, with what the pipeline gives on the same waveform
    asr = pipeline("automatic-speech-recognition", model=str(model_dir))
    transcripts = [
        f"{path}\t{asr({'raw': load_audio(path), 'sampling_rate': 16000}, chunk_length_s=20.0)['text']}"
        for path in (files["m4a"], files["good"])
    ]
    assert captured.out.splitlines() == transcripts
    assert all(line.split("\t")[1] for line in transcripts)  # a transcript was printed, not an empty field


def test_all_good_files_exit_zero(model_dir, files, capsys):
    assert main(["transcribe", str(model_dir), str(files["good"]), str(files["m4a"]), "--chunk-length-s", "0"]) == 0
    captured = capsys.readouterr()
    assert _reports(captured.err) == []
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == [str(files["good"]), str(files["m4a"])]


def test_cli_space_and_datasets_share_one_front_door(model_dir, files, capsys, monkeypatch):
    loads, checks = [], []
    load, check = audio_io.load_audio, audio_io.validate_waveform
    monkeypatch.setattr(audio_io, "load_audio", lambda path, *a, **k: loads.append(str(path)) or load(path, *a, **k))
    monkeypatch.setattr(audio_io, "validate_waveform", lambda waveform, *a, **k: checks.append(waveform.size) or check(waveform, *a, **k))
    m4a = str(files["m4a"])
    main(["transcribe", str(model_dir), m4a])
    from_space = TranscriptionService([]).waveform_of(m4a)
    from_datasets = decode_audio({"path": m4a, "bytes": None})
    assert loads == [m4a, m4a, m4a] and checks == [from_space.size, from_space.size]
    # the same samples whoever asks (the M4A was a CLI failure while the Space read it)
    np.testing.assert_array_equal(from_space, from_datasets)
    np.testing.assert_array_equal(read_audio_file(m4a), load(m4a))



def test_cli_space_and_library_refuse_a_file_in_the_same_words(model_dir, files, capsys):
    for path in files["bad"]:
        main(["transcribe", str(model_dir), str(path)])
        cli_line = _reports(capsys.readouterr().err)[0]
        # the library names the file as the caller asks: the CLI by the path it was given, the Space by base name
        with pytest.raises(AudioError) as library:
            audio_io.validate_waveform(load_audio(path, name=path.name), name=path.name)
        with pytest.raises(InvalidInputError) as space:
            TranscriptionService([]).waveform_of(str(path))
        assert str(space.value) == str(library.value)
        assert cli_line == PREFIX + str(library.value).replace(path.name, str(path), 1)
