"""Other sources adapted to the ko_asr columns: the real CC-BY Korean utterances and an in-memory Hub-style set."""

import io
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile

from ko_asr.audio_io import pcm_to_float
from ko_asr.data import load_speech_dataset, to_audio_dataset

REAL_SPEECH = Path(__file__).parent / "data" / "real_korean_speech"


def test_real_korean_speech_loads():
    dataset = load_speech_dataset(REAL_SPEECH)
    assert len(dataset) == 11
    assert set(dataset.column_names) == {"id", "audio", "text", "raw_text", "duration"}
    assert sum(dataset["duration"]) == pytest.approx(108.5, abs=0.2)
    row = dataset[0]
    assert row["id"] == "104_003_0019" and row["text"].startswith("지난해 삼 월")
    assert row["audio"]["sampling_rate"] == 16000
    assert row["audio"]["array"].size == pytest.approx(row["duration"] * 16000, abs=1)


def hub_style_dataset(rate: int) -> datasets.Dataset:
    rows = []
    for seconds, text in ((0.5, "안녕하세요."), (0.25, "b/ n/"), (0.75, "(3시)/(세 시)에 봐요!")):
        buffer = io.BytesIO()
        stereo = np.stack([np.full(int(seconds * rate), 0.25), np.full(int(seconds * rate), 0.75)], axis=1)
        soundfile.write(buffer, stereo.astype(np.float32), rate, format="FLAC")
        rows.append({"audio": {"bytes": buffer.getvalue(), "path": f"{text[:2]}.flac"}, "sentence": text})
    storage = datasets.Features({"audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
                                 "sentence": datasets.Value("string")})
    return datasets.Dataset.from_list(rows, features=storage).cast_column("audio", datasets.Audio())


def test_hub_style_dataset_is_adapted_resampled_and_downmixed(caplog):
    dataset = load_speech_dataset(hub_style_dataset(rate=8000))
    assert dataset["text"] == ["안녕하세요", "3시에 봐요"]  # the empty transcript is skipped...
    assert "skipped 1 of 3" in caplog.text and "empty_after_normalization" in caplog.text  # ...and said why
    row = dataset[1]
    assert row["audio"]["array"].shape == (12000,) and row["duration"] == pytest.approx(0.75)
    np.testing.assert_allclose(row["audio"]["array"][2000:-2000], 0.5, atol=1e-3)  # channels averaged


def test_phonetic_policy_and_explicit_columns():
    source = hub_style_dataset(rate=16000).rename_column("sentence", "words")
    with pytest.raises(ValueError, match="text_column"):
        load_speech_dataset(source)
    dataset = load_speech_dataset(source, text_column="words", policy="phonetic")
    assert dataset["text"][1] == "세 시에 봐요"


def test_to_audio_dataset_round_trips_through_save_to_disk(tmp_path):
    """Rows decode with the standard `datasets` decoding (torchcodec), before and after save/load, to ko_asr's samples."""
    dataset = load_speech_dataset(REAL_SPEECH).select(range(2))
    expected = [dataset[i]["audio"]["array"] for i in range(2)]
    portable = to_audio_dataset(dataset)
    assert portable.features["audio"] == datasets.Audio(sampling_rate=16000)
    assert portable.column_names == dataset.column_names and portable["id"] == dataset["id"]
    portable.save_to_disk(tmp_path / "saved")
    reloaded = datasets.load_from_disk(tmp_path / "saved")
    recast = reloaded.cast_column("audio", datasets.Audio(16000))
    for copy in (portable, reloaded, recast):
        for row, waveform in zip(copy, expected):
            assert row["audio"]["sampling_rate"] == 16000
            assert row["audio"]["array"].dtype == np.float32 and row["audio"]["array"].shape == waveform.shape
            np.testing.assert_allclose(row["audio"]["array"], waveform, atol=1 / 32768)  # 16-bit FLAC
    # portable: the bytes are in the Arrow files, not paths into this checkout
    stored = reloaded.cast_column("audio", datasets.Audio(decode=False))[0]["audio"]
    assert stored["path"] == "104_003_0019.flac" and soundfile.info(io.BytesIO(stored["bytes"])).format == "FLAC"


def test_a_hub_style_audio_column_decodes_here():
    """`datasets.Audio` decoding itself (torchcodec + FFmpeg) works in the project's environment: resampled, downmixed."""
    audio = hub_style_dataset(rate=8000).cast_column("audio", datasets.Audio(sampling_rate=16000))[0]["audio"]
    waveform = audio["array"]  # once: these 4000-sample FLACs are one frame, which torchcodec 0.17 cannot re-read
    assert audio["sampling_rate"] == 16000 and waveform.shape == (8000,)
    np.testing.assert_allclose(waveform[2000:-2000], 0.5, atol=1e-3)  # channels averaged, as ko_asr does


def test_to_audio_dataset_without_embedding_points_at_the_files():
    dataset = load_speech_dataset(REAL_SPEECH).select(range(2))
    linked = to_audio_dataset(dataset, embed=False)
    stored = linked.cast_column("audio", datasets.Audio(decode=False))[0]["audio"]
    assert stored["bytes"] is None and stored["path"].endswith("zeroth/104_003_0019.wav")
    np.testing.assert_allclose(linked[1]["audio"]["array"], dataset[1]["audio"]["array"], atol=1e-6)


def test_headerless_pcm_is_embedded_not_linked(tmp_path):
    samples = (np.sin(np.arange(4000) / 7) * 12000).astype("<i2")
    samples.tofile(tmp_path / "KsponSpeech_000001.pcm")
    (tmp_path / "manifest.csv").write_text("file,text\nKsponSpeech_000001.pcm,안녕하세요\n", encoding="utf-8")
    dataset = load_speech_dataset(tmp_path)
    with pytest.raises(ValueError, match=r"1 clips are headerless \.pcm .*KsponSpeech_000001\.pcm.*embed=True"):
        to_audio_dataset(dataset, embed=False)
    embedded = to_audio_dataset(dataset)
    for _ in range(2):  # a clip of one FLAC frame or less is stored as WAV, which torchcodec can read again
        audio = embedded[0]["audio"]  # decoded anew on each access
        np.testing.assert_array_equal(audio["array"], pcm_to_float(samples))  # lossless: 16-bit in and out
    assert embedded.cast_column("audio", datasets.Audio(decode=False))[0]["audio"]["path"] == "KsponSpeech_000001.wav"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_folder_manifest_in_any_encoding_with_nfd_file_names(tmp_path, encoding, caplog):
    """A manifest re-saved in CP949 or UTF-8 (BOM or not) names files in NFC while macOS stored them in NFD; an
    unresolvable transcript is skipped and said, not turned into other words."""
    import unicodedata

    names = ["안녕.wav", "날씨.wav", "숫자.wav"]
    for index, name in enumerate(names):
        soundfile.write(tmp_path / unicodedata.normalize("NFD", name), np.full(8000, 0.1 * (index + 1), np.float32), 16000)
    lines = ["file_name,transcription", f"{names[0]},안녕하세요", f"{names[1]},(오늘)/(오늘) 날씨 b/", f"{names[2]},(70%)/(칠십 퍼센트"]
    (tmp_path / "metadata.csv").write_bytes(("\n".join(lines) + "\n").encode(encoding))
    dataset = load_speech_dataset(tmp_path)
    assert dataset["text"] == ["안녕하세요", "오늘 날씨"]
    assert "skipped 1 of 3" in caplog.text and "malformed_notation" in caplog.text
    np.testing.assert_allclose(dataset[1]["audio"]["array"], 0.2, atol=1e-4)
