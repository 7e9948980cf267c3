"""ko_asr.serving.service: transcripts, word times, CER with the model's transcript policy, long audio, Whisper.

A tiny DeepSpeech2 that memorized one synthetic clip stands in for a trained model, so every path asserts the
actual transcript of that clip.
"""

from dataclasses import replace

import numpy as np
import pytest
import soundfile
from helpers import (
    REPO,
    SPACE_MAX_SECONDS,
    make_waveform,
)

from ko_asr.serving import (
    InvalidInputError,
    ServiceConfig,
    TranscriptionService,
    find_models,
)

REAL_SPEECH = REPO / "tests" / "data" / "real_korean_speech"

# ---------------------------------------------------------------- transcription


def test_service_transcribes_with_word_timestamps_and_cer(service, examples):
    clip, text = examples[0]
    label = next(iter(service.models))
    result = service.transcribe(label, clip, reference=text)
    assert result.text == text
    assert result.cer == 0.0
    assert [word for word, _, _ in result.words] == text.split()
    assert result.has_word_timestamps
    starts = [start for _, start, _ in result.words]
    assert starts == sorted(starts) and result.words[-1][2] <= result.audio_seconds + 0.05
    # in seconds, spanning the speech: first word near the start, last one ending in the clip's second half
    assert starts[0] < 0.3 and result.words[-1][2] > result.audio_seconds / 2
    # a reference with one syllable changed scores exactly one substitution over its characters
    wrong = "가" + text[1:]
    assert service.transcribe(label, clip, reference=wrong).cer == pytest.approx(1 / len(text.replace(" ", "")))


@pytest.mark.parametrize(
    ("saved", "expected_cer"), [("phonetic", 0.0), ("phonetic-drop", 0.0), ("spelling", None), (None, None)]
)
def test_reference_cer_uses_the_policy_saved_with_the_model(tmp_path, models_root, examples, saved, expected_cer):
    """A reference in corpus notation is read on the side the model was trained on (the demo: phonetic)."""
    import shutil

    from transformers import AutoTokenizer

    from ko_asr.text.policy import TranscriptPolicy

    model_dir = tmp_path / "model"
    shutil.copytree(models_root / "memorized", model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if saved is not None:  # "-drop": trained with unintelligible="drop"; a typed u/ is still just removed
        side, _, drop = saved.partition("-")
        TranscriptPolicy(policy=side, unintelligible=drop or "remove").save_to(tokenizer)
    tokenizer.save_pretrained(model_dir)
    clip, text = examples[0]
    words = text.split()
    reference = f"(12)/({words[0]}) " + " ".join(words[1:]) + " u/"  # the spoken side is the phonetic one
    local = TranscriptionService(find_models([str(model_dir)]), ServiceConfig(max_seconds=SPACE_MAX_SECONDS))
    result = local.transcribe(next(iter(local.models)), clip, reference=reference)
    if expected_cer is not None:
        assert result.cer == expected_cer
    else:  # spelling side (the default without a saved policy): "12" replaces the first word
        assert result.cer > 0
    with pytest.raises(InvalidInputError, match="reference text.*malformed notation"):
        local.transcribe(next(iter(local.models)), clip, reference="(12)/(열두 " + text)


@pytest.mark.parametrize("vad", [False, True])
def test_long_audio_goes_through_bounded_chunks(service, rng, vad):
    """Without VAD the pipeline's fixed windows bound every forward pass; with it, real speech is cut at its pauses
    into pieces that are each within the chunk length too."""
    local = TranscriptionService(service.models.values(), replace(service.config, vad=vad), cache=service.cache)
    label = next(iter(local.models))
    asr = local.cache.get(local.models[label])
    if vad:  # three real utterances with 1.5 s pauses: 26 s
        clips = [soundfile.read(REAL_SPEECH / f"zeroth/104_003_{n}.wav", dtype="float32")[0] for n in ("0294", "0352", "0374")]
        pause = np.zeros(24000, np.float32)
        waveform = np.concatenate([clips[0], pause, clips[1], pause, clips[2]])
    else:
        waveform = make_waveform(rng, 28.0)
    largest = []
    handle = asr.model.register_forward_pre_hook(
        lambda module, args, kwargs: largest.append(kwargs["input_features"].shape[1]), with_kwargs=True
    )
    try:
        result = local.transcribe(label, (16000, waveform))
    finally:
        handle.remove()
    assert result.audio_seconds == pytest.approx(waveform.size / 16000)
    frames_per_chunk = local.config.chunk_length_s * 100
    assert len(largest) >= 2 and max(largest) <= frames_per_chunk + 1
    starts = [start for _, start, _ in result.words]
    assert starts == sorted(starts) and result.words[-1][2] <= result.audio_seconds + 0.05
    if vad:  # words in the recording's time: the last ones are in the third clip, past the second pause
        assert result.words[-1][2] > clips[0].size / 16000 + clips[1].size / 16000 + 3.0


def test_whisper_models_are_offered_and_transcribe_long_audio(whisper_dir, models_root, rng, monkeypatch):
    found = find_models([str(models_root)], environ={"KO_ASR_MODELS": str(whisper_dir)})
    assert [(s.label, s.family) for s in found] == [("memorized (deepspeech2)", "deepspeech2"), ("whisper-tiny (whisper)", "whisper")]
    # without VAD: this checks the fixed windows, on a signal VAD would not take for speech
    # without the guard: this checks the windows and their times, not what the guard keeps of a random model
    service = TranscriptionService(found, ServiceConfig(max_seconds=SPACE_MAX_SECONDS * 2, vad=False, whisper_guard=False))
    asr = service.cache.get(service.models["whisper-tiny (whisper)"])
    windows = []
    handle = asr.model.get_encoder().register_forward_pre_hook(
        lambda module, args, kwargs: windows.append((args[0] if args else kwargs["input_features"]).shape), with_kwargs=True
    )
    languages = []
    generate = asr.model.generate
    monkeypatch.setattr(asr.model, "generate", lambda *a, **kw: languages.append(kw.get("language")) or generate(*a, **kw))
    try:
        result = service.transcribe("whisper-tiny (whisper)", (16000, make_waveform(rng, 45.0)))
    finally:
        handle.remove()
    assert languages and set(languages) == {"korean"}  # no language detection in a Korean demo
    assert not result.has_word_timestamps
    # a random model's text is noise; what matters is that 45 s went through Whisper's 30 s windows, in >= 2 passes,
    # and came back as segments in the recording's time (the SRT/VTT the page offers)
    assert isinstance(result.text, str) and result.words and result.transcript.timestamps == "segment"
    times = [t for _, start, end in result.words for t in (start, end)]
    assert times == sorted(times) and times[0] >= 0.0 and times[-1] <= 45.0
    assert result.audio_seconds == pytest.approx(45.0)
    assert sum(shape[0] for shape in windows) >= 2 and all(shape[-1] == 3000 for shape in windows)


# ---------------------------------------------------------------- decoding: language model or greedy, hotwords


@pytest.fixture(scope="module")
def lm_service(tmp_path_factory, models_root, examples):
    """The memorizing model twice: as trained (no LM) and with a syllable 3-gram built from its clip's text."""
    import shutil

    from ko_asr.lm_build import build_language_model

    model_dir = tmp_path_factory.mktemp("lm-models") / "memorized-lm"
    shutil.copytree(models_root / "memorized", model_dir)
    build_language_model([examples[0][1], "서초구 사무실에 갑니다", "김민준 씨를 만났어요"], model_dir, order=3)
    sources = find_models([str(model_dir), str(models_root)])
    assert [s.label for s in sources] == ["memorized-lm (deepspeech2)", "memorized (deepspeech2)"]
    return TranscriptionService(sources, ServiceConfig(max_seconds=SPACE_MAX_SECONDS))


def _spy_on_beam_search(monkeypatch, asr) -> list[dict]:
    """The settings of every `decode_beams` call the pipeline `asr` makes."""
    calls = []
    decode_beams = asr.decoder.decode_beams
    monkeypatch.setattr(asr.decoder, "decode_beams", lambda logits, **kw: calls.append(kw) or decode_beams(logits, **kw))
    return calls


def test_lm_and_greedy_decoding_of_a_model_with_a_language_model(lm_service, examples, monkeypatch):
    clip, text = examples[0]
    label = "memorized-lm (deepspeech2)"
    source = lm_service.models[label]
    loads = []
    load = lm_service.cache._load
    monkeypatch.setattr(lm_service.cache, "_load", lambda *a, **kw: loads.append(kw.get("loaded")) or load(*a, **kw))
    with_lm = lm_service.transcribe(label, clip, reference=text)  # decoding="lm" is the default
    assert with_lm.decoding == "LM beam search (syllable 3-gram, beam 32)" and with_lm.notes == []
    assert with_lm.text == text and with_lm.cer == 0.0
    assert [word for word, _, _ in with_lm.words] == text.split()  # word times from the beam's word frames
    greedy = lm_service.transcribe(label, clip, reference=text, decoding="greedy")
    assert greedy.decoding == "greedy" and greedy.notes == [] and greedy.text == text
    # two pipelines, keyed by use_lm, around one loaded model: switching back and forth loads nothing more
    asr, plain = lm_service.cache.get(source), lm_service.cache.get(source, use_lm=False)
    assert (asr.type, plain.type) == ("ctc_with_lm", "ctc") and plain.model is asr.model
    lm_service.transcribe(label, clip, decoding="lm")
    lm_service.transcribe(label, clip, decoding="greedy")
    assert loads == [None, asr]  # the weights once from disk; the greedy pipeline built around the LM one's parts
    with pytest.raises(InvalidInputError, match="unknown decoding 'beam'; one of lm, greedy"):
        lm_service.transcribe(label, clip, decoding="beam")


@pytest.mark.parametrize("hotwords", [" 서초구, 김민준 ,, 서초구", ["서초구", " 김민준", ""]])
def test_hotwords_reach_the_beam_search_for_one_request(lm_service, examples, monkeypatch, hotwords):
    clip, text = examples[0]
    label = "memorized-lm (deepspeech2)"
    calls = _spy_on_beam_search(monkeypatch, lm_service.cache.get(lm_service.models[label]))
    result = lm_service.transcribe(label, clip, hotwords=hotwords)
    assert calls and all(call.get("hotwords") == ["서초구", "김민준"] for call in calls)
    assert result.hotwords == ["서초구", "김민준"] and result.notes == [] and result.text == text
    calls.clear()  # per request: the next one without hotwords boosts nothing
    lm_service.transcribe(label, clip)
    assert calls and not any(call.get("hotwords") for call in calls)
    calls.clear()  # greedy decoding: not an error, the hotwords are ignored and the details say so
    result = lm_service.transcribe(label, clip, decoding="greedy", hotwords=hotwords)
    assert calls == [] and result.decoding == "greedy" and result.hotwords == [] and result.text == text
    assert result.notes == ["hotwords ignored: greedy decoding does not use them"]


def test_lm_decoding_without_a_language_model_falls_back_to_greedy(lm_service, examples):
    clip, text = examples[0]
    label = "memorized (deepspeech2)"
    result = lm_service.transcribe(label, clip, decoding="lm", hotwords="서초구")
    assert result.text == text and result.decoding == "greedy" and result.hotwords == []
    assert result.notes == [
        "this model has no language model (`language_model/`), so it was decoded greedily",
        "hotwords ignored: only a language model's beam search uses them",
    ]
    # one pipeline serves both decodings of a model without an LM
    source = lm_service.models[label]
    assert lm_service.cache.get(source, use_lm=False) is lm_service.cache.get(source, use_lm=True)
    assert lm_service.transcribe(label, clip, decoding="greedy").notes == []
