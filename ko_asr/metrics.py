"""Korean ASR error rates, computed once, on jiwer.

Korean has no single scoring standard, so ko_asr reports all four and names which:

- `cer`: character error rate with every space removed (the kospeech convention).
- `cer_with_spaces`: space counted as a character (the ESPnet convention).
- `wer`: plain word error rate over space-separated words.
- `swer`: space-normalized WER (ESPnet1's sWER): the hypothesis is re-spaced to the reference's word boundaries
  through a character alignment, so spacing mistakes (띄어쓰기), which Korean readers barely notice, do not count.

All rates are corpus-level: total edits over total reference units. References and hypotheses are compared in
Unicode NFC, so a decomposed (NFD) transcript scores the same as its composed spelling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import jiwer

from .text.hangul import to_nfc

METRICS = ("cer", "cer_with_spaces", "wer", "swer")


def _check(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[list[str], list[str]]:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no references to score")
    references = [" ".join(to_nfc(r).split()) for r in references]
    if not any(references):
        raise ValueError("every reference is empty; error rates are undefined")
    return references, [" ".join(to_nfc(h).split()) for h in hypotheses]


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate with all spaces removed."""
    references, hypotheses = _check(references, hypotheses)
    return jiwer.cer([r.replace(" ", "") for r in references], [h.replace(" ", "") for h in hypotheses])


def cer_with_spaces(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate counting the space as a character."""
    return jiwer.cer(*_check(references, hypotheses))


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate over space-separated words (an empty reference's hypothesis words are all insertions)."""
    return jiwer.wer(*_check(references, hypotheses))


def respace_to_reference(reference: str, hypothesis: str) -> str:
    """Put the reference's word boundaries into the hypothesis through a character alignment (spaces ignored).

    A hypothesis character takes the position of the reference character it aligns with (an inserted character
    the position of the character before it); a space goes wherever a reference word boundary falls between two
    consecutive hypothesis characters. Both strings are NFC-normalized first, so characters are syllables.
    """
    reference, hypothesis = to_nfc(reference), to_nfc(hypothesis)
    ref_chars, hyp_chars = reference.replace(" ", ""), hypothesis.replace(" ", "")
    if not ref_chars or not hyp_chars:
        return hyp_chars
    boundaries, position = [], -1
    for word in reference.split()[:-1]:
        position += len(word)
        boundaries.append(position)  # a space follows reference character `position`
    aligned = [-1] * len(hyp_chars)
    for chunk in jiwer.process_characters([ref_chars], [hyp_chars]).alignments[0]:
        if chunk.type in ("equal", "substitute"):
            for offset in range(chunk.hyp_end_idx - chunk.hyp_start_idx):
                aligned[chunk.hyp_start_idx + offset] = chunk.ref_start_idx + offset
    previous = -1
    pieces = []
    for index, char in enumerate(hyp_chars):
        current = aligned[index] if aligned[index] >= 0 else previous
        if index and any(previous <= b < current for b in boundaries):
            pieces.append(" ")
        pieces.append(char)
        previous = current
    return "".join(pieces)


def swer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Space-normalized word error rate (ESPnet1 sWER)."""
    references, hypotheses = _check(references, hypotheses)
    return wer(references, [respace_to_reference(r, h) for r, h in zip(references, hypotheses)])


def compute_metrics(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """All four rates: `{"cer", "cer_with_spaces", "wer", "swer"}`."""
    return {
        "cer": cer(references, hypotheses),
        "cer_with_spaces": cer_with_spaces(references, hypotheses),
        "wer": wer(references, hypotheses),
        "swer": swer(references, hypotheses),
    }


#: Path of the `evaluate` metric module: `evaluate.load(ko_asr.metrics.EVALUATE_MODULE)` works offline.
EVALUATE_MODULE = str(Path(__file__).with_name("evaluate_module") / "korean_asr.py")
