"""Live transcription with a unidirectional DeepSpeech2: audio in as it arrives, the transcript so far out.

    recognizer = StreamingRecognizer.from_pretrained("outputs/ds2-streaming")
    for chunk in microphone_chunks():          # 16 kHz float32 mono, any size
        print(recognizer.accept(chunk))        # partial transcript
    print(recognizer.finish())                 # final transcript == offline transcript of the whole utterance

The recognizer carries everything a chunk boundary cuts: the samples of the next analysis window, the convolutions'
frames, the RNN states and the lookahead buffer ([`DeepSpeech2StreamingEncoder`]). Features use the model's global
normalization statistics (per-utterance statistics do not exist until the utterance ends), so the logits it emits
are the offline model's to float rounding, for any chunk size. Partial transcripts are greedy (best path) decodes of
the frames that are final, less a syllable whose jamo may still be arriving (jamo models); nothing shown is revised.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .streaming_encoder import DeepSpeech2StreamingEncoder, DeepSpeech2StreamingGeometry

STREAMING_ONNX = "model_streaming.onnx"


class _TorchStep:
    """The PyTorch engine: the streaming encoder, eagerly, without gradients."""

    def __init__(self, model):
        self.encoder = DeepSpeech2StreamingEncoder(model)
        self.geometry = self.encoder.geometry
        self.device = next(model.parameters()).device

    def initial_state(self) -> list:
        return self.encoder.initial_state(1)

    @torch.no_grad()
    def __call__(self, features: np.ndarray, final: bool, state: list) -> tuple[np.ndarray, list]:
        features = torch.from_numpy(features).to(self.device)
        logits, *state = self.encoder(features, torch.tensor(int(final), device=self.device), *state)
        return logits[0].float().cpu().numpy(), state


class _OnnxStep:
    """The onnxruntime engine: `model_streaming.onnx` from `ko-asr export onnx` (state in, state out)."""

    def __init__(self, path: Path, config, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.geometry = DeepSpeech2StreamingGeometry.from_config(config)
        self.state_names = self.geometry.state_names()

    def initial_state(self) -> list:
        return [np.zeros(shape, dtype=np.float32) for shape in self.geometry.initial_state_shapes(1)]

    def __call__(self, features: np.ndarray, final: bool, state: list) -> tuple[np.ndarray, list]:
        feeds = {"input_features": features, "final": np.array(int(final), dtype=np.int64)}
        feeds.update(zip(self.state_names, state))
        logits, *state = self.session.run(None, feeds)
        return logits[0], state


class StreamingRecognizer:
    r"""Chunk-by-chunk greedy CTC transcription with a unidirectional DeepSpeech2 (PyTorch or onnxruntime).

    Args:
        processor ([`DeepSpeech2Processor`]):
            The model's processor; its feature extractor must use global normalization
            (`normalization="global"` or `do_normalize=False`).
        model ([`DeepSpeech2ForCTC`], *optional*):
            A unidirectional model (the PyTorch engine).
        onnx_path (`str` or `os.PathLike`, *optional*):
            A streaming ONNX graph written by `ko-asr export onnx` (the onnxruntime engine); give `config` with it.
        config ([`DeepSpeech2Config`], *optional*):
            The exported model's config (for `onnx_path`).
        threads (`int`, *optional*):
            onnxruntime's intra-op threads (the onnxruntime engine only; torch uses `torch.set_num_threads`).

    Raises:
        ValueError: for a bidirectional model, features normalized per utterance, or `onnx_path` without `config`.
    """

    def __init__(self, processor, model=None, onnx_path: str | os.PathLike | None = None, config=None,
                 threads: int | None = None):
        extractor = processor.feature_extractor
        if not extractor.is_causal:
            raise ValueError(
                "this model's features are normalized with each utterance's own statistics, which do not exist until "
                "the utterance ends, so it cannot stream. Train with global statistics (recipes/configs/"
                "ds2_streaming.yaml: feature_normalization: global)."
            )
        if (model is None) == (onnx_path is None):
            raise ValueError("give either a PyTorch model or an onnx_path")
        if onnx_path is not None and config is None:
            raise ValueError("onnx_path needs the exported model's config (AutoConfig.from_pretrained(export_dir))")
        self.processor = processor
        self.extractor = extractor
        self.engine = _TorchStep(model) if model is not None else _OnnxStep(Path(onnx_path), config, threads)
        self.geometry = self.engine.geometry
        self._hop = extractor.hop_length
        # Jamo tokens spell a syllable over several frames, and the decoded syllable grows as they arrive: partials
        # hold the last syllable back until the next one (or a space) starts, so what is shown is never revised.
        self._holds_last_syllable = getattr(processor.tokenizer, "units", None) == "jamo"
        self.last_logits: np.ndarray | None = None
        self.reset()

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, onnx: bool = False, int8: bool = False,
                        threads: int | None = None, **kwargs) -> StreamingRecognizer:
        """Load a saved unidirectional model (`onnx=True`: its `model_streaming.onnx` export, run on onnxruntime).

        `int8=True`: dynamic int8 quantization, `model_streaming.int8.onnx` with `onnx=True`, else PyTorch's of the RNN
        and Linear layers (`ko_asr.onnx_export.quantize_torch_int8`, CPU). Batch-1 streaming is bound by reading the
        recurrent weights every frame, which int8 makes 4x smaller. `threads`: onnxruntime's intra-op threads.

        Raises:
            ValueError: for a bidirectional model or per-utterance feature normalization.
            FileNotFoundError: for `onnx=True` without an exported streaming graph.
        """
        from transformers import AutoConfig, AutoModelForCTC

        from .models.deepspeech2 import DeepSpeech2Processor

        processor = DeepSpeech2Processor.from_pretrained(path, use_lm=False)
        if onnx:
            from .onnx_export import int8_name

            graph = Path(path) / (int8_name(STREAMING_ONNX) if int8 else STREAMING_ONNX)
            if not graph.is_file():
                raise FileNotFoundError(f"{graph} does not exist; export it with `ko-asr export onnx {path} {path}`")
            return cls(processor, onnx_path=graph, config=AutoConfig.from_pretrained(path), threads=threads)
        config = AutoConfig.from_pretrained(path)
        DeepSpeech2StreamingGeometry.from_config(config)  # refuse a bidirectional model before loading weights
        model = AutoModelForCTC.from_pretrained(path, **kwargs).eval()
        if int8:
            from .onnx_export import quantize_torch_int8

            model = quantize_torch_int8(model)
        return cls(processor, model=model)

    # ----- the stream ------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current utterance (audio, state and transcript) and start a new one."""
        half = self.extractor.n_fft // 2
        self._samples = np.zeros(half, dtype=np.float32)  # the STFT's left zero padding
        self._buffer_start = -half  # stream sample index of self._samples[0]
        self._received = 0
        self._next_frame = 0
        self._pending = np.zeros((0, self.extractor.feature_size), dtype=np.float32)
        self._state = self.engine.initial_state()
        self._logits: list[np.ndarray] = []
        self._ids: list[int] = []

    @property
    def logits(self) -> np.ndarray:
        """`(frames, vocab_size)` logits emitted so far for the current utterance."""
        if not self._logits:
            return np.zeros((0, len(self.processor.tokenizer)), dtype=np.float32)
        return np.concatenate(self._logits)

    @property
    def transcript(self) -> str:
        """Greedy transcript of all frames emitted so far (its last syllable may still grow, see `partial`)."""
        return self.processor.tokenizer.decode(self._ids)

    @property
    def partial(self) -> str:
        """The part of `transcript` that later frames cannot change: all of it for syllable tokens; for jamo tokens all
        but a trailing syllable, which may still gain its vowel or final consonant."""
        text = self.transcript
        if self._holds_last_syllable and text and not text.endswith(" "):
            return text[:-1]
        return text

    @property
    def seconds(self) -> float:
        """Audio received in the current utterance, seconds."""
        return self._received / self.extractor.sampling_rate

    @property
    def delay_seconds(self) -> float:
        """Algorithmic delay: how far behind the audio a logit frame can be final, from the analysis window, the
        convolutions' future context and the lookahead (excluding chunking and compute)."""
        geometry, hop = self.geometry, self.extractor.hop_length
        future_frames, step = 0, 1
        for conv in geometry.convs:
            future_frames += (conv.kernel - 1 - conv.padding) * step
            step *= conv.stride
        future_frames += geometry.lookahead * step
        window = self.extractor.n_fft - self.extractor.n_fft // 2 - hop
        return (future_frames * hop + max(0, window)) / self.extractor.sampling_rate

    def accept(self, samples) -> str:
        """Add audio and return the transcript so far.

        Args:
            samples (`np.ndarray` of shape `(samples,)`):
                16 kHz float32 mono audio in [-1, 1], any length (0 included).

        Returns:
            `str`: the greedy transcript of every frame that is final so far (`partial`): later calls only extend it.

        Raises:
            ValueError: for multi-channel or non-finite audio.
        """
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"accept() takes mono audio of shape (samples,), got shape {samples.shape}")
        if not np.isfinite(samples).all():
            raise ValueError("accept() got NaN or infinite samples")
        self._samples = np.concatenate([self._samples, samples])
        self._received += samples.size
        half, n_fft = self.extractor.n_fft // 2, self.extractor.n_fft
        ready = (self._received + half - n_fft) // self._hop + 1  # frames whose window lies inside the audio
        # ... and never beyond the offline frame count (n // hop), which a window shorter than two hops would pass
        self._featurize(min(ready, self._received // self._hop))
        lengths = self.geometry.cache_lengths(self._state)
        if self.geometry.output_frames(lengths, len(self._pending), final=False) >= 1:
            self._step(final=False)
        return self.partial

    def finish(self) -> str:
        """End the utterance: flush the zero padding through the model, return the final transcript and start a new
        utterance. The finished utterance's logits stay in `last_logits`."""
        if self._received == 0:  # nothing was said; offline transcription refuses empty audio
            self.last_logits = self.logits
            self.reset()
            return ""
        total = max(1, self._received // self._hop)  # the offline frame count (DeepSpeech2FeatureExtractor.num_frames)
        self._samples = np.concatenate([self._samples, np.zeros(self.extractor.n_fft, dtype=np.float32)])
        self._featurize(total)
        self._step(final=True)
        text, self.last_logits = self.transcript, self.logits
        self.reset()
        return text

    # ----- internals -------------------------------------------------------------------------------------------------
    def _featurize(self, upto: int) -> None:
        """Compute feature frames up to (not including) `upto` from the sample buffer and queue them."""
        if upto <= self._next_frame:
            return
        hop, n_fft = self._hop, self.extractor.n_fft
        # the buffer starts at the next frame's first sample (see the trimming below)
        windows = np.lib.stride_tricks.sliding_window_view(self._samples, n_fft)[::hop][: upto - self._next_frame]
        with torch.no_grad():
            features = self.extractor.log_spectrogram(torch.from_numpy(np.array(windows)))  # copy: the view is read-only
            features = self.extractor.normalize_global(features).numpy()
        self._pending = np.concatenate([self._pending, features])
        self._next_frame = upto
        keep = self._next_frame * hop - n_fft // 2  # the next window's first sample
        self._samples = self._samples[keep - self._buffer_start:]
        self._buffer_start = keep

    def _step(self, final: bool) -> None:
        logits, self._state = self.engine(self._pending[None], final, self._state)
        self._pending = self._pending[:0]
        if len(logits):
            self._logits.append(logits)
            self._ids.extend(int(i) for i in logits.argmax(-1))


__all__ = ["StreamingRecognizer"]
