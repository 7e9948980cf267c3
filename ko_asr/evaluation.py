"""Transcribe a dataset with a saved CTC model (DeepSpeech2) and score it.

Hypotheses go through the same transcript normalization as the references (punctuation, spacing), so every model
is scored on the same text.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .data.collators import CTCCollator
from .metrics import compute_metrics
from .text import normalize_transcript


@torch.no_grad()
def transcribe_batch(model, processor, batch: dict[str, Any]) -> tuple[list[str], float | None]:
    """Greedy CTC decoding of one collated batch, plus the CTC loss when the batch has labels.

    Returns raw model texts (not normalized) and the batch loss or `None`.
    """
    device = next(model.parameters()).device
    features = batch["input_features"].to(device)
    mask = batch.get("attention_mask")
    mask = mask.to(device) if mask is not None else None
    labels = batch.get("labels")
    outputs = model(input_features=features, attention_mask=mask, labels=labels.to(device) if labels is not None else None)
    loss = outputs.loss.item() if outputs.loss is not None else None
    return processor.batch_decode(outputs.logits.argmax(-1)), loss


def transcribe_dataset(
    model,
    processor,
    dataset,
    batch_size: int = 16,
    accelerator=None,
    policy: str = "spelling",
    desc: str = "transcribing",
) -> tuple[list[dict[str, str]], float | None]:
    """Transcribe every row of a ko_asr dataset (`id`, `audio`, `text`).

    With an `accelerator`, rows are sharded across processes and gathered back with `gather_for_metrics` (no
    duplicates). Returns `{"id", "reference", "hypothesis"}` per row (hypotheses normalized with `policy`) and the
    mean loss over batches.
    """
    unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
    unwrapped.eval()
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=CTCCollator(processor))
    if accelerator is not None:
        loader = accelerator.prepare(loader)
    show = accelerator is None or accelerator.is_main_process
    rows, losses = [], []
    for batch in tqdm(loader, desc=desc, disable=not show, leave=False):
        hypotheses, loss = transcribe_batch(unwrapped, processor, batch)
        if loss is not None:
            losses.append(loss)
        texts = [normalize_transcript(h, policy=policy) for h in hypotheses]
        rows.extend({"id": i, "hypothesis": h} for i, h in zip(batch["ids"], texts))
    mean_loss = sum(losses) / len(losses) if losses else None
    if accelerator is not None:
        rows = accelerator.gather_for_metrics(rows, use_gather_object=True)
        if mean_loss is not None:
            mean_loss = accelerator.reduce(torch.tensor(mean_loss, device=accelerator.device), "mean").item()
    references = dict(zip(dataset["id"], dataset["text"]))
    rows = [{"id": r["id"], "reference": references[r["id"]], "hypothesis": r["hypothesis"]} for r in rows]
    return rows, mean_loss


def evaluate_dataset(model, processor, dataset, accelerator=None, **kwargs) -> tuple[dict[str, float], list[dict]]:
    """The four error rates (see `ko_asr.metrics`), the CTC `loss`, and the transcribed rows."""
    rows, loss = transcribe_dataset(model, processor, dataset, accelerator=accelerator, **kwargs)
    metrics = compute_metrics([r["reference"] for r in rows], [r["hypothesis"] for r in rows])
    if loss is not None:
        metrics["loss"] = loss
    return metrics, rows


def load_asr_model(path: str, device: str | torch.device = "cpu"):
    """Load a saved CTC model (DeepSpeech2 after `import ko_asr`) and its processor, in eval mode."""
    from transformers import AutoModelForCTC, AutoProcessor

    return AutoModelForCTC.from_pretrained(path).to(device).eval(), AutoProcessor.from_pretrained(path)
