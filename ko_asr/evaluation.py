"""Transcribe a dataset with a saved model (DeepSpeech2 CTC or Whisper seq2seq) and score it.

Hypotheses go through the same transcript normalization as the references (punctuation, spacing), so every model
is scored on the same text.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers.modeling_outputs import BaseModelOutput

from .data.audio import column
from .data.collators import CTCCollator, Seq2SeqCollator
from .metrics import compute_metrics
from .text import normalize_transcript


def is_seq2seq(model) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


def collator_for(model, processor):
    """The evaluation collator of a model: CTC features, or Whisper features with decoder labels."""
    if is_seq2seq(model):
        return Seq2SeqCollator(processor, decoder_start_token_id=model.config.decoder_start_token_id)
    return CTCCollator(processor)


@torch.no_grad()
def transcribe_batch(
    model, processor, batch: dict[str, Any], generate_kwargs: dict | None = None
) -> tuple[list[str], float | None]:
    """Greedy CTC decoding, or `generate` for a seq2seq model, of one collated batch; plus the (teacher-forced)
    loss when the batch has labels.

    Returns raw model texts (not normalized) and the batch loss or `None`.
    """
    device = next(model.parameters()).device
    features = batch["input_features"].to(device)
    mask = batch.get("attention_mask")
    mask = mask.to(device) if mask is not None else None
    labels = batch.get("labels")
    if is_seq2seq(model):
        loss, source = None, {"input_features": features}
        if labels is not None:
            outputs = model(input_features=features, labels=labels.to(device))
            loss = outputs.loss.item()
            # generate from the encoder states the loss pass already computed instead of encoding the audio again
            source = {"encoder_outputs": BaseModelOutput(last_hidden_state=outputs.encoder_last_hidden_state)}
        generated = model.generate(**source, return_dict_in_generate=True, **(generate_kwargs or {}))
        return processor.batch_decode(generated.sequences, skip_special_tokens=True), loss
    outputs = model(input_features=features, attention_mask=mask, labels=labels.to(device) if labels is not None else None)
    loss = outputs.loss.item() if outputs.loss is not None else None
    return processor.batch_decode(outputs.logits.argmax(-1)), loss


def transcribe_dataset(
    model,
    processor,
    dataset,
    batch_size: int = 16,
    accelerator=None,
    generate_kwargs: dict | None = None,
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
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collator_for(unwrapped, processor))
    if accelerator is not None:
        loader = accelerator.prepare(loader)
    show = accelerator is None or accelerator.is_main_process
    rows, losses = [], []
    for batch in tqdm(loader, desc=desc, disable=not show, leave=False):
        hypotheses, loss = transcribe_batch(unwrapped, processor, batch, generate_kwargs)
        if loss is not None:
            losses.append(loss)
        texts = [normalize_transcript(h, policy=policy) for h in hypotheses]
        rows.extend({"id": i, "hypothesis": h} for i, h in zip(batch["ids"], texts))
    mean_loss = sum(losses) / len(losses) if losses else None
    if accelerator is not None:
        rows = accelerator.gather_for_metrics(rows, use_gather_object=True)
        if mean_loss is not None:
            mean_loss = accelerator.reduce(torch.tensor(mean_loss, device=accelerator.device), "mean").item()
    references = dict(zip(column(dataset, "id"), column(dataset, "text")))
    rows = [{"id": r["id"], "reference": references[r["id"]], "hypothesis": r["hypothesis"]} for r in rows]
    return rows, mean_loss


def evaluate_dataset(model, processor, dataset, accelerator=None, **kwargs) -> tuple[dict[str, float], list[dict]]:
    """The four error rates (see `ko_asr.metrics`), the `loss`, and the transcribed rows."""
    rows, loss = transcribe_dataset(model, processor, dataset, accelerator=accelerator, **kwargs)
    metrics = compute_metrics([r["reference"] for r in rows], [r["hypothesis"] for r in rows])
    if loss is not None:
        metrics["loss"] = loss
    return metrics, rows


def load_asr_model(path: str, device: str | torch.device = "cpu"):
    """Load a saved model and its processor in eval mode: DeepSpeech2 (CTC, after `import ko_asr`) or Whisper."""
    from transformers import AutoConfig, AutoModelForCTC, AutoModelForSpeechSeq2Seq, AutoProcessor

    config = AutoConfig.from_pretrained(path)
    model_class = AutoModelForSpeechSeq2Seq if getattr(config, "is_encoder_decoder", False) else AutoModelForCTC
    return model_class.from_pretrained(path, config=config).to(device).eval(), AutoProcessor.from_pretrained(path)


def transcribe_waveform(model, processor, waveform, generate_kwargs: dict | None = None) -> str:
    """Raw transcript of one 16 kHz waveform (used for hallucination checks on silence and noise)."""
    example = {"id": "probe", "audio": {"array": waveform}, "text": ""}
    batch = collator_for(model, processor)([example])
    batch.pop("labels", None)
    return transcribe_batch(model, processor, batch, generate_kwargs)[0][0]


class measure_peak_rss:  # noqa: N801 - used as a context manager, like a function
    """Peak growth of this process's resident memory inside a `with` block, sampled every 5 ms (Linux /proc)."""

    def __enter__(self):
        import threading

        self.peak_mib = 0.0
        self._base = self._rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self):
        while not self._done.wait(0.005):
            self.peak_mib = max(self.peak_mib, (self._rss() - self._base) / 2**20)

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak_mib = max(self.peak_mib, (self._rss() - self._base) / 2**20)
