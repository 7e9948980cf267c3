"""Data sources: KsponSpeech, any ASR dataset, and the synthetic corpus in the KsponSpeech layout."""

from .audio import SAMPLING_RATE, decode_audio
from .ksponspeech import LoadReport, load_ksponspeech
from .speech_dataset import column, load_speech_dataset, to_audio_dataset
from .synthetic import generate_synthetic_corpus

__all__ = [
    "SAMPLING_RATE",
    "LoadReport",
    "column",
    "decode_audio",
    "generate_synthetic_corpus",
    "load_ksponspeech",
    "load_speech_dataset",
    "to_audio_dataset",
]
