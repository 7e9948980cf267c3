"""DeepSpeech2 as a transformers model."""

from .configuration_deepspeech2 import DeepSpeech2Config
from .feature_extraction_deepspeech2 import DeepSpeech2FeatureExtractor
from .modeling_deepspeech2 import DeepSpeech2ForCTC, DeepSpeech2Model, DeepSpeech2PreTrainedModel
from .processing_deepspeech2 import DeepSpeech2Processor, DeepSpeech2ProcessorWithLM
from .tokenization_deepspeech2 import DeepSpeech2CTCTokenizer

__all__ = [
    "DeepSpeech2CTCTokenizer",
    "DeepSpeech2Config",
    "DeepSpeech2FeatureExtractor",
    "DeepSpeech2ForCTC",
    "DeepSpeech2Model",
    "DeepSpeech2PreTrainedModel",
    "DeepSpeech2Processor",
    "DeepSpeech2ProcessorWithLM",
]
