"""ko_asr.serving.registry: model discovery (roots, environment, checkpoints, Hub ids) and the per-model cache."""

import os
import shutil
import threading
import time

import pytest

from ko_asr.serving import (
    InvalidInputError,
    ModelCache,
    ModelSource,
    TranscriptionService,
    find_models,
)
from ko_asr.serving.registry import select_device

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

    def slow_load(source, **kwargs):
        loads.append(source)
        time.sleep(0.2)  # every other request arrives while this load is still running
        return original(source, **kwargs)

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


# ---------------------------------------------------------------- the device models run on


@pytest.fixture
def gpus(monkeypatch):
    """Pretend torch sees `gpus.count` CUDA devices (0 unless set), whatever this machine has."""
    import torch

    class Fake:
        count = 0

    monkeypatch.setattr(torch.cuda, "is_available", lambda: Fake.count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: Fake.count)
    return Fake


def test_device_is_the_gpu_when_there_is_one(gpus):
    assert select_device({}) == "cpu"
    gpus.count = 1
    assert select_device({}) == "cuda"
    assert select_device({"KO_ASR_DEVICE": " "}) == "cuda"  # set but empty: the default


def test_device_from_the_environment(gpus):
    gpus.count = 2
    assert select_device({"KO_ASR_DEVICE": "cpu"}) == "cpu"  # a GPU machine can still serve from the CPU
    assert select_device({"KO_ASR_DEVICE": "cuda:1"}) == "cuda:1"
    with pytest.raises(ValueError, match=r"KO_ASR_DEVICE='cuda:2': this machine has 2 CUDA device\(s\), cuda:0 to cuda:1"):
        select_device({"KO_ASR_DEVICE": "cuda:2"})
    with pytest.raises(ValueError, match=r"KO_ASR_DEVICE='gpu': not a device"):
        select_device({"KO_ASR_DEVICE": "gpu"})
    gpus.count = 0
    with pytest.raises(ValueError, match=r"KO_ASR_DEVICE='cuda': no CUDA device is available"):
        select_device({"KO_ASR_DEVICE": "cuda"})
    import torch

    if not torch.backends.mps.is_available():  # the same check as the CLI's --device: MPS refused where it is missing
        with pytest.raises(ValueError, match=r"KO_ASR_DEVICE='mps': MPS \(Apple silicon\) is not available"):
            select_device({"KO_ASR_DEVICE": "mps"})


def test_the_service_loads_its_models_on_the_selected_device(gpus, monkeypatch, models_root):
    import torch

    monkeypatch.delenv("KO_ASR_DEVICE", raising=False)
    gpus.count = 1
    assert TranscriptionService([]).cache.device == "cuda"  # the default cache follows the machine...
    monkeypatch.setenv("KO_ASR_DEVICE", "cpu")
    cache = TranscriptionService([]).cache  # ...and KO_ASR_DEVICE
    assert cache.device == "cpu"
    asr = cache.get(ModelSource("m", str(models_root / "memorized"), "deepspeech2"))
    assert asr.device == torch.device("cpu") and next(asr.model.parameters()).device == torch.device("cpu")
    assert ModelCache(device="cpu").device == "cpu"  # an explicit device is taken as given
