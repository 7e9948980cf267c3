"""recipes/train.py end to end on the tiny synthetic corpus, through `accelerate launch` in subprocesses."""

import csv
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import load_file
from transformers import AutoModelForCTC, AutoProcessor, pipeline

import ko_asr  # noqa: F401
from ko_asr.data import generate_synthetic_corpus
from ko_asr.training import list_checkpoints, resolve_checkpoint

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "recipes/configs/ds2_tiny_test.yaml"
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_synthetic_corpus(tmp_path_factory.mktemp("tiny") / "corpus", "tiny", seed=0)


def train(corpus, output_dir, *flags, processes=1, check=True, launcher=True, **popen):
    # On a machine without GPUs, `--multi_gpu` makes accelerate start torch.distributed on CPU (gloo, MULTI_CPU).
    launch = [*ACCELERATE, "--multi_gpu" if processes > 1 else "--cpu", "--num_processes", str(processes)]
    command = [*(launch if launcher else [sys.executable]), str(REPO / "recipes/train.py"), str(CONFIG),
               "--data_root", str(corpus), "--output_dir", str(output_dir), "--cache_dir", str(output_dir.parent / "cache"),
               *map(str, flags)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    if popen:
        return subprocess.Popen(command, env=env, cwd=REPO, **popen)
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"training failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def weights(directory: Path) -> dict[str, np.ndarray]:
    return load_file(str(directory / "model.safetensors"))


def test_training_writes_a_loadable_model_metrics_plots_and_card(corpus, tmp_path):
    output = tmp_path / "run"
    train(corpus, output, "--save_steps", "2", "--save_total_limit", "2")
    assert isinstance(AutoModelForCTC.from_pretrained(output), ko_asr.DeepSpeech2ForCTC)
    assert isinstance(AutoProcessor.from_pretrained(output), ko_asr.DeepSpeech2Processor)
    asr = pipeline("automatic-speech-recognition", model=str(output))
    assert isinstance(asr(np.zeros(16000, dtype=np.float32))["text"], str)
    assert "| dev |" in (output / "README.md").read_text()
    assert "Synthetic espeak-ng speech" in (output / "README.md").read_text()
    with open(output / "metrics.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["split"], r["name"]) for r in rows} >= {("train", "loss"), ("train", "cer"), ("dev", "cer"), ("dev", "loss")}
    for name in ("loss_per_step", "cer_per_step", "loss_per_epoch", "cer_per_epoch"):
        assert (output / "plots" / f"{name}.png").stat().st_size > 1000
    # rotation: saves at steps 2, 4, 6 with a limit of 2 keep 4 and 6
    assert [p.name for p in list_checkpoints(output)] == ["checkpoint-4", "checkpoint-6"]
    assert (output / "checkpoint-6" / "config.json").is_file()  # a checkpoint is a loadable model too


def test_resume_continues_exactly(corpus, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    train(corpus, straight, "--save_steps", "0")
    train(corpus, interrupted, "--save_steps", "0", "--stop_at_step", "3")
    assert [p.name for p in list_checkpoints(interrupted)] == ["checkpoint-3"]
    assert not (interrupted / "model.safetensors").exists()  # stopped runs leave only the checkpoint
    train(corpus, interrupted, "--save_steps", "0", "--resume_from_checkpoint", "latest")
    a, b = weights(straight), weights(interrupted)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    with open(interrupted / "metrics.csv", encoding="utf-8") as handle:
        logged = [(int(r["step"]), r["name"]) for r in csv.DictReader(handle) if r["split"] == "train"]
    assert len(logged) == len(set(logged)) and {s for s, _ in logged} == {2, 4, 6}  # nothing logged twice or lost


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(corpus, tmp_path):
    output = tmp_path / "signalled"
    # The signal goes to the training process itself, as a cluster scheduler or Ctrl-C delivers it.
    process = train(corpus, output, "--max_steps", "100000", "--save_steps", "0", "--logging_steps", "1",
                    launcher=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    metrics = output / "metrics.csv"

    def steps_logged() -> int:
        if not metrics.exists():
            return 0
        return len({line.split(",")[0] for line in metrics.read_text().splitlines()[1:] if line})

    deadline = time.time() + 240
    while time.time() < deadline and steps_logged() < 3:
        assert process.poll() is None, process.stdout.read().decode()[-3000:]
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output_text = process.communicate(timeout=120)[0].decode()
    assert process.returncode == 0, output_text[-3000:]
    checkpoints = list_checkpoints(output)
    assert len(checkpoints) == 1 and int(checkpoints[0].name.split("-")[1]) >= 3


def test_an_interrupted_save_is_never_resumed_from(tmp_path):
    (tmp_path / "checkpoint-5" / "training_state").mkdir(parents=True)
    (tmp_path / "checkpoint-5" / "training_state" / "trainer_state.json").write_text("{}")
    (tmp_path / ".tmp-checkpoint-9" / "training_state").mkdir(parents=True)  # killed mid-save
    (tmp_path / "checkpoint-12").mkdir()  # renamed by hand, never completed
    assert resolve_checkpoint(tmp_path, "latest") == tmp_path / "checkpoint-5"
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        resolve_checkpoint(tmp_path, str(tmp_path / "checkpoint-12"))
    assert resolve_checkpoint(tmp_path / "empty", "latest") is None


def test_two_process_ddp_sees_every_sample_once_per_epoch(corpus, tmp_path):
    output = tmp_path / "ddp"
    train(corpus, output, "--max_steps", "4", "--save_steps", "0", "--record_sample_order", "true", processes=2)
    assert (output / "model.safetensors").is_file()
    train_ids = {line.split(" :: ")[0].rsplit("/", 1)[1][:-4] for line in (corpus / "scripts/train.trn").read_text().splitlines()}
    order = output / "sample_order"
    epoch0 = [(order / f"epoch0_rank{r}.txt").read_text().split() for r in (0, 1)]
    assert epoch0[0] and epoch0[1]
    assert sorted(epoch0[0] + epoch0[1]) == sorted(train_ids)  # each utterance exactly once across the 2 processes


@pytest.mark.parametrize("name", ["ds2_demo", "ds2_demo_clean", "ds2_kspon", "ds2_kspon_paper", "ds2_tiny_test",
                                  "ds2_streaming", "fastconformer_demo", "xlsr_kspon"])
def test_every_shipped_config_parses(name):
    sys.path.insert(0, str(REPO / "recipes"))
    from arguments import AugmentationConfig, DataArguments, ModelArguments, TrainingLoopConfig, parse_config

    data, model, augment, loop = parse_config(
        (DataArguments, ModelArguments, AugmentationConfig, TrainingLoopConfig),
        [str(REPO / f"recipes/configs/{name}.yaml"), "--learning_rate", "0.123"],
    )
    assert loop.learning_rate == 0.123  # flags override the file
    assert data.policy in ("spelling", "phonetic") and data.units in ("syllable", "jamo")
    # every other value in the file reaches its dataclass field
    values = yaml.safe_load((REPO / f"recipes/configs/{name}.yaml").read_text(encoding="utf-8"))
    parsed = {f.name: getattr(obj, f.name) for obj in (data, model, augment, loop) for f in dataclasses.fields(obj)}
    for key, value in values.items():
        if key == "learning_rate":
            continue
        got = parsed[key]
        expected = type(got)(value) if isinstance(value, str) and isinstance(got, (int, float)) else value
        assert (list(got) if isinstance(got, tuple) else got) == expected, (key, got, value)
    from ko_asr import DeepSpeech2Config
    from ko_asr.ctc_families import FASTCONFORMER_PRESETS

    if model.architecture == "deepspeech2":
        DeepSpeech2Config.from_preset(model.preset)
    elif model.architecture == "fastconformer":
        assert model.preset in FASTCONFORMER_PRESETS
    else:
        assert model.architecture == "wav2vec2" and model.model_name_or_path
    if name == "ds2_demo":  # the robust default: a time budget and the augmentation chain, SpecAugment on
        assert loop.max_train_minutes and loop.max_train_minutes <= 12  # + synthesis and evaluation < 15 min
        assert augment.active and augment.noise_prob > 0 and augment.reverb_prob > 0 and augment.noise_only_prob > 0
        assert model.mask_time_prob and model.mask_time_prob > 0
    if name == "ds2_demo_clean":
        assert not augment.active and loop.max_train_minutes is None


def test_unknown_config_keys_are_rejected(tmp_path):
    sys.path.insert(0, str(REPO / "recipes"))
    from arguments import DataArguments, parse_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: synthetic\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match="learning_rat"):
        parse_config((DataArguments,), [str(bad)])


def test_spec_augment_has_one_source_of_truth():
    """Unset SpecAugment flags leave the config's values; a flag that contradicts --model_overrides is an error."""
    sys.path.insert(0, str(REPO / "recipes"))
    from arguments import ModelArguments, parse_config

    from ko_asr import DeepSpeech2Config

    (unset,) = parse_config((ModelArguments,), ["--preset", "tiny"])
    config = DeepSpeech2Config.from_preset("tiny", **unset.config_overrides())
    assert (config.mask_feature_length, config.mask_time_length) == (10, 10)  # the config's defaults, not a recipe's
    (given,) = parse_config((ModelArguments,), ["--mask_feature_length", "8", "--model_overrides", '{"hidden_size": 8}'])
    assert given.config_overrides() == {"hidden_size": 8, "mask_feature_length": 8}
    (agree,) = parse_config((ModelArguments,), ["--mask_time_prob", "0.05", "--model_overrides", '{"mask_time_prob": 0.05}'])
    assert agree.config_overrides() == {"mask_time_prob": 0.05}
    (clash,) = parse_config((ModelArguments,), ["--mask_time_prob", "0.05", "--model_overrides", '{"mask_time_prob": 0.1}'])
    with pytest.raises(ValueError, match="mask_time_prob.*contradicts"):
        clash.config_overrides()


@pytest.mark.parametrize("preset", ["tiny", "demo", "base", "paper"])
def test_presets_carry_their_feature_extractor(preset):
    from ko_asr import DeepSpeech2Config, DeepSpeech2FeatureExtractor

    config = DeepSpeech2Config.from_preset(preset)
    extractor = DeepSpeech2FeatureExtractor.from_model_config(config)
    assert extractor.feature_type == {"tiny": "mel", "demo": "mel", "base": "linear", "paper": "linear"}[preset]
    if preset == "base":  # overriding the bin count alone: the error says which option to set
        with pytest.raises(ValueError, match="set input_feature_type='mel'"):
            DeepSpeech2FeatureExtractor.from_model_config(DeepSpeech2Config.from_preset(preset, num_input_features=80))
    features = extractor(np.zeros(16000, np.float32), sampling_rate=16000, return_tensors="pt")["input_features"]
    assert features.shape[-1] == config.num_input_features and extractor.hop_length == config.input_hop_length
