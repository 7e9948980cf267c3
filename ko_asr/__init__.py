"""ko_asr: Korean speech recognition for the Hugging Face ecosystem.

Importing it registers DeepSpeech2 with the transformers Auto classes (no `trust_remote_code`), so
`AutoModelForCTC`, `AutoProcessor` and `pipeline("automatic-speech-recognition")` load saved DeepSpeech2 models (and
decode with the n-gram language model saved beside one, see `ko_asr.pipeline_with_lm`).
Registering needs the classes, hence torch and transformers (seconds): the `ko-asr` console script therefore starts in
the top-level `ko_asr_cli` module, which imports this package only after its arguments have parsed.
"""

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForCTC,
    AutoProcessor,
    AutoTokenizer,
)

from .models.deepspeech2 import (
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Model,
    DeepSpeech2PreTrainedModel,
    DeepSpeech2Processor,
    DeepSpeech2ProcessorWithLM,
)
from .pipeline_with_lm import register as _register_pipeline

__version__ = "0.1.0"


def _register_auto_classes() -> None:
    # exist_ok: importing twice (e.g. reloading in a notebook) must not fail.
    AutoConfig.register(DeepSpeech2Config.model_type, DeepSpeech2Config, exist_ok=True)
    AutoModel.register(DeepSpeech2Config, DeepSpeech2Model, exist_ok=True)
    AutoModelForCTC.register(DeepSpeech2Config, DeepSpeech2ForCTC, exist_ok=True)
    AutoFeatureExtractor.register(DeepSpeech2Config, DeepSpeech2FeatureExtractor, exist_ok=True)
    AutoTokenizer.register(DeepSpeech2Config, slow_tokenizer_class=DeepSpeech2CTCTokenizer, exist_ok=True)
    AutoProcessor.register(DeepSpeech2Config, DeepSpeech2Processor, exist_ok=True)


_register_auto_classes()
_register_pipeline()  # LM decoding for `pipeline("automatic-speech-recognition", model=dir)`, see pipeline_with_lm

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
