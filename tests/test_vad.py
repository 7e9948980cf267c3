"""Voice activity detection (ko_asr.vad, Silero VAD) and the transcription paths behind it: silence and noise give
no speech and an empty transcript (while the same model without VAD invents text from them), real speech is found
where it is, long recordings are cut at their pauses, and every time stays in the recording's time.

The speech is real (tests/data/real_korean_speech: Zeroth clips, 16 kHz, speech from about 0.6 s to 1 s before
the end); the noise is generated; the model is a tiny random-init DeepSpeech2, which emits text for any input.
"""

import csv
import importlib.util
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile
from helpers import REPO, save_random_tiny_ds2

from ko_asr.audio_io import to_mono_resampled
from ko_asr.data.augment import generated_noise
from ko_asr.segmented_transcription import transcribe_waveform, transcribe_waveforms
from ko_asr.transcription import LongFormOptions
from ko_asr.vad import VadOptions, plan_chunks, speech_segments

ZEROTH = REPO / "tests" / "data" / "real_korean_speech" / "zeroth"
RATE = 16000


def clip(number: str) -> np.ndarray:
    waveform, rate = soundfile.read(ZEROTH / f"104_003_{number}.wav", dtype="float32")
    assert rate == RATE
    return waveform


def noise(kind: str, seconds: float = 3.0, level: float = 0.1, seed: int = 0) -> np.ndarray:
    return level * generated_noise(kind, int(seconds * RATE), np.random.default_rng(seed))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


@pytest.fixture(scope="module")
def asr(tmp_path_factory):
    from transformers import pipeline

    return pipeline("automatic-speech-recognition", model=str(save_random_tiny_ds2(tmp_path_factory.mktemp("ds2"))))


def forward_count(asr):
    """A list that grows by one per model forward pass, and the hook's handle."""
    calls = []
    return calls, asr.model.register_forward_pre_hook(lambda module, args: calls.append(1))


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize(
    "signal",
    [silence(3.0), noise("white", level=0.01), noise("white", level=0.3), noise("pink"), noise("brown", level=0.3)],
    ids=["digital-silence", "quiet-white-noise", "loud-white-noise", "pink-noise", "brown-noise"],
)
def test_silence_and_noise_hold_no_speech(signal):
    assert speech_segments(signal, RATE) == []


def test_real_speech_is_found_where_it_is():
    for number in ("0019", "0193", "0253", "0294", "0352"):
        waveform = clip(number)
        segments = speech_segments(waveform, RATE)
        assert segments, number
        seconds = waveform.size / RATE
        assert 0.2 <= segments[0][0] <= 2.0 and seconds - 2.5 <= segments[-1][1] <= seconds, (number, segments)
        # the segments hold the speech: what lies outside them is far quieter than what lies inside
        inside = np.zeros(waveform.size, bool)
        for start, end in segments:
            inside[round(start * RATE):round(end * RATE)] = True
        rms = lambda part: float(np.sqrt(np.mean(part**2)))  # noqa: E731
        assert rms(waveform[~inside]) < 0.2 * rms(waveform[inside]), number


def test_silence_in_front_shifts_the_segments_by_its_length():
    waveform = clip("0253")
    alone = speech_segments(waveform, RATE)
    padded = speech_segments(np.concatenate([silence(3.0), waveform]), RATE)
    assert len(padded) == len(alone) == 1
    # within a few 32 ms windows: the model reads 512-sample windows, which 3 s of silence shifts by a quarter
    np.testing.assert_allclose(np.array(padded) - 3.0, alone, atol=0.1)


def test_8_khz_audio_is_scored_and_other_rates_are_refused():
    waveform = clip("0253")
    narrowband = to_mono_resampled(waveform, RATE, 8000)
    np.testing.assert_allclose(speech_segments(narrowband, 8000), speech_segments(waveform, RATE), atol=0.15)
    with pytest.raises(ValueError, match=r"8000 or 16000 Hz audio, got sampling_rate=44100; resample first"):
        speech_segments(waveform, 44100)
    with pytest.raises(ValueError, match=r"mono waveform of shape \(samples,\), got shape \(2, 100\)"):
        speech_segments(np.zeros((2, 100), np.float32), RATE)
    assert speech_segments(np.zeros(0, np.float32), RATE) == []


def test_options_are_checked_and_change_what_is_found():
    with pytest.raises(ValueError, match="threshold"):
        VadOptions(threshold=1.5)
    with pytest.raises(ValueError, match="speech_pad_ms"):
        VadOptions(speech_pad_ms=-1)
    with pytest.raises(ValueError, match="max_chunk_seconds"):
        VadOptions(max_chunk_seconds=0)
    waveform = clip("0253")
    ((start, end),) = speech_segments(waveform, RATE)
    ((tight_start, tight_end),) = speech_segments(waveform, RATE, VadOptions(speech_pad_ms=0))
    assert start == pytest.approx(tight_start - 0.2, abs=1e-3) and end == pytest.approx(tight_end + 0.2, abs=1e-3)


def test_concurrent_calls_give_what_sequential_calls_give():
    """The model carries state from window to window; the lock keeps the Space's threads from mixing it up."""
    inputs = [clip("0294"), np.concatenate([silence(1.0), clip("0352")]), noise("pink")] * 2
    expected = [speech_segments(w, RATE) for w in inputs]
    found: dict[int, list] = {}
    threads = [threading.Thread(target=lambda i=i: found.__setitem__(i, speech_segments(inputs[i], RATE))) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [found[i] for i in range(6)] == expected


def test_the_vad_leaves_torch_thread_count_alone():
    """silero_vad sets torch's thread count to 1 when imported, which would slow every other model; the VAD runs in
    a thread of its own with one intra-op thread instead. A fresh process shows whether anything leaks: the calling
    thread and a thread started afterwards keep 2."""
    code = ("import threading, numpy, torch; torch.set_num_threads(2); from ko_asr.vad import _runner, speech_segments; "
            "speech_segments(numpy.zeros(16000, 'float32')); seen = [torch.get_num_threads()]; "
            "thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads())); thread.start(); "
            "thread.join(); print(*seen, _runner().intra_op_threads())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # the caller, a thread started afterwards, and the VAD's own thread (one: it is many times faster so)
    assert result.stdout.split() == ["2", "2", "1"]


def _segments_of_clip(number: str) -> list[tuple[float, float]]:
    return speech_segments(clip(number), RATE)


def test_a_forked_child_runs_its_own_vad():
    """A DataLoader worker or `datasets.map(num_proc=...)` forks after the parent used the VAD: the child must not
    wait on the parent's VAD thread, which it has no copy of."""
    import multiprocessing

    expected = _segments_of_clip("0294")  # the parent's runner exists before the fork
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_segments_of_clip, ("0294",)).get(timeout=120) == expected


# ---------------------------------------------------------------- planning cuts


def test_chunks_are_cut_at_pauses_within_the_limit():
    segments = [(0.5, 4.0), (4.6, 9.0), (10.0, 14.0), (15.0, 18.0)]
    assert plan_chunks(segments, 20.0) == [(0.5, 18.0)]
    assert plan_chunks(segments, 10.0) == [(0.5, 9.0), (10.0, 18.0)]
    assert plan_chunks(segments, 5.0) == [(0.5, 4.0), (4.6, 9.0), (10.0, 14.0), (15.0, 18.0)]
    for limit in (5.0, 8.5, 10.0, 13.5):
        chunks = plan_chunks(segments, limit)
        assert all(end - start <= limit for start, end in chunks)
        # every cut lies in a pause: each chunk starts and ends where a segment does
        assert {s for s, _ in chunks} <= {s for s, _ in segments} and {e for _, e in chunks} <= {e for _, e in segments}


def test_a_segment_longer_than_the_limit_stays_one_chunk():
    assert plan_chunks([(1.0, 2.0), (3.0, 40.0), (41.0, 42.0)], 20.0) == [(1.0, 2.0), (3.0, 40.0), (41.0, 42.0)]
    assert plan_chunks([], 20.0) == []
    with pytest.raises(ValueError, match="max_chunk_seconds"):
        plan_chunks([(0.0, 1.0)], 0)


# ---------------------------------------------------------------- transcription with VAD


@pytest.mark.parametrize(
    "signal",
    [silence(3.0), noise("white", level=0.001), noise("white"), noise("pink", level=0.3)],
    ids=["digital-silence", "near-silence", "white-noise", "pink-noise"],
)
def test_no_speech_gives_an_empty_transcript_and_the_model_never_runs(asr, signal):
    if signal.any():  # the same model without VAD invents text from it (not from zeros): the check below can fail
        assert transcribe_waveform(asr, signal, vad=None)["text"].strip()
    calls, handle = forward_count(asr)
    try:
        result = transcribe_waveform(asr, signal, timestamps=True)
    finally:
        handle.remove()
    assert result == {"text": "", "chunks": [], "dropped": [], "speech": []} and calls == []


def test_times_of_a_clip_with_silence_in_front_are_in_the_recordings_time(asr):
    padded = np.concatenate([silence(3.0), clip("0253")])
    result = transcribe_waveform(asr, padded)
    ((start, end),) = result["speech"]
    assert 3.2 <= start <= 5.0 and result["text"]
    # exactly what the pipeline gives on the cut-out piece, shifted by where the piece starts
    piece = asr({"raw": padded[round(start * RATE):round(end * RATE)], "sampling_rate": RATE}, return_timestamps="word")
    assert result["text"] == piece["text"].strip() and len(result["chunks"]) == len(piece["chunks"]) > 0
    for shifted, own in zip(result["chunks"], piece["chunks"]):
        assert shifted["text"] == own["text"]
        np.testing.assert_allclose(shifted["timestamp"], np.add(own["timestamp"], start))
    assert all(start <= c["timestamp"][0] <= c["timestamp"][1] <= end + 0.05 for c in result["chunks"])


def test_a_long_recording_is_cut_at_its_pauses(asr):
    clips = [clip("0294"), clip("0352"), clip("0374")]
    pause = silence(1.5)
    recording = np.concatenate([clips[0], pause, noise("pink", 1.0, level=0.01), clips[1], pause, clips[2]])
    # gaps between the clips' speech, in the recording's time
    bounds = np.cumsum([0, clips[0].size, pause.size + RATE, clips[1].size, pause.size, clips[2].size]) / RATE
    lengths = []
    handle = asr.model.register_forward_pre_hook(
        lambda module, args, kwargs: lengths.append(kwargs["input_features"].shape[1]), with_kwargs=True
    )
    try:
        result = transcribe_waveform(asr, recording, long_form=LongFormOptions(chunk_length_s=12.0))
    finally:
        handle.remove()
    # each clip alone fits 12 s, two do not: one piece per clip, each cut in a pause
    assert len(result["speech"]) == 3 and len(lengths) == 3 and max(lengths) <= 1200 + 1
    for (start, end), clip_start, clip_end in zip(result["speech"], bounds[[0, 2, 4]], bounds[[1, 3, 5]]):
        assert clip_start <= start < end <= clip_end + 1e-6
    starts = [c["timestamp"][0] for c in result["chunks"]]
    assert starts == sorted(starts) and result["chunks"][-1]["timestamp"][1] <= recording.size / RATE + 0.05
    assert any(c["timestamp"][0] > bounds[4] for c in result["chunks"])  # the last clip's words, in its own time
    # the pieces of several recordings share pipeline calls, and each result is what it is alone
    both = transcribe_waveforms(asr, [recording, noise("pink")], long_form=LongFormOptions(chunk_length_s=12.0))
    assert both[0] == result and both[1]["text"] == ""


def test_without_vad_the_pipeline_result_is_untouched(asr):
    waveform = clip("0294")
    result = transcribe_waveform(asr, waveform, vad=None)
    plain = asr({"raw": waveform, "sampling_rate": RATE}, return_timestamps="word")
    assert result == {**plain, "dropped": [], "speech": None}  # nothing dropped: a CTC model has no guard


# ---------------------------------------------------------------- the paths users call


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_random_tiny_ds2(tmp_path_factory.mktemp("cli-ds2"))


@pytest.fixture(scope="module")
def noise_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("noise") / "noise.wav"
    soundfile.write(path, noise("pink", 2.0), RATE)
    return path


def test_ko_asr_transcribe_prints_an_empty_transcript_for_noise_unless_vad_is_off(model_dir, noise_file, capsys):
    from ko_asr.cli import main

    assert main(["transcribe", str(model_dir), str(noise_file), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == "" and record["words"] == [] and record["segments"] == []
    assert main(["transcribe", str(model_dir), str(noise_file)]) == 0
    assert capsys.readouterr().out == f"{noise_file}\t\n"  # stdout's text lines carry the path
    assert main(["transcribe", str(model_dir), str(noise_file), "--no-vad"]) == 0
    assert capsys.readouterr().out.strip()  # the old path: the random model's invented text


def test_ko_asr_transcribe_keeps_a_files_times_with_silence_in_front(model_dir, tmp_path, capsys):
    from ko_asr.cli import main

    path = tmp_path / "late.wav"
    soundfile.write(path, np.concatenate([silence(3.0), clip("0253")]), RATE)
    assert main(["transcribe", str(model_dir), str(path), "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["words"] and record["words"][0]["start"] >= 3.0 and record["duration"] == pytest.approx(13.43, abs=0.01)


def test_the_service_gives_an_empty_transcript_for_noise_and_says_why(model_dir):
    from ko_asr.serving import ServiceConfig, TranscriptionService, find_models

    sources = find_models([str(model_dir)])
    service = TranscriptionService(sources)
    label = next(iter(service.models))
    result = service.transcribe(label, (RATE, noise("white", 2.0)), reference="안녕하세요")
    assert result.text == "" and result.no_speech and result.words == [] and result.cer == 1.0
    speech = service.transcribe(label, (RATE, clip("0294")))
    assert speech.text and not speech.no_speech
    without = TranscriptionService(sources, ServiceConfig(vad=False), cache=service.cache)
    off = without.transcribe(label, (RATE, noise("white", 2.0)))
    assert off.text and not off.no_speech


def test_the_services_switch_reads_the_environment(monkeypatch):
    from ko_asr.serving import ServiceConfig

    assert ServiceConfig.from_env().vad and ServiceConfig().vad_options == VadOptions()
    monkeypatch.setenv("KO_ASR_VAD", "0")
    assert not ServiceConfig.from_env().vad and ServiceConfig(vad=False).vad_options is None


def test_evaluate_with_vad_gives_empty_hypotheses_for_noise_only_rows(model_dir, tmp_path, monkeypatch):
    """recipes/evaluate.py --vad true, which passes `vad=True` to `transcribe_dataset`."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    rows = [("speech.wav", clip("0294"), "말"), ("white.wav", noise("white", 2.0), "잡음"), ("pink.wav", noise("pink", 1.0), "잡음")]
    for name, waveform, _ in rows:
        soundfile.write(folder / name, waveform, RATE)
    with open(folder / "manifest.csv", "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("file", "text"), *((name, text) for name, _, text in rows)])
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("recipes_evaluate_vad", REPO / "recipes" / "evaluate.py")
    recipe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, recipe)
    spec.loader.exec_module(recipe)

    def hypotheses(vad: str) -> dict[str, str]:
        output = tmp_path / f"eval-{vad}"
        recipe.main(["--model", str(model_dir), "--dataset", str(folder), "--splits", "test", "--batch_size", "2",
                     "--output_dir", str(output), "--vad", vad])
        assert json.loads((output / "metrics.json").read_text())["vad"] == (vad == "true")
        with open(output / "transcripts_test.csv", encoding="utf-8", newline="") as handle:
            return {row["id"].split("/")[-1]: row["hypothesis"] for row in csv.DictReader(handle)}

    gated, plain = hypotheses("true"), hypotheses("false")
    assert len(gated) == 3 and all(plain.values())  # without VAD the random model writes something for each row
    for utterance, hypothesis in gated.items():
        assert (hypothesis == "") == ("speech" not in utterance), (utterance, hypothesis)
        if "speech" in utterance:
            assert hypothesis == plain[utterance]
