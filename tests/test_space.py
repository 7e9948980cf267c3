"""The demo Space: the service behind it (ko_asr.serving), its Gradio API through gradio_client, and the UI in a real
headless Chromium driven by Selenium.

A tiny DeepSpeech2 that memorized one synthetic clip stands in for a trained model, so every path asserts the
actual transcript of that clip.
"""

import importlib.util
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from helpers import make_waveform, train_memorizing_model

from ko_asr.data import generate_synthetic_corpus
from ko_asr.serving import (
    InvalidInputError,
    ModelCache,
    ModelSource,
    ServiceConfig,
    TranscriptionService,
    export_examples,
    find_models,
    from_array,
    read_audio_file,
)

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("KO_ASR_TEST_OUTPUT", REPO / "build" / "test-output"))
MAX_SECONDS = 30.0


def load_app_module():
    spec = importlib.util.spec_from_file_location("space_app", REPO / "space" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_synthetic_corpus(tmp_path_factory.mktemp("corpus"), size="tiny")


@pytest.fixture(scope="module")
def examples(tmp_path_factory, corpus):
    return export_examples(corpus, tmp_path_factory.mktemp("examples"), count=2)


@pytest.fixture(scope="module")
def models_root(tmp_path_factory, examples):
    root = tmp_path_factory.mktemp("models")
    clip, text = examples[0]
    train_memorizing_model(root / "memorized", read_audio_file(clip), text)
    return root


@pytest.fixture(scope="module")
def service(models_root):
    return TranscriptionService(find_models([str(models_root)]), ServiceConfig(max_seconds=MAX_SECONDS))


@pytest.fixture(scope="module")
def app_url(service, examples):
    demo = load_app_module().build_demo(service, examples).queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()


@pytest.fixture
def bad_inputs(tmp_path, rng):
    files = {}
    files["empty.wav"] = tmp_path / "empty.wav"
    soundfile.write(files["empty.wav"], np.zeros(0, dtype=np.float32), 16000)
    files["silent.wav"] = tmp_path / "silent.wav"
    soundfile.write(files["silent.wav"], np.zeros(32000, dtype=np.float32), 16000)
    files["notes.txt"] = tmp_path / "notes.txt"
    files["notes.txt"].write_text("이것은 오디오가 아닙니다\n", encoding="utf-8")
    files["long.wav"] = tmp_path / "long.wav"
    soundfile.write(files["long.wav"], make_waveform(rng, MAX_SECONDS + 1), 16000)
    return files


EXPECTED_ERRORS = {
    "empty.wav": "empty.wav is empty",
    "silent.wav": "silent.wav is silent",
    "notes.txt": "notes.txt is not an audio file",
    "long.wav": "long.wav is 0.5 min long; the limit is 0.5 min",
}


# ---------------------------------------------------------------- model discovery and caching


def test_find_models_in_roots_and_environment(tmp_path, models_root, caplog):
    (tmp_path / "runs" / "checkpoint-100").mkdir(parents=True)
    (tmp_path / "empty-dir").mkdir()
    memorized = str(models_root / "memorized")
    # a checkpoint folder beside the final model is not offered twice
    os.symlink(memorized, tmp_path / "runs" / "final")
    environ = {"KO_ASR_MODELS": f"{memorized}:{tmp_path / 'empty-dir'}:someone/whisper-small-ko:/typo/path:./typo"}
    found = find_models([str(models_root), str(tmp_path / "runs"), str(tmp_path / "missing")], environ)
    assert [(s.label, s.family) for s in found] == [
        ("memorized (deepspeech2)", "deepspeech2"),
        ("someone/whisper-small-ko (unknown)", "unknown"),
    ]
    assert found[0].has_word_timestamps and not found[1].has_word_timestamps
    # the same folder name elsewhere stays selectable under its own label
    twin = tmp_path / "other" / "memorized"
    shutil.copytree(memorized, twin)
    labels = [s.label for s in find_models([str(models_root), str(tmp_path / "other")], environ={})]
    assert labels == ["memorized (deepspeech2)", f"memorized (deepspeech2, {twin})"]
    skipped = [r.getMessage() for r in caplog.records if "no saved model there" in r.getMessage()]
    assert len(skipped) == 3 and "/typo/path" in skipped[1] and "./typo" in skipped[2]


def test_a_model_that_cannot_load_gives_a_clear_message(examples):
    service = TranscriptionService([ModelSource("someone/not-here (unknown)", "someone/not-here", "unknown")])
    with pytest.raises(InvalidInputError, match="model someone/not-here .unknown. could not be loaded from someone/not-here"):
        service.transcribe("someone/not-here (unknown)", examples[0][0])


def test_model_cache_loads_each_model_once_under_concurrency(models_root, monkeypatch):
    cache = ModelCache()
    loads = []
    original = cache._load
    monkeypatch.setattr(cache, "_load", lambda source: loads.append(source) or original(source))
    source = ModelSource("m", str(models_root / "memorized"), "deepspeech2")
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(source))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len(cache) == 1
    assert all(result is results[0] for result in results)


# ---------------------------------------------------------------- audio input


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (44100, 2), (48000, 6)])
def test_any_rate_and_channel_count_becomes_16k_mono(tmp_path, rng, rate, channels):
    mono = make_waveform(rng, 1.5, sampling_rate=rate)
    path = tmp_path / f"clip_{rate}_{channels}.wav"
    soundfile.write(path, np.stack([mono] * channels, axis=1), rate)
    waveform = read_audio_file(path)
    assert waveform.ndim == 1 and waveform.dtype == np.float32
    assert abs(waveform.size - 1.5 * 16000) <= 2
    as_array = from_array(rate, (np.stack([mono] * channels, axis=1) * 32767).astype(np.int16))
    np.testing.assert_allclose(as_array, waveform, atol=2e-3)


def test_formats_soundfile_cannot_read_go_through_ffmpeg(tmp_path, examples):
    clip = examples[0][0]
    m4a = tmp_path / "clip.m4a"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-c:a", "aac", str(m4a)], check=True)
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.read(m4a)
    waveform = read_audio_file(m4a)
    reference = read_audio_file(clip)
    assert abs(waveform.size - reference.size) < 0.05 * 16000  # AAC priming adds a few ms


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_service_rejects_bad_audio_with_a_clear_message(service, bad_inputs, name):
    label = next(iter(service.models))
    with pytest.raises(InvalidInputError, match=EXPECTED_ERRORS[name].replace(".", r"\.")):
        service.transcribe(label, str(bad_inputs[name]))


def test_service_rejects_missing_audio_unknown_model_and_empty_reference(service, examples):
    label = next(iter(service.models))
    with pytest.raises(InvalidInputError, match="no audio: upload a file or record"):
        service.transcribe(label, None)
    with pytest.raises(InvalidInputError, match="unknown model 'nope'; available: memorized"):
        service.transcribe("nope", examples[0][0])
    with pytest.raises(InvalidInputError, match="no characters left after normalization"):
        service.transcribe(label, examples[0][0], reference="?!...")
    with pytest.raises(InvalidInputError, match=r"run `make demo`"):
        TranscriptionService([]).transcribe("anything", examples[0][0])


# ---------------------------------------------------------------- transcription


def test_service_transcribes_with_word_timestamps_and_cer(service, examples):
    clip, text = examples[0]
    label = next(iter(service.models))
    result = service.transcribe(label, clip, reference=text)
    assert result.text == text
    assert result.cer == 0.0
    assert [word for word, _, _ in result.words] == text.split()
    starts = [start for _, start, _ in result.words]
    assert starts == sorted(starts) and result.words[-1][2] <= result.audio_seconds + 0.05
    # a reference with one syllable changed scores exactly one substitution over its characters
    wrong = "가" + text[1:]
    assert service.transcribe(label, clip, reference=wrong).cer == pytest.approx(1 / len(text.replace(" ", "")))


def test_long_audio_goes_through_bounded_chunks(service, rng):
    label = next(iter(service.models))
    asr = service.cache.get(service.models[label])
    largest = []
    handle = asr.model.register_forward_pre_hook(
        lambda module, args, kwargs: largest.append(kwargs["input_features"].shape[1]), with_kwargs=True
    )
    try:
        result = service.transcribe(label, (16000, make_waveform(rng, 28.0)))
    finally:
        handle.remove()
    assert result.audio_seconds == pytest.approx(28.0)
    frames_per_chunk = service.config.chunk_length_s * 100
    assert len(largest) >= 2 and max(largest) <= frames_per_chunk + 1


# ---------------------------------------------------------------- the Gradio API


def test_api_endpoint_returns_transcript_cer_and_words(app_url, examples):
    clip, text = examples[0]
    client = Client(app_url, verbose=False)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/transcribe", "/transcribe_microphone"} <= set(endpoints)
    transcript, cer, words, details = client.predict("memorized (deepspeech2)", handle_file(clip), text, api_name="/transcribe")
    assert transcript == text
    assert cer == "0.0%"
    assert [row[0] for row in words["data"]] == text.split()
    assert "s of audio in" in details


@pytest.mark.parametrize("name", sorted(EXPECTED_ERRORS))
def test_api_reports_bad_audio_as_an_error_message(app_url, bad_inputs, name):
    client = Client(app_url, verbose=False)
    with pytest.raises(AppError, match=EXPECTED_ERRORS[name].replace(".", r"\.")):
        client.predict("memorized (deepspeech2)", handle_file(str(bad_inputs[name])), "", api_name="/transcribe")


def test_app_without_models_says_how_to_make_one(examples):
    app = load_app_module()
    demo = app.build_demo(TranscriptionService([]), examples).queue()
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        config = client.config
        markdown = [c["props"].get("value") for c in config["components"] if c["props"].get("elem_id") == "no-model"]
        assert markdown == [app.NO_MODEL_HELP]
        with pytest.raises(AppError, match=r"run `make demo`"):
            client.predict(None, handle_file(examples[0][0]), "", api_name="/transcribe")
    finally:
        demo.close()


# ---------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def browser(examples):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(argument)
    # The microphone is Chromium's fake capture device playing the first example clip (permission auto-granted).
    for argument in ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={examples[0][0]}"):
        options.add_argument(argument)
    # Debian's chromium + chromium-driver (make test installs them); never a downloaded browser or driver.
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def _wait_for_value(driver, selector: str, timeout: float = 60.0) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, selector).get_attribute("value"))


def test_browser_upload_shows_transcript_and_cer(browser, app_url, examples):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    clip, text = examples[0]
    browser.get(app_url)
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))
    browser.find_element(By.CSS_SELECTOR, "#reference textarea").send_keys(text)
    browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(clip)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload audio"))
    browser.find_element(By.CSS_SELECTOR, "#transcribe-upload").click()
    assert _wait_for_value(browser, "#transcript textarea") == text
    assert _wait_for_value(browser, "#cer textarea") == "0.0%"
    table = browser.find_element(By.CSS_SELECTOR, "#words").text
    assert all(word in table for word in text.split())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "space_upload.png"))


def test_browser_shows_the_error_for_a_silent_upload(browser, app_url, bad_inputs):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url)
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))
    browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(bad_inputs["silent.wav"]))
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload audio"))
    browser.find_element(By.CSS_SELECTOR, "#transcribe-upload").click()
    WebDriverWait(browser, 60).until(lambda d: "silent.wav is silent" in d.find_element(By.TAG_NAME, "body").text)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "space_error.png"))



def test_browser_microphone_recording_is_transcribed(browser, app_url, examples):
    import time

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    text = examples[0][1]
    browser.get(app_url)
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[role=tab]"))
    next(tab for tab in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if tab.text == "Microphone").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, "#microphone button.record-button").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "#microphone button.record-button").click()
    time.sleep(4.5)  # the fake device loops the 2 s clip from wherever it is: record two passes
    browser.find_element(By.CSS_SELECTOR, "#microphone button.stop-button").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#microphone audio"))
    browser.find_element(By.CSS_SELECTOR, "#transcribe-microphone").click()
    transcript = _wait_for_value(browser, "#transcript textarea")
    details = browser.find_element(By.CSS_SELECTOR, "#details").text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "space_microphone.png"))
    seconds = float(details.split(" s of audio")[0])
    assert 3.5 <= seconds <= 9.0, details
    # The loop starts at an arbitrary point, so the transcript is the clip's words in rotation. The model knows only
    # this clip and stutters on anything else (noise, a tone, an unrelated clip give no two of its words in order):
    # require two consecutive words of the clip, spaced as spoken.
    words = text.split()
    assert any(f"{a} {b}" in transcript for a, b in zip(words, words[1:])), (transcript, text)


def test_space_bundle_is_self_contained(tmp_path, models_root, corpus, examples):
    import sys
    import zipfile

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from build_space_bundle import build_bundle
    finally:
        sys.path.pop(0)
    trained = shutil.copytree(models_root / "memorized", tmp_path / "run" / "memorized")
    (trained / "checkpoint-1").mkdir()  # training leftovers stay behind
    (trained / "events.out.tfevents.1").write_bytes(b"x")
    bundle = build_bundle(tmp_path / "space", [trained], corpus=corpus, examples=3)
    assert {p.name for p in bundle.iterdir()} >= {"app.py", "README.md", "requirements.txt", "packages.txt", "models", "examples"}
    front_matter = (bundle / "README.md").read_text(encoding="utf-8").split("---")[1]
    assert "sdk: gradio" in front_matter and "app_file: app.py" in front_matter
    assert (bundle / "packages.txt").read_text().split() == ["ffmpeg"]
    wheel = next(bundle.glob("ko_asr-*.whl"))
    assert f"./{wheel.name}" in (bundle / "requirements.txt").read_text()
    names = zipfile.ZipFile(wheel).namelist()
    assert "ko_asr/serving/service.py" in names and "ko_asr/data/sentences_ko.txt" in names
    assert sorted(p.name for p in (bundle / "models" / "memorized").iterdir()) == sorted(
        p.name for p in (models_root / "memorized").iterdir()
    )
    # the bundled app finds the bundled model and example clips by itself
    spec = importlib.util.spec_from_file_location("bundled_app", bundle / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    assert [s.label for s in find_models(app.SEARCH_ROOTS, environ={})][0] == "memorized (deepspeech2)"
    bundled = export_examples(bundle / "examples", tmp_path / "clips")
    assert [text for _, text in bundled] == [text for _, text in export_examples(corpus, tmp_path / "direct", count=3)]


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    import sys

    sys.path.insert(0, str(REPO / "recipes"))
    from finetune_whisper import TINY_RANDOM, WhisperArguments, build_model

    model, processor = build_model(WhisperArguments(model_name_or_path=TINY_RANDOM))
    model.generation_config.max_length = 24  # random weights never stop on their own; keep the test fast
    directory = tmp_path_factory.mktemp("models") / "whisper-tiny"
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def test_whisper_models_are_offered_and_transcribe_long_audio(whisper_dir, models_root, rng):
    found = find_models([str(models_root)], environ={"KO_ASR_MODELS": str(whisper_dir)})
    assert [(s.label, s.family) for s in found] == [("memorized (deepspeech2)", "deepspeech2"), ("whisper-tiny (whisper)", "whisper")]
    service = TranscriptionService(found, ServiceConfig(max_seconds=MAX_SECONDS * 2))
    asr = service.cache.get(service.models["whisper-tiny (whisper)"])
    windows = []
    handle = asr.model.get_encoder().register_forward_pre_hook(
        lambda module, args, kwargs: windows.append((args[0] if args else kwargs["input_features"]).shape), with_kwargs=True
    )
    try:
        result = service.transcribe("whisper-tiny (whisper)", (16000, make_waveform(rng, 45.0)))
    finally:
        handle.remove()
    # a random model's text is noise; what matters is that 45 s went through Whisper's 30 s windows, in >= 2 passes
    assert isinstance(result.text, str) and result.words == []
    assert result.audio_seconds == pytest.approx(45.0)
    assert sum(shape[0] for shape in windows) >= 2 and all(shape[-1] == 3000 for shape in windows)
