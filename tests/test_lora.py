"""LoRA fine-tuning of Whisper through peft: only the adapters train; the merged model and the adapter are saved and
load back (tiny random-init Whisper, offline)."""

import os
import subprocess
import sys

import numpy as np
import torch
from helpers import REPO, whisper_recipe
from peft import PeftModel
from safetensors.numpy import load_file
from transformers import WhisperForConditionalGeneration, pipeline

from ko_asr.data import generate_synthetic_corpus
from ko_asr.lora import ADAPTER_DIR, LoraOptions, apply_lora, save_model

recipe = whisper_recipe()
TINY_RANDOM, WhisperArguments, build_model = recipe.TINY_RANDOM, recipe.WhisperArguments, recipe.build_model


def test_only_the_adapters_train_and_merged_equals_base_plus_adapter(tmp_path):
    torch.manual_seed(0)
    model, processor = build_model(WhisperArguments(model_name_or_path=TINY_RANDOM))
    base = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    lora = apply_lora(model, LoraOptions(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj", "fc1"]))
    trainable = [name for name, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    optimizer = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=1e-2)
    features, labels = torch.randn(2, 80, 3000), torch.randint(0, 1000, (2, 6))
    for _ in range(3):
        loss = lora(input_features=features, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    for name, tensor in lora.get_base_model().state_dict().items():  # base weights untouched
        key = name.replace(".base_layer", "")
        if "lora_" not in name:
            torch.testing.assert_close(tensor, base[key], rtol=0, atol=0, msg=name)
    save_model(lora, tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / ADAPTER_DIR / "adapter_config.json").is_file()
    merged = WhisperForConditionalGeneration.from_pretrained(tmp_path).eval()
    changed = [n for n, t in merged.state_dict().items() if not torch.equal(t, base[n])]
    assert changed and all(any(m in n for m in ("q_proj", "v_proj", "fc1")) for n in changed)  # only adapted layers
    torch.manual_seed(0)
    fresh, _ = build_model(WhisperArguments(model_name_or_path=TINY_RANDOM))
    reloaded = PeftModel.from_pretrained(fresh, tmp_path / ADAPTER_DIR).eval()
    decoder_input_ids = torch.tensor([[50258, 50264, 50359]])
    with torch.no_grad():
        torch.testing.assert_close(merged(input_features=features[:1], decoder_input_ids=decoder_input_ids).logits,
                                   reloaded(input_features=features[:1], decoder_input_ids=decoder_input_ids).logits,
                                   atol=1e-4, rtol=0)
    asr = pipeline("automatic-speech-recognition", model=str(tmp_path))
    assert isinstance(asr(np.zeros(16000, dtype=np.float32), generate_kwargs={"max_new_tokens": 4})["text"], str)
    assert any("lora_" in n for n, _ in lora.named_parameters())  # the merge ran on a copy: training can go on


def test_recipe_lora_with_gradient_checkpointing_saves_adapter_and_merged_model(tmp_path):
    corpus = generate_synthetic_corpus(tmp_path / "corpus", "tiny", seed=0)
    output = tmp_path / "whisper-lora"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1", "--num_machines",
               "1", "--mixed_precision", "no", "--dynamo_backend", "no", str(REPO / "recipes/finetune_whisper.py"),
               str(REPO / "recipes/configs/whisper_tiny_test.yaml"), "--data_root", str(corpus), "--output_dir",
               str(output), "--cache_dir", str(tmp_path / "cache"), "--lora", "true", "--lora_r", "4",
               "--lora_alpha", "8", "--gradient_checkpointing", "true"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    adapter = load_file(str(output / ADAPTER_DIR / "adapter_model.safetensors"))
    lora_b = [name for name in adapter if "lora_B" in name]
    # B starts at zero: non-zero B means gradients reached the adapters through the checkpointed layers
    assert lora_b and all(np.abs(adapter[name]).max() > 0 for name in lora_b)
    assert "with LoRA (rank 4" in (output / "README.md").read_text()
    asr = pipeline("automatic-speech-recognition", model=str(output))
    assert isinstance(asr(np.zeros(16000, dtype=np.float32), generate_kwargs={"max_new_tokens": 4})["text"], str)
