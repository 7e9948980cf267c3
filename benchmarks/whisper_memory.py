"""Will it fit? Peak memory of real Whisper training steps, full fine-tuning vs LoRA, with and without gradient
checkpointing, and what that means for one 24 GB GPU.

Each variant runs in a fresh process: the Whisper architecture is built from its published config (random weights,
no download), optionally wrapped with LoRA (`ko_asr.lora`, rank 32 on q/k/v/out projections and fc1/fc2), then two
AdamW training steps run on a batch of `--batch` 30-second inputs with `--label_tokens`-token labels. On CPU the
figure is the process's peak resident-memory growth from before the model exists (`ko_asr.evaluation.
measure_peak_rss`); on a CUDA device (`--device cuda`) it is `torch.cuda.max_memory_allocated` under bf16 autocast.

On this CPU-only machine `--sizes` defaults to `small` (measured). The 24 GB table extends the measurement to
`medium` and `large-v3` by arithmetic, labelled *derived*:
- states: weights fp32 (4 B per parameter), gradients fp32 (4 B) and AdamW's two moments (8 B; 2 B with 8-bit AdamW)
  for each *trainable* parameter;
- activations: the small model's measured peak minus its states, scaled by `d_model x layers` and halved for bf16.

Run: `.venv/bin/python benchmarks/whisper_memory.py [--sizes small] [--batch 2]` (a few minutes per size on 2 cores);
`--device cuda --sizes small medium large-v3` on a GPU. `--sizes tiny` is the test suite's smoke run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPU_BYTES = 24 * 1000**3  # "24 GB" as sold (an RTX 3090: 24,576 MiB less the driver's share, ~23.5 GiB usable)

#: Architecture fields from the published config.json of openai/whisper-{small,medium,large-v3}; `tiny` is a smoke size.
WHISPER_SIZES = {
    "tiny": dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
                 encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=80, vocab_size=51865),
    "small": dict(d_model=768, encoder_layers=12, decoder_layers=12, encoder_attention_heads=12,
                  decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072, num_mel_bins=80,
                  vocab_size=51865),
    "medium": dict(d_model=1024, encoder_layers=24, decoder_layers=24, encoder_attention_heads=16,
                   decoder_attention_heads=16, encoder_ffn_dim=4096, decoder_ffn_dim=4096, num_mel_bins=80,
                   vocab_size=51865),
    "large-v3": dict(d_model=1280, encoder_layers=32, decoder_layers=32, encoder_attention_heads=20,
                     decoder_attention_heads=20, encoder_ffn_dim=5120, decoder_ffn_dim=5120, num_mel_bins=128,
                     vocab_size=51866),
}
VARIANTS = [(lora, checkpointing) for lora in (False, True) for checkpointing in (False, True)]


def build(size: str, lora: bool, checkpointing: bool):
    """A random-init Whisper of `size` (with LoRA adapters when `lora`), ready to train."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from ko_asr.lora import LoraOptions, apply_lora

    config = WhisperConfig(**WHISPER_SIZES[size], max_target_positions=448, decoder_start_token_id=50258,
                           pad_token_id=50257, eos_token_id=50257, bos_token_id=50257)
    model = WhisperForConditionalGeneration(config)
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    return apply_lora(model, LoraOptions()) if lora else model


def measure(size: str, lora: bool, checkpointing: bool, batch: int, label_tokens: int, device: str) -> dict:
    """Peak memory (MiB) of two training steps, with the parameter counts."""
    import torch

    from ko_asr.evaluation import measure_peak_rss

    torch.manual_seed(0)
    cuda = device.startswith("cuda")
    with measure_peak_rss() as rss:
        model = build(size, lora, checkpointing).to(device).train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
        mel = WHISPER_SIZES[size]["num_mel_bins"]
        features = torch.randn(batch, mel, 3000, device=device)
        labels = torch.randint(0, 50000, (batch, label_tokens), device=device)
        for _ in range(2):
            with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
                loss = model(input_features=features, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else rss.peak_mib
    return {"size": size, "lora": lora, "checkpointing": checkpointing, "peak_mib": peak,
            "parameters": sum(p.numel() for p in model.parameters()),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def measure_in_subprocess(size: str, lora: bool, checkpointing: bool, batch: int, label_tokens: int, device: str) -> dict:
    """`measure` in a fresh process, so no variant inherits another's freed-but-held memory."""
    arguments = json.dumps([size, lora, checkpointing, batch, label_tokens, device])
    result = subprocess.run([sys.executable, __file__, "--child", arguments], capture_output=True, text=True,
                            cwd=REPO, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{size} lora={lora} checkpointing={checkpointing} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def state_bytes(parameters: int, trainable: int, optimizer_bytes: int = 8) -> int:
    """Weights (fp32) for all parameters; gradient (fp32) and optimizer moments for the trainable ones."""
    return 4 * parameters + (4 + optimizer_bytes) * trainable


def parameter_counts(size: str) -> tuple[int, int, int]:
    """(parameters, trainable under full fine-tuning, trainable under LoRA) of `size`, counted on the meta device."""
    import torch

    with torch.device("meta"):
        full = build(size, lora=False, checkpointing=False)
        parameters = sum(p.numel() for p in full.parameters())
        lora = build(size, lora=True, checkpointing=False)
        trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    return parameters, parameters, trainable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small"], choices=list(WHISPER_SIZES))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--label_tokens", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*json.loads(args.child))))
        return

    import torch

    torch.set_num_threads(2)
    print(f"# Whisper training-step peak memory on {args.device}, batch {args.batch} x 30 s, {args.label_tokens}-token "
          "labels, AdamW, 2 steps" + (" (bf16 autocast)" if args.device.startswith("cuda") else " (fp32)"))
    print("| size | method | gradient checkpointing | parameters | trainable | measured peak (MiB) |")
    print("|---|---|---|---:|---:|---:|")
    measured = {}
    for size in args.sizes:
        for lora, checkpointing in VARIANTS:
            row = measure_in_subprocess(size, lora, checkpointing, args.batch, args.label_tokens, args.device)
            measured[(size, lora, checkpointing)] = row
            print(f"| {size} | {'LoRA r32' if lora else 'full'} | {'yes' if checkpointing else 'no'} | "
                  f"{row['parameters'] / 1e6:.1f} M | {row['trainable'] / 1e6:.2f} M | {row['peak_mib']:,.0f} |")

    reference = next((s for s in args.sizes if s != "tiny"), args.sizes[0])
    print(f"\n# One 24 GB GPU (bf16 autocast, fp32 master weights), batch {args.batch}: *derived* from the measured "
          f"`{reference}` activations (scaled by d_model x layers, halved for bf16) plus exact parameter states")
    print("| size | method | gradient checkpointing | optimizer | states (GB) | activations (GB) | total (GB) | fits 24 GB |")
    print("|---|---|---|---|---:|---:|---:|---|")
    scale_of = {s: WHISPER_SIZES[s]["d_model"] * (WHISPER_SIZES[s]["encoder_layers"] + WHISPER_SIZES[s]["decoder_layers"])
                for s in WHISPER_SIZES}
    for size in ("small", "medium", "large-v3"):
        parameters, _, lora_trainable = parameter_counts(size)
        for lora, checkpointing in VARIANTS:
            base = measured[(reference, lora, checkpointing)]
            activations = max(0.0, base["peak_mib"] * 2**20 - state_bytes(base["parameters"], base["trainable"]))
            activations *= scale_of[size] / scale_of[reference] * (1.0 if args.device.startswith("cuda") else 0.5)
            trainable = lora_trainable if lora else parameters
            for optimizer, moment_bytes in (("AdamW", 8), ("AdamW 8-bit", 2)):
                if lora and optimizer != "AdamW":
                    continue  # LoRA's optimizer state is already negligible
                states = state_bytes(parameters, trainable, moment_bytes)
                total = states + activations
                print(f"| {size} | {'LoRA r32' if lora else 'full'} | {'yes' if checkpointing else 'no'} | {optimizer} | "
                      f"{states / 1e9:.1f} | {activations / 1e9:.1f} | {total / 1e9:.1f} | "
                      f"{'yes' if total < 0.95 * GPU_BYTES else 'no'} |")


if __name__ == "__main__":
    main()
