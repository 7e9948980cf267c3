"""`split=` is never silently ignored: a folder's manifest may name each row's split in a `split` column; a folder
without one is one split that answers to the name asked for; a split a source does not have is refused with the
list of those it has. `recipes/evaluate.py --splits test` on the repository's real-speech folder scores it all."""

import csv
import json
import os
import shutil
import subprocess
import sys

import datasets
import pytest
from helpers import REPO, save_random_tiny_ds2

from ko_asr.data import load_speech_dataset
from ko_asr.data.sources import load_corpus
from ko_asr.data.speech_dataset import folder_splits

REAL_SPEECH = REPO / "tests" / "data" / "real_korean_speech"


@pytest.fixture(scope="module")
def split_folder(tmp_path_factory):
    """Five real utterances with a manifest whose `split` column puts three in `train` and two in `test`."""
    folder = tmp_path_factory.mktemp("with_splits")
    with open(REAL_SPEECH / "manifest.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[:5]
    (folder / "zeroth").mkdir()
    for row, split in zip(rows, ["train", "test", "train", "test", "train"]):
        shutil.copy(REAL_SPEECH / row["file"], folder / row["file"])
        row["split"] = split
    with open(folder / "manifest.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder, rows


def test_a_folder_without_split_information_is_one_split_answering_to_any_name():
    assert folder_splits(REAL_SPEECH) is None
    whole = load_speech_dataset(REAL_SPEECH, policy=None)
    as_test = load_speech_dataset(REAL_SPEECH, split="test", policy=None)
    assert isinstance(as_test, datasets.Dataset) and len(as_test) == len(whole) == 11
    assert as_test["id"] == whole["id"]


def test_a_split_column_divides_the_folder(split_folder):
    folder, rows = split_folder
    assert folder_splits(folder) == ["train", "test"]
    both = load_speech_dataset(folder, policy=None)
    assert isinstance(both, datasets.DatasetDict) and list(both) == ["train", "test"]
    expected = {split: [r["utt_id"] for r in rows if r["split"] == split] for split in ("train", "test")}
    assert {split: both[split]["id"] for split in both} == expected
    test = load_speech_dataset(folder, split="test", policy=None)
    assert isinstance(test, datasets.Dataset) and test["id"] == expected["test"]
    with pytest.raises(ValueError, match=r"no split 'dev'; the `split` column of manifest.csv has \['train', 'test'\]"):
        load_speech_dataset(folder, split="dev")


def test_in_memory_sources_honour_split(split_folder):
    folder, _ = split_folder
    both = load_speech_dataset(folder, policy=None)
    assert load_speech_dataset(both, split="train", policy=None)["id"] == both["train"]["id"]
    with pytest.raises(ValueError, match=r"no split 'dev'; it has \['train', 'test'\]"):
        load_speech_dataset(both, split="dev")
    named = datasets.Dataset.from_dict({"audio": [str(REAL_SPEECH / "zeroth/104_003_0019.wav")], "text": ["가"]},
                                       split=datasets.NamedSplit("train"))
    assert len(load_speech_dataset(named, split="train")) == 1
    with pytest.raises(ValueError, match="it is the 'train' split, not 'test'"):
        load_speech_dataset(named, split="test")


def test_load_corpus_asks_the_source_for_each_split(split_folder):
    folder, rows = split_folder
    corpus = load_corpus(str(folder), ["test", "train"], policy="spelling")
    assert list(corpus) == ["test", "train"] and len(corpus["test"]) == 2 and len(corpus["train"]) == 3
    with pytest.raises(ValueError, match=r"no split 'eval_clean'"):
        load_corpus(str(folder), ["eval_clean"])
    assert len(load_corpus(str(REAL_SPEECH), ["test"])["test"]) == 11
    # a split-less folder cannot be two splits: training and evaluating on the same rows would pass silently
    with pytest.raises(ValueError, match=r"no `split` column, so the folder is one split and cannot be all of \['train', 'dev'\]"):
        load_corpus(str(REAL_SPEECH), ["train", "dev"])


def test_the_evaluate_recipe_scores_the_test_split_of_a_folder(tmp_path):
    model_dir, output = tmp_path / "ds2", tmp_path / "eval"
    save_random_tiny_ds2(model_dir)
    result = subprocess.run(
        [sys.executable, str(REPO / "recipes/evaluate.py"), "--model", str(model_dir), "--dataset", str(REAL_SPEECH),
         "--splits", "test", "--output_dir", str(output), "--batch_size", "4"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((output / "metrics.json").read_text())
    assert list(metrics["splits"]) == ["test"] and metrics["splits"]["test"]["utterances"] == 11
    with open(output / "transcripts_test.csv", encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 11
