"""ko_asr: Korean speech recognition for the Hugging Face ecosystem."""

from .models.deepspeech2 import DeepSpeech2CTCTokenizer

__version__ = "0.1.0"
__all__ = ["DeepSpeech2CTCTokenizer"]
