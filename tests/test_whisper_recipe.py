"""recipes/finetune_whisper.py on the tiny synthetic corpus: a tiny random Whisper trains, resumes exactly, evaluates
by generation, and loads back; over-long audio and labels are filtered and counted."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from transformers import WhisperForConditionalGeneration, WhisperProcessor

from ko_asr.data import generate_synthetic_corpus, load_ksponspeech
from ko_asr.training import list_checkpoints

REPO = Path(__file__).resolve().parents[1]
LAUNCH = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return generate_synthetic_corpus(tmp_path_factory.mktemp("tiny") / "corpus", "tiny", seed=0)


def finetune(corpus, output_dir, *flags):
    command = [*LAUNCH, str(REPO / "recipes/finetune_whisper.py"), str(REPO / "recipes/configs/whisper_tiny_test.yaml"),
               "--data_root", str(corpus), "--output_dir", str(output_dir), "--cache_dir", str(output_dir.parent / "cache"),
               *flags]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def test_finetune_resume_and_reload(corpus, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    finetune(corpus, straight)
    finetune(corpus, resumed, "--stop_at_step", "2")
    assert [p.name for p in list_checkpoints(resumed)] == ["checkpoint-2"]
    finetune(corpus, resumed, "--resume_from_checkpoint", "latest")
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)

    model = WhisperForConditionalGeneration.from_pretrained(straight)
    processor = WhisperProcessor.from_pretrained(straight)
    assert processor.tokenizer.convert_ids_to_tokens(processor.tokenizer("가").input_ids[1]) == "<|ko|>"
    results = json.loads((straight / "eval_results.json").read_text())
    assert set(results["dev"]) >= {"cer", "cer_with_spaces", "wer", "swer", "loss"}
    card = (straight / "README.md").read_text()
    assert "Whisper" in card and "audio_over_30s" in card and "Synthetic espeak-ng speech" in card
    assert model.config.vocab_size == 51865


def test_evaluate_recipe_reads_a_whisper_model(corpus, tmp_path):
    output = tmp_path / "whisper"
    finetune(corpus, output, "--max_steps", "1")
    result = subprocess.run(
        [sys.executable, str(REPO / "recipes/evaluate.py"), "--model", str(output), "--dataset", "synthetic",
         "--data_root", str(corpus), "--synthetic_size", "tiny", "--splits", "eval_clean", "--policy", "phonetic",
         "--batch_size", "4"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((output / "eval" / "metrics.json").read_text())
    assert metrics["splits"]["eval_clean"]["utterances"] == 6


def test_over_long_audio_and_labels_are_filtered_and_counted(corpus, tmp_path):
    sys.path.insert(0, str(REPO / "recipes"))
    from finetune_whisper import fits_whisper

    from ko_asr.whisper import offline_whisper_processor

    # one utterance longer than Whisper's 30 s window, listed in the official script like the others
    corpus = Path(shutil.copytree(corpus, tmp_path / "corpus"))
    long_pcm = "KsponSpeech_01/KsponSpeech_0001/KsponSpeech_000999.pcm"
    (np.zeros(31 * 16000, dtype="<i2") + 100).tofile(corpus / long_pcm)
    with open(corpus / "scripts" / "train.trn", "a", encoding="utf-8") as handle:
        handle.write(f"{long_pcm} :: 아주 긴 녹음\n")
    dataset = load_ksponspeech(corpus, policy="phonetic", splits=["train"], cache_dir=str(tmp_path / "cache"))["train"]
    processor = offline_whisper_processor()
    texts = list(dataset["text"])
    lengths = [len(ids) for ids in processor.tokenizer(texts).input_ids]
    long_index = list(dataset["id"]).index("KsponSpeech_000999")
    limit = sorted(lengths)[len(lengths) // 2]  # half the labels are too long for this limit
    kept, counts = fits_whisper(dataset, processor, limit, "train")
    # the long utterance counts as over 30 s only, even if its label is also over the limit
    too_long = sum(n > limit for i, n in enumerate(lengths) if i != long_index)
    assert counts == {"train_audio_over_30s": 1, f"train_labels_over_{limit}_tokens": too_long}
    assert len(kept) == len(dataset) - too_long - 1
    assert "KsponSpeech_000999" not in list(kept["id"])
