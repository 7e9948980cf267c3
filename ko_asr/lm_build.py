"""Build the n-gram language model a [`DeepSpeech2ProcessorWithLM`] decodes with, from training transcripts only.

The builder is `arpabo` (PyPI, MIT, pure Python): Kneser-Ney smoothed ARPA models. KenLM's own `lmplz` and
`build_binary` are not in the `kenlm` PyPI package, and building them from KenLM's source needs Boost and CMake
that a `pip install` cannot bring; so the model is written as ARPA, which KenLM loads directly (a demo-sized LM in
well under a second, see `benchmarks/decoding.py`). arpabo's ARPA needs three mends before KenLM reads it, made
here: the summary line it writes above `\\data\\` goes, n-gram fields are tab-separated, and a `<unk>` entry is
added (KenLM would otherwise give unknown units log10 probability -100). Its Unicode normalization is turned off,
since it would touch Hangul jamo.

Units (`DecoderConfig.units`):
- `syllable`: each transcript as its characters separated by spaces, with `|` between words (`오늘 저녁` ->
  `오 늘 | 저 녁`); composed syllables for syllable and jamo tokenizers alike (jamo hypotheses are recomposed before
  scoring).
- `word`: each transcript as words in the tokenizer's spelling (jamo for a jamo tokenizer), plus `unigrams.txt`.
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .models.deepspeech2.language_model_deepspeech2 import (
    ARPA_NAME,
    LANGUAGE_MODEL_DIRECTORY,
    UNIGRAMS_NAME,
    WORD_BOUNDARY,
    DecoderConfig,
    spell,
)
from .text.hangul import to_nfc
from .text.kspon import MalformedTranscriptError, UnintelligibleUtteranceError
from .text.policy import TranscriptPolicy

logger = logging.getLogger(__name__)


@dataclass
class LanguageModelReport:
    """What a build read and wrote.

    Attributes:
        directory (`str`): the `language_model/` folder written.
        lines (`int`): transcripts used.
        skipped (`Counter`): transcripts left out, by reason (empty after normalization, unintelligible, malformed).
        ngrams (`dict[int, int]`): n-gram counts by order.
        vocabulary (`int`): distinct LM units (syllables and `|`, or words).
        unreachable (`list[str]`): LM units the tokenizer cannot produce (they can never be scored).
        size_bytes (`int`): size of the ARPA file.
    """

    directory: str
    lines: int
    skipped: Counter = field(default_factory=Counter)
    ngrams: dict[int, int] = field(default_factory=dict)
    vocabulary: int = 0
    unreachable: list[str] = field(default_factory=list)
    size_bytes: int = 0


def lm_text(transcript: str, units: str, tokenizer=None) -> str:
    """One normalized transcript as an LM training line in `units` (see the module docstring)."""
    words = to_nfc(transcript).split()
    if units == "syllable":
        return f" {WORD_BOUNDARY} ".join(" ".join(word) for word in words)
    return spell(tokenizer, " ".join(words)) if tokenizer is not None else " ".join(words)


def kenlm_arpa(arpabo_model) -> str:
    """An `arpabo.ArpaBoLM`'s ARPA text in the form KenLM reads (see the module docstring)."""
    buffer = io.StringIO()
    arpabo_model.write(buffer)
    lines = buffer.getvalue().splitlines()
    lines = lines[lines.index("\\data\\"):]
    max_order = arpabo_model.max_order
    out, order, unigram_logprobs = [], 0, []
    for line in lines:
        if line.startswith("\\") and line.endswith("-grams:"):
            order = int(line[1:line.index("-")])
            out.append(line)
            continue
        if order == 0 or not line or line.startswith("\\"):
            out.append(line)
            continue
        fields_ = line.split(" ")
        has_backoff = order < max_order and len(fields_) == order + 2
        words = fields_[1:-1] if has_backoff else fields_[1:]
        out.append("\t".join([fields_[0], " ".join(words)] + ([fields_[-1]] if has_backoff else [])))
        if order == 1 and words[0] not in ("<s>", "</s>"):
            unigram_logprobs.append(float(fields_[0]))
    if "<unk>" not in {line.split("\t")[1] for line in out if line.count("\t") >= 1}:
        # An unseen unit costs what the rarest seen one does (arpabo reserves no <unk> mass).
        floor = min(unigram_logprobs) if unigram_logprobs else -10.0
        index = out.index("\\1-grams:") + 1
        out.insert(index, f"{floor:.4f}\t<unk>" + ("\t0.0000" if max_order > 1 else ""))
        header = next(i for i, line in enumerate(out) if line.startswith("ngram 1="))
        out[header] = f"ngram 1={int(out[header].split('=')[1]) + 1}"
    return "\n".join(out) + "\n"


def _normalized(texts: Iterable[str], policy: TranscriptPolicy, report: LanguageModelReport) -> list[str]:
    kept = []
    for line in texts:
        try:
            text = policy.normalize(line)
        except UnintelligibleUtteranceError:
            report.skipped["unintelligible"] += 1
            continue
        except MalformedTranscriptError as error:
            report.skipped["malformed"] += 1
            logger.warning("skipped a malformed transcript: %s", error)
            continue
        if text.strip():
            kept.append(text)
        else:
            report.skipped["empty after normalization"] += 1
    return kept


def _reachable(unit: str, units: str, tokenizer, vocabulary: dict[str, int]) -> bool:
    if unit in (WORD_BOUNDARY, "<s>", "</s>", "<unk>"):
        return True
    pieces = tokenizer._tokenize(unit) if units == "syllable" else list(unit)
    return all(piece in vocabulary for piece in pieces)


def build_language_model(
    texts: Iterable[str],
    output_dir: str,
    units: str = "syllable",
    order: int = 5,
    tokenizer=None,
    policy: TranscriptPolicy | None = None,
    smoothing: str = "kneser_ney",
    **decoder_settings,
) -> LanguageModelReport:
    """Write `output_dir/language_model/` from `texts`.

    Args:
        texts (`Iterable[str]`): training transcripts only (raw KsponSpeech notation or plain text), one per item.
        output_dir (`str`): a model directory (its pipeline then decodes with the LM) or any folder.
        units (`str`, *optional*, defaults to `"syllable"`): `"syllable"` or `"word"`.
        order (`int`, *optional*, defaults to 5): the n-gram order.
        tokenizer ([`DeepSpeech2CTCTokenizer`], *optional*): the model's; needed for `word` units (their spelling)
            and to report LM units the model cannot produce.
        policy ([`TranscriptPolicy`], *optional*): how `texts` are normalized; the model's (from `tokenizer`) when
            not given, else the default spelling policy.
        smoothing (`str`, *optional*, defaults to `"kneser_ney"`): arpabo's smoothing method.
        decoder_settings: initial [`DecoderConfig`] values (`alpha`, `beta`, `beam_width`, ...).

    Returns:
        [`LanguageModelReport`]

    Raises:
        ValueError: for `word` units without a tokenizer, an order below 1, or no usable transcript.
    """
    from arpabo import ArpaBoLM

    if units == "word" and tokenizer is None:
        raise ValueError("word units need the model's tokenizer (its spelling of words)")
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    config = DecoderConfig(units=units, order=order, builder=f"arpabo {smoothing}", **decoder_settings)
    policy = policy or (TranscriptPolicy.from_tokenizer(tokenizer) if tokenizer is not None else None) or TranscriptPolicy()
    directory = os.path.join(output_dir, LANGUAGE_MODEL_DIRECTORY)
    report = LanguageModelReport(directory=directory, lines=0)
    lines = [lm_text(text, units, tokenizer) for text in _normalized(texts, policy, report)]
    if not lines:
        raise ValueError(f"no usable transcript to build a language model from (skipped: {dict(report.skipped)})")
    report.lines = len(lines)

    model = ArpaBoLM(max_order=order, smoothing_method=smoothing, unicode_norm=False)
    for line in lines:
        model.read_corpus_line(line)
    model.compute()
    os.makedirs(directory, exist_ok=True)
    arpa_path = os.path.join(directory, ARPA_NAME)
    with open(arpa_path, "w", encoding="utf-8") as handle:
        handle.write(kenlm_arpa(model))
    vocabulary = sorted({unit for line in lines for unit in line.split()})
    if units == "word":
        with open(os.path.join(directory, UNIGRAMS_NAME), "w", encoding="utf-8") as handle:
            handle.write("\n".join(vocabulary) + "\n")
    elif os.path.exists(os.path.join(directory, UNIGRAMS_NAME)):
        os.remove(os.path.join(directory, UNIGRAMS_NAME))  # a syllable LM beside an old word list would mislead
    config.save(directory)
    report.ngrams = {n + 1: count for n, count in enumerate(model.counts) if count}
    report.vocabulary = len(vocabulary)
    if tokenizer is not None:
        known = tokenizer.get_vocab()
        report.unreachable = [unit for unit in vocabulary if not _reachable(unit, units, tokenizer, known)]
        if report.unreachable:
            logger.warning("%d LM units the model cannot produce, e.g. %s", len(report.unreachable), report.unreachable[:5])
    report.size_bytes = os.path.getsize(arpa_path)
    return report


def perplexity(directory: str, texts: Sequence[str], tokenizer=None, policy: TranscriptPolicy | None = None) -> float:
    """Per-unit perplexity of held-out `texts` under the `language_model/` folder `directory` (KenLM's scoring,
    sentence ends included): a check that the LM and the decoder speak the same units."""
    import kenlm

    config = DecoderConfig.load(directory)
    model = kenlm.Model(os.path.join(directory, ARPA_NAME))
    policy = policy or TranscriptPolicy()
    scored = [lm_text(policy.normalize(text), config.units, tokenizer) for text in texts]
    total = sum(model.score(line, bos=True, eos=True) for line in scored if line)
    count = sum(len(line.split()) + 1 for line in scored if line)
    return 10 ** (-total / count)


__all__ = ["LanguageModelReport", "build_language_model", "kenlm_arpa", "lm_text", "perplexity"]
