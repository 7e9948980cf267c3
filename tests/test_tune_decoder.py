"""recipes/tune_decoder.py: grid search on a dev split, the best values saved into the model's decoder config."""

from __future__ import annotations

import json

from helpers import save_random_tiny_ds2

from ko_asr.lm_build import build_language_model


def test_tune_decoder_saves_the_best_grid_point(tmp_path, corpus):
    import sys
    from pathlib import Path

    from transformers import AutoTokenizer

    from ko_asr.data.sources import load_corpus

    recipes = Path(__file__).resolve().parents[1] / "recipes"
    sys.path.insert(0, str(recipes))
    try:
        import tune_decoder as tune
    finally:
        sys.path.remove(str(recipes))
    model_dir = save_random_tiny_ds2(tmp_path / "model")
    train = load_corpus("ksponspeech", ["train"], data_root=str(corpus))["train"]["text"]
    build_language_model(train, model_dir, order=3, tokenizer=AutoTokenizer.from_pretrained(model_dir),
                         alpha=9.0, beta=9.0)
    result = tune.main([
        "--model", str(model_dir), "--dataset", "ksponspeech", "--data_root", str(corpus), "--split", "dev",
        "--alphas", "0.0", "0.5", "--betas", "0.0", "1.0", "--beam_widths", "2", "--num_processes", "1",
    ])
    assert len(result["grid"]) == 4
    best = result["best"]
    assert best["cer"] == min(row["cer"] for row in result["grid"])
    saved = json.loads((model_dir / "language_model" / "decoder_config.json").read_text(encoding="utf-8"))
    assert (saved["alpha"], saved["beta"], saved["beam_width"]) == (best["alpha"], best["beta"], 2)
    assert (model_dir / "eval" / "decoder_grid.png").stat().st_size > 0
    assert len((model_dir / "eval" / "decoder_grid.csv").read_text().splitlines()) == 5
