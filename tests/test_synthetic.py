"""The synthetic corpus: AI Hub layout, real notation, disjoint eval text, determinism, noisy eval_other."""

import hashlib

import numpy as np
import pytest

from ko_asr.data import generate_synthetic_corpus, load_ksponspeech
from ko_asr.data.synthetic import load_sentence_bank, plan_corpus, split_sentence_bank
from ko_asr.text import normalize_transcript


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    return generate_synthetic_corpus(tmp_path_factory.mktemp("synthetic") / "corpus", "tiny", seed=0)


def test_sentence_bank_is_large_varied_and_in_notation():
    bank = load_sentence_bank()
    assert len(bank) >= 1000 and len(set(bank)) == len(bank)
    assert sum("(" in s for s in bank) > 0.1 * len(bank)  # numbers / Latin words as dual pairs
    words = {w for s in bank for w in normalize_transcript(s).split()}
    assert len(words) > 2500


def test_eval_sentences_never_appear_in_train():
    pools = split_sentence_bank(load_sentence_bank())
    assert not set(pools["train"]) & (set(pools["dev"]) | set(pools["eval"]))
    assert not set(pools["dev"]) & set(pools["eval"])
    plan = plan_corpus({"train": 400, "dev": 50, "eval_clean": 50, "eval_other": 50}, seed=3)
    strip = lambda u: normalize_transcript(u.raw_transcript, policy="phonetic")  # noqa: E731
    train = {strip(u) for u in plan if u.split == "train"}
    assert not train & {strip(u) for u in plan if u.split != "train"}


def test_layout_scripts_and_loader(tiny_corpus, tmp_path):
    assert (tiny_corpus / "KsponSpeech_01/KsponSpeech_0001/KsponSpeech_000001.pcm").is_file()
    assert (tiny_corpus / "KsponSpeech_05/KsponSpeech_0621/KsponSpeech_620001.pcm").is_file()
    assert (tiny_corpus / "KsponSpeech_eval/eval_other/KsponSpeech_E03001.pcm").is_file()
    lines = (tiny_corpus / "scripts/train.trn").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 24 and all(" :: " in line for line in lines)
    # the .txt files are CP949, as on the AI Hub disks
    raw = (tiny_corpus / "KsponSpeech_01/KsponSpeech_0001/KsponSpeech_000001.txt").read_bytes().decode("cp949")
    assert raw.strip() == lines[0].split(" :: ")[1]
    dataset_dict, report = load_ksponspeech(tiny_corpus, cache_dir=str(tmp_path), return_report=True)
    assert report.loaded == {"train": 24, "dev": 6, "eval_clean": 6, "eval_other": 6} and not report.counts
    row = dataset_dict["train"][0]
    assert 0.5 < row["duration"] < 15 and row["audio"]["array"].std() > 0.01


def test_transcripts_use_the_real_notation():
    plan = plan_corpus({"train": 600}, seed=0)
    raws = [u.raw_transcript for u in plan]
    assert any(")/(" in r for r in raws)
    assert any("+" in r for r in raws)
    assert any(r.split()[0] in ("어/", "음/", "아/", "그/", "뭐/") for r in raws)
    assert any(tag in r for r in raws for tag in ("b/", "n/", "l/", "o/"))
    for u in plan:  # speech follows the pronunciation side and holds no notation
        assert u.spoken_text == normalize_transcript(u.raw_transcript, policy="phonetic")
        assert not set("()/+*0123456789") & set(u.spoken_text)


def test_deterministic_from_the_seed(tmp_path):
    again = generate_synthetic_corpus(tmp_path / "again", {"train": 3, "eval_other": 2}, seed=0)
    other = generate_synthetic_corpus(tmp_path / "other", {"train": 3, "eval_other": 2}, seed=1)
    twice = generate_synthetic_corpus(tmp_path / "twice", {"train": 3, "eval_other": 2}, seed=0)

    def digest(root):
        return hashlib.sha1(b"".join(p.read_bytes() for p in sorted(root.rglob("*.pcm")))).hexdigest()

    assert digest(again) == digest(twice) != digest(other)


def test_eval_other_is_noisy_within_the_snr_range():
    plan = plan_corpus({"eval_clean": 20, "eval_other": 40}, seed=0)
    other = [u for u in plan if u.split == "eval_other"]
    assert all(u.noise in ("white", "babble") for u in other)
    assert {u.noise for u in other} == {"white", "babble"}
    assert all(0.0 <= u.snr_db <= 20.0 for u in other)
    assert all(u.noise is None for u in plan if u.split == "eval_clean")


def test_flat_eval_layout_and_refusing_to_overwrite(tmp_path):
    root = generate_synthetic_corpus(tmp_path / "flat", {"eval_clean": 2}, eval_level=False, write_scripts=False)
    assert (root / "eval_clean/KsponSpeech_E00001.pcm").is_file()
    assert len(load_ksponspeech(root, cache_dir=str(tmp_path / "cache"))["eval_clean"]) == 2
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/file").write_text("x")
    with pytest.raises(FileExistsError):
        generate_synthetic_corpus(tmp_path / "busy", {"train": 1})
    mixed = np.fromfile(root / "eval_clean/KsponSpeech_E00001.pcm", dtype="<i2")
    assert mixed.size > 8000
