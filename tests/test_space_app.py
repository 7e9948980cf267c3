"""space/app.py: its Gradio API through gradio_client and the UI in a real headless Chromium driven by Selenium."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from helpers import (
    EXPECTED_ERRORS,
    REPO,
    load_app_module,
)

from ko_asr.serving import (
    TranscriptionService,
)

SCREENSHOTS = Path(os.environ.get("KO_ASR_TEST_OUTPUT", REPO / "build" / "test-output"))


# ---------------------------------------------------------------- the Gradio API


def test_api_endpoint_returns_transcript_cer_and_words(app_url, examples):
    clip, text = examples[0]
    client = Client(app_url, verbose=False)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    # the page's own events (errors shown inline, not raised) are private: clients see these two only
    assert set(endpoints) == {"/transcribe", "/transcribe_microphone"}
    transcript, cer, words, details = client.predict("memorized (deepspeech2)", handle_file(clip), text, api_name="/transcribe")
    assert transcript == text
    assert cer == "0.0%"
    assert [row[0] for row in words["data"]] == text.split()
    assert "s of audio in" in details and "on cpu" in details
    # called as before the decoding choice existed: language model decoding, and this model has none
    assert "decoding: greedy" in details and "has no language model" in details


def test_api_takes_the_decoding_choice_and_hotwords(app_url, examples):
    clip, text = examples[0]
    client = Client(app_url, verbose=False)
    components = {c["props"].get("elem_id"): c for c in client.config["components"] if c["props"].get("elem_id")}
    radio, box = components["decoding"], components["hotwords"]
    assert radio["type"] == "radio" and radio["props"]["value"] == "language model"
    assert [choice[0] for choice in radio["props"]["choices"]] == ["language model", "greedy"]
    assert box["type"] == "textbox" and "서초구, 김민준" in box["props"]["placeholder"]
    transcript, _, _, details = client.predict(
        "memorized (deepspeech2)", handle_file(clip), "", "greedy", "서초구, 김민준", api_name="/transcribe"
    )
    assert transcript == text
    assert "decoding: greedy" in details and "Note: hotwords ignored: greedy decoding does not use them" in details
    assert "has no language model" not in details  # greedy was asked for


def test_details_name_the_lm_decoding_and_its_hotwords(models_root, examples, tmp_path):
    import shutil

    from ko_asr.lm_build import build_language_model
    from ko_asr.serving import find_models

    model_dir = tmp_path / "memorized-lm"
    shutil.copytree(models_root / "memorized", model_dir)
    build_language_model([examples[0][1], "서초구 사무실에 갑니다"], model_dir, order=3)
    transcribe = load_app_module()._transcribe(TranscriptionService(find_models([str(model_dir)])))
    clip, text = examples[0]
    transcript, cer, _, details = transcribe("memorized-lm (deepspeech2)", clip, text, "language model", "서초구, 김민준")
    assert (transcript, cer) == (text, "0.0%")
    assert "decoding: LM beam search (syllable 3-gram, beam 32) with hotwords 서초구, 김민준" in details
    assert "Note" not in details
    _, _, _, details = transcribe("memorized-lm (deepspeech2)", clip, text, "greedy", "")
    assert "decoding: greedy" in details and "LM" not in details and "Note" not in details


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


def test_no_speech_is_said_in_words_not_left_blank(service, tmp_path):
    """Noise without speech: voice activity detection leaves the transcript empty and the details line says so."""
    import numpy as np
    import soundfile

    from ko_asr.data.augment import generated_noise

    app = load_app_module()
    path = tmp_path / "noise.wav"
    soundfile.write(path, 0.1 * generated_noise("pink", 32000, np.random.default_rng(0)), 16000)
    transcript, cer, words, details = app._transcribe(service)(next(iter(service.models)), str(path), "안녕")
    assert transcript == "" and words == [] and cer == "100.0%"
    assert details.startswith(f"**{app.NO_SPEECH}**: voice activity detection found none in 2.0 s of audio")


def test_the_page_offers_the_timed_transcript_as_srt_and_vtt(service, examples, tmp_path):
    app = load_app_module()
    clip, text = examples[0]
    outputs = app._transcribe_in_page(service, tmp_path)("memorized (deepspeech2)", clip, text, "greedy", "")
    transcript, _, words, _, files, _ = outputs
    assert transcript == text and [Path(f).name for f in files] == ["transcript.srt", "transcript.vtt"]
    srt = Path(files[0]).read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:") and " --> " in srt and all(word in srt for word in text.split())
    assert Path(files[1]).read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00:")
    assert len(words) == len(text.split())  # word rows: a CTC model times words
    # an error clears the previous files, as it clears the other outputs
    assert app._transcribe_in_page(service, tmp_path)("memorized (deepspeech2)", None, "", "greedy", "")[4] is None


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
    # the timed transcript as subtitle files to download
    links = WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#subtitles a[download]"))
    assert [link.get_attribute("download") for link in links] == ["transcript.srt", "transcript.vtt"]
    with urllib.request.urlopen(links[0].get_attribute("href"), timeout=30) as response:  # what the browser downloads
        srt = response.read().decode("utf-8")
    assert srt.startswith("1\n00:00:") and all(word in srt for word in text.split())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / "space_upload.png"))


def _upload_and_transcribe(driver, clip) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    upload = driver.find_element(By.CSS_SELECTOR, "#upload input[type=file]")
    upload.send_keys(str(clip))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload audio"))
    driver.find_element(By.CSS_SELECTOR, "#transcribe-upload").click()


def _error_box(driver) -> str:
    """The inline error's text, or "" while it is hidden."""
    from selenium.webdriver.common.by import By

    boxes = [box for box in driver.find_elements(By.CSS_SELECTOR, "#error") if box.is_displayed()]
    return boxes[0].text if boxes else ""


def test_browser_shows_the_error_for_a_silent_upload(browser, app_url, bad_inputs, examples):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url)
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))
    assert _error_box(browser) == ""
    _upload_and_transcribe(browser, bad_inputs["silent.wav"])
    WebDriverWait(browser, 60).until(lambda d: "silent.wav is silent" in _error_box(d))
    # gr.Error's toast lasts 10 s and leaves bare "Error" badges: the message must still be there after it
    time.sleep(12)
    assert "silent.wav is silent" in _error_box(browser)
    assert "silent.wav is silent" in browser.find_element(By.TAG_NAME, "body").text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "space_error.png"))
    # the next success clears it
    clip, text = examples[0]
    browser.find_element(By.CSS_SELECTOR, "#upload button[aria-label='Clear']").click()
    _upload_and_transcribe(browser, clip)
    assert _wait_for_value(browser, "#transcript textarea") == text
    WebDriverWait(browser, 10).until(lambda d: _error_box(d) == "")


def test_browser_decoding_choice_and_hotwords_reach_the_details(browser, app_url, examples):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    clip, text = examples[0]
    browser.get(app_url)
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))
    hotwords = browser.find_element(By.CSS_SELECTOR, "#hotwords textarea, #hotwords input")
    assert "서초구, 김민준" in hotwords.get_attribute("placeholder")
    hotwords.send_keys("서초구")
    browser.find_element(By.CSS_SELECTOR, "#decoding input[value='greedy']").click()
    _upload_and_transcribe(browser, clip)
    assert _wait_for_value(browser, "#transcript textarea") == text
    details = WebDriverWait(browser, 30).until(
        lambda d: (text := d.find_element(By.CSS_SELECTOR, "#details").text) and "decoding:" in text and text
    )
    assert "decoding: greedy" in details and "hotwords ignored: greedy decoding does not use them" in details


def test_browser_keeps_the_synthetic_speech_notice_at_the_top(browser, app_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url)
    notice = WebDriverWait(browser, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "#synthetic-notice"))
    assert notice.is_displayed() and "Synthetic speech only" in notice.text and "ds2-demo" in notice.text
    # above every control, in the page flow (Gradio's toasts are fixed at the top right, over the controls)
    model = browser.find_element(By.CSS_SELECTOR, "#model")
    assert notice.location["y"] + notice.size["height"] <= model.location["y"]
    assert notice.size["width"] >= 0.8 * browser.find_element(By.CSS_SELECTOR, "#model").size["width"]



def _start_recording(browser, app_url: str, tab_name: str, audio_id: str) -> None:
    """Open the app, switch to `tab_name` and press record on the `#audio_id` microphone (Chromium's fake device)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url)
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[role=tab]"))
    next(tab for tab in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if tab.text == tab_name).click()
    record = f"#{audio_id} button.record-button"
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, record).is_displayed())
    browser.find_element(By.CSS_SELECTOR, record).click()


def test_browser_microphone_recording_is_transcribed(browser, app_url, examples):

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    text = examples[0][1]
    _start_recording(browser, app_url, "Microphone", "microphone")
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


def test_browser_live_tab_shows_text_while_speaking(browser, app_url, examples):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    text = examples[0][1]
    _start_recording(browser, app_url, "Live", "live-microphone")
    # Partial text appears while the (looping, 2 s) fake microphone is still recording.
    partial = WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#live-transcript textarea").get_attribute("value")
    )
    time.sleep(4.0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "space_live.png"))
    browser.find_element(By.CSS_SELECTOR, "#live-microphone button.stop-button").click()
    time.sleep(1.0)
    final = browser.find_element(By.CSS_SELECTOR, "#live-transcript textarea").get_attribute("value")
    assert partial and final.startswith(partial), (partial, final)  # partials are never revised
    # The loop starts anywhere, and this tiny unidirectional model, trained on one clip, spaces poorly at the loop's
    # seams (two consecutive words, as the recording test asks, came out in one of three runs): require two of the
    # clip's words of two or more syllables, which only a transcription of the clip produces.
    words = {word for word in text.split() if len(word) >= 2}
    assert sum(word in final for word in words) >= 2, (final, text)


def test_create_app_reads_its_settings_from_the_environment(monkeypatch, models_root, corpus, examples):
    monkeypatch.setenv("KO_ASR_DEVICE", "cuda:99")  # read at startup: a device this machine lacks is refused
    with pytest.raises(ValueError, match=r"KO_ASR_DEVICE='cuda:99': (no CUDA device|this machine has)"):
        load_app_module().create_app()
    monkeypatch.setenv("KO_ASR_DEVICE", "cpu")
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


# ---------------------------------------------------------------- make space


def test_make_space_is_online_while_the_other_targets_stay_offline(tmp_path):
    """`make space` must reach the Hub for Hub ids in KO_ASR_MODELS; `make test`/`demo`/`lint` stay offline."""
    fake_bin = tmp_path / "bin"  # stands in for .venv/bin: python and ruff write the environment they got
    fake_bin.mkdir()
    for tool in ("python", "ruff"):
        (fake_bin / tool).write_text('#!/bin/sh\nenv | grep "_OFFLINE=" > "$ENV_DUMP"\n')
        (fake_bin / tool).chmod(0o755)
    variables = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    # the caller is offline (as under make test), and no outer make passes its flags down
    caller = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    caller.update(dict.fromkeys(variables, "1"))

    def environment_of(target: str, *assignments: str) -> dict[str, str]:
        dump = tmp_path / "env"
        dump.unlink(missing_ok=True)
        # -o: neither install system packages nor (re)install the venv; the recipe runs the fake tools
        subprocess.run(
            ["make", "-s", "-C", str(tmp_path), "-f", str(REPO / "Makefile"), "-o", "system-deps",
             "-o", ".venv/.ko-asr-installed", target, f"BIN={fake_bin}", *assignments],
            env={**caller, "ENV_DUMP": str(dump)}, check=True, capture_output=True, text=True, timeout=60,
        )
        return dict(line.split("=", 1) for line in dump.read_text().splitlines())

    space = environment_of("space")
    assert {name: space.get(name) for name in variables} == dict.fromkeys(variables, "")
    assert environment_of("lint") == dict.fromkeys(variables, "1")
    assert environment_of("space", "HF_HUB_OFFLINE=1")["HF_HUB_OFFLINE"] == "1"  # offline when asked for
    # an empty value is "not offline" to each library that reads one of them
    seen = subprocess.run(
        [sys.executable, "-c", "import huggingface_hub.constants as h, datasets.config as d, transformers.utils.hub as t;"
         " print(h.HF_HUB_OFFLINE, d.HF_HUB_OFFLINE, t.is_offline_mode())"],
        env={**caller, **space}, check=True, capture_output=True, text=True, timeout=300,
    ).stdout.split()
    assert seen == ["False", "False", "False"]
