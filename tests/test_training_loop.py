"""The training loop's steps as units (the end-to-end runs are in test_training.py)."""

import json

import datasets
import numpy as np
import pytest
import torch
from accelerate import Accelerator

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.evaluation import evaluate_dataset
from ko_asr.text.policy import TranscriptPolicy
from ko_asr.training.loop import (
    TrainingLoopConfig,
    TrainingTask,
    _Schedule,
    _TrainWindow,
    evaluate_splits,
    train_step,
)
from ko_asr.training.model_card import write_model_card
from ko_asr.transcription import CTCTranscriber

TEXTS = ["안녕하세요", "오늘 날씨", "네 좋아요", "가나다"]


@pytest.fixture
def task():
    torch.manual_seed(0)
    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(TEXTS)
    config = DeepSpeech2Config.from_preset("tiny", vocab_size=len(tokenizer))
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor.from_model_config(config), tokenizer)
    rng = np.random.default_rng(0)
    rows = [{"id": f"u{i}", "audio": {"array": (0.1 * rng.standard_normal(6000)).astype(np.float32)}, "text": t}
            for i, t in enumerate(TEXTS)]
    return TrainingTask(model=DeepSpeech2ForCTC(config), processor=processor, transcriber=CTCTranscriber(processor),
                        train_dataset=rows, eval_datasets={}, policy=TranscriptPolicy(policy="phonetic")), rows


@pytest.mark.parametrize(
    ("epochs", "max_steps", "accumulation", "batches", "expected"),
    [
        (3, -1, 1, 10, (10, 30, 3)),
        (3, -1, 4, 10, (3, 9, 3)),  # a partial accumulation window still ends in a step
        (3, 25, 1, 10, (10, 25, 4)),  # max_steps wins; one spare epoch for shuffled epoch lengths
        (3, 5, 1, 10, (10, 5, 2)),
    ],
)
def test_schedule(epochs, max_steps, accumulation, batches, expected):
    config = TrainingLoopConfig(output_dir="x", num_train_epochs=epochs, max_steps=max_steps,
                                gradient_accumulation_steps=accumulation)
    schedule = _Schedule.of(config, batches)
    assert (schedule.steps_per_epoch, schedule.total_steps, schedule.num_epochs) == expected


def test_train_step_updates_only_when_gradients_sync(task, tmp_path):
    task, rows = task
    config = TrainingLoopConfig(output_dir=str(tmp_path), gradient_accumulation_steps=2, max_grad_norm=1.0)
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    model, optimizer = accelerator.prepare(task.model, torch.optim.SGD(task.model.parameters(), lr=0.1))
    collate = task.transcriber.collator()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_step(model, collate(rows[:2]), optimizer, accelerator, config)
    assert not accelerator.sync_gradients
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())  # accumulating, not stepping
    outputs = train_step(model, collate(rows[2:]), optimizer, accelerator, config)
    assert accelerator.sync_gradients and outputs.loss.item() > 0
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())


def test_train_window_sums_loss_and_audio_of_its_batches(task):
    task, rows = task
    collate = task.transcriber.collator()
    window = _TrainWindow()
    window.add(2.0, collate(rows[:1]))
    window.add(4.0, collate(rows[1:3]))
    assert window.batches == 2 and window.loss / window.batches == 3.0
    assert window.audio_seconds == pytest.approx(3 * 6000 / 16000)


def test_evaluate_splits_scores_each_split_with_the_task_policy_and_leaves_training_mode(task, tmp_path):
    task, rows = task
    as_dataset = lambda items: datasets.Dataset.from_list(  # noqa: E731
        [{**r, "audio": {"array": r["audio"]["array"].tolist()}} for r in items])
    task.eval_datasets = {"dev": as_dataset(rows[:3]), "eval_clean": as_dataset(rows)}
    config = TrainingLoopConfig(output_dir=str(tmp_path), eval_batch_size=2)
    task.model.train()
    results = evaluate_splits(task, task.model, Accelerator(cpu=True), config, limit=None)
    assert set(results) == {"dev", "eval_clean"}
    assert {"cer", "cer_with_spaces", "wer", "swer", "loss"} <= set(results["dev"])
    assert task.model.training
    limited = evaluate_splits(task, task.model, Accelerator(cpu=True), config, limit=1)
    single, _ = evaluate_dataset(
        task.transcriber, task.model, task.eval_datasets["dev"].select([0]), policy=task.policy)
    assert limited["dev"] == single  # `limit` rows of each split, nothing else


def test_the_task_saves_its_policy_with_the_processor(task, tmp_path):
    task, _ = task
    task.save_pretrained(tmp_path)
    from transformers import AutoProcessor

    import ko_asr  # noqa: F401

    assert TranscriptPolicy.from_tokenizer(AutoProcessor.from_pretrained(tmp_path)) == TranscriptPolicy(policy="phonetic")


def test_model_card_lists_every_split_and_the_policy(tmp_path):
    final = {"dev": {"cer": 0.25, "cer_with_spaces": 0.3, "wer": 0.5, "swer": 0.4},
             "eval_clean": {"cer": 0.125, "cer_with_spaces": 0.2, "wer": 0.3, "swer": 0.25}}
    write_model_card(tmp_path, {"model_name": "M", "policy": "phonetic"}, final, TrainingLoopConfig(output_dir="x"))
    card = (tmp_path / "README.md").read_text()
    assert "| dev | 0.2500 | 0.3000 | 0.5000 | 0.4000 |" in card
    assert "| eval_clean | 0.1250 | 0.2000 | 0.3000 | 0.2500 |" in card
    assert "Transcript policy: `phonetic`" in card


def test_time_budget_ends_the_run_on_time_at_the_end_of_its_schedule(task, tmp_path):
    import csv
    import time

    from ko_asr.training.loop import make_accelerator, run_training

    task, rows = task
    task.train_dataset = datasets.Dataset.from_list([{**r, "duration": 0.375} for r in rows])
    budget_minutes = 0.1  # 6 s; the schedule below would take thousands of steps
    config = TrainingLoopConfig(
        output_dir=str(tmp_path), num_train_epochs=5000, max_train_minutes=budget_minutes, max_batch_seconds=1.0,
        learning_rate=1e-3, warmup_ratio=0.0, lr_scheduler_type="linear", logging_steps=1, save_steps=0,
        report_to=[],
    )
    started = time.perf_counter()
    result = run_training(task, config, make_accelerator(config))
    loop_seconds = time.perf_counter() - started
    budget = result["budget"]
    assert not result["stopped_early"] and budget["steps"] == result["step"]
    assert 0 < budget["steps"] < budget["scheduled_steps"] == 2 * 5000
    assert 6.0 <= budget["minutes"] * 60 < 6.0 + 5.0  # ends at the first step past the budget (a busy CPU: seconds)
    assert loop_seconds < 6.0 + 60.0  # plus loading, the final evaluation and saving
    with open(tmp_path / "metrics.csv", encoding="utf-8") as handle:
        rates = [float(r["value"]) for r in csv.DictReader(handle) if r["name"] == "learning_rate"]
    # the linear decay followed the clock: it fell steadily and reached (nearly) zero at the budget, where counting
    # steps would still be at 1e-3 * (1 - steps / 10000), above 9e-4
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))
    assert rates[0] > 2e-4 and rates[-1] < 0.1 * rates[0] and rates[-1] < 1e-4
    assert (tmp_path / "model.safetensors").is_file()


def test_time_budget_must_be_positive(task, tmp_path):
    from ko_asr.training.loop import make_accelerator, run_training

    task, rows = task
    task.train_dataset = datasets.Dataset.from_list([{**r, "duration": 0.375} for r in rows])
    config = TrainingLoopConfig(output_dir=str(tmp_path), max_train_minutes=0, report_to=[])
    with pytest.raises(ValueError, match="max_train_minutes"):
        run_training(task, config, make_accelerator(config))


@pytest.mark.parametrize(("threshold", "reached_at"), [(100.0, 20), (0.0, None)])
def test_augmentation_ramp_starts_when_the_train_loss_falls_below_its_threshold(task, tmp_path, threshold, reached_at):
    from ko_asr.data.augment import AugmentationConfig, WaveformAugmenter
    from ko_asr.training.checkpoints import STATE_DIR, STATE_FILE, list_checkpoints
    from ko_asr.training.loop import make_accelerator, run_training

    task, rows = task
    task.train_dataset = datasets.Dataset.from_list([{**r, "duration": 0.375} for r in rows])
    task.augment = WaveformAugmenter.from_config(
        AugmentationConfig(noise_prob=1.0, noise_dir="generated", ramp_below_train_loss=threshold, ramp_steps=5))
    config = TrainingLoopConfig(output_dir=str(tmp_path), max_steps=24, max_batch_seconds=1.0, save_steps=24,
                                report_to=[])
    run_training(task, config, make_accelerator(config))
    # every loss is below 100 (from step 20, the earliest) and none below 0
    assert task.augment.loss_reached_at == reached_at
    assert task.augment.config.strength(24, task.augment.loss_reached_at) == (0.8 if reached_at else 0.0)
    state = json.loads((list_checkpoints(tmp_path)[-1] / STATE_DIR / STATE_FILE).read_text())
    assert state["extra"].get("augment_ramp_from") == reached_at  # a resume picks the ramp up where it was
