"""Run an `automatic-speech-recognition` pipeline on the speech in recordings, found by voice activity detection.

Without VAD a model transcribes whatever it is given, and on silence or noise a CTC or Whisper model readily
invents text. [`transcribe_waveforms`] first asks `ko_asr.vad` where the speech is, cuts each recording at the
pauses into chunks (with the VAD's padding around the speech), transcribes the chunks with the model family's own
pipeline arguments and call (`BatchTranscriber.pipeline_kwargs` and `.run_pipeline`: the pipeline for CTC models,
`ko_asr.whisper_long_form` for Whisper), and puts each recording's transcript back together: texts
joined with spaces, every timestamp shifted by its chunk's start so that it is in the recording's time. A recording
without speech gives `{"text": "", "chunks": []}` and the model never sees it.

This is the path `ko-asr transcribe` and the demo Space (`ko_asr.serving.service`) take; `vad=None` turns it off.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from .transcription import BatchTranscriber, LongFormOptions, transcriber_for
from .vad import VadOptions, plan_chunks, speech_segments

#: The default detection settings (a frozen dataclass, so one shared instance is safe as a default argument).
DEFAULT_VAD = VadOptions()


def _shifted(chunk: dict[str, Any], offset: float) -> dict[str, Any]:
    """A pipeline output chunk with its `(start, end)` moved by `offset` seconds; Whisper's `None` times stay."""
    start, end = chunk["timestamp"]
    return {**chunk, "timestamp": (None if start is None else start + offset, None if end is None else end + offset)}


def transcribe_waveforms(
    asr,
    waveforms: Sequence[np.ndarray],
    transcriber: BatchTranscriber | None = None,
    long_form: LongFormOptions | None = None,
    timestamps: bool = False,
    vad: VadOptions | None = DEFAULT_VAD,
    sampling_rate: int = 16000,
    decoder_kwargs: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Transcribe each of `waveforms` with the pipeline `asr`, only where it holds speech when `vad` is set.

    The pieces of all `waveforms` that take the same pipeline arguments go through one pipeline call, so the
    pipeline's `batch_size` batches them.

    Args:
        asr (`transformers.AutomaticSpeechRecognitionPipeline`): the model's pipeline.
        waveforms (`Sequence[np.ndarray]`): mono float audio, each of shape `(samples,)` at `sampling_rate`.
        transcriber ([`BatchTranscriber`], *optional*): the model family's pipeline arguments; by default
            `transcriber_for(asr.model, asr.tokenizer)`.
        long_form ([`LongFormOptions`], *optional*): fixed-window chunking of long pieces and Whisper's language;
            the defaults when `None`.
        timestamps (`bool`, *optional*, defaults to `False`): ask for the finest times the family gives (see
            `BatchTranscriber.pipeline_kwargs`).
        vad ([`VadOptions`] or `None`, *optional*, defaults to `VadOptions()`): how speech is found and cut. Chunks
            are grouped up to `min(vad.max_chunk_seconds, long_form.chunk_length_s)` seconds, so each is one
            pipeline pass unless a single stretch of speech is longer. `None` turns VAD off: each whole waveform
            is one pipeline call, as the pipeline alone would do it.
        sampling_rate (`int`, *optional*, defaults to 16000): the rate of `waveforms` (the pipeline's).
        decoder_kwargs (`dict`, *optional*): beam search settings (`beam_width`, `hotwords`, ...) added to every
            pipeline call as its `decoder_kwargs`, only when `asr` decodes with a beam search (`asr.type ==
            "ctc_with_lm"`); ignored otherwise.

    Returns:
        `list[dict]`: per waveform, the pipeline's output shape: `text` and, when the family gives times,
        `chunks` of `{"text", "timestamp": (start_s, end_s)}` in the waveform's time (with VAD, `chunks` is always
        present, empty when there was no speech); `dropped`: text left out of a Whisper transcript (by its
        hallucination guard, or timed outside the audio), as chunks with a `reason` (`[]` for other families); and `speech`: the `(start_s, end_s)` pieces that were transcribed (`[]`
        when VAD found no speech; `None` with VAD off).

    Raises:
        ValueError: from [`speech_segments`] for a `sampling_rate` Silero VAD does not score or a waveform that is
            not one-dimensional.
    """
    transcriber = transcriber or transcriber_for(asr.model, asr.tokenizer)
    long_form = long_form or LongFormOptions()
    # (waveform index, offset in seconds, samples) per piece to transcribe
    pieces: list[tuple[int, float, np.ndarray]] = []
    speech: list[list[tuple[float, float]] | None] = []
    for index, waveform in enumerate(waveforms):
        if vad is None:
            pieces.append((index, 0.0, waveform))
            speech.append(None)
            continue
        limit = min(vad.max_chunk_seconds, long_form.chunk_length_s)
        chunks = plan_chunks(speech_segments(waveform, sampling_rate, vad), limit)
        speech.append(chunks)
        pieces.extend(
            (index, start, waveform[round(start * sampling_rate):round(end * sampling_rate)]) for start, end in chunks
        )

    # One pipeline call per group of pieces that take the same arguments (chunked or not, Whisper windows or not).
    calls = [transcriber.pipeline_kwargs(samples.size / sampling_rate, long_form, timestamps) for _, _, samples in pieces]
    groups: dict[str, list[int]] = defaultdict(list)
    for number, call in enumerate(calls):
        groups[repr(sorted(call.items()))].append(number)
    # Beam search settings reach only a pipeline that has a beam search (other pipelines would reject them).
    extra = {"decoder_kwargs": decoder_kwargs} if decoder_kwargs and getattr(asr, "type", None) == "ctc_with_lm" else {}
    outputs: dict[int, dict[str, Any]] = {}
    for members in groups.values():
        found = transcriber.run_pipeline(asr, [pieces[number][2] for number in members], calls[members[0]],
                                         sampling_rate, extra)
        outputs.update(zip(members, found))

    if vad is None:  # the model's own results (and what a guard dropped), in the recording's time already
        return [{"dropped": [], **outputs[index], "speech": None} for index in range(len(waveforms))]
    results: list[dict[str, Any]] = [{"text": "", "chunks": [], "dropped": [], "speech": chunks} for chunks in speech]
    texts: list[list[str]] = [[] for _ in waveforms]
    for number, (index, offset, _) in enumerate(pieces):  # pieces are in time order within each waveform
        output = outputs[number]
        if text := output["text"].strip():
            texts[index].append(text)
        results[index]["chunks"].extend(_shifted(chunk, offset) for chunk in output.get("chunks", []))
        results[index]["dropped"].extend(_shifted(chunk, offset) for chunk in output.get("dropped", []))
    for result, parts in zip(results, texts):
        result["text"] = " ".join(parts)
    return results


def transcribe_waveform(asr, waveform: np.ndarray, **kwargs) -> dict[str, Any]:
    """[`transcribe_waveforms`] for one waveform: its one result; keyword arguments as there."""
    return transcribe_waveforms(asr, [waveform], **kwargs)[0]


__all__ = ["DEFAULT_VAD", "transcribe_waveform", "transcribe_waveforms"]
