"""Hangul syllable <-> jamo arithmetic, for the rest of ko_asr.

The code lives in [`ko_asr.models.deepspeech2.hangul`]: the DeepSpeech2 tokenizer needs it, and a saved model ships
the files of ``ko_asr/models/deepspeech2/`` as its custom code, which transformers loads only if they import nothing
of ko_asr outside that folder. This module re-exports it so ``ko_asr.text.hangul`` stays the text-side name.
"""

from ..models.deepspeech2.hangul import *  # noqa: F403
from ..models.deepspeech2.hangul import __all__  # noqa: F401
