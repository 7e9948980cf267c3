"""The KsponSpeech loader on corpora built by the tests in the real AI Hub layout, bad input included."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ko_asr.data import load_ksponspeech


def write_utterance(root: Path, relative: str, samples: np.ndarray | bytes | None, transcript: str | bytes | None):
    pcm = root / relative
    pcm.parent.mkdir(parents=True, exist_ok=True)
    if samples is not None:
        pcm.write_bytes(samples if isinstance(samples, bytes) else samples.astype("<i2").tobytes())
    if transcript is not None:
        data = transcript if isinstance(transcript, bytes) else (transcript + "\n").encode("cp949")
        pcm.with_suffix(".txt").write_bytes(data)


def tone(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-3000, 3000, int(seconds * 16000)).astype(np.int16)


def train_path(number: int) -> str:
    folder = (number - 1) // 1000 + 1
    return f"KsponSpeech_0{min((folder - 1) // 124 + 1, 5)}/KsponSpeech_{folder:04d}/KsponSpeech_{number:06d}.pcm"


GOOD = {
    train_path(1): ("아/ 몬 소리야, 그건 또. b/", "아 몬 소리야 그건 또"),
    train_path(2): ("그럼 (20년)/(이십 년) 전+ 전처럼 이메일로 l/ 소통하면 되잖아. l/", "그럼 20년 전 전처럼 이메일로 소통하면 되잖아"),
    train_path(1001): ("한+ 한+ 한 시간에", "한 한 한 시간에"),
    train_path(620001): ("(2월)/(이 월 )달에 가? 응.", "2월달에 가 응"),  # folder 0621: dev
    "KsponSpeech_eval/eval_clean/KsponSpeech_E00001.pcm": ("까* 오히려", "까 오히려"),
    "KsponSpeech_eval/eval_other/KsponSpeech_E03001.pcm": ("(뭐)/(머)/ 그래", "뭐 그래"),
}


@pytest.fixture
def clean_corpus(tmp_path):
    root = tmp_path / "corpus"
    for index, (relative, (raw, _)) in enumerate(GOOD.items()):
        write_utterance(root, relative, tone(0.5 + 0.1 * index, index), raw)
    return root


def write_scripts(root: Path, entries: dict[str, str], extra_lines: dict[str, list[str]] | None = None) -> None:
    (root / "scripts").mkdir(exist_ok=True)
    for split in ("train", "dev", "eval_clean", "eval_other"):
        lines = [f"{path} :: {raw}" for path, raw in entries.items() if split_of(path) == split]
        lines += (extra_lines or {}).get(split, [])
        (root / "scripts" / f"{split}.trn").write_text("\n".join(lines) + "\n", encoding="utf-8")


def split_of(relative: str) -> str:
    if "eval_clean" in relative:
        return "eval_clean"
    if "eval_other" in relative:
        return "eval_other"
    return "dev" if "KsponSpeech_0621" in relative else "train"


def rows_by_id(dataset_dict):
    return {split: {row["id"]: row for row in dataset} for split, dataset in dataset_dict.items()}


@pytest.mark.parametrize("layout", ["folders", "scripts", "folders-flat-eval", "scripts-flat-eval"])
def test_loads_every_split_in_every_layout(clean_corpus, tmp_path, layout):
    if layout.startswith("scripts"):
        write_scripts(clean_corpus, {path: raw for path, (raw, _) in GOOD.items()})
    if layout.endswith("flat-eval"):  # the eval zip unpacked without its KsponSpeech_eval/ level
        for folder in (clean_corpus / "KsponSpeech_eval").iterdir():
            folder.rename(clean_corpus / folder.name)
        (clean_corpus / "KsponSpeech_eval").rmdir()
    dataset_dict, report = load_ksponspeech(clean_corpus, cache_dir=str(tmp_path / "cache"), return_report=True)
    rows = rows_by_id(dataset_dict)
    assert {split: len(r) for split, r in rows.items()} == {"train": 3, "dev": 1, "eval_clean": 1, "eval_other": 1}
    assert report.counts == {}
    for relative, (raw, spelling) in GOOD.items():
        utt_id = Path(relative).stem
        row = rows[split_of(relative)][utt_id]
        assert (row["raw_text"], row["text"]) == (raw, spelling)
    assert set(dataset_dict["train"].column_names) == {"id", "audio", "text", "raw_text", "duration"}


def test_audio_decodes_to_the_written_samples(clean_corpus, tmp_path):
    dataset = load_ksponspeech(clean_corpus, cache_dir=str(tmp_path / "cache"), splits=["train"])["train"]
    row = dataset[0]
    expected = tone(0.5, 0).astype(np.float32) / 32768.0
    assert row["audio"]["sampling_rate"] == 16000
    np.testing.assert_array_equal(row["audio"]["array"], expected)
    assert row["duration"] == pytest.approx(0.5)


def test_phonetic_policy_and_duration_filter(clean_corpus, tmp_path):
    dataset_dict, report = load_ksponspeech(
        clean_corpus, policy="phonetic", cache_dir=str(tmp_path / "cache"), min_duration=0.55, max_duration=0.95,
        return_report=True,
    )
    rows = rows_by_id(dataset_dict)
    assert rows["dev"]["KsponSpeech_620001"]["text"] == "이 월 달에 가 응"
    assert report.counts == {"too_short": 1, "too_long": 1}
    assert sum(report.loaded.values()) == 4


def test_streaming_gives_the_same_rows(clean_corpus, tmp_path):
    loaded = load_ksponspeech(clean_corpus, cache_dir=str(tmp_path / "cache"))
    streamed = load_ksponspeech(clean_corpus, streaming=True)
    for split in loaded:
        a, b = list(loaded[split]), list(streamed[split])
        assert [r["id"] for r in a] == [r["id"] for r in b]
        assert [r["text"] for r in a] == [r["text"] for r in b]
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x["audio"]["array"], y["audio"]["array"])


def test_preparation_is_cached(clean_corpus, tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    load_ksponspeech(clean_corpus, cache_dir=cache)
    from ko_asr.data import ksponspeech

    def fail(*args, **kwargs):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(ksponspeech, "_folder_rows", fail)
    assert len(load_ksponspeech(clean_corpus, cache_dir=cache)["train"]) == 3


def test_bad_input_is_counted_and_never_silently_lost(clean_corpus, tmp_path):
    root = clean_corpus
    bad = {
        "odd_byte_count": (train_path(3), tone(0.5, 3).tobytes() + b"\x01", "홀수 바이트 파일"),
        "zero_length_pcm": (train_path(4), b"", "빈 파일"),
        "missing_txt": (train_path(5), tone(0.5, 5), None),
        "missing_pcm": (train_path(6), None, "음성 없음"),
        "undecodable_transcript": (train_path(7), tone(0.5, 7), "깨진".encode("cp949") + b"\xff\xfe"),
        "malformed_notation": (train_path(10), tone(0.5, 10), "그 돈이 (70%)/(칠십 퍼센트 넘을걸"),
        "empty_after_normalization": (train_path(8), tone(0.5, 8), "b/ n/ l/"),
        "unintelligible_dropped": (train_path(9), tone(0.5, 9), "그게 u/ 뭐였지"),
    }
    for relative, samples, transcript in bad.values():
        write_utterance(root, relative, samples, transcript)
    dataset_dict, report = load_ksponspeech(
        root, unintelligible="drop", cache_dir=str(tmp_path / "cache"), return_report=True
    )
    assert report.counts == {reason: 1 for reason in bad}
    reported = {reason: path for _, path, reason in report.entries}
    for reason, (relative, _, _) in bad.items():
        assert Path(reported[reason]).stem == Path(relative).stem, reason
    rows = rows_by_id(dataset_dict)
    # every good utterance loaded, and the odd-byte one is kept with its last byte dropped
    assert set(rows["train"]) == {"KsponSpeech_000001", "KsponSpeech_000002", "KsponSpeech_001001", "KsponSpeech_000003"}
    assert rows["train"]["KsponSpeech_000003"]["audio"]["array"].size == 8000
    saved = json.loads(next((tmp_path / "cache").rglob("ksponspeech_load_report.json")).read_text())
    assert saved["counts"] == report.counts


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("cp949"),
        lambda text: text.encode("utf-8"),
        lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
    ],
    ids=["cp949", "utf-8", "utf-8-bom"],
)
@pytest.mark.parametrize("with_scripts", [False, True], ids=["txt", "trn"])
def test_transcripts_in_any_saved_encoding_load_the_same(clean_corpus, tmp_path, encode, with_scripts):
    """Per-utterance .txt files and .trn scripts re-saved in CP949 or UTF-8 (BOM or not) load to the same text."""
    for relative, (raw, _) in GOOD.items():
        (clean_corpus / relative).with_suffix(".txt").write_bytes(encode(raw + "\n"))
    if with_scripts:
        write_scripts(clean_corpus, {path: raw for path, (raw, _) in GOOD.items()})
        for script in (clean_corpus / "scripts").glob("*.trn"):
            script.write_bytes(encode(script.read_text(encoding="utf-8")))
    dataset_dict, report = load_ksponspeech(clean_corpus, cache_dir=str(tmp_path / "cache"), return_report=True)
    assert report.counts == {}
    rows = rows_by_id(dataset_dict)
    loaded = {row_id: row["text"] for split in rows.values() for row_id, row in split.items()}
    assert loaded == {Path(relative).stem: clean for relative, (_, clean) in GOOD.items()}
    assert not any("\ufffd" in text for text in loaded.values())


def test_one_syllable_cp949_transcript_in_a_trn_script_is_read_as_cp949(clean_corpus, tmp_path):
    """"치" in CP949 is valid UTF-8 ("ġ"); judged on its own bytes, not with the ASCII path before it."""
    write_scripts(clean_corpus, {train_path(1): "치"})
    script = clean_corpus / "scripts" / "train.trn"
    script.write_bytes(script.read_text(encoding="utf-8").encode("cp949"))
    dataset_dict = load_ksponspeech(clean_corpus, splits=["train"], cache_dir=str(tmp_path / "cache"))
    assert dataset_dict["train"]["text"] == ["치"]


def test_a_change_to_the_preparation_code_is_never_served_from_the_cache(clean_corpus, tmp_path, monkeypatch):
    from ko_asr.data import ksponspeech

    cache = str(tmp_path / "cache")
    load_ksponspeech(clean_corpus, cache_dir=cache)
    reads = []
    original = ksponspeech._folder_rows
    monkeypatch.setattr(ksponspeech, "_folder_rows", lambda *a: reads.append(a) or original(*a))
    load_ksponspeech(clean_corpus, cache_dir=cache)
    assert not reads  # same code: from the cache
    monkeypatch.setattr(ksponspeech, "_preparation_version", lambda: "normalization changed")
    load_ksponspeech(clean_corpus, cache_dir=cache)
    assert reads  # the corpus was prepared again


def test_undecodable_and_mojibake_trn_lines_are_counted_with_their_line(clean_corpus, tmp_path):
    write_scripts(clean_corpus, {path: raw for path, (raw, _) in GOOD.items()})
    script = clean_corpus / "scripts" / "train.trn"
    script.write_bytes(
        f"{train_path(1)} :: {GOOD[train_path(1)][0]}\n".encode()
        + f"{train_path(1001)} :: 한+ ".encode() + b"\xff\xff\n"  # neither UTF-8 nor CP949
        + f"{train_path(2)} :: {'그럼 이메일로'.encode('cp949').decode('latin-1')}\n".encode()  # mojibake
    )
    dataset_dict, report = load_ksponspeech(clean_corpus, cache_dir=str(tmp_path / "cache"), return_report=True)
    assert report.counts == {"undecodable_transcript": 2}
    assert sorted(path for _, path, _ in report.entries) == [f"{script}:2", f"{script}:3"]
    assert set(rows_by_id(dataset_dict)["train"]) == {"KsponSpeech_000001"}


def test_trn_problems_are_counted(clean_corpus, tmp_path):
    entries = {path: raw for path, (raw, _) in GOOD.items()}
    write_scripts(
        clean_corpus, entries,
        extra_lines={"train": [f"{train_path(77)} :: 없는 파일", "this line has no separator", ""]},
    )
    dataset_dict, report = load_ksponspeech(clean_corpus, cache_dir=str(tmp_path / "cache"), return_report=True)
    assert report.counts == {"trn_missing_file": 1, "trn_unparseable_line": 2}
    assert len(dataset_dict["train"]) == 3


def test_duplicate_ids_are_an_error(clean_corpus, tmp_path):
    shutil.copy(clean_corpus / train_path(1), clean_corpus / "KsponSpeech_eval/eval_clean/KsponSpeech_000001.pcm")
    shutil.copy(
        (clean_corpus / train_path(1)).with_suffix(".txt"), clean_corpus / "KsponSpeech_eval/eval_clean/KsponSpeech_000001.txt"
    )
    with pytest.raises(ValueError, match="duplicate utterance ids.*KsponSpeech_000001"):
        load_ksponspeech(clean_corpus, cache_dir=str(tmp_path / "cache"))


def test_missing_root_and_unknown_split_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_ksponspeech(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no data"):
        load_ksponspeech(tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown splits"):
        load_ksponspeech(tmp_path / "empty", splits=["test"])
