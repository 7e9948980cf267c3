"""Whisper's hallucination guard: the repetition check, the no-speech gate, temperature fallback and VAD gating, on
tiny random-weight Whisper models (offline), through the library, the evaluation transcriber and the CLI."""

import json

import numpy as np
import pytest
import soundfile
import torch
from helpers import make_waveform
from transformers import GenerationMixin, WhisperForConditionalGeneration, WhisperProcessor

from ko_asr.cli import main
from ko_asr.data.effects import generated_noise
from ko_asr.hallucination_guard import (
    LOOPING_TEXT,
    REPEATED_NGRAM,
    REPEATED_SEGMENT,
    UNLIKELY,
    HallucinationGuard,
    repeated_spans,
    text_compression_ratio,
)
from ko_asr.transcription import transcriber_for
from ko_asr.vad import speech_segments
from ko_asr.whisper_long_form import OUTSIDE_AUDIO, transcribe_whisper

SILENCE = np.zeros(5 * 16000, dtype=np.float32)
#: a quiet room (-60 dBFS pink noise): the silence of a real recording (the CLI refuses all-zero files as empty)
QUIET_ROOM = (generated_noise("pink", 5 * 16000, np.random.default_rng(0)) * 10 ** (-60 / 20)).astype(np.float32)
#: the guard without its decoding thresholds: only the repetition check acts
REPETITION_ONLY = HallucinationGuard(no_speech_threshold=None, logprob_threshold=None, compression_ratio_threshold=None,
                                     temperatures=(0.0,))


# ---------------------------------------------------------------- the repetition check


def test_a_word_ngram_repeated_more_than_max_repeats_times_is_a_loop():
    words = ["오늘", "시청해", "주셔서", "감사합니다", "시청해", "주셔서", "감사합니다", "시청해", "주셔서", "감사합니다", "시청해", "주셔서", "감사합니다", "끝"]
    assert repeated_spans(words, max_repeats=3) == [(1, 13)]  # the whole run, first occurrence included
    assert repeated_spans(words, max_repeats=4) == []
    assert repeated_spans(["네", "네", "네", "알겠습니다"], max_repeats=3) == []  # three times is speech
    assert repeated_spans(["네", "네", "네", "네", "네"], max_repeats=3) == [(0, 5)]
    assert repeated_spans(["a", "b", "a", "b", "a", "b", "a", "b", "c", "c", "c", "c"], max_repeats=3) == [(0, 8), (8, 12)]


def test_compression_ratio_is_openai_whispers_and_flags_long_loops_only():
    assert text_compression_ratio("") == 0.0
    assert text_compression_ratio("감사합니다" * 20) > 2.4
    assert text_compression_ratio("오늘은 날씨가 좋아서 공원에 산책을 다녀왔다") < 2.4
    guard = HallucinationGuard()
    assert guard.is_loop("감사합니다" * 20) and not guard.is_loop("하하하")


def test_segments_lose_their_loops_and_long_repeats_of_the_previous_segment():
    chunks = [{"text": " 오늘은 날씨가 좋다", "timestamp": (0.0, 1.0)},
              {"text": " 오늘은 날씨가 좋다", "timestamp": (1.0, 2.0)},  # Whisper's long-form loop: dropped
              {"text": " 네.", "timestamp": (2.0, 2.5)},
              {"text": " 네.", "timestamp": (2.5, 3.0)},  # a short answer said twice: kept
              {"text": " 감사합니다" * 12, "timestamp": (3.0, 9.0)},  # all loop: nothing left
              {"text": " 회의를 마쳤습니다" + " 감사합니다." * 12, "timestamp": (9.0, 9.5)},  # speech, then a loop
              {"text": " 정말" * 6 + " 좋아요", "timestamp": (9.5, 10.0)},  # the run is cut, the rest kept
              {"text": " " + "네" * 40, "timestamp": (10.0, 11.0)}]  # a loop without spaces
    output = HallucinationGuard().filter_output({"text": "".join(c["text"] for c in chunks), "chunks": chunks}, words=False)
    assert output["text"] == "오늘은 날씨가 좋다 네. 네. 회의를 마쳤습니다 좋아요"
    assert [(c["text"], c["timestamp"]) for c in output["chunks"]] == [
        (" 오늘은 날씨가 좋다", (0.0, 1.0)), (" 네.", (2.0, 2.5)), (" 네.", (2.5, 3.0)), (" 회의를 마쳤습니다", (9.0, 9.5)),
        (" 좋아요", (9.5, 10.0))]
    assert [(d["text"], d["timestamp"], d["reason"]) for d in output["dropped"]] == [
        ("오늘은 날씨가 좋다", (1.0, 2.0), REPEATED_SEGMENT), (" ".join(["감사합니다"] * 12), (3.0, 9.0), REPEATED_NGRAM),
        (" ".join(["감사합니다."] * 12), (9.0, 9.5), REPEATED_NGRAM), ("정말 정말 정말 정말 정말 정말", (9.5, 10.0), REPEATED_NGRAM),
        ("네" * 40, (10.0, 11.0), LOOPING_TEXT)]
    # a run of the same short segment is a loop, however short
    runs = [{"text": " 네", "timestamp": (float(i), i + 0.5)} for i in range(6)]
    assert HallucinationGuard().filter_output({"text": " 네" * 6, "chunks": runs}, words=False)["chunks"] == []


def test_word_chunks_lose_the_looping_run_and_keep_the_rest():
    words = ["오늘", *["감사합니다"] * 5, "끝"]
    chunks = [{"text": f" {w}", "timestamp": (float(i), i + 0.5)} for i, w in enumerate(words)]
    output = HallucinationGuard().filter_output({"text": " ".join(words), "chunks": chunks}, words=True)
    assert output["text"] == "오늘 끝" and [c["timestamp"] for c in output["chunks"]] == [(0.0, 0.5), (6.0, 6.5)]
    assert len(output["dropped"]) == 5 and {d["reason"] for d in output["dropped"]} == {REPEATED_NGRAM}


def test_text_without_times_is_emptied_when_it_loops_and_kept_otherwise():
    guard = HallucinationGuard()
    assert guard.filter_output({"text": "감사합니다 " * 8}, words=False)["text"] == ""
    assert guard.filter_output({"text": "그래서 " + "네 " * 5 + "알겠어요"}, words=False) == {
        "text": "그래서 알겠어요", "dropped": [{"text": "네 네 네 네 네", "timestamp": (None, None), "reason": REPEATED_NGRAM}]}
    assert guard.filter_output({"text": "오늘은 날씨가 좋다"}, words=False) == {"text": "오늘은 날씨가 좋다", "dropped": []}


def test_settings_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="needs logprob_threshold"):
        HallucinationGuard(logprob_threshold=None)
    with pytest.raises(ValueError, match="temperatures"):
        HallucinationGuard(temperatures=())
    with pytest.raises(ValueError, match="max_repeats"):
        HallucinationGuard(max_repeats=0)
    assert HallucinationGuard().generate_kwargs() == {
        "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0), "no_speech_threshold": 0.6, "logprob_threshold": -1.0,
        "compression_ratio_threshold": 1.35}


# ---------------------------------------------------------------- on models


def rigged(whisper_dir, logits: dict[str, float]):
    """The random Whisper with its final decoder layer norm made constant, so every position gives each token in
    `logits` that logit (the others stay near 0): a model whose output is known."""
    model = WhisperForConditionalGeneration.from_pretrained(whisper_dir).eval()
    processor = WhisperProcessor.from_pretrained(whisper_dir)
    direction = torch.zeros(model.config.d_model)
    direction[0] = 1.0
    with torch.no_grad():  # the layer norm outputs `direction` everywhere; the output rows pick the tokens
        model.model.decoder.layer_norm.weight.zero_()
        model.model.decoder.layer_norm.bias.copy_(direction)
        for token, logit in logits.items():
            (token_id,) = processor.tokenizer(token, add_special_tokens=False).input_ids
            model.proj_out.weight[token_id] = logit * direction
    return model, processor


@pytest.fixture(scope="module")
def looping_whisper(whisper_dir):
    """A random Whisper rigged so that every decoder position gives `<|nospeech|>` nearly all the probability and,
    of the tokens decoding may emit (`<|nospeech|>` is suppressed), "네" the most: certain that there is no speech,
    and it loops "네네네..." (unlikely still: about 5 % each) when made to write."""
    # 8: above the log-sum of the 1,501 timestamp tokens (7.3), so text is never forced into timestamps
    model, processor = rigged(whisper_dir, {"<|nospeech|>": 30.0, "네": 8.0})
    assert processor.tokenizer.convert_tokens_to_ids("<|nospeech|>") in model.generation_config.suppress_tokens
    return model, processor


def test_the_no_speech_gate_empties_what_a_model_sure_of_no_speech_would_write(looping_whisper):
    model, processor = looping_whisper
    run = lambda guard: transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [SILENCE],  # noqa: E731
                                           timestamps=False, guard=guard)[0]
    assert run(None)["text"].startswith("네네네")
    assert run(HallucinationGuard()) == {"text": "", "dropped": []}  # skipped by the gate: the model wrote nothing
    # the evaluation transcriber (recipes/compare.py, evaluate) applies the same guard
    assert transcriber_for(model, processor).transcribe_waveform(model, SILENCE).startswith("네네네")
    assert transcriber_for(model, processor, guard=HallucinationGuard()).transcribe_waveform(model, SILENCE) == ""


def test_without_the_gate_the_repetition_check_still_drops_the_loop(looping_whisper):
    model, processor = looping_whisper
    (result,) = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [SILENCE],
                                   timestamps=False, guard=REPETITION_ONLY)
    assert result["text"] == "" and [d["reason"] for d in result["dropped"]] == [LOOPING_TEXT]
    assert result["dropped"][0]["text"].startswith("네네네")


def test_unlikely_or_looping_windows_are_decoded_again_at_each_higher_temperature(looping_whisper, monkeypatch):
    model, processor = looping_whisper
    calls = []
    generate = GenerationMixin.generate

    def recording(self, *args, generation_config=None, **kwargs):
        calls.append(generation_config.temperature if generation_config.do_sample else 0.0)
        return generate(self, *args, generation_config=generation_config, **kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", recording)
    no_gate = HallucinationGuard(no_speech_threshold=None)
    transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [SILENCE], timestamps=False, guard=no_gate)
    assert calls == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]  # every window's text stays unlikely: the whole schedule
    calls.clear()
    transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [SILENCE], timestamps=False)
    assert calls == [0.0]  # no guard: greedy once


def test_the_guard_keeps_what_a_model_is_sure_of(whisper_dir):
    """A tiny Whisper that memorized one clip's text: its confident transcript passes every threshold unchanged (the
    guard's cost on a model that knows the speech), through the library and the evaluation transcriber."""
    model = WhisperForConditionalGeneration.from_pretrained(whisper_dir)
    processor = WhisperProcessor.from_pretrained(whisper_dir)
    waveform, text = make_waveform(np.random.default_rng(0), 2.0), "안녕하세요 반갑습니다"
    features = processor.feature_extractor(waveform, sampling_rate=16000, return_tensors="pt").input_features
    labels = torch.tensor([processor.tokenizer(text).input_ids[1:]])  # the model prepends <|startoftranscript|>
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(200):
        loss = model(input_features=features, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if loss.item() < 0.05:
            break
    model.eval()
    run = lambda guard: transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [waveform],  # noqa: E731
                                           timestamps=False, guard=guard)[0]
    assert run(None) == {"text": text, "dropped": []}
    assert run(HallucinationGuard()) == {"text": text, "dropped": []}
    assert run(HallucinationGuard(drop_unlikely=True)) == {"text": text, "dropped": []}
    assert transcriber_for(model, processor, guard=HallucinationGuard()).transcribe_waveform(model, waveform) == text


def test_the_guard_turns_a_random_models_output_on_silence_into_an_empty_string(whisper_dir, tmp_path, capsys):
    """`ko-asr transcribe` on a quiet room: a random model writes text with the guard and VAD off, and nothing as
    shipped (VAD gate + guard). Without VAD, the strict guard (`drop_unlikely=True`) empties it too: its windows are
    unlikely at every temperature. (Its no-speech probability is ~1/vocabulary, so the no-speech gate cannot fire:
    the rigged model above shows that gate.)"""
    path = tmp_path / "quiet.wav"
    soundfile.write(path, QUIET_ROOM, 16000)
    assert main(["transcribe", str(whisper_dir), str(path), "--format", "json", "--no-guard", "--no-vad"]) == 0
    assert json.loads(capsys.readouterr().out)["text"]
    assert main(["transcribe", str(whisper_dir), str(path), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == "" and record["segments"] == [] and record["dropped"] == []
    assert speech_segments(QUIET_ROOM, 16000) == []  # as shipped, the VAD gate is what stops it: the model never ran
    model = WhisperForConditionalGeneration.from_pretrained(whisper_dir).eval()
    processor = WhisperProcessor.from_pretrained(whisper_dir)
    (strict,) = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [QUIET_ROOM],
                                   guard=HallucinationGuard(drop_unlikely=True))
    assert strict["text"] == "" and strict["chunks"] == []
    # (what the model timed past the 5 s of audio is reported as such)
    assert UNLIKELY in {d["reason"] for d in strict["dropped"]} <= {UNLIKELY, OUTSIDE_AUDIO}


def test_with_a_guard_each_recording_is_decoded_alone(whisper_dir, monkeypatch):
    """transformers reads the no-speech probability at the wrong batch index once some inputs of a batch fall
    back, so a guarded batch is decoded one recording at a time (and gives what each gives alone)."""
    model = WhisperForConditionalGeneration.from_pretrained(whisper_dir).eval()
    processor = WhisperProcessor.from_pretrained(whisper_dir)
    waveforms = [QUIET_ROOM, make_waveform(np.random.default_rng(3), 4.0), QUIET_ROOM[:16000 * 2]]
    alone = [transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [w], guard=HallucinationGuard())[0]
             for w in waveforms]
    sizes = []
    generate = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: sizes.append(kw["input_features"].shape[0]) or generate(**kw))
    batched = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, waveforms, batch_size=3,
                                 guard=HallucinationGuard())
    assert sizes == [1, 1, 1] and batched == alone
    sizes.clear()
    transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, waveforms, batch_size=3)
    assert sizes == [3]  # without a guard, one batch


def test_a_confident_loop_is_kept_by_the_logprob_check_and_dropped_by_the_repetition_check(whisper_dir):
    """A window that passes the log-probability threshold is never dropped as unlikely: here the model is sure of
    "네" at every step (log-probability ~0), so only the text check can catch its loop."""
    model, processor = rigged(whisper_dir, {"네": 30.0})
    (result,) = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [SILENCE],
                                   timestamps=False, guard=HallucinationGuard(drop_unlikely=True))
    assert result["text"] == "" and [d["reason"] for d in result["dropped"]] == [LOOPING_TEXT]


def test_the_window_log_probability_is_the_one_transformers_decides_fallback_by():
    from transformers.models.whisper.generation_whisper import WhisperGenerationMixin

    generator = torch.Generator().manual_seed(0)
    scores = [torch.randn(50, generator=generator) * 3 for _ in range(6)]
    tokens = torch.tensor([3, 7, 7, 1, 42, 9])  # 9: the end token
    guard = HallucinationGuard()
    for temperature in (0.0, 0.4, 1.0):
        expected = WhisperGenerationMixin._retrieve_avg_logprobs(scores, tokens, temperature).item()
        result = {"sequences": torch.tensor([0, 1, 2, *tokens.tolist(), 9, 9]), "scores": [*scores, scores[0], scores[0]]}
        assert guard.window_logprob(result, eos_token_id=9, temperature=temperature) == pytest.approx(expected, abs=1e-5)


def test_the_cli_reports_what_the_guard_dropped(looping_whisper, tmp_path, capsys, monkeypatch):
    model, processor = looping_whisper
    directory = tmp_path / "looping"
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    path = tmp_path / "quiet.wav"
    soundfile.write(path, QUIET_ROOM, 16000)
    # the repetition check alone, so that the loop is written and then dropped
    monkeypatch.setattr("ko_asr.hallucination_guard.HallucinationGuard", lambda: REPETITION_ONLY)
    assert main(["transcribe", str(directory), str(path), "--format", "json", "--no-vad"]) == 0
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["text"] == "" and record["segments"] == []
    (dropped,) = record["dropped"]
    assert dropped["text"].startswith("네네네") and dropped["reason"] == LOOPING_TEXT and dropped["start"] == 0.0
    assert f"{path}: left out '네네네" in captured.err and f"({LOOPING_TEXT})" in captured.err


def test_with_word_times_the_segment_checks_still_run(looping_whisper, tmp_path):
    """A Hub checkpoint names alignment heads, so the guard sees words: a loop without spaces is one "word" and no
    n-gram, and only the segment checks, run first on the segments' text, catch it."""
    model, processor = looping_whisper
    model.generation_config.alignment_heads = [[1, 0], [1, 1]]
    try:
        (plain,) = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [QUIET_ROOM])
        (guarded,) = transcribe_whisper(model, processor.feature_extractor, processor.tokenizer, [QUIET_ROOM],
                                        guard=REPETITION_ONLY)
    finally:
        del model.generation_config.alignment_heads
    assert plain["text"].startswith("네네네") and plain["chunks"][0]["text"].strip().startswith("네네네")
    assert guarded["text"] == "" and guarded["chunks"] == []
    assert [d["reason"] for d in guarded["dropped"]] == [LOOPING_TEXT] and guarded["dropped"][0]["text"].startswith("네네네")
