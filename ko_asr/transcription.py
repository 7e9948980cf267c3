"""One "transcribe a batch" interface that every model family satisfies.

Training, evaluation, comparison and probes all need the same three things of a model: a collator that turns dataset
rows into a [`SpeechBatch`], the texts (and loss) of a collated batch, and a cheap decoding of the training forward's
logits for the train CER. [`BatchTranscriber`] is that contract; [`CTCTranscriber`] (DeepSpeech2, or any CTC model
with the `generate()` of `ParakeetForCTC`) and [`Seq2SeqTranscriber`] (Whisper) implement it, and
[`transcriber_for`] is the one place that looks at which family a model belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers.modeling_outputs import BaseModelOutput

from .data.collators import CTCCollator, Seq2SeqCollator, SpeechBatch
from .hallucination_guard import HallucinationGuard
from .whisper_long_form import (
    end_token_id,
    generate_segments,
    has_alignment_heads,
    is_multilingual,
    segments_result,
    transcribe_whisper,
)

if TYPE_CHECKING:  # inference never augments: it need not load the effects' libraries (pedalboard, ...)
    from .data.augment import WaveformAugmenter


@dataclass(frozen=True)
class LongFormOptions:
    """How a `pipeline` call handles long input and language.

    Args:
        chunk_length_s (`float`): CTC inputs longer than this go through the pipeline's chunking, with
            `stride_length_s` of context on each side, so memory stays flat in the input length.
        stride_length_s (`float`): see `chunk_length_s`.
        language (`str`): the language seq2seq (Whisper) models transcribe in; no language detection.
    """

    chunk_length_s: float = 20.0
    stride_length_s: float = 2.0
    language: str = "korean"


@dataclass
class BatchTranscription:
    """Raw model texts of one batch (not normalized) and the batch's mean loss when it had labels."""

    texts: list[str]
    loss: float | None = None


@dataclass
class BatchTranscriber:
    """The contract; see the module docstring.

    Args:
        processor: the model's processor (feature extractor + tokenizer).
        generate_kwargs (`dict`, *optional*): passed to `model.generate`.
    """

    processor: Any
    generate_kwargs: dict[str, Any] = field(default_factory=dict)

    def collator(self, augment: WaveformAugmenter | None = None):
        """Rows with `id`, `audio` (decoded) and `text` -> a [`SpeechBatch`]."""
        raise NotImplementedError

    def transcribe(self, model, inputs: dict[str, torch.Tensor]) -> BatchTranscription:
        """Texts of a batch's model `inputs` (on the model's device); the loss too when `inputs` hold `labels`."""
        raise NotImplementedError

    #: Whether decoding drops special tokens: Whisper's prompt tokens yes; a CTC `<unk>` is kept, since references
    #: written with `unintelligible="token"` hold it too.
    skip_special_tokens = True

    def decode_logits(self, logits: torch.Tensor) -> list[str]:
        """Greedy texts of a training forward's `logits` `(batch, steps, vocab)`: the train CER without a second
        pass (teacher-forced for seq2seq models, so it flatters them)."""
        return self.decode(logits.argmax(-1))

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Texts of token ids `(batch, steps)` (the tokenizer's decoding; an LM processor's `batch_decode` takes
        logits)."""
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        return tokenizer.batch_decode(ids, skip_special_tokens=self.skip_special_tokens)

    #: Whether the family's `pipeline` output carries word timestamps.
    word_timestamps = False
    #: Whether it can time segments (`pipeline_kwargs(..., timestamps=True)`) when it has no word times.
    segment_timestamps = False

    def pipeline_kwargs(self, seconds: float, options: LongFormOptions, timestamps: bool = False) -> dict[str, Any]:
        """Arguments of an `automatic-speech-recognition` pipeline call on `seconds` of audio; `timestamps` asks for
        the finest times the family gives in the output's `chunks` (words, else segments, else none)."""
        return {}

    def run_pipeline(self, asr, waveforms: list[np.ndarray], call: dict[str, Any], sampling_rate: int,
                     extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Outputs of the pipeline `asr` on `waveforms` with the arguments `call` (from [`pipeline_kwargs`]) and
        `extra` (beam search settings): one pipeline call, which batches them by the pipeline's `batch_size`."""
        inputs = [{"raw": waveform, "sampling_rate": sampling_rate} for waveform in waveforms]
        return list(asr(inputs, **call, **(extra or {})))

    @torch.no_grad()
    def transcribe_waveform(self, model, waveform: np.ndarray) -> str:
        """Raw transcript of one 16 kHz mono waveform (e.g. a hallucination probe on silence or noise)."""
        batch = self.collator()([{"id": "probe", "audio": {"array": waveform}, "text": ""}])
        device = next(model.parameters()).device
        inputs = {k: v for k, v in batch.inputs_on(device).items() if k != "labels"}
        return self.transcribe(model, inputs).texts[0]


def utterance_logits(output) -> list[np.ndarray]:
    """A CTC pass's logits as one float32 `(frames, vocab)` array per utterance, padded frames cut (`output` has
    `logits` and `output_mask`, as [`ctc_pass`] and DeepSpeech2's `generate` return)."""
    logits = output.logits.float().cpu().numpy()
    return [utterance[:length] for utterance, length in zip(logits, output.output_mask.sum(-1).tolist())]


@dataclass
class CTCPass:
    """One forward pass of a CTC model: `logits` `(batch, frames, vocab)`, `output_mask` `(batch, frames)` (True on
    frames computed from real input), greedy `sequences` with the blank on padded frames, and the `loss` when labels
    were given."""

    logits: torch.Tensor
    output_mask: torch.Tensor
    sequences: torch.Tensor
    loss: torch.Tensor | None = None


@torch.no_grad()
def ctc_pass(model, inputs: dict[str, torch.Tensor]) -> CTCPass:
    """Run any transformers CTC model on `inputs` (with `labels` for the loss): DeepSpeech2 through its `generate`,
    which returns the output mask; other families (FastConformer/Parakeet, the wav2vec2 family) through `forward`,
    their output lengths from the model's own length arithmetic."""
    if getattr(model.config, "model_type", None) == "deepspeech2":
        output = model.generate(**inputs, return_dict_in_generate=True)
        return CTCPass(output.logits, output.output_mask, output.sequences, output.loss)
    output = model(**inputs)
    logits, attention_mask = output.logits, inputs.get("attention_mask")
    if attention_mask is None:
        mask = torch.ones(logits.shape[:2], dtype=torch.bool, device=logits.device)
    elif hasattr(model, "_get_output_attention_mask"):  # Parakeet: from the feature frames' mask
        mask = model._get_output_attention_mask(attention_mask, target_length=logits.shape[1]).bool()
    else:  # wav2vec2 family: from the raw samples' mask
        lengths = model._get_feat_extract_output_lengths(attention_mask.sum(-1))
        mask = torch.arange(logits.shape[1], device=logits.device)[None, :] < lengths[:, None]
    sequences = logits.argmax(-1).masked_fill(~mask, model.config.pad_token_id)
    return CTCPass(logits, mask, sequences, getattr(output, "loss", None))


@dataclass
class CTCTranscriber(BatchTranscriber):
    """CTC models (DeepSpeech2, FastConformer, the wav2vec2 family): [`ctc_pass`] gives greedy ids with padding as the blank (and the loss of the same
    pass), `processor.batch_decode` the texts; with a [`DeepSpeech2ProcessorWithLM`] the same pass's logits go
    through its LM beam search instead.

    Args:
        use_lm (`bool`, *optional*, defaults to `True`): decode with the processor's language model when it has one.
        num_processes (`int`, *optional*): beam-search a batch in this many forked processes.
    """

    use_lm: bool = True
    num_processes: int | None = None
    skip_special_tokens = False
    word_timestamps = True

    @property
    def beam_search(self):
        """The processor's LM beam search when it is used, else `None` (greedy)."""
        return getattr(self.processor, "beam_search", None) if self.use_lm else None

    def collator(self, augment: WaveformAugmenter | None = None) -> CTCCollator:
        return CTCCollator(self.processor, augment)

    def pipeline_kwargs(self, seconds: float, options: LongFormOptions, timestamps: bool = False) -> dict[str, Any]:
        """Word offsets always (they cost nothing beyond the greedy pass); chunking with strides past
        `options.chunk_length_s`."""
        kwargs: dict[str, Any] = {"return_timestamps": "word"}
        if seconds > options.chunk_length_s:
            kwargs.update(chunk_length_s=options.chunk_length_s, stride_length_s=options.stride_length_s)
        return kwargs

    def transcribe(self, model, inputs: dict[str, torch.Tensor]) -> BatchTranscription:
        output = ctc_pass(model, {**inputs, **self.generate_kwargs})
        loss = output.loss.item() if output.loss is not None else None
        if self.beam_search is None:
            return BatchTranscription(self.decode(output.sequences), loss)
        texts = self.processor.batch_decode(utterance_logits(output), num_processes=self.num_processes).text
        return BatchTranscription(texts, loss)

    def logits(self, model, inputs: dict[str, torch.Tensor]) -> list[np.ndarray]:
        """Each utterance's logits `(frames, vocab)` from `inputs` without labels, padding trimmed (what the beam
        search decodes; for tuning and benchmarks that decode the same logits many times)."""
        return utterance_logits(ctc_pass(model, {k: v for k, v in inputs.items() if k != "labels"}))


@dataclass
class Seq2SeqTranscriber(BatchTranscriber):
    """Encoder-decoder models (Whisper): the teacher-forced loss pass, then `generate` from that pass's encoder states
    (one encoder pass per batch); with a `guard`, `generate` from the features with the guard's thresholds and
    temperature fallback (its no-speech gate runs the model on the features), then the guard's repetition check.

    Whisper recordings go through [`transcribe_whisper`] rather than the pipeline: sequential long-form decoding
    past 30 s, segment times from `generate` itself, and word times where the model has alignment heads.

    Args:
        decoder_start_token_id (`int`): the model's `decoder_start_token_id` (dropped from the labels, which the model
            shifts right itself).
        language_prompts (`bool`): Whisper takes a language and task in `generate`; other seq2seq models do not.
        segment_timestamps (`bool`): the model predicts segment timestamp tokens (Whisper).
        word_timestamps (`bool`): the model's generation config names cross-attention alignment heads, so it gives
            word times (Hub Whisper checkpoints; not one initialized at random).
        guard ([`HallucinationGuard`], *optional*): Whisper's hallucination guard; `None` decodes greedily, as
            trained.
    """

    decoder_start_token_id: int = 0
    language_prompts: bool = True
    segment_timestamps: bool = False
    word_timestamps: bool = False
    guard: HallucinationGuard | None = None

    def collator(self, augment: WaveformAugmenter | None = None) -> Seq2SeqCollator:
        return Seq2SeqCollator(self.processor, self.decoder_start_token_id, augment)

    def pipeline_kwargs(self, seconds: float, options: LongFormOptions, timestamps: bool = False) -> dict[str, Any]:
        """Whisper: the arguments of [`transcribe_whisper`] (a fixed language, no detection; timestamps on request);
        other seq2seq models: a plain pipeline call."""
        if not self.language_prompts:
            return {}
        return {"language": options.language, "timestamps": timestamps and self.segment_timestamps}

    def run_pipeline(self, asr, waveforms: list[np.ndarray], call: dict[str, Any], sampling_rate: int,
                     extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Whisper: [`transcribe_whisper`] on the pipeline's model and processor parts, `batch_size` recordings at a
        time; other seq2seq models: the pipeline."""
        if not self.language_prompts:
            return super().run_pipeline(asr, waveforms, call, sampling_rate, extra)
        return transcribe_whisper(
            asr.model, asr.feature_extractor, asr.tokenizer, waveforms, call["language"], call["timestamps"],
            self.guard, batch_size=getattr(asr, "_batch_size", None) or 1, sampling_rate=sampling_rate,
        )

    @torch.no_grad()
    def transcribe(self, model, inputs: dict[str, torch.Tensor]) -> BatchTranscription:
        features, labels = inputs["input_features"], inputs.get("labels")
        loss, source = None, {"input_features": features}
        if labels is not None:
            outputs = model(input_features=features, labels=labels)
            loss = outputs.loss.item()
            if self.guard is None:  # the guard's no-speech gate runs the model on the features again
                source = {"encoder_outputs": BaseModelOutput(last_hidden_state=outputs.encoder_last_hidden_state)}
        if self.guard is None:
            generated = model.generate(**source, return_dict_in_generate=True, **self.generate_kwargs)
            return BatchTranscription(self.decode(generated.sequences), loss)
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        found = generate_segments(model, features, inputs.get("attention_mask"), guard=self.guard, **self.generate_kwargs)
        texts = [segments_result(tokenizer, segments, duration=np.inf, timestamps=False, words=False, language=None,
                                 guard=self.guard, eos_token_id=end_token_id(model))["text"] for segments in found]
        return BatchTranscription(texts, loss)


def transcriber_for(model, processor, generate_kwargs: dict[str, Any] | None = None, use_lm: bool = True,
                    num_processes: int | None = None, guard: HallucinationGuard | None = None) -> BatchTranscriber:
    """The [`BatchTranscriber`] of `model`'s family: seq2seq for encoder-decoder configs (Whisper with `guard`, when
    given), CTC otherwise (with the processor's language model unless `use_lm=False`)."""
    if getattr(model.config, "is_encoder_decoder", False):
        whisper = getattr(model.config, "model_type", None) == "whisper"
        generate_kwargs = dict(generate_kwargs or {})
        if whisper and is_multilingual(model):  # the tokenizer's language (no detection: a random model guesses)
            tokenizer = getattr(processor, "tokenizer", processor)
            language = getattr(tokenizer, "language", None) or LongFormOptions.language
            generate_kwargs = {"language": language, "task": "transcribe", **generate_kwargs}
        return Seq2SeqTranscriber(
            processor, generate_kwargs, model.config.decoder_start_token_id,
            language_prompts=whisper, segment_timestamps=whisper,
            word_timestamps=whisper and has_alignment_heads(model), guard=guard if whisper else None,
        )
    return CTCTranscriber(processor, dict(generate_kwargs or {}), use_lm=use_lm, num_processes=num_processes)


__all__ = [
    "BatchTranscriber",
    "LongFormOptions",
    "BatchTranscription",
    "CTCPass",
    "CTCTranscriber",
    "Seq2SeqTranscriber",
    "SpeechBatch",
    "ctc_pass",
    "transcriber_for",
]
