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
import time
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


def load_module(path: Path, name: str):
    """Import a script that is not part of the package (the Space app, the bundle builder) by path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_app_module():
    return load_module(REPO / "space" / "app.py", "space_app")


def encode_aac(source, target: Path, *options: str) -> Path:
    """An M4A (AAC) copy of `source`: a container libsndfile cannot read."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), "-c:a", "aac", *options, str(target)], check=True)
    return target


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
    "long.wav": "long.wav is 0:31.0 long; the limit is 0:30.0",
}


# ---------------------------------------------------------------- model discovery and caching


def test_find_models_in_roots_and_environment(tmp_path, models_root, caplog):
    memorized = str(models_root / "memorized")
    # intermediate checkpoints are complete models too, but only the final one is offered
    shutil.copytree(memorized, tmp_path / "runs" / "checkpoint-100")
    (tmp_path / "empty-dir").mkdir()
    # the same model reached twice (here through a symlink) is offered once
    os.symlink(memorized, tmp_path / "runs" / "final")
    environ = {"KO_ASR_MODELS": f"{memorized}:{tmp_path / 'empty-dir'}:someone/whisper-small-ko:/typo/path:./typo"}
    found = find_models([str(models_root), str(tmp_path / "runs"), str(tmp_path / "missing")], environ)
    assert [(s.label, s.family) for s in found] == [
        ("memorized (deepspeech2)", "deepspeech2"),
        ("someone/whisper-small-ko (unknown)", "unknown"),
    ]
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

    def slow_load(source):
        loads.append(source)
        time.sleep(0.2)  # every other request arrives while this load is still running
        return original(source)

    monkeypatch.setattr(cache, "_load", slow_load)
    source = ModelSource("m", str(models_root / "memorized"), "deepspeech2")
    results = []
    start = threading.Barrier(4)

    def request():
        start.wait()
        results.append(cache.get(source))

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len(cache) == 1
    assert all(result is results[0] for result in results)


# ---------------------------------------------------------------- audio input


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (44100, 2), (48000, 6)])
def test_any_rate_and_channel_count_becomes_16k_mono(tmp_path, rng, rate, channels):
    # every channel different, so taking one channel instead of the mean would fail
    multi = np.stack([make_waveform(rng, 1.5, sampling_rate=rate) * (c + 1) / channels for c in range(channels)], axis=1)
    path = tmp_path / f"clip_{rate}_{channels}.wav"
    soundfile.write(path, multi, rate, subtype="FLOAT")
    waveform = read_audio_file(path)
    assert waveform.ndim == 1 and waveform.dtype == np.float32
    assert abs(waveform.size - 1.5 * 16000) <= 2
    mean_at_16k = read_audio_file(_write(tmp_path / "mean.wav", multi.mean(axis=1), rate))
    np.testing.assert_allclose(waveform, mean_at_16k, atol=1e-5)
    as_array = from_array(rate, (multi * 32767).astype(np.int16))
    np.testing.assert_allclose(as_array, waveform, atol=2e-3)


def _write(path, samples, rate):
    soundfile.write(path, samples, rate, subtype="FLOAT")
    return path


def test_length_and_limit_never_read_the_same():
    from ko_asr.serving.audio_input import duration_text

    assert duration_text(600.04, round_up=True) == "10:00.1" and duration_text(600) == "10:00.0"
    assert duration_text(3725.25) == "1:02:05.2" and duration_text(2.14, round_up=True) == "0:02.2"


def test_unsigned_pcm_is_centred_and_dc_offset_is_not_sound(service):
    # 8-bit WAV silence is 128: it must come out as 0, and then be refused as silent
    silent_uint8 = np.full(16000, 128, dtype=np.uint8)
    assert np.abs(from_array(16000, silent_uint8)).max() == 0
    with pytest.raises(InvalidInputError, match="the recording is silent"):
        service.transcribe(next(iter(service.models)), (16000, silent_uint8))
    with pytest.raises(InvalidInputError, match="is silent"):
        service.transcribe(next(iter(service.models)), (16000, np.full(16000, 0.3, dtype=np.float32)))


def test_formats_soundfile_cannot_read_go_through_ffmpeg(tmp_path, examples):
    clip = examples[0][0]
    m4a = encode_aac(clip, tmp_path / "clip.m4a")
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.read(m4a)
    waveform = read_audio_file(m4a)
    reference = read_audio_file(clip)
    assert abs(waveform.size - reference.size) < 0.05 * 16000  # AAC priming adds a few ms


def test_ffmpeg_decodes_what_is_spoken_and_stops_past_the_limit(tmp_path, service, examples, rng):
    clip, text = examples[0]
    m4a = encode_aac(clip, tmp_path / "clip.m4a", "-b:a", "128k")
    assert service.transcribe(next(iter(service.models)), str(m4a)).text == text
    soundfile.write(tmp_path / "long.wav", make_waveform(rng, MAX_SECONDS + 5), 16000)
    long_m4a = encode_aac(tmp_path / "long.wav", tmp_path / "long.m4a")
    with pytest.raises(InvalidInputError, match=r"long.m4a is longer than the limit of 0:30\.0"):
        service.transcribe(next(iter(service.models)), str(long_m4a))


def test_without_ffmpeg_the_message_says_so(tmp_path, monkeypatch, examples):
    m4a = encode_aac(examples[0][0], tmp_path / "clip.m4a")
    monkeypatch.setattr("ko_asr.audio_io.shutil.which", lambda name: None)
    with pytest.raises(InvalidInputError, match="clip.m4a: not a format soundfile can read, and ffmpeg is not installed"):
        read_audio_file(m4a)


def test_a_too_long_file_is_refused_from_its_header(service, bad_inputs, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the samples were decoded")

    monkeypatch.setattr("ko_asr.audio_io.soundfile.read", no_decoding)
    with pytest.raises(InvalidInputError, match=r"long.wav is 0:31\.0 long"):
        service.transcribe(next(iter(service.models)), str(bad_inputs["long.wav"]))


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
    assert result.has_word_timestamps
    starts = [start for _, start, _ in result.words]
    assert starts == sorted(starts) and result.words[-1][2] <= result.audio_seconds + 0.05
    # in seconds, spanning the speech: first word near the start, last one ending in the clip's second half
    assert starts[0] < 0.3 and result.words[-1][2] > result.audio_seconds / 2
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


def test_space_bundle_is_self_contained(tmp_path, models_root, corpus):
    import sys

    build_bundle = load_module(REPO / "scripts" / "build_space_bundle.py", "build_space_bundle").build_bundle
    trained = shutil.copytree(models_root / "memorized", tmp_path / "run" / "memorized")
    (trained / "checkpoint-1").mkdir()  # training leftovers stay behind
    (trained / "events.out.tfevents.1").write_bytes(b"x")
    bundle = build_bundle(tmp_path / "space", [trained], corpus=corpus, examples=3)
    assert {p.name for p in bundle.iterdir()} >= {"app.py", "README.md", "requirements.txt", "packages.txt", "models", "examples", "ko_asr"}
    front_matter = (bundle / "README.md").read_text(encoding="utf-8").split("---")[1]
    assert "sdk: gradio" in front_matter and "app_file: app.py" in front_matter
    assert (bundle / "packages.txt").read_text().split() == ["ffmpeg"]
    assert "torch==2.14.1" in (bundle / "requirements.txt").read_text().splitlines()
    assert not list(bundle.rglob("__pycache__"))
    assert sorted(p.name for p in (bundle / "models" / "memorized").iterdir()) == sorted(
        p.name for p in (models_root / "memorized").iterdir()
    )
    # the Space imports ko_asr from beside app.py: the copied package is complete enough for the whole serving path
    imported = subprocess.run(
        [sys.executable, "-c", "import ko_asr.serving, ko_asr.data; print(ko_asr.__file__)"],
        cwd=bundle, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(imported).resolve() == (bundle / "ko_asr" / "__init__.py").resolve()
    # the bundled app finds the bundled model and example clips by itself
    app = load_module(bundle / "app.py", "bundled_app")
    assert [s.label for s in find_models(app.SEARCH_ROOTS, environ={})][0] == "memorized (deepspeech2)"
    bundled = export_examples(bundle / "examples", tmp_path / "clips")
    assert [text for _, text in bundled] == [text for _, text in export_examples(corpus, tmp_path / "direct", count=3)]


def test_bundle_refuses_requirements_that_drift_from_pyproject(tmp_path):
    bundler = load_module(REPO / "scripts" / "build_space_bundle.py", "build_space_bundle")
    check_requirements_match_pyproject = bundler.check_requirements_match_pyproject
    drifted = tmp_path / "requirements.txt"
    drifted.write_text((REPO / "space" / "requirements.txt").read_text().replace("torch==2.14.1", "torch==2.13.0"))
    with pytest.raises(SystemExit, match=r"missing \['torch==2.14.1'\], extra \['torch==2.13.0'\]"):
        check_requirements_match_pyproject(drifted)
    check_requirements_match_pyproject(REPO / "space" / "requirements.txt")


def test_create_app_reads_its_settings_from_the_environment(monkeypatch, models_root, corpus, examples):
    monkeypatch.setenv("KO_ASR_MODELS", str(models_root))
    monkeypatch.setenv("KO_ASR_MAX_AUDIO_SECONDS", "1.5")
    monkeypatch.setenv("KO_ASR_CONCURRENCY", "3")
    monkeypatch.setenv("KO_ASR_EXAMPLES_CORPUS", str(corpus))
    demo = load_app_module().create_app()
    assert demo._queue.default_concurrency_limit == 3
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        dropdown = next(c for c in client.config["components"] if c["props"].get("elem_id") == "model")
        assert "memorized (deepspeech2)" in [choice[0] for choice in dropdown["props"]["choices"]]
        example_sets = [c for c in client.config["components"] if c.get("type") == "dataset"]
        assert example_sets and len(example_sets[0]["props"]["samples"]) == 4
        with pytest.raises(AppError, match=r"is 0:02\.\d long; the limit is 0:01\.5"):
            client.predict("memorized (deepspeech2)", handle_file(examples[0][0]), "", api_name="/transcribe")
    finally:
        demo.close()


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


def test_whisper_models_are_offered_and_transcribe_long_audio(whisper_dir, models_root, rng, monkeypatch):
    found = find_models([str(models_root)], environ={"KO_ASR_MODELS": str(whisper_dir)})
    assert [(s.label, s.family) for s in found] == [("memorized (deepspeech2)", "deepspeech2"), ("whisper-tiny (whisper)", "whisper")]
    service = TranscriptionService(found, ServiceConfig(max_seconds=MAX_SECONDS * 2))
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
    # a random model's text is noise; what matters is that 45 s went through Whisper's 30 s windows, in >= 2 passes
    assert isinstance(result.text, str) and result.words == []
    assert result.audio_seconds == pytest.approx(45.0)
    assert sum(shape[0] for shape in windows) >= 2 and all(shape[-1] == 3000 for shape in windows)
