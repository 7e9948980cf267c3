import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Tests serve Gradio apps on 127.0.0.1 only; no usage analytics leave the machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- the Space: shared by the serving and app tests
# Session scope: the memorizing model trains once (~10 s) for every module that needs it.


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    from ko_asr.data import generate_synthetic_corpus

    return generate_synthetic_corpus(tmp_path_factory.mktemp("corpus"), size="tiny")


@pytest.fixture(scope="session")
def examples(tmp_path_factory, corpus):
    from ko_asr.serving import export_examples

    return export_examples(corpus, tmp_path_factory.mktemp("examples"), count=2)


@pytest.fixture(scope="session")
def models_root(tmp_path_factory, examples):
    """A folder with one tiny DeepSpeech2 that memorized the first example clip (a stand-in for a trained model)."""
    from helpers import train_memorizing_model

    from ko_asr.serving import read_audio_file

    root = tmp_path_factory.mktemp("models")
    clip, text = examples[0]
    train_memorizing_model(root / "memorized", read_audio_file(clip), text)
    return root


@pytest.fixture(scope="session")
def streaming_root(tmp_path_factory, examples):
    """A folder with one tiny unidirectional DeepSpeech2 (global feature statistics) that memorized the first example
    clip: the live tab's model."""
    from helpers import train_memorizing_model

    from ko_asr.serving import read_audio_file

    root = tmp_path_factory.mktemp("streaming-models")
    clip, text = examples[0]
    train_memorizing_model(root / "memorized-streaming", read_audio_file(clip), text, streaming=True)
    return root


@pytest.fixture(scope="session")
def service(models_root, streaming_root):
    from helpers import SPACE_MAX_SECONDS

    from ko_asr.serving import ServiceConfig, TranscriptionService, find_models

    models = find_models([str(models_root), str(streaming_root)])
    return TranscriptionService(models, ServiceConfig(max_seconds=SPACE_MAX_SECONDS))


@pytest.fixture(scope="session")
def app_url(service, examples):
    from helpers import load_app_module

    demo = load_app_module().build_demo(service, examples).queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()


@pytest.fixture
def bad_inputs(tmp_path, rng):
    import soundfile
    from helpers import SPACE_MAX_SECONDS, make_waveform

    files = {}
    files["empty.wav"] = tmp_path / "empty.wav"
    soundfile.write(files["empty.wav"], np.zeros(0, dtype=np.float32), 16000)
    files["silent.wav"] = tmp_path / "silent.wav"
    soundfile.write(files["silent.wav"], np.zeros(32000, dtype=np.float32), 16000)
    files["notes.txt"] = tmp_path / "notes.txt"
    files["notes.txt"].write_text("이것은 오디오가 아닙니다\n", encoding="utf-8")
    files["long.wav"] = tmp_path / "long.wav"
    soundfile.write(files["long.wav"], make_waveform(rng, SPACE_MAX_SECONDS + 1), 16000)
    return files


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory):
    """A tiny random-weight Whisper saved with the offline processor (no Hub access)."""
    import torch
    from helpers import whisper_recipe

    recipe = whisper_recipe()
    with torch.random.fork_rng():  # the same weights whichever test builds it first
        torch.manual_seed(0)
        model, processor = recipe.build_model(recipe.WhisperArguments(model_name_or_path=recipe.TINY_RANDOM))
    model.generation_config.max_length = 24  # random weights never stop on their own; keep the test fast
    directory = tmp_path_factory.mktemp("models") / "whisper-tiny"
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
