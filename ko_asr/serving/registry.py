"""Which models the demo can offer, and loading each one once.

A model is a directory written by `save_pretrained` (config + weights + processor files), as `recipes/train.py`
and `recipes/finetune_whisper.py` leave them. They are found under `outputs/` (where `make demo` writes) and in the
entries of `KO_ASR_MODELS` (separated by `:`): a model directory, a directory of model directories, or a Hub id.
They run on `KO_ASR_DEVICE`, else on the GPU when there is one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..devices import device_problem

MODELS_ENV = "KO_ASR_MODELS"
DEVICE_ENV = "KO_ASR_DEVICE"
DEFAULT_SEARCH_ROOTS = ("outputs",)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """A model the demo can load.

    Args:
        label: What the model dropdown shows; unique.
        path: A local directory or a Hub repository id.
        family: The config's `model_type` (`"deepspeech2"`, `"whisper"`, ...), or `"unknown"` for a Hub id not
            inspected yet.
    """

    label: str
    path: str
    family: str


def model_family(directory: str) -> str | None:
    """The model family of a saved model directory, or None if it is not one (checkpoint folders included)."""
    config_file = os.path.join(directory, "config.json")
    if not os.path.isfile(config_file) or not any(os.path.exists(os.path.join(directory, f)) for f in _WEIGHT_FILES):
        return None
    with open(config_file, encoding="utf-8") as handle:
        model_type = json.load(handle).get("model_type", "")
    return {"deepspeech2": "deepspeech2", "whisper": "whisper"}.get(model_type, model_type or "unknown")


def can_stream(source: ModelSource) -> bool:
    """Whether a local model can transcribe live (`ko_asr.streaming`): a unidirectional DeepSpeech2 whose features use
    global statistics. Read from its saved files, without loading it."""
    if source.family != "deepspeech2" or not os.path.isdir(source.path):
        return False
    with open(os.path.join(source.path, "config.json"), encoding="utf-8") as handle:
        if json.load(handle).get("bidirectional", True):
            return False
    for name in ("processor_config.json", "preprocessor_config.json"):
        path = os.path.join(source.path, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                saved = json.load(handle)
            features = saved.get("feature_extractor", saved)
            return not features.get("do_normalize", True) or features.get("normalization") == "global"
    return False


def _models_in(root: str) -> list[tuple[str, str]]:
    family = model_family(root)
    if family is not None:
        return [(root, family)]
    if not os.path.isdir(root):
        return []
    found = []
    for name in sorted(os.listdir(root)):
        child = os.path.join(root, name)
        if not name.startswith("checkpoint-") and (family := model_family(child)) is not None:
            found.append((child, family))
    return found


def find_models(search_roots: Sequence[str] = DEFAULT_SEARCH_ROOTS, environ: Mapping[str, str] | None = None) -> list[ModelSource]:
    """Every model under `search_roots` and in `$KO_ASR_MODELS`, in that order, without loading any.

    An entry of `KO_ASR_MODELS` that does not exist and reads `owner/name` is taken as a Hub repository id; any other
    entry without a model is skipped with a warning. Two models with the same folder name get their path in the label.
    """
    environ = os.environ if environ is None else environ
    entries = [e for e in environ.get(MODELS_ENV, "").split(":") if e.strip()]
    sources: list[ModelSource] = []
    seen: set[str] = set()
    configured = {entry.strip() for entry in entries}
    for entry in [*search_roots, *entries]:
        entry = entry.strip()
        found = _models_in(entry) if os.path.exists(entry) else []
        if entry in configured and not found:
            if os.path.exists(entry) or entry.startswith(("/", ".", "~")) or entry.count("/") != 1:
                # A typo in a path must not turn into a Hub id that fails later with an unrelated message.
                logger.warning("%s entry %r: no saved model there (config.json + weights); skipped", MODELS_ENV, entry)
                continue
            found = [(entry, "unknown")]
        for path, family in found:
            key = os.path.realpath(path) if os.path.exists(path) else path
            if key in seen:
                continue
            seen.add(key)
            name = os.path.basename(os.path.normpath(path)) if os.path.exists(path) else path
            label = f"{name} ({family})"
            if any(source.label == label for source in sources):
                label = f"{name} ({family}, {path})"
            sources.append(ModelSource(label=label, path=path, family=family))
    return sources


def select_device(environ: Mapping[str, str] | None = None) -> str:
    """The device the demo's models run on: `$KO_ASR_DEVICE` when set (`cpu`, `cuda`, `cuda:1`, `mps`, ...), else
    `cuda` when torch sees a GPU, else `cpu`.

    Raises:
        ValueError: `$KO_ASR_DEVICE` is no torch device, or one this machine does not have (CUDA, MPS); said at
            startup rather than as a failed model load on the first request (see `ko_asr.devices`).
    """
    import torch

    environ = os.environ if environ is None else environ
    requested = environ.get(DEVICE_ENV, "").strip()
    if not requested:
        return "cuda" if torch.cuda.is_available() else "cpu"
    problem = device_problem(requested)
    if problem:
        raise ValueError(f"{DEVICE_ENV}={requested!r}: {problem}")
    return str(torch.device(requested))


class ModelCache:
    """Loads each model's `automatic-speech-recognition` pipeline on first use and keeps it (thread-safe: two requests
    for a model that is still loading wait for the same load).

    A model has up to two pipelines, keyed by `(model, use_lm)`: with its language model's beam search (a CTC model
    saved with a `language_model/`) and greedy. The second one is built around the first one's model and processor
    parts, so switching decodings loads no weights again; a model without a language model has one pipeline for both.

    Args:
        device: Where the pipelines run (`"cpu"`, `"cuda"`, `"cuda:1"`); default [`select_device`]: `$KO_ASR_DEVICE`,
            else the GPU when there is one.
    """

    def __init__(self, device: str | None = None):
        self.device = select_device() if device is None else device
        self._pipelines: dict[tuple[str, bool], object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, source: ModelSource, use_lm: bool = True):
        """The pipeline of `source`: decoding with its language model when it has one and `use_lm`, else greedily
        (`pipeline.type == "ctc_with_lm"` tells which)."""
        with self._guard:  # one lock per model: its two pipelines share the loaded weights
            lock = self._locks.setdefault(source.path, threading.Lock())
        key = (source.path, bool(use_lm))
        with lock:
            if key not in self._pipelines:
                other = self._pipelines.get((source.path, not use_lm))
                asr = self._load(source, use_lm=bool(use_lm), loaded=other)
                self._pipelines[key] = asr
                if use_lm and getattr(asr, "type", None) != "ctc_with_lm":  # no LM: it is the greedy pipeline too
                    self._pipelines.setdefault((source.path, False), asr)
            return self._pipelines[key]

    def _load(self, source: ModelSource, use_lm: bool = True, loaded=None):
        """A new pipeline for `source`; around `loaded`'s model and processor parts when given (another decoding of
        the same model), else loaded from `source.path`."""
        from transformers import pipeline

        import ko_asr  # noqa: F401 - registers DeepSpeech2 with the Auto classes and the LM-aware ASR pipeline

        if loaded is not None:
            return pipeline(
                "automatic-speech-recognition", model=loaded.model, tokenizer=loaded.tokenizer,
                feature_extractor=loaded.feature_extractor, device=loaded.device, use_lm=use_lm,
            )
        return pipeline("automatic-speech-recognition", model=source.path, device=self.device, use_lm=use_lm)

    def __len__(self) -> int:
        """Pipelines held (a model without a language model counts once)."""
        return len({id(asr) for asr in self._pipelines.values()})
