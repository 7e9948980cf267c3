"""recipes/compare.py on a tiny DeepSpeech2 and a tiny Whisper: table, JSON, bar chart, noise sweep, probes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from ko_asr import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.data import generate_synthetic_corpus

REPO = Path(__file__).resolve().parents[1]


def test_compare_two_model_families_with_noise_sweep(tmp_path):
    corpus = generate_synthetic_corpus(tmp_path / "corpus", "tiny", seed=0)
    torch.manual_seed(0)
    ds2 = tmp_path / "ds2"
    tokenizer = DeepSpeech2CTCTokenizer.from_hangul(units="jamo")
    DeepSpeech2ForCTC(DeepSpeech2Config.from_preset("tiny", num_input_features=64, vocab_size=len(tokenizer))).save_pretrained(ds2)
    DeepSpeech2Processor(DeepSpeech2FeatureExtractor(feature_type="mel", feature_size=64), tokenizer).save_pretrained(ds2)
    sys.path.insert(0, str(REPO / "recipes"))
    from finetune_whisper import WhisperArguments, build_model

    whisper, processor = build_model(WhisperArguments(model_name_or_path="tiny-random"))
    whisper.generation_config.max_length = 12
    whisper.save_pretrained(tmp_path / "whisper")
    processor.save_pretrained(tmp_path / "whisper")

    output = tmp_path / "compare"
    result = subprocess.run(
        [sys.executable, str(REPO / "recipes/compare.py"), "--models", str(ds2), str(tmp_path / "whisper"),
         "--dataset", "synthetic", "--data_root", str(corpus), "--synthetic_size", "tiny", "--splits", "eval_clean",
         "eval_other", "--policy", "phonetic", "--max_samples", "2", "--noise_sweep", "true", "--snrs", "10", "0",
         "--output_dir", str(output)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    data = json.loads((output / "comparison.json").read_text())
    assert set(data["models"]) == {str(ds2), str(tmp_path / "whisper")}
    for entry in data["models"].values():
        assert set(entry["splits"]) == {"eval_clean", "eval_other"}
        assert entry["splits"]["eval_clean"]["cpu_rtf"] > 0 and entry["parameters"] > 0
        assert set(entry["noise_sweep"]) == {"10.0", "0.0"}
        assert set(entry["conditions"]) == {"noise 10 dB", "noise 0 dB", "reverberant",
                                            "telephone", "real speech", "real speech, noise 10 dB"}
        assert entry["noise_sweep"]["10.0"] == entry["conditions"]["noise 10 dB"]
        assert all(value >= 0 for value in entry["conditions"].values())
        # silence, faint room noise and each of the 6 held-out noise recordings alone
        assert len(entry["hallucination_chars"]) == 8 and "silence (3 s)" in entry["hallucination_chars"]
    assert {"DeepSpeech2ForCTC", "WhisperForConditionalGeneration"} == {e["type"] for e in data["models"].values()}
    # Whisper's hallucination guard: counted on the same probes for Whisper, not applicable to the CTC model
    whisper_entry = data["models"][str(tmp_path / "whisper")]
    assert data["models"][str(ds2)]["hallucination_chars_guard"] is None is data["models"][str(ds2)]["splits_guard"]
    assert set(whisper_entry["hallucination_chars_guard"]) == set(whisper_entry["hallucination_chars"])
    assert set(whisper_entry["splits_guard"]) == {"eval_clean", "eval_other"}  # what the guard costs on speech
    parameters = {str(ds2): sum(p.numel() for p in DeepSpeech2ForCTC.from_pretrained(ds2).parameters()),
                  str(tmp_path / "whisper"): sum(p.numel() for p in whisper.parameters())}
    assert {path: entry["parameters"] for path, entry in data["models"].items()} == parameters
    # the Markdown table shows the JSON's numbers, row by row
    table = (output / "comparison.md").read_text()
    for path, entry in data["models"].items():
        rows = [(path, split, metrics) for split, metrics in entry["splits"].items()]
        rows += [(f"{path} + guard", split, metrics) for split, metrics in (entry["splits_guard"] or {}).items()]
        for name, split, metrics in rows:
            row = next(line for line in table.splitlines() if line.startswith(f"| {name} | {split} |"))
            assert f"{metrics['cer']:.4f}" in row and f"{metrics['wer']:.4f}" in row and f"{entry['parameters']:,}" in row
    for name in ("comparison.md", "cer_by_split.png", "noise_sweep.png"):
        assert (output / name).stat().st_size > 100
    assert "eval_other" in (output / "comparison.md").read_text()
    # one robustness table with both models side by side, and the goals with the measured ratios
    header = next(line for line in table.splitlines() if line.startswith("| input | "))
    assert header == "| input | ds2 | whisper | whisper + guard |"
    totals = next(line for line in table.splitlines() if line.startswith("| **total** | "))
    assert totals == "| **total** | " + " | ".join(str(sum(counts.values())) for counts in (
        data["models"][str(ds2)]["hallucination_chars"], whisper_entry["hallucination_chars"],
        whisper_entry["hallucination_chars_guard"])) + " |"
    for line in ("| noise 10 dB | ", "| reverberant | ", "| telephone | ", "| real speech | ", "| silence (3 s) | ",
                 "| CER at 10 dB / clean ≤ 1.5 | ", "| characters on silence and noise alone = 0 (model alone) | "):
        assert line in table
    ds2_entry = data["models"][str(ds2)]
    row = next(line for line in table.splitlines() if line.startswith("| CER at 10 dB / clean"))
    assert f"{ds2_entry['conditions']['noise 10 dB'] / ds2_entry['clean_cer']:.3f}" in row
