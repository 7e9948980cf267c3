"""Transcribe a dataset with a saved model (any family with a [`BatchTranscriber`]) and score it.

Hypotheses go through the same transcript policy as the references (punctuation, spacing, spelling or phonetic
side), so every model is scored on the same text; the policy is the one saved with the model unless one is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .data.audio import SAMPLING_RATE
from .metrics import compute_metrics
from .text.policy import TranscriptPolicy
from .transcription import BatchTranscriber, transcriber_for
from .vad import VadOptions, speech_segments


@dataclass
class _SpeechGate:
    """A collator that also says, per row, whether voice activity detection finds speech in its audio: collated
    rows no longer hold their waveforms. Returns `(batch, has_speech)`."""

    collator: Any
    options: VadOptions

    def __call__(self, rows: list[dict]):
        # rows are 16 kHz, as the collators read them
        speech = [bool(speech_segments(np.asarray(r["audio"]["array"]), SAMPLING_RATE, self.options)) for r in rows]
        return self.collator(rows), speech


def transcribe_dataset(
    transcriber: BatchTranscriber,
    model,
    dataset,
    batch_size: int = 16,
    accelerator=None,
    policy: TranscriptPolicy | str | None = None,
    desc: str = "transcribing",
    vad: bool = False,
) -> tuple[list[dict[str, str]], float | None]:
    """Transcribe every row of a ko_asr dataset (`id`, `audio`, `text`).

    Args:
        transcriber ([`BatchTranscriber`]): the model family's collator and batch transcription.
        model: the model (unwrapped from the accelerator here).
        dataset: rows with `id`, `audio` (decoded on access) and `text` (the normalized reference).
        batch_size (`int`, *optional*, defaults to 16): utterances per batch.
        accelerator (`accelerate.Accelerator`, *optional*): shards rows across processes and gathers them back with
            `gather_for_metrics` (no duplicates).
        policy ([`TranscriptPolicy`] or `str`, *optional*): how hypotheses are normalized; by default the policy
            saved with the model's tokenizer (`spelling` when none was saved).
        desc (`str`, *optional*): the progress bar's label.
        vad (`bool`, *optional*, defaults to `False`): gate each utterance with voice activity detection
            (`ko_asr.vad`, default options): where it finds no speech the hypothesis is `""`, as the `ko-asr
            transcribe` and Space paths give, whatever the model says. Off by default so that corpus scores stay
            comparable with earlier ones. The model still runs on every row (the loss covers them all).

    Returns:
        `(rows, loss)`: `{"id", "reference", "hypothesis"}` per row, references read from the batches, and the
        mean loss over batches (`None` without labels).
    """
    if not isinstance(policy, TranscriptPolicy):
        policy = TranscriptPolicy.resolve(transcriber.processor, policy)
    unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
    unwrapped.eval()
    device = next(unwrapped.parameters()).device
    collator = _SpeechGate(transcriber.collator(), VadOptions()) if vad else transcriber.collator()
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collator)
    if accelerator is not None:
        loader = accelerator.prepare(loader)
    show = accelerator is None or accelerator.is_main_process
    rows, losses = [], []
    for batch in tqdm(loader, desc=desc, disable=not show, leave=False):
        batch, has_speech = batch if vad else (batch, None)
        result = transcriber.transcribe(unwrapped, batch.inputs_on(device))
        if result.loss is not None:
            losses.append(result.loss)
        texts = result.texts if has_speech is None else [t if s else "" for t, s in zip(result.texts, has_speech)]
        rows.extend(
            {"id": utt_id, "reference": reference, "hypothesis": policy.normalize_hypothesis(text)}
            for utt_id, reference, text in zip(batch.ids, batch.texts, texts)
        )
    mean_loss = sum(losses) / len(losses) if losses else None
    if accelerator is not None:
        rows = accelerator.gather_for_metrics(rows, use_gather_object=True)
        if mean_loss is not None:
            mean_loss = accelerator.reduce(torch.tensor(mean_loss, device=accelerator.device), "mean").item()
    return rows, mean_loss


def evaluate_dataset(
    transcriber: BatchTranscriber, model, dataset, accelerator=None, **kwargs
) -> tuple[dict[str, float], list[dict]]:
    """The four error rates (see `ko_asr.metrics`), the `loss`, and the transcribed rows; keyword arguments as
    [`transcribe_dataset`]."""
    rows, loss = transcribe_dataset(transcriber, model, dataset, accelerator=accelerator, **kwargs)
    metrics = compute_metrics([r["reference"] for r in rows], [r["hypothesis"] for r in rows])
    if loss is not None:
        metrics["loss"] = loss
    return metrics, rows


def load_asr_model(path: str, device: str | torch.device = "cpu", generate_kwargs: dict[str, Any] | None = None,
                   use_lm: bool = True, num_processes: int | None = None, **decoder_settings: Any):
    """Load a saved model, its processor and its [`BatchTranscriber`] in eval mode: DeepSpeech2 (CTC, after
    `import ko_asr`) or Whisper. A DeepSpeech2 directory with a `language_model/` decodes with it (LM beam search,
    `decoder_settings` such as `beam_width` or `alpha` replacing the saved ones) unless `use_lm=False`.

    Returns:
        `(model, processor, transcriber)`.
    """
    from transformers import AutoConfig, AutoModelForCTC, AutoModelForSpeechSeq2Seq, AutoProcessor

    config = AutoConfig.from_pretrained(path)
    model_class = AutoModelForSpeechSeq2Seq if getattr(config, "is_encoder_decoder", False) else AutoModelForCTC
    model = model_class.from_pretrained(path, config=config).to(device).eval()
    # `use_lm` is DeepSpeech2Processor's (AutoProcessor returns the LM processor for a directory with an LM).
    processor = AutoProcessor.from_pretrained(path, **({} if model.config.is_encoder_decoder else {"use_lm": use_lm}))
    if decoder_settings and hasattr(processor, "beam_search"):
        processor = processor.with_settings(**decoder_settings)
    return model, processor, transcriber_for(model, processor, generate_kwargs, use_lm, num_processes)


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
