"""`evaluate` metric module for Korean ASR: cer, cer_with_spaces, wer and swer from `ko_asr.metrics`.

Load it offline with `evaluate.load(ko_asr.metrics.EVALUATE_MODULE)`.
"""

import datasets
import evaluate

from ko_asr.metrics import compute_metrics

_DESCRIPTION = """Korean ASR error rates: `cer` (spaces removed, kospeech), `cer_with_spaces` (ESPnet), `wer`, and
`swer` (hypothesis re-spaced to the reference, ESPnet1 sWER). Corpus-level rates, compared in Unicode NFC."""
_KWARGS = """
Args:
    predictions (`list[str]`): hypotheses.
    references (`list[str]`): reference transcripts.
Returns:
    `dict` with `cer`, `cer_with_spaces`, `wer`, `swer`.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class KoreanASR(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        return compute_metrics(references, predictions)
