"""Transcription with an exported DeepSpeech2 on onnxruntime: NumPy features, the ONNX graph, greedy CTC decoding.

Torch is not in the hot path: features come from `DeepSpeech2FeatureExtractor.extract_numpy` and the network from
onnxruntime. The recognizer is called like the `automatic-speech-recognition` pipeline on a list of
`{"raw", "sampling_rate"}` inputs and returns `{"text", "chunks"}` per input (word timestamps), so
`ko_asr.segmented_transcription.transcribe_waveforms` (VAD, batching, formats) runs it unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .onnx_export import OFFLINE_ONNX, int8_name


class OnnxSpeechRecognizer:
    r"""A DeepSpeech2 exported by `ko-asr export onnx`, run on onnxruntime.

    Args:
        directory (`str` or `os.PathLike`):
            The export directory (`model.onnx`, `config.json`, processor files).
        int8 (`bool`, *optional*, defaults to `False`):
            Run `model.int8.onnx` (dynamic int8 quantization) instead.
        threads (`int`, *optional*):
            onnxruntime intra-op threads (default: onnxruntime's choice).

    Raises:
        FileNotFoundError: when the directory has no such graph.
    """

    type = "ctc"  # the pipeline type transcribe_waveforms looks at: greedy CTC, no beam search

    def __init__(self, directory: str | os.PathLike, int8: bool = False, threads: int | None = None):
        import onnxruntime
        from transformers import AutoConfig

        from .models.deepspeech2 import DeepSpeech2Processor

        directory = Path(directory)
        graph = directory / (int8_name(OFFLINE_ONNX) if int8 else OFFLINE_ONNX)
        if not graph.is_file():
            raise FileNotFoundError(
                f"{graph} does not exist; export the model first: ko-asr export onnx MODEL_DIR {directory}"
            )
        self.config = AutoConfig.from_pretrained(directory)
        self.processor = DeepSpeech2Processor.from_pretrained(directory, use_lm=False)
        self.tokenizer = self.processor.tokenizer
        self.feature_extractor = self.processor.feature_extractor
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.model = None  # no torch model: callers pass a CTCTranscriber themselves

    def logits(self, waveforms: list[np.ndarray]) -> list[np.ndarray]:
        """Each waveform's logits `(output_frames, vocab_size)`: one padded onnxruntime call for the batch."""
        features = [self.feature_extractor.extract_numpy(waveform) for waveform in waveforms]
        frames = max(len(f) for f in features)
        batch = np.zeros((len(features), frames, self.config.num_input_features), dtype=np.float32)
        mask = np.zeros((len(features), frames), dtype=np.int64)
        for row, utterance in enumerate(features):
            batch[row, : len(utterance)] = utterance
            mask[row, : len(utterance)] = 1
        (logits,) = self.session.run(None, {"input_features": batch, "attention_mask": mask})
        return [logits[row, : self.config.output_frames(len(f))] for row, f in enumerate(features)]

    def __call__(self, inputs: list[dict[str, Any]], return_timestamps: str | bool | None = None,
                 **unused: Any) -> list[dict[str, Any]]:
        """Transcribe `[{"raw": waveform, "sampling_rate": 16000}, ...]` as the ASR pipeline would (greedy CTC).

        `chunk_length_s`/`stride_length_s` are accepted and not needed: each input is one pass.

        Raises:
            ValueError: for audio at another sampling rate.
        """
        for item in inputs:
            if item.get("sampling_rate", self.feature_extractor.sampling_rate) != self.feature_extractor.sampling_rate:
                raise ValueError(f"expected {self.feature_extractor.sampling_rate} Hz audio, got {item['sampling_rate']}")
        seconds_per_frame = self.config.inputs_to_logits_ratio / self.feature_extractor.sampling_rate
        results = []
        for logits in self.logits([np.asarray(item["raw"], dtype=np.float32) for item in inputs]):
            ids = logits.argmax(-1).tolist()
            if not return_timestamps:
                results.append({"text": self.tokenizer.decode(ids)})
                continue
            decoded = self.tokenizer.decode(ids, output_word_offsets=True)
            chunks = [{"text": word["word"], "timestamp": (word["start_offset"] * seconds_per_frame,
                                                           word["end_offset"] * seconds_per_frame)}
                      for word in decoded.word_offsets]
            results.append({"text": decoded.text, "chunks": chunks})
        return results


__all__ = ["OnnxSpeechRecognizer"]
