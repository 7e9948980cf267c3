from .tokenization_deepspeech2 import DeepSpeech2CTCTokenizer

__all__ = ["DeepSpeech2CTCTokenizer"]
