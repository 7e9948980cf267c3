"""A saved DeepSpeech2 carries its own code: transformers loads it with `trust_remote_code=True` where ko_asr cannot
be imported, and it transcribes exactly as it does with ko_asr."""

import ast
import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_waveform
from transformers import AutoModelForCTC, AutoProcessor, pipeline
from transformers.dynamic_module_utils import get_imports, get_relative_imports

import ko_asr
from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.text.policy import POLICY_KEY, TranscriptPolicy
from ko_asr.training.loop import TrainingTask
from ko_asr.transcription import CTCTranscriber

CODE_DIR = Path(ko_asr.__file__).parent / "models" / "deepspeech2"
#: What a saved model must carry: every module of the model folder but its package __init__.
CODE_FILES = sorted(path.name for path in CODE_DIR.glob("*.py") if path.name != "__init__.py")

# Runs in a fresh interpreter (`python -I`: no current directory or PYTHON* variables on sys.path) whose import
# system refuses ko_asr, which the editable install would otherwise find; prints what it loaded as JSON.
PROBE = r"""
import importlib.abc, inspect, json, sys


class RefuseKoAsr(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "ko_asr":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, RefuseKoAsr())
try:
    import ko_asr  # noqa: F401
except ModuleNotFoundError as error:
    ko_asr_error = str(error)
else:
    raise SystemExit("ko_asr is importable: the probe would not test remote code")

import numpy as np
from transformers import AutoConfig, AutoModel, AutoModelForCTC, AutoProcessor, pipeline
from transformers.dynamic_module_utils import HF_MODULES_CACHE

model_dir, audio_file, resave_dir, policy_key = sys.argv[1:]
waveform = np.load(audio_file)
try:
    AutoModelForCTC.from_pretrained(model_dir, trust_remote_code=False)
    refused = ""
except ValueError as error:
    refused = str(error)


def transcribe(directory):
    model = AutoModelForCTC.from_pretrained(directory, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(directory, trust_remote_code=True)
    inputs = processor(audio=waveform, sampling_rate=16000, return_tensors="pt")
    return model, processor, processor.batch_decode(model.generate(**inputs))[0]


model, processor, generated = transcribe(model_dir)
asr = pipeline("automatic-speech-recognition", model=model_dir, trust_remote_code=True)
loaded = [
    AutoConfig.from_pretrained(model_dir, trust_remote_code=True), AutoModel.from_pretrained(model_dir, trust_remote_code=True),
    model, processor, processor.feature_extractor, processor.tokenizer, asr.model, asr.tokenizer, asr.feature_extractor,
]
# Saving what remote code loaded writes the code again: the model can be fine-tuned and shared on.
model.save_pretrained(resave_dir)
processor.save_pretrained(resave_dir)
print(json.dumps({
    "ko_asr_error": ko_asr_error,
    "refused": refused,
    "modules_cache": str(HF_MODULES_CACHE),
    "classes": {type(obj).__name__: [type(obj).__module__, inspect.getfile(type(obj))] for obj in loaded},
    "generate": generated,
    "pipeline": asr({"raw": waveform, "sampling_rate": 16000})["text"],
    "resaved": transcribe(resave_dir)[2],
    "policy": processor.tokenizer.init_kwargs.get(policy_key),
}, ensure_ascii=False))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny random DeepSpeech2 saved the way the training loop (final model and checkpoints) saves it."""
    torch.manual_seed(0)
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(["안녕하세요", "오늘 날씨 좋네요"], units="jamo")
    config = DeepSpeech2Config(preset="tiny", vocab_size=len(tokenizer))
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor.from_model_config(config), tokenizer)
    task = TrainingTask(
        model=DeepSpeech2ForCTC(config).eval(), processor=processor, transcriber=CTCTranscriber(processor),
        train_dataset=[], eval_datasets={}, policy=TranscriptPolicy(policy="phonetic"),
    )
    directory = tmp_path_factory.mktemp("ds2")
    task.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def waveform():
    return make_waveform(np.random.default_rng(0), 1.5)


def test_save_pretrained_writes_the_code_and_auto_map(saved):
    for name in CODE_FILES:
        assert filecmp.cmp(saved / name, CODE_DIR / name, shallow=False), name
    config = json.loads((saved / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_deepspeech2.DeepSpeech2Config",
        "AutoModel": "modeling_deepspeech2.DeepSpeech2Model",
        "AutoModelForCTC": "modeling_deepspeech2.DeepSpeech2ForCTC",
    }
    tokenizer_config = json.loads((saved / "tokenizer_config.json").read_text())
    assert tokenizer_config["auto_map"]["AutoTokenizer"] == ["tokenization_deepspeech2.DeepSpeech2CTCTokenizer", None]
    processor_config = json.loads((saved / "processor_config.json").read_text())
    assert processor_config["auto_map"]["AutoProcessor"] == "processing_deepspeech2.DeepSpeech2Processor"
    feature_extractor_map = processor_config["feature_extractor"]["auto_map"]
    assert feature_extractor_map["AutoFeatureExtractor"] == "feature_extraction_deepspeech2.DeepSpeech2FeatureExtractor"


@pytest.mark.parametrize("name", CODE_FILES)
def test_model_code_imports_nothing_outside_its_folder(name):
    """transformers copies a module's `from .x import y` files from its folder and requires absolute imports to be
    installed packages; `from . import x` is not copied, `from ..x` leaves the folder."""
    path = CODE_DIR / name
    assert "ko_asr" not in get_imports(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            assert node.level == 1 and node.module, f"{name}: `from {'.' * node.level}{node.module or ''} import`"
    for module in get_relative_imports(path):
        assert (CODE_DIR / f"{module}.py").is_file(), f"{name} imports .{module}, which is not in {CODE_DIR}"


def transcribe_with_ko_asr(directory, waveform):
    model = AutoModelForCTC.from_pretrained(directory).eval()
    processor = AutoProcessor.from_pretrained(directory)
    inputs = processor(audio=waveform, sampling_rate=16000, return_tensors="pt")
    return processor.batch_decode(model.generate(**inputs))[0]


def test_loads_and_transcribes_without_ko_asr(saved, waveform, tmp_path):
    expected = transcribe_with_ko_asr(saved, waveform)
    assert expected  # a random model over a small vocabulary says something; equality below is then meaningful
    assert pipeline("automatic-speech-recognition", model=str(saved))(waveform.copy())["text"] == expected
    np.save(tmp_path / "audio.npy", waveform)
    modules_cache = tmp_path / "hf_modules"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(modules_cache)}
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(saved), str(tmp_path / "audio.npy"), str(tmp_path / "resaved"), POLICY_KEY],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])

    assert "No module named 'ko_asr'" in probe["ko_asr_error"]
    assert "trust_remote_code=True" in probe["refused"]  # custom code runs only when asked for
    assert probe["modules_cache"] == str(modules_cache)  # the copied code goes to this test's folder
    assert set(probe["classes"]) == {
        "DeepSpeech2Config", "DeepSpeech2Model", "DeepSpeech2ForCTC", "DeepSpeech2Processor",
        "DeepSpeech2FeatureExtractor", "DeepSpeech2CTCTokenizer",
    }
    for name, (module, file) in probe["classes"].items():
        assert module.startswith("transformers_modules."), (name, module)
        assert Path(file).is_relative_to(modules_cache), (name, file)
    assert probe["generate"] == probe["pipeline"] == probe["resaved"] == expected
    saved_policy = json.loads((saved / "tokenizer_config.json").read_text())[POLICY_KEY]
    assert saved_policy["policy"] == "phonetic" and probe["policy"] == saved_policy  # the transcript policy travels too
    for name in CODE_FILES:
        assert (tmp_path / "resaved" / name).read_text() == (CODE_DIR / name).read_text(), name


def test_ko_asr_classes_win_over_the_saved_code(saved, waveform):
    """With ko_asr imported, its registered classes load the model, also when remote code is allowed."""
    assert type(AutoModelForCTC.from_pretrained(saved)) is DeepSpeech2ForCTC
    assert type(AutoModelForCTC.from_pretrained(saved, trust_remote_code=True)) is DeepSpeech2ForCTC
    processor = AutoProcessor.from_pretrained(saved)
    assert type(processor) is DeepSpeech2Processor
    assert type(processor.tokenizer) is DeepSpeech2CTCTokenizer
    assert type(processor.feature_extractor) is DeepSpeech2FeatureExtractor
