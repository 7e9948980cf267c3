"""From a trained run to the Hub: the model card's metadata, `recipes/evaluate.py` adding its splits to the card, the
push that uploads only the model, the console line at each evaluation and the learning-rate plot.

One tiny run of `run_training` in this process (seconds) with `huggingface_hub.HfApi` mocked: the Hub is never reached.
"""

import contextlib
import csv
import importlib.util
import io
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import datasets
import numpy as np
import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from helpers import REPO
from huggingface_hub import ModelCard
from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
from huggingface_hub.utils import filter_repo_objects

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.metrics import METRICS
from ko_asr.text.policy import TranscriptPolicy
from ko_asr.training import TrainingLoopConfig, TrainingTask, make_accelerator, run_training
from ko_asr.training.hub import upload_ignore_patterns
from ko_asr.training.model_card import TABLE_END, TABLE_START, build_model_card, update_model_card
from ko_asr.transcription import CTCTranscriber

TEXTS = ["안녕하세요", "오늘 날씨", "네 좋아요", "가나다"]
SYNTHETIC_NOTE = " Synthetic espeak-ng speech: not real-speech accuracy."
DESCRIBE = {"model_name": "tiny DS2", "summary": "A tiny test model.", "data": "four noise clips", "dataset": "synthetic",
            "synthetic_note": SYNTHETIC_NOTE, "policy": "phonetic", "tags": ["deepspeech2"]}


def mocked_hub():
    """`HfApi` as `ko_asr.training.hub` sees it; `upload_folder` records the files it would send, listed and filtered
    the way huggingface_hub's own `upload_folder` does, at the moment of the call."""
    api = mock.MagicMock()
    api.create_repo.side_effect = lambda repo_id, **kwargs: SimpleNamespace(repo_id=repo_id if "/" in repo_id else f"me/{repo_id}")
    api.uploads = []

    def upload_folder(*, folder_path, ignore_patterns, **kwargs):
        root = Path(folder_path)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        api.uploads.append({"files": set(filter_repo_objects(files, ignore_patterns=[*ignore_patterns, *DEFAULT_IGNORE_PATTERNS])),
                            **kwargs})
        return SimpleNamespace(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/0")

    api.upload_folder.side_effect = upload_folder
    return mock.patch("ko_asr.training.hub.HfApi", return_value=api), api


def reset_accelerate():
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def make_task() -> TrainingTask:
    torch.manual_seed(0)
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(TEXTS)
    model_config = DeepSpeech2Config.from_preset("tiny", vocab_size=len(tokenizer))
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor.from_model_config(model_config), tokenizer)
    rng = np.random.default_rng(0)
    rows = [{"id": f"u{i}", "audio": {"array": (0.1 * rng.standard_normal(6000)).astype(np.float32).tolist()},
             "text": text, "duration": 6000 / 16000} for i, text in enumerate(TEXTS)]
    dataset = datasets.Dataset.from_list(rows)
    return TrainingTask(model=DeepSpeech2ForCTC(model_config), processor=processor, transcriber=CTCTranscriber(processor),
                        train_dataset=dataset, eval_datasets={"dev": dataset.select(range(2))},
                        policy=TranscriptPolicy(policy="phonetic"), describe=DESCRIBE)


def push_config(output: Path) -> TrainingLoopConfig:
    """4 steps with checkpoints, TensorBoard logs, the sample-order audit, evaluation every 2 steps and a push."""
    return TrainingLoopConfig(
        output_dir=str(output), max_steps=4, max_batch_seconds=0.8, logging_steps=1, eval_steps=2, save_steps=2,
        save_total_limit=None, report_to=["tensorboard"], record_sample_order=True, push_to_hub=True,
        hub_model_id="tiny-ds2", hub_private_repo=True,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    task = make_task()
    output = tmp_path_factory.mktemp("sharing") / "tiny-ds2"
    config = push_config(output)
    reset_accelerate()
    patch, api = mocked_hub()
    stdout = io.StringIO()
    with patch, contextlib.redirect_stdout(stdout):
        result = run_training(task, config, make_accelerator(config))
    reset_accelerate()
    reference = tmp_path_factory.mktemp("saved")
    task.save_pretrained(reference)  # the files save_pretrained writes: the model as from_pretrained needs it
    return SimpleNamespace(output=output, result=result, api=api, stdout=stdout.getvalue(),
                           model_files={p.name for p in reference.iterdir()})


def test_push_uploads_exactly_the_model_card_and_plots(run):
    assert run.api.create_repo.call_args_list[0] == mock.call("tiny-ds2", private=True, repo_type="model", exist_ok=True)
    (upload,) = run.api.uploads
    assert upload["repo_id"] == "me/tiny-ds2"  # the namespace create_repo resolved
    plots = {f"plots/{name}.png" for name in ("loss_per_step", "cer_per_step", "loss_per_epoch", "cer_per_epoch",
                                              "learning_rate_per_step")}
    assert upload["files"] == run.model_files | {"README.md"} | plots
    # what stayed local is really there, so the exclusion is what kept it out
    local = {p.relative_to(run.output).as_posix() for p in run.output.rglob("*") if p.is_file()}
    for kept in ("metrics.csv", "eval_results.json", "checkpoint-2/model.safetensors", "sample_order/epoch0_rank0.txt"):
        assert kept in local, kept
    assert any(re.fullmatch(r"runs/ko_asr/events\.out\.tfevents\..+", path) for path in local)
    assert run.result["hub_commit"] == "https://huggingface.co/me/tiny-ds2/commit/0"


def test_the_repository_is_created_before_training(tmp_path):
    patch, api = mocked_hub()
    api.create_repo.side_effect = PermissionError("not logged in")
    reset_accelerate()
    config = push_config(tmp_path / "run")
    with patch, pytest.raises(PermissionError):
        run_training(make_task(), config, make_accelerator(config))
    reset_accelerate()
    assert not (tmp_path / "run" / "metrics.csv").exists()  # failed before the first step, not after the last


def test_tracker_logs_go_to_logging_dir_not_beside_the_model(run):
    assert not (run.output / "ko_asr").exists()  # where Accelerate's project_dir put them before
    assert list((run.output / "runs" / "ko_asr").glob("events.out.tfevents.*"))


def test_a_logging_dir_set_inside_the_folder_is_not_uploaded_either(tmp_path):
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "events.log").write_text("x")
    (tmp_path / "config.json").write_text("{}")
    patterns = upload_ignore_patterns(tmp_path, (tmp_path / "tb", tmp_path.parent / "elsewhere"))
    assert "tb/*" in patterns and not any("elsewhere" in p for p in patterns)
    assert list(filter_repo_objects(["config.json", "tb/events.log"], ignore_patterns=patterns)) == ["config.json"]


def test_each_evaluation_prints_one_line_with_dev_loss_and_cer(run):
    lines = [line for line in run.stdout.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2", "4"]  # the step-2 evaluation and the final one
    for line in lines:
        assert re.fullmatch(r"step \d+ \(epoch \d+\.\d\d\) \| dev loss \d+\.\d{3} cer \d+\.\d{4}", line), line
    final = run.result["eval"]["dev"]
    assert lines[-1].endswith(f"dev loss {final['loss']:.3f} cer {final['cer']:.4f}")


def test_learning_rate_is_logged_and_plotted(run):
    with open(run.output / "metrics.csv", encoding="utf-8") as handle:
        rates = [float(r["value"]) for r in csv.DictReader(handle) if r["name"] == "learning_rate"]
    assert len(rates) == 4 and len(set(rates)) > 1  # one per logged step, following the schedule
    plot = run.output / "plots" / "learning_rate_per_step.png"
    assert plot.stat().st_size > 1000 and str(plot) in run.result["plots"]


def test_the_card_of_a_run_parses_as_a_hub_model_card(run):
    card = ModelCard.load(run.output / "README.md")
    data = card.data
    assert (data.license, data.library_name, data.pipeline_tag, data.language) == (
        "apache-2.0", "transformers", "automatic-speech-recognition", "ko")
    assert data.datasets == ["synthetic"]
    assert {"ko_asr", "deepspeech2", "synthetic-data"} <= set(data.tags)
    final = run.result["eval"]["dev"]
    assert {(r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results} == {
        ("dev", m): round(final[m], 4) for m in METRICS}
    assert 'pipeline("automatic-speech-recognition", model="me/tiny-ds2")' in card.text  # the pushed repository
    assert "import ko_asr" in card.text and "trust_remote_code=True" in card.text
    assert SYNTHETIC_NOTE.strip() in card.text and "AI Hub" in card.text


def test_model_index_holds_every_split_and_metric(tmp_path):
    final = {"dev": {"cer": 0.25, "cer_with_spaces": 0.3, "wer": 0.5, "swer": 0.4, "loss": 1.0},
             "eval_clean": {"cer": 0.12345, "cer_with_spaces": 0.2, "wer": 0.3, "swer": 0.25}}
    card = ModelCard(str(build_model_card(DESCRIBE, final, TrainingLoopConfig(output_dir="outputs/x"))))
    results = {(r.dataset_type, r.dataset_split, r.metric_type): (r.metric_value, r.task_type) for r in card.data.eval_results}
    assert results == {("synthetic", split, m): (round(final[split][m], 4), "automatic-speech-recognition")
                       for split in final for m in METRICS}
    assert card.data.model_name == "tiny DS2"
    assert "| synthetic | eval_clean | 0.1235 | 0.2000 | 0.3000 | 0.2500 |" in card.text
    assert 'model="outputs/x"' in card.text  # not pushed: the snippet loads the local folder


def test_a_model_trained_on_ai_hub_data_says_its_weights_follow_ai_hub_terms():
    card = build_model_card({**DESCRIBE, "dataset": "ksponspeech", "synthetic_note": ""}, {}, TrainingLoopConfig(output_dir="x"))
    assert card.data.license == "apache-2.0" and card.data.datasets == ["ksponspeech"]
    assert "This model was trained on AI Hub data" in card.text and "synthetic-data" not in card.data.tags


def test_update_model_card_adds_splits_and_keeps_the_rest(tmp_path):
    path = tmp_path / "README.md"
    build_model_card(DESCRIBE, {"dev": {"cer": 0.25, "cer_with_spaces": 0.3, "wer": 0.5, "swer": 0.4}},
                     TrainingLoopConfig(output_dir="x")).save(path)
    path.write_text(path.read_text(encoding="utf-8") + "\n## Notes\n\nWritten by hand.\n", encoding="utf-8")
    before = ModelCard.load(path)
    update_model_card(path, {"eval_clean": {"cer": 0.125, "cer_with_spaces": 0.2, "wer": 0.3, "swer": 0.25},
                             "dev": {"cer": 0.2, "cer_with_spaces": 0.3, "wer": 0.5, "swer": 0.4}}, "synthetic")
    after = ModelCard.load(path)
    values = {(r.dataset_split, r.metric_type): r.metric_value for r in after.data.eval_results}
    assert values[("eval_clean", "cer")] == 0.125 and values[("dev", "cer")] == 0.2  # added, and refreshed in place
    assert len(values) == 2 * len(METRICS)
    assert after.text.count(TABLE_START) == 1 and "| synthetic | eval_clean | 0.1250 |" in after.text
    assert "| synthetic | dev | 0.2000 |" in after.text and "| synthetic | dev | 0.2500 |" not in after.text
    strip_table = lambda text: text[:text.index(TABLE_START)] + text[text.index(TABLE_END):]  # noqa: E731
    assert strip_table(after.text) == strip_table(before.text)  # everything else untouched
    assert after.data.tags == before.data.tags and after.data.license == before.data.license


def test_update_model_card_gives_a_hand_written_card_an_evaluation_section(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("---\nlicense: apache-2.0\n---\n# My model\n\nHand-written.\n", encoding="utf-8")
    update_model_card(path, {"test": {"cer": 0.5, "cer_with_spaces": 0.5, "wer": 1.0, "swer": 0.9}}, "Bingsu/zeroth-korean")
    card = ModelCard.load(path)
    assert card.text.startswith("# My model\n\nHand-written.\n") and "| Bingsu/zeroth-korean | test | 0.5000 |" in card.text
    assert card.data.model_name == tmp_path.name and len(card.data.eval_results) == len(METRICS)


@pytest.fixture
def evaluate_recipe(monkeypatch):
    # by path, under another name: on sys.path as "evaluate" it would shadow the `evaluate` library; sys.path (which
    # the recipe extends) and sys.modules (which its dataclasses need) are restored afterwards
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("recipes_evaluate", REPO / "recipes" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_evaluate_recipe_adds_its_splits_to_the_card_and_pushes_without_its_outputs(run, corpus, evaluate_recipe, tmp_path):
    model = Path(shutil.copytree(run.output, tmp_path / "tiny-ds2"))
    common = ["--model", str(model), "--dataset", "synthetic", "--data_root", str(corpus), "--synthetic_size", "tiny",
              "--batch_size", "4"]
    patch, api = mocked_hub()
    with patch:
        results = evaluate_recipe.main([*common, "--splits", "eval_clean", "eval_other", "--max_samples", "3",
                                        "--push_to_hub", "true"])
    card = ModelCard.load(model / "README.md")
    values = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    for split in ("eval_clean", "eval_other"):  # 3 of the 6 rows: named as the subset they are
        assert {m: values[(f"{split}[:3]", m)] for m in METRICS} == {m: round(results[split][m], 4) for m in METRICS}
    assert values[("dev", "cer")] == round(run.result["eval"]["dev"]["cer"], 4)  # training's split kept
    assert "| synthetic | eval_other[:3] |" in card.text
    (upload,) = api.uploads
    assert (model / "eval" / "metrics.json").is_file() and not any(f.startswith("eval/") for f in upload["files"])
    assert upload["files"] == run.api.uploads[0]["files"] and upload["repo_id"] == "me/tiny-ds2"

    evaluate_recipe.main([*common, "--splits", "eval_clean"])
    card = ModelCard.load(model / "README.md")
    assert ("eval_clean", "cer") in {(r.dataset_split, r.metric_type) for r in card.data.eval_results}  # the whole split

    before = (model / "README.md").read_bytes()
    evaluate_recipe.main([*common, "--splits", "eval_other", "--update_model_card", "false"])
    assert (model / "README.md").read_bytes() == before
    # scores under another transcript policy are not the model's: the card keeps the trained policy's numbers
    evaluate_recipe.main([*common, "--splits", "eval_other", "--policy", "spelling"])
    assert (model / "README.md").read_bytes() == before
