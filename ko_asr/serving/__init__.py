"""The model side of the demo Space (`space/app.py`): finding and caching models, validating audio, transcribing."""

from .audio_input import InvalidInputError, from_array, read_audio_file, validate_waveform
from .examples import export_examples
from .registry import MODELS_ENV, ModelCache, ModelSource, find_models
from .service import ServiceConfig, Transcription, TranscriptionService

__all__ = [
    "MODELS_ENV",
    "InvalidInputError",
    "ModelCache",
    "ModelSource",
    "ServiceConfig",
    "Transcription",
    "TranscriptionService",
    "export_examples",
    "find_models",
    "from_array",
    "read_audio_file",
    "validate_waveform",
]
