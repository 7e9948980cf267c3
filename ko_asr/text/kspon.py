"""KsponSpeech transcript notation -> clean text.

Implements the normalization rules of the corpus documentation (ETRI transcription rules, summarised in
``FORMAT.md`` of the ko_asr design notes):

1. Dual transcriptions ``(A)/(B)`` resolve to A (spelling, 철자전사) or B (pronunciation, 발음전사). A
   malformed pair written ``(A)(B)`` is a pair too. A parenthesis that forms no pair is dropped and its
   content kept, so a stray bracket never derails the rest of the line.
2. Noise tags (a letter of ``b l o n u`` followed by ``/`` where a word starts, possibly glued after
   punctuation as in ``들어서.b/``) are deleted; ``u/`` follows the ``unintelligible`` option.
   ``club/`` is a word with a filler slash, not a tag: a tag letter must not follow another letter.
3. The marks ``+`` (repetition), ``*`` (unclear), filler ``/`` and the brackets ``[ ]`` are deleted,
   their words kept.
4. Phonetic policy only: ``%`` reads 퍼센트, except in three files that read it 프로.
5. Sentence punctuation ``. , ? !`` is removed (``.`` and ``,`` between two digits, as in ``3.5`` or
   ``1,000``, belong to the number and stay); symbols inside words (``AT&T``, ``K-POP``, ``70%``) stay.
   Whitespace is collapsed, the result stripped and put in Unicode NFC. Latin case is kept.
"""

from __future__ import annotations

import re
import unicodedata
from os import PathLike

POLICIES = ("spelling", "phonetic")
UNINTELLIGIBLE_MODES = ("remove", "drop", "token")
#: What ``unintelligible="token"`` writes for ``u/``; the CTC tokenizer's unknown token.
UNINTELLIGIBLE_TOKEN = "<unk>"

# Files whose bare "%" is read 프로 rather than 퍼센트 (corpus documentation).
_PERCENT_READ_AS_PRO = frozenset({"501006", "502173", "542363"})

_UNINTELLIGIBLE_TAG = re.compile(r"(?<!\w)u/")
_NOISE_TAG = re.compile(r"(?<!\w)[blon]/")
_MARKS = str.maketrans("", "", "+*/[]()")
_SENTENCE_PUNCTUATION = re.compile(r"(?<!\d)[.,]|[.,](?!\d)|[?!]")


class UnintelligibleUtteranceError(ValueError):
    """Raised under ``unintelligible="drop"`` for a transcript holding a ``u/`` tag.

    The corpus loader catches it to skip and count the utterance.
    """


class TranscriptDecodeError(ValueError):
    """A transcript file's bytes are not valid CP949; the message names the file and byte offset."""


def _group_end(text: str, start: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``start``, or -1 if another ``(`` or the end comes first."""
    close = text.find(")", start + 1)
    if close < 0:
        return -1
    reopen = text.find("(", start + 1, close)
    return -1 if reopen >= 0 else close


def _resolve_pairs(text: str, side: int) -> str:
    """Replace each ``(A)/(B)`` or ``(A)(B)`` by A (``side=0``) or B (``side=1``); unpaired groups keep
    their content. Parentheses that open no group are dropped."""
    if "(" not in text:
        return text
    out: list[str] = []
    position = 0
    while True:
        start = text.find("(", position)
        if start < 0:
            out.append(text[position:])
            return "".join(out)
        out.append(text[position:start])
        first_end = _group_end(text, start)
        if first_end < 0:  # lone "(": drop it, keep scanning after it
            position = start + 1
            continue
        second_start = first_end + 2 if text.startswith("/(", first_end + 1) else first_end + 1
        second_end = (
            _group_end(text, second_start) if text.startswith("(", second_start) else -1
        )
        if second_end < 0:  # a group that is not a pair: keep its content
            out.append(text[start + 1 : first_end])
            position = first_end + 1
            continue
        chosen = text[start + 1 : first_end] if side == 0 else text[second_start + 1 : second_end]
        out.append(chosen)
        position = second_end + 1


def _utterance_number(utterance_id: str | None) -> str | None:
    if utterance_id is None:
        return None
    digits = re.search(r"(\d+)\D*$", utterance_id)
    return digits.group(1).lstrip("0") if digits else None


def normalize_transcript(
    raw: str,
    policy: str = "spelling",
    keep_punctuation: bool = False,
    unintelligible: str = "remove",
    utterance_id: str | None = None,
) -> str:
    """Turn one raw KsponSpeech transcript into clean text.

    Args:
        raw (`str`):
            The transcript as written in the corpus, notation included.
        policy (`str`, *optional*, defaults to `"spelling"`):
            `"spelling"` keeps the spelling side A of each `(A)/(B)` pair (철자전사, e.g. "20년"),
            `"phonetic"` the pronunciation side B ("이십 년") and reads `%` aloud.
        keep_punctuation (`bool`, *optional*, defaults to `False`):
            Keep the sentence punctuation `. , ? !`.
        unintelligible (`str`, *optional*, defaults to `"remove"`):
            What to do with the `u/` tag: `"remove"` deletes it, `"token"` writes
            [`UNINTELLIGIBLE_TOKEN`] in its place, `"drop"` raises [`UnintelligibleUtteranceError`].
        utterance_id (`str`, *optional*):
            The utterance id or file name (e.g. `"KsponSpeech_501006"`); used to name the utterance in
            errors and for the three files whose `%` reads 프로.

    Returns:
        `str`: the normalized text; empty when nothing speakable remains (the loader reports and skips it).

    Raises:
        ValueError: for an unknown `policy` or `unintelligible` mode.
        UnintelligibleUtteranceError: under `unintelligible="drop"` when the transcript holds `u/`.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if unintelligible not in UNINTELLIGIBLE_MODES:
        raise ValueError(f"unintelligible must be one of {UNINTELLIGIBLE_MODES}, got {unintelligible!r}")

    text = _resolve_pairs(unicodedata.normalize("NFC", raw), side=0 if policy == "spelling" else 1)
    if "/" in text:
        if unintelligible == "drop" and _UNINTELLIGIBLE_TAG.search(text):
            where = f" in {utterance_id}" if utterance_id else ""
            raise UnintelligibleUtteranceError(f"transcript{where} holds the unintelligible tag 'u/': {raw!r}")
        replacement = f" {UNINTELLIGIBLE_TOKEN} " if unintelligible == "token" else " "
        text = _UNINTELLIGIBLE_TAG.sub(replacement, text)
        text = _NOISE_TAG.sub(" ", text)
    text = text.translate(_MARKS)
    if policy == "phonetic" and "%" in text:
        reading = "프로" if _utterance_number(utterance_id) in _PERCENT_READ_AS_PRO else "퍼센트"
        text = text.replace("%", reading)
    if not keep_punctuation:
        text = _SENTENCE_PUNCTUATION.sub(" ", text)
    return unicodedata.normalize("NFC", " ".join(text.split()))


def read_transcript(path: str | PathLike[str]) -> str:
    """Read one per-utterance KsponSpeech ``.txt`` (CP949, one line, maybe a trailing newline).

    Raises:
        TranscriptDecodeError: when a byte sequence is not valid CP949; the message names the file and
            the byte offset. Bytes are never silently replaced.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("cp949")
    except UnicodeDecodeError as error:
        bad = data[error.start : error.end].hex(" ")
        raise TranscriptDecodeError(
            f"{path}: byte offset {error.start} ({bad}) is not valid CP949: {error.reason}"
        ) from None
    return text.strip("\r\n")
