"""The transcription service behind the demo Space: validated input in, transcript + word times + CER out.

Gradio only wires this to widgets; everything a request does is here so it can be tested and reused without a UI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..data.audio import SAMPLING_RATE
from ..hallucination_guard import HallucinationGuard
from ..metrics import cer
from ..models.deepspeech2 import DeepSpeech2Processor
from ..segmented_transcription import transcribe_waveform
from ..streaming import StreamingRecognizer
from ..text import MalformedTranscriptError
from ..text.policy import TranscriptPolicy
from ..transcript_formats import TimedTranscript, timed_transcript
from ..transcription import LongFormOptions, transcriber_for
from ..vad import VadOptions
from ..whisper import WHISPER_WINDOW_SECONDS
from .audio_input import InvalidInputError, from_array, read_audio_file, validate_waveform
from .live import LiveSession
from .registry import ModelCache, ModelSource, can_stream

MAX_SECONDS_ENV = "KO_ASR_MAX_AUDIO_SECONDS"
VAD_ENV = "KO_ASR_VAD"
GUARD_ENV = "KO_ASR_WHISPER_GUARD"
#: `TranscriptionService.transcribe`'s `decoding` values: the model's language model (beam search), or greedy.
DECODINGS = ("lm", "greedy")


@dataclass(frozen=True)
class ServiceConfig:
    """Limits of the demo.

    Args:
        max_seconds: Longest accepted input (default 10 minutes; `$KO_ASR_MAX_AUDIO_SECONDS` overrides).
        chunk_length_s: CTC inputs longer than this go through the pipeline's chunking with `stride_length_s` of
            context on each side, so memory stays flat in the input length. Whisper decodes long inputs sequentially
            in its own 30 s windows.
        stride_length_s: See `chunk_length_s`.
        whisper_language: Language Whisper models transcribe in (no language detection: this is a Korean demo).
        vad: Transcribe only the speech that voice activity detection (Silero VAD, `ko_asr.vad`) finds, cut at
            pauses: silence and noise without speech give an empty transcript instead of invented text. `False`
            transcribes the whole input (`$KO_ASR_VAD=0` in the environment).
        whisper_guard: Whisper models decode with the hallucination guard (`ko_asr.hallucination_guard`); `False`
            decodes greedily without it (`$KO_ASR_WHISPER_GUARD=0`).
    """

    max_seconds: float = 600.0
    chunk_length_s: float = 20.0
    stride_length_s: float = 2.0
    whisper_language: str = "korean"
    vad: bool = True
    whisper_guard: bool = True

    @property
    def long_form(self) -> LongFormOptions:
        return LongFormOptions(self.chunk_length_s, self.stride_length_s, self.whisper_language)

    @property
    def vad_options(self) -> VadOptions | None:
        """The detection settings, or `None` when VAD is off."""
        return VadOptions() if self.vad else None

    @property
    def guard(self) -> HallucinationGuard | None:
        """Whisper's guard settings, or `None` when it is off."""
        return HallucinationGuard() if self.whisper_guard else None

    @classmethod
    def from_env(cls) -> ServiceConfig:
        def flag(name: str) -> bool:
            return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")

        return cls(max_seconds=float(os.environ.get(MAX_SECONDS_ENV, cls.max_seconds)), vad=flag(VAD_ENV),
                   whisper_guard=flag(GUARD_ENV))


@dataclass
class Transcription:
    """One request's result. `words` holds `(text, start_s, end_s)` per word when the model gives word times (CTC
    models, Whisper with alignment heads: `has_word_timestamps`), else per segment (Whisper), else nothing;
    `transcript` is the same as a [`TimedTranscript`] for the SRT/VTT writers. `cer` is set when a reference was
    given; `no_speech` says that voice activity detection found no speech, so the model was not run and `text` is
    empty. `decoding` says how the transcript was decoded (`"LM beam search (syllable 5-gram, beam 32)"`,
    `"greedy"`, ...); `notes` say where a request's decoding choice or hotwords could not be followed (a model
    without a language model, hotwords with greedy decoding) and what was left out of a Whisper transcript (by its
    hallucination guard, or timed outside the audio)."""

    text: str
    model: str
    audio_seconds: float
    processing_seconds: float
    has_word_timestamps: bool = False
    words: list[tuple[str, float, float]] = field(default_factory=list)
    transcript: TimedTranscript | None = None
    cer: float | None = None
    no_speech: bool = False
    decoding: str = "greedy"
    hotwords: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class TranscriptionService:
    """Transcribe uploads and recordings with any of `models`, each loaded once (see `ModelCache`)."""

    def __init__(self, models: Sequence[ModelSource], config: ServiceConfig | None = None, cache: ModelCache | None = None):
        self.models = {source.label: source for source in models}
        self.config = config or ServiceConfig()
        self.cache = cache or ModelCache()

    def waveform_of(self, audio) -> np.ndarray:
        """A file path or Gradio's `(rate, samples)` as a validated 16 kHz mono waveform."""
        if audio is None:
            raise InvalidInputError("no audio: upload a file or record from the microphone first")
        limit = self.config.max_seconds
        if isinstance(audio, tuple):
            waveform, name = from_array(*audio, max_seconds=limit), "the recording"
        else:
            waveform, name = read_audio_file(audio, max_seconds=limit), os.path.basename(os.fspath(audio))
        validate_waveform(waveform, limit, name=name)
        return waveform

    def transcribe(
        self, model_label: str, audio, reference: str | None = None, decoding: str = "lm",
        hotwords: str | Sequence[str] | None = None,
    ) -> Transcription:
        """Transcribe `audio` (path or `(rate, samples)`) with the model shown as `model_label`; with
        `config.vad`, only the speech in it (none: empty `text`, `no_speech` set).

        Args:
            decoding: `"lm"`: beam search with the model's language model (a CTC model saved with a
                `language_model/`); a model without one decodes as it can (greedy CTC, Whisper's own generation), with
                a note saying so. `"greedy"`: the best token of each frame, LM or not.
            hotwords: words or phrases the LM beam search favours (a list, or one comma-separated string), for
                this request only; with greedy decoding or without an LM they are ignored, with a note.

        Raises:
            InvalidInputError: unknown or unloadable model, an unknown `decoding`, or audio that is missing,
                unreadable, empty, silent or too long.
        """
        if model_label not in self.models:
            known = ", ".join(self.models) or "none (run `make demo` to train one)"
            raise InvalidInputError(f"unknown model {model_label!r}; available: {known}")
        if decoding not in DECODINGS:
            raise InvalidInputError(f"unknown decoding {decoding!r}; one of {', '.join(DECODINGS)}")
        source = self.models[model_label]
        hotwords = parse_hotwords(hotwords)
        waveform = self.waveform_of(audio)
        asr = self._pipeline(source, use_lm=decoding == "lm")
        with_lm = asr.type == "ctc_with_lm"
        notes = []
        if decoding == "lm" and not with_lm:
            notes.append("this model has no language model (`language_model/`), so it was decoded greedily"
                         if asr.type == "ctc" else "language model decoding is for CTC models; this one generates its own text")
        if hotwords and not with_lm:
            notes.append("hotwords ignored: " + ("greedy decoding does not use them" if decoding == "greedy"
                                                 else "only a language model's beam search uses them"))
        # The family's own pipeline options; the processor parts the pipeline holds stand in for the processor.
        transcriber = transcriber_for(asr.model, asr.tokenizer, guard=self.config.guard)
        seconds = waveform.size / SAMPLING_RATE
        # CTC models always time words. Whisper predicts timestamp tokens for word times (alignment heads) or on a
        # recording over 30 s, in every piece VAD cuts from it: subtitles of a long recording need segment times. A
        # shorter clip is decoded without them, as the recipe fine-tunes (<|notimestamps|> labels), and is one segment.
        timestamps = transcriber.word_timestamps or seconds > WHISPER_WINDOW_SECONDS
        started = time.perf_counter()  # after loading: the details line reports transcription time
        result = transcribe_waveform(
            asr, waveform, transcriber=transcriber, long_form=self.config.long_form, timestamps=timestamps,
            vad=self.config.vad_options, sampling_rate=SAMPLING_RATE,
            decoder_kwargs={"hotwords": hotwords} if hotwords else None,
        )
        transcript = timed_transcript(source.label, result, seconds, transcriber.word_timestamps,
                                      transcriber.segment_timestamps)
        timed = transcript.words if transcript.words is not None else (transcript.segments if transcript.timestamps else [])
        if transcript.dropped:
            notes.append("left out of the transcript: " + "; ".join(f"“{d.text}” ({d.reason})" for d in transcript.dropped))
        return Transcription(
            text=result["text"].strip(),
            model=model_label,
            audio_seconds=seconds,
            processing_seconds=time.perf_counter() - started,
            has_word_timestamps=transcriber.word_timestamps,
            words=[(t.text, t.start, t.end) for t in timed],
            transcript=transcript,
            cer=self._cer(reference, result["text"].strip(), TranscriptPolicy.resolve(asr.tokenizer)),
            no_speech=result["speech"] == [],
            decoding=decoding_of(asr),
            hotwords=hotwords if with_lm else [],
            notes=notes,
        )

    @property
    def streaming_models(self) -> list[str]:
        """Labels of the models that can transcribe live (unidirectional DeepSpeech2 with global feature statistics)."""
        return [label for label, source in self.models.items() if can_stream(source)]

    def start_live(self, model_label: str) -> LiveSession:
        """A new live microphone stream with `model_label` (weights shared with its cached pipeline, state its own).

        Raises:
            InvalidInputError: for an unknown model or one that cannot stream.
        """
        if model_label not in self.streaming_models:
            known = ", ".join(self.streaming_models) or "none (train one with recipes/configs/ds2_streaming.yaml)"
            raise InvalidInputError(f"model {model_label!r} cannot transcribe live; streaming models: {known}")
        asr = self._pipeline(self.models[model_label], use_lm=False)
        processor = DeepSpeech2Processor(asr.feature_extractor, asr.tokenizer)
        return LiveSession(StreamingRecognizer(processor, model=asr.model), self.config.max_seconds)

    def _pipeline(self, source: ModelSource, use_lm: bool = True):
        try:
            return self.cache.get(source, use_lm=use_lm)
        except (OSError, ValueError) as error:  # missing files, a Hub id while offline, an unsupported config
            raise InvalidInputError(f"model {source.label} could not be loaded from {source.path}: {error}") from error

    @staticmethod
    def _cer(reference: str | None, hypothesis: str, policy: TranscriptPolicy) -> float | None:
        """Character error rate after the normalization evaluation uses: the transcript policy saved with the model
        (spelling or phonetic side of a `(A)/(B)` reference, punctuation and spacing ignored)."""
        if reference is None or not reference.strip():
            return None
        try:  # a typed reference's u/ is removed whatever the training policy did with it (nothing to drop here)
            normalized = replace(policy, unintelligible="remove").normalize(reference)
        except MalformedTranscriptError as error:
            raise InvalidInputError(f"the reference text: {error}") from None
        if not normalized.replace(" ", ""):
            raise InvalidInputError("the reference text has no characters left after normalization (only punctuation?)")
        return cer([normalized], [policy.normalize_hypothesis(hypothesis)])


def parse_hotwords(hotwords: str | Sequence[str] | None) -> list[str]:
    """Hotwords as a list: a string is split at commas (`"서초구, 김민준"`); blanks and repeats go."""
    if hotwords is None:
        return []
    if isinstance(hotwords, str):
        hotwords = hotwords.split(",")
    words = (" ".join(str(word).split()) for word in hotwords)
    return list(dict.fromkeys(word for word in words if word))


def decoding_of(asr) -> str:
    """How the pipeline `asr` decodes, in words: `"LM beam search (syllable 5-gram, beam 32)"`, `"greedy"`, or the
    sequence-to-sequence model's own generation."""
    if asr.type == "ctc_with_lm":  # ko_asr's HangulBeamSearch describes itself; pyctcdecode's decoder does not
        describe = getattr(asr.decoder, "describe", None)
        return describe() if describe else "LM beam search"
    return "greedy" if asr.type == "ctc" else "the model's own generation (no CTC decoding)"
