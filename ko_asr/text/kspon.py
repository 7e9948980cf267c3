"""KsponSpeech transcript notation -> clean text.

Implements the normalization rules of the corpus documentation (ETRI transcription rules), written out with every
variant ko_asr accepts in `docs/ksponspeech_format.md`:

1. Dual transcriptions ``(A)/(B)`` resolve to A (spelling, 철자전사) or B (pronunciation, 발음전사). The variants
   ``(A) / (B)`` (spaces around the slash) and ``(A)(B)`` are pairs too; brackets nested or doubled inside a
   side resolve the same way, recursively. A group that forms no pair keeps its content; a stray bracket is
   dropped, its content kept, unless it could belong to a pair: a line that cannot be resolved without guessing
   raises [`MalformedTranscriptError`] and is counted, never turned into different words or numbers.
2. Noise tags (a letter of ``b l o n u`` followed by ``/`` where no Latin letter precedes it: after a space,
   after punctuation as in ``들어서.b/``, or glued to a Hangul word as in ``갔거든b/``) are deleted; ``u/``
   follows the ``unintelligible`` option. ``club/`` is a Latin word with a filler slash, not a tag.
3. The marks ``+`` (repetition), ``*`` (unclear), filler ``/`` and the brackets ``[ ]`` are deleted, their words
   kept. A slash between two ASCII letters or digits is text, not notation (``24/7``, ``1/2``, ``A/S``).
4. Phonetic policy only: ``%`` reads 퍼센트, except in three files that read it 프로.
5. Sentence punctuation ``. , ? !`` is removed (``.`` and ``,`` between two digits, as in ``3.5`` or
   ``1,000``, belong to the number and stay); symbols inside words (``AT&T``, ``K-POP``, ``70%``) stay.
   Whitespace is collapsed, the result stripped and put in Unicode NFC. Latin case is kept.
"""

from __future__ import annotations

import re
import unicodedata

POLICIES = ("spelling", "phonetic")
UNINTELLIGIBLE_MODES = ("remove", "drop", "token")
#: What ``unintelligible="token"`` writes for ``u/``; the CTC tokenizer's unknown token.
UNINTELLIGIBLE_TOKEN = "<unk>"

# Files whose bare "%" is read 프로 rather than 퍼센트 (corpus documentation).
_PERCENT_READ_AS_PRO = frozenset({"501006", "502173", "542363"})

# A noise tag is one of these letters and "/" where no Latin letter precedes it: after a space, punctuation or a
# Hangul syllable it glued to (갔거든b/); after a Latin letter it ends a word with a filler slash (club/, menu/).
_UNINTELLIGIBLE_TAG = re.compile(r"(?<![A-Za-z])u/")
_NOISE_TAG = re.compile(r"(?<![A-Za-z])[blon]/")
# A slash between two ASCII letters or digits is text (24/7, 1/2, A/S, TCP/IP); every other slash is notation.
_NOTATION_SLASH = re.compile(r"(?<![0-9A-Za-z])/|/(?![0-9A-Za-z])")
_MARKS = str.maketrans("", "", "+*[]")
_SENTENCE_PUNCTUATION = re.compile(r"(?<!\d)[.,]|[.,](?!\d)|[?!]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r" +(?=[.,?!](?: |$))")
# What may stand between the two groups of a dual transcription: "/" (canonical), " / " (spaces around the slash,
# as re-typed copies write it) or nothing (the malformed "(A)(B)" of some files).
_SLASH_CONNECTOR = re.compile(r"\s*/\s*")
# Tags are found in the raw line, before pairs resolve, so a tag right after a pair ("(TV)/(티비)o/") is still seen as
# one; these private-use marks hold their place until then.
_NOISE_MARK, _UNINTELLIGIBLE_MARK = "\ue000", "\ue001"
# Between two groups that form no pair: nothing but spaces, slashes and tags means they look like a pair that lost
# its connector ("(A) (B)", "(A)//(B)", "(A)b/(B)"), and choosing would be a guess.
_NO_WORDS = re.compile(f"[\\s/{_NOISE_MARK}{_UNINTELLIGIBLE_MARK}]*")


class UnintelligibleUtteranceError(ValueError):
    """Raised under ``unintelligible="drop"`` for a transcript holding a ``u/`` tag.

    The corpus loader catches it to skip and count the utterance.
    """


class MalformedTranscriptError(ValueError):
    """A transcript whose notation cannot be resolved without guessing (an unclosed pair, three groups chained by
    slashes, an empty side). The corpus loaders catch it to skip and count the utterance as `malformed_notation`."""


def _stray_brackets(text: str) -> list[int]:
    """Indices of the brackets that close nothing or are never closed."""
    stack: list[int] = []
    stray: list[int] = []
    for index, char in enumerate(text):
        if char == "(":
            stack.append(index)
        elif char == ")":
            (stack.pop() if stack else stray.append(index))
    return sorted(stray + stack)


def _may_belong_to_a_pair(text: str, index: int) -> bool:
    """Whether the stray bracket at `index` could be a side of a dual transcription whose other bracket is missing:
    it is linked by a slash (or directly) to a bracket next to it, as in ``(20년)/(이십 년``, ``(70%/(칠십)``,
    ``(70%)/칠십)`` or ``70%)/(칠십)``. Elsewhere (``그 (말이 맞아``) it can be dropped without a guess."""
    before = max(text.rfind("(", 0, index), text.rfind(")", 0, index))
    after = min((i for i in (text.find("(", index + 1), text.find(")", index + 1)) if i >= 0), default=-1)
    left = text[before + 1 : index] if before >= 0 else None  # text back to the previous bracket
    right = text[index + 1 : after] if after >= 0 else None  # text up to the next bracket
    slash_or_nothing = lambda between: between is not None and (between.strip() in ("", "/"))  # noqa: E731
    if text[index] == "(":
        opens_after_pair = before >= 0 and text[before] == ")" and slash_or_nothing(left)
        first_side_of_pair = after >= 0 and text[after] == "(" and right.rstrip().endswith("/")
        return opens_after_pair or first_side_of_pair
    closes_second_side = before >= 0 and text[before] == ")" and left.lstrip().startswith("/")
    closes_before_pair = after >= 0 and text[after] == "(" and slash_or_nothing(right)
    return closes_second_side or closes_before_pair


def _groups(text: str) -> list[tuple[int, int]]:
    """Top-level ``( )`` groups of a balanced text, as `(open, close)` indices."""
    groups: list[tuple[int, int]] = []
    depth = 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
            if depth == 1:
                start = index
        elif char == ")":
            depth -= 1
            if depth == 0:
                groups.append((start, index))
    return groups


def _resolve_pairs(text: str, side: int) -> str:
    """Replace each dual transcription ``(A)/(B)``, ``(A) / (B)`` or ``(A)(B)`` by A (``side=0``) or B
    (``side=1``), resolving nested and doubled brackets inside a side the same way; a group that is no pair keeps
    its content.

    Raises:
        MalformedTranscriptError: when the pairing needs a guess (see the class).
    """
    if "(" not in text and ")" not in text:
        return text
    stray = _stray_brackets(text)
    if stray:
        if any(_may_belong_to_a_pair(text, index) for index in stray):
            raise MalformedTranscriptError("a dual transcription with an unclosed or unopened bracket")
        # A stray bracket outside any pair is dropped, its content kept.
        stray_set = set(stray)
        text = "".join(char for index, char in enumerate(text) if index not in stray_set)
    groups = _groups(text)
    connectors = [text[a[1] + 1 : b[0]] for a, b in zip(groups, groups[1:])]
    partner: dict[int, int] = {}
    # Slash connectors pair first (the canonical form), then adjacent groups "(A)(B)".
    for pairs_with in (lambda c: _SLASH_CONNECTOR.fullmatch(c) is not None, lambda c: c == ""):
        for i, connector in enumerate(connectors):
            if pairs_with(connector) and i not in partner and i + 1 not in partner:
                partner[i], partner[i + 1] = i + 1, i
    for i, connector in enumerate(connectors):
        linked = _SLASH_CONNECTOR.fullmatch(connector) is not None or connector == ""
        if linked and partner.get(i) != i + 1 and (i not in partner or i + 1 not in partner):
            raise MalformedTranscriptError("a group linked by a slash or by adjacency to a dual transcription it cannot belong to")
        if i not in partner and i + 1 not in partner and _NO_WORDS.fullmatch(connector):
            raise MalformedTranscriptError("two groups with no word between them that form no dual transcription")
    out: list[str] = []
    position = 0
    for i, (start, end) in enumerate(groups):
        if i in partner and partner[i] < i:
            continue  # the second side of a pair, emitted with the first
        out.append(text[position:start])
        if i in partner:
            second = groups[i + 1]
            sides = [_resolve_pairs(text[a + 1 : b], side) for a, b in ((start, end), second)]
            if not all(_NO_WORDS.sub("", resolved) for resolved in sides):
                raise MalformedTranscriptError("a dual transcription with an empty side")
            out.append(sides[side])
            position = second[1] + 1
        else:
            out.append(_resolve_pairs(text[start + 1 : end], side))
            position = end + 1
    out.append(text[position:])
    return "".join(out)


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
        MalformedTranscriptError: when the notation cannot be resolved without guessing (an unclosed pair such as
            `(20년)/(이십 년`, three groups chained by slashes, a pair with an empty side); the message names
            `utterance_id`.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if unintelligible not in UNINTELLIGIBLE_MODES:
        raise ValueError(f"unintelligible must be one of {UNINTELLIGIBLE_MODES}, got {unintelligible!r}")

    where = f" in {utterance_id}" if utterance_id else ""
    text = unicodedata.normalize("NFC", raw).replace(_NOISE_MARK, "").replace(_UNINTELLIGIBLE_MARK, "")
    if "/" in text:
        text = _NOISE_TAG.sub(_NOISE_MARK, _UNINTELLIGIBLE_TAG.sub(_UNINTELLIGIBLE_MARK, text))
    try:
        text = _resolve_pairs(text, side=0 if policy == "spelling" else 1)
    except MalformedTranscriptError as error:
        raise MalformedTranscriptError(f"malformed notation{where}: {error}: {raw!r}") from None
    except RecursionError:
        raise MalformedTranscriptError(f"malformed notation{where}: brackets nested too deeply: {raw[:60]!r}...") from None
    if unintelligible == "drop" and _UNINTELLIGIBLE_MARK in text:
        raise UnintelligibleUtteranceError(f"transcript{where} holds the unintelligible tag 'u/': {raw!r}")
    unintelligible_text = f" {UNINTELLIGIBLE_TOKEN} " if unintelligible == "token" else " "
    text = text.replace(_UNINTELLIGIBLE_MARK, unintelligible_text).replace(_NOISE_MARK, " ")
    if "/" in text:
        text = _NOTATION_SLASH.sub("", text)
    text = text.translate(_MARKS)
    if policy == "phonetic" and "%" in text:
        reading = "프로" if _utterance_number(utterance_id) in _PERCENT_READ_AS_PRO else "퍼센트"
        text = text.replace("%", reading)
    text = " ".join(text.split())
    if keep_punctuation:  # a deleted tag between a word and its punctuation ("그래b/.") leaves no gap
        text = _SPACE_BEFORE_PUNCTUATION.sub("", text)
    else:
        text = " ".join(_SENTENCE_PUNCTUATION.sub(" ", text).split())
    return unicodedata.normalize("NFC", text)
