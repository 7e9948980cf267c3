"""Whisper past 30 s: sequential long-form decoding with segment times, word times where alignment heads exist, and
the offline tokenizer's timestamp tokens (tiny random-weight Whisper, offline)."""

import shutil

import numpy as np
import pytest
import torch
from helpers import make_waveform
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from ko_asr.transcription import transcriber_for
from ko_asr.whisper import offline_whisper_tokenizer
from ko_asr.whisper_long_form import OUTSIDE_AUDIO, has_alignment_heads, segment_chunks, transcribe_whisper

SECONDS = 120.0


@pytest.fixture(scope="module")
def whisper(whisper_dir):
    return WhisperForConditionalGeneration.from_pretrained(whisper_dir).eval(), WhisperProcessor.from_pretrained(whisper_dir)


@pytest.fixture(scope="module")
def two_minutes():
    return make_waveform(np.random.default_rng(0), SECONDS)


def assert_inside(chunks: list[dict], duration: float) -> None:
    """Every chunk timed, times never going back, all within `[0, duration]`."""
    times = [t for chunk in chunks for t in chunk["timestamp"]]
    assert times and None not in times, chunks
    assert times == sorted(times) and times[0] >= 0.0 and times[-1] <= duration, chunks


def test_two_minutes_decode_window_after_window_into_monotonic_times_inside_the_audio(whisper, two_minutes):
    model, processor = whisper
    windows = []
    hook = model.get_encoder().register_forward_pre_hook(
        lambda module, args, kwargs: windows.append((args[0] if args else kwargs["input_features"]).shape), with_kwargs=True
    )
    try:  # a batch of a long and a short recording: each item leaves the loop when its own audio ends
        long, short = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer,
                                         [two_minutes, two_minutes[:7 * 16000]], batch_size=2)
    finally:
        hook.remove()
    assert_inside(long["chunks"], SECONDS)
    assert_inside(short["chunks"], 7.0)
    # the window moved through the whole recording (not one 30 s window, not 30 s chunks with no times past them)
    assert long["chunks"][-1]["timestamp"][1] > 90.0
    assert len(windows) >= 4 and all(shape[-1] == 3000 for shape in windows)
    assert long["text"].replace(" ", "") == "".join(c["text"] for c in long["chunks"]).replace(" ", "")
    # no guard: only text the model timed past the end of the audio (or as an instant) is left out, and said so
    for result, duration in ((long, SECONDS), (short, 7.0)):
        for dropped in result["dropped"]:
            start, end = dropped["timestamp"]
            assert dropped["reason"] == OUTSIDE_AUDIO and (start >= duration or start >= end), dropped
    # plain text asks for no chunks, and still decodes the whole recording
    (text_only,) = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [two_minutes],
                                      timestamps=False)
    assert "chunks" not in text_only and text_only["text"]


def test_word_times_come_from_the_alignment_heads_where_the_config_names_them(whisper_dir, tmp_path, two_minutes):
    directory = tmp_path / "with-heads"
    shutil.copytree(whisper_dir, directory)
    model = WhisperForConditionalGeneration.from_pretrained(directory)
    assert not has_alignment_heads(model)
    model.generation_config.alignment_heads = [[1, 0], [1, 1], [1, 3]]  # decoder layer, head
    model.generation_config.save_pretrained(directory)
    model = WhisperForConditionalGeneration.from_pretrained(directory).eval()
    processor = WhisperProcessor.from_pretrained(directory)
    assert has_alignment_heads(model) and transcriber_for(model, processor).word_timestamps
    audio = two_minutes[:40 * 16000]  # long-form: word times across two windows
    (result,) = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [audio])
    assert_inside(result["chunks"], 40.0)
    words = [c["text"].strip() for c in result["chunks"]]
    assert all(words) and all(" " not in word for word in words)
    assert " ".join(words).replace(" ", "") == result["text"].replace(" ", "")


def test_segments_become_chunks_with_their_text_and_times_clamped_to_the_audio():
    tokenizer = offline_whisper_tokenizer()
    stamp = lambda seconds: tokenizer.convert_tokens_to_ids(f"<|{seconds:.2f}|>")  # noqa: E731
    first, second = tokenizer(" 안녕하세요", add_special_tokens=False).input_ids, tokenizer(" 반갑습니다", add_special_tokens=False).input_ids
    segments = [
        {"start": torch.tensor(30.0), "end": torch.tensor(31.5), "tokens": torch.tensor([stamp(0.0), *first, stamp(1.5)])},
        {"start": torch.tensor(31.5), "end": torch.tensor(36.0), "tokens": torch.tensor([stamp(1.5), *second, stamp(6.0)])},
    ]
    segments.append({"start": torch.tensor(36.0), "end": torch.tensor(37.0), "tokens": torch.tensor([stamp(6.0), *first, stamp(7.0)])})
    segments.append({"start": torch.tensor(31.0), "end": torch.tensor(31.0), "tokens": torch.tensor([stamp(1.0), *first, stamp(1.0)])})
    chunks, outside = segment_chunks(tokenizer, segments, duration=33.0)
    assert [c["text"].strip() for c in chunks] == ["안녕하세요", "반갑습니다"]
    assert [c["timestamp"] for c in chunks] == [(30.0, 31.5), (31.5, 33.0)]
    # text in the padding past the audio, and an instantaneous segment, are left out and said why
    assert [(c["timestamp"], c["reason"]) for c in outside] == [((36.0, 37.0), OUTSIDE_AUDIO), ((31.0, 31.0), OUTSIDE_AUDIO)]


def test_a_word_spans_from_the_previous_tokens_time_to_its_last_tokens_time():
    """DTW gives each token one time (where it ends); words group tokens, as transformers' pipeline does."""
    tokenizer = offline_whisper_tokenizer()
    stamp = lambda seconds: tokenizer.convert_tokens_to_ids(f"<|{seconds:.2f}|>")  # noqa: E731
    first, second = (tokenizer(word, add_special_tokens=False).input_ids for word in (" 안녕하세요", " 반갑습니다"))
    tokens = [stamp(0.0), *first, *second, stamp(3.0)]
    times = [10.0] + [10.0 + 0.5 * (i + 1) for i in range(len(first) + len(second))] + [13.0]
    segment = {"start": torch.tensor(10.0), "end": torch.tensor(13.0), "tokens": torch.tensor(tokens),
               "token_timestamps": torch.tensor(times)}
    words, outside = segment_chunks(tokenizer, [segment], words=True, language="korean")
    middle = 10.0 + 0.5 * len(first)
    assert [w["text"].strip() for w in words] == ["안녕하세요", "반갑습니다"] and outside == []
    assert words[0]["timestamp"] == (10.0, middle) and words[1]["timestamp"] == (middle, round(middle + 0.5 * len(second), 2))


def test_the_offline_tokenizer_keeps_timestamps_as_ordinary_tokens_with_openai_ids():
    """The pipeline and `decode(..., output_offsets=True)` ignore special tokens: timestamps must not be special."""
    tokenizer = offline_whisper_tokenizer()
    ids = tokenizer.convert_tokens_to_ids(["<|notimestamps|>", "<|0.00|>", "<|1.00|>", "<|30.00|>"])
    assert ids == [50363, 50364, 50414, 51864] and len(tokenizer) == 51865
    assert max(tokenizer.all_special_ids) == 50363
    text_ids = tokenizer(" 안녕", add_special_tokens=False).input_ids
    offsets = tokenizer.decode([50364, *text_ids, 50414], output_offsets=True)["offsets"]
    assert offsets == [{"text": " 안녕", "timestamp": (0.0, 1.0)}]
    assert tokenizer.decode([50258, 50264, 50359, 50364, *text_ids, 50414, 50257], skip_special_tokens=True) == " 안녕"
