"""`ko-asr lm build` (an n-gram LM from training transcripts into a model's `language_model/`) and the LM flags of
`ko-asr transcribe` (`--no-lm`, `--beam-width`, `--hotwords`): what reaches the pipeline and the beam search, and
the combinations that are refused in one line. Tiny random DeepSpeech2 models: their transcripts are noise, so what
is checked is how the pipeline decodes (greedy `ctc` or beam search `ctc_with_lm`), not what it says."""

import contextlib
import io
import json
import re

import numpy as np
import pytest
import soundfile
from helpers import make_waveform, save_random_tiny_ds2
from transformers import AutoProcessor

from ko_asr import DeepSpeech2ProcessorWithLM
from ko_asr.cli import _load_pipeline, main
from ko_asr.models.deepspeech2.language_model_deepspeech2 import HangulBeamSearch
from ko_asr.segmented_transcription import transcribe_waveforms
from ko_asr.transcription import BatchTranscriber
from ko_asr_cli import build_parser

TRANSCRIPTS = [
    "오늘 저녁 뭐 먹을까",
    "",  # blank lines are not transcripts
    "서초구 양재동에 가요",
    "(70%)/(칠십 퍼센트) 정도요",  # raw KsponSpeech notation: the spelling side is kept
    "b/ 네 알겠습니다",
]


def _lines(stderr: str, prefix: str) -> list[str]:
    # KenLM and transformers also write to stderr; the command's own lines carry its prefix
    return [line for line in stderr.splitlines() if line.startswith(prefix)]


@pytest.fixture(scope="module")
def train_txt(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "train.txt"
    path.write_text("\n".join(TRANSCRIPTS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    """A tiny random DeepSpeech2 without a language model."""
    return save_random_tiny_ds2(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def lm_model(tmp_path_factory, train_txt):
    """A tiny random DeepSpeech2 with a language model built into its directory by the command, and what it printed."""
    directory = save_random_tiny_ds2(tmp_path_factory.mktemp("with_lm"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # module scope: no capsys
        code = main(["lm", "build", str(train_txt), str(directory), "--model", str(directory), "--order", "3",
                     "--alpha", "0.7", "--beam-width", "16"])
    return {"dir": directory, "code": code, "out": out.getvalue(), "err": err.getvalue()}


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "clip.wav"
    soundfile.write(path, make_waveform(np.random.default_rng(0), 1.0), 16000)
    return path


@pytest.fixture
def beam_calls(monkeypatch):
    """The settings of every `HangulBeamSearch.decode_beams` call (the decoding itself still runs)."""
    calls = []
    original = HangulBeamSearch.decode_beams

    def recording(self, logits, **settings):
        calls.append({"settings": settings, "has_lm": self.has_language_model})
        return original(self, logits, **settings)

    monkeypatch.setattr(HangulBeamSearch, "decode_beams", recording)
    return calls


# ---------------------------------------------------------------- ko-asr lm build


def test_lm_build_writes_the_model_folder_and_reports(lm_model):
    directory = lm_model["dir"]
    assert lm_model["code"] == 0, lm_model["err"]
    folder = directory / "language_model"
    assert (folder / "lm.arpa").is_file() and (folder / "decoder_config.json").is_file()
    assert not (folder / "unigrams.txt").exists()  # syllable units need no word list
    config = json.loads((folder / "decoder_config.json").read_text(encoding="utf-8"))
    assert (config["units"], config["order"], config["alpha"], config["beam_width"]) == ("syllable", 3, 0.7, 16)
    assert config["beta"] == 1.0  # not given: the default

    lines = lm_model["out"].splitlines()
    assert lines[0] == "transcripts: 4 used, 0 skipped; normalized with the model's spelling policy"
    assert re.fullmatch(r"n-grams: 1-gram \d+, 2-gram \d+, 3-gram \d+", lines[1])
    assert re.fullmatch(r"vocabulary: \d+ units \(syllables and the word boundary \|\)", lines[2])
    assert lines[3] == "units the model cannot produce: 0"  # the tokenizer has every Hangul syllable
    assert re.fullmatch(r"lm\.arpa: \d+\.\d KiB", lines[4])
    assert lines[5] == f"written: {folder}"
    assert "now decodes with this LM" in lines[6]
    # the raw notation was normalized (spelling side), so the LM holds 7 and 0 but no bracket or slash
    arpa = (folder / "lm.arpa").read_text(encoding="utf-8")
    unigrams = arpa.split("\\1-grams:")[1].split("\\2-grams:")[0]
    units = {line.split("\t")[1] for line in unigrams.strip().splitlines()}
    assert {"7", "0", "%", "서", "|"} <= units and not units & {"(", ")", "/", "칠", "b"}

    processor = AutoProcessor.from_pretrained(directory)
    assert isinstance(processor, DeepSpeech2ProcessorWithLM)
    assert processor.beam_search.config.alpha == 0.7 and processor.beam_search.has_language_model


def test_lm_build_reads_the_train_split_of_a_corpus_directory(corpus, tmp_path, capsys):
    from ko_asr.data.sources import load_corpus

    assert main(["lm", "build", str(corpus), str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    train = load_corpus("ksponspeech", ["train"], data_root=str(corpus))["train"]
    assert lines[0] == f"transcripts: {train.num_rows} used, 0 skipped; normalized with the default spelling policy"
    assert lines[3] == "units the model cannot produce: not checked (no --model)"
    assert lines[-1] == "copy language_model/ into a CTC model directory to decode with it"  # not a model directory
    assert (tmp_path / "language_model" / "lm.arpa").is_file()


def test_lm_build_word_units_spell_words_in_the_model_units(train_txt, plain_model, tmp_path, capsys):
    assert main(["lm", "build", str(train_txt), str(tmp_path), "--model", str(plain_model), "--units", "word"]) == 0
    words = (tmp_path / "language_model" / "unigrams.txt").read_text(encoding="utf-8").split()
    assert "양재동에" in words and "|" not in words
    assert capsys.readouterr().out.splitlines()[2] == f"vocabulary: {len(words)} units"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--units", "word"], "--units word needs --model MODEL_DIR (words are spelled in the model's tokenizer units)"),
        (["--model", "/no/such/model"], "--model /no/such/model: no such model directory"),
    ],
)
def test_lm_build_refusals_are_one_line(train_txt, tmp_path, capsys, arguments, message):
    assert main(["lm", "build", str(train_txt), str(tmp_path / "out"), *arguments]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"ko-asr lm build: {message}\n")
    assert not (tmp_path / "out").exists()


def test_lm_build_refuses_missing_unreadable_and_empty_text(tmp_path, capsys):
    missing = tmp_path / "missing.txt"
    assert main(["lm", "build", str(missing), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"ko-asr lm build: {missing}: no such file or directory\n"

    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\xff\n")
    assert main(["lm", "build", str(binary), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(f"ko-asr lm build: {binary}: neither UTF-8 nor CP949")

    noise_only = tmp_path / "noise.txt"
    noise_only.write_text("b/\n\n", encoding="utf-8")
    assert main(["lm", "build", str(noise_only), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ko-asr lm build: {noise_only}: no usable transcript") and err.count("\n") == 1
    assert not (tmp_path / "out" / "language_model").exists()


def test_lm_command_needs_a_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["lm"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("ko-asr lm:")


# ---------------------------------------------------------------- ko-asr transcribe with a language model


def test_a_model_with_an_lm_decodes_with_it_unless_no_lm(lm_model):
    with_lm = _load_pipeline(build_parser().parse_args(["transcribe", str(lm_model["dir"]), "a.wav", "--quiet"]))
    assert with_lm.type == "ctc_with_lm"
    assert isinstance(with_lm.decoder, HangulBeamSearch) and with_lm.decoder.has_language_model
    greedy = _load_pipeline(build_parser().parse_args(["transcribe", str(lm_model["dir"]), "a.wav", "--no-lm"]))
    assert greedy.type == "ctc"


def test_transcribe_passes_beam_settings_to_the_lm_beam_search(lm_model, audio, beam_calls, capsys):
    model = str(lm_model["dir"])
    assert main(["transcribe", model, str(audio), "--no-vad", "--quiet"]) == 0
    assert beam_calls == [{"settings": {}, "has_lm": True}]  # the saved decoder_config.json's settings
    beam_calls.clear()
    arguments = ["--beam-width", "4", "--hotwords", "서초구,양재 시민의 숲", "--hotwords", "서초구, 정도요"]
    assert main(["transcribe", model, str(audio), "--no-vad", "--quiet", *arguments]) == 0
    expected = {"beam_width": 4, "hotwords": ["서초구", "양재 시민의 숲", "정도요"]}  # repeats merged, spaces trimmed
    assert beam_calls == [{"settings": expected, "has_lm": True}]
    beam_calls.clear()
    assert main(["transcribe", model, str(audio), "--no-vad", "--quiet", "--no-lm"]) == 0
    assert beam_calls == []  # greedy
    outputs = capsys.readouterr().out.splitlines()
    assert len(outputs) == 3 and all(line.startswith(f"{audio}\t") and line.split("\t")[1] for line in outputs)


def test_hotwords_on_a_model_without_lm_use_a_beam_search_without_one(plain_model, audio, beam_calls, capsys):
    assert main(["transcribe", str(plain_model), str(audio), "--no-vad", "--hotwords", "서초구"]) == 0
    captured = capsys.readouterr()
    assert _lines(captured.err, "ko-asr transcribe: ") == [
        f"ko-asr transcribe: note: {plain_model} has no language_model/ (see `ko-asr lm build`): beam search without "
        "a language model for --hotwords"
    ]
    assert beam_calls == [{"settings": {"hotwords": ["서초구"]}, "has_lm": False}]
    [line] = captured.out.splitlines()
    assert line.startswith(f"{audio}\t") and line.split("\t")[1]
    # --quiet drops the note; without the flags the model decodes greedily as before
    beam_calls.clear()
    assert main(["transcribe", str(plain_model), str(audio), "--no-vad", "--quiet", "--beam-width", "2"]) == 0
    assert _lines(capsys.readouterr().err, "ko-asr transcribe: ") == []
    assert beam_calls == [{"settings": {"beam_width": 2}, "has_lm": False}]
    beam_calls.clear()
    assert main(["transcribe", str(plain_model), str(audio), "--no-vad", "--quiet"]) == 0
    assert beam_calls == []


@pytest.mark.parametrize("flags", [["--hotwords", "서초구"], ["--beam-width", "8", "--hotwords", "a,b"]])
def test_no_lm_with_beam_settings_is_refused(lm_model, audio, capsys, flags):
    assert main(["transcribe", str(lm_model["dir"]), str(audio), "--no-lm", *flags]) == 2
    captured = capsys.readouterr()
    named = " and ".join(flag for flag in ("--beam-width", "--hotwords") if flag in flags)
    assert captured.out == ""
    assert captured.err == f"ko-asr transcribe: --no-lm (greedy decoding) cannot be combined with {named} (beam search settings)\n"


def test_beam_settings_on_whisper_are_refused(whisper_dir, audio, capsys):
    assert main(["transcribe", str(whisper_dir), str(audio), "--beam-width", "4", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert _lines(captured.err, "ko-asr ") == [
        f"ko-asr transcribe: --beam-width: beam search settings of CTC models; {whisper_dir} is a Whisper model"
    ]


def test_empty_hotwords_are_an_argument_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["transcribe", "model", "a.wav", "--hotwords", " , "])
    assert exit_.value.code == 2
    assert "--hotwords: no word in ' , '" in capsys.readouterr().err


class _StubPipeline:
    """Records the keyword arguments of each call; `type` as a pipeline's."""

    def __init__(self, type_):
        self.type, self.calls = type_, []

    def __call__(self, inputs, **kwargs):
        self.calls.append(kwargs)
        return [{"text": "말"} for _ in inputs]


class _NoArguments(BatchTranscriber):
    """A family whose pipeline call takes no arguments of its own (the base class runs the pipeline)."""

    def __init__(self):
        super().__init__(processor=None)


@pytest.mark.parametrize(("type_", "passed"), [("ctc_with_lm", True), ("ctc", False), ("seq2seq_whisper", False)])
def test_transcribe_waveforms_gives_decoder_kwargs_only_to_a_beam_search(type_, passed):
    asr = _StubPipeline(type_)
    settings = {"hotwords": ["서초구"], "beam_width": 4}
    results = transcribe_waveforms(asr, [np.zeros(1600, dtype=np.float32)], _NoArguments(), vad=None,
                                   decoder_kwargs=settings)
    assert results[0]["text"] == "말"
    assert asr.calls == [{"decoder_kwargs": settings} if passed else {}]
    transcribe_waveforms(asr, [np.zeros(1600, dtype=np.float32)], _NoArguments(), vad=None)
    assert asr.calls[-1] == {}


def test_lm_build_help_imports_nothing_heavy():
    from test_cli_startup import HEAVY, _imported

    result, modules = _imported(["lm", "build", "--help"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TRAINING transcripts only" in result.stdout
    assert "ko_asr_cli" in modules and sorted(m for m in modules if m.partition(".")[0] in HEAVY) == []
