"""Hangul syllable <-> jamo arithmetic (Unicode 3.12, "Conjoining Jamo Behavior").

Every precomposed syllable U+AC00..U+D7A3 is ``SBASE + (L * 21 + V) * 28 + T`` with 19 initials (L),
21 medials (V) and 27 finals plus "no final" (T). Decomposition yields *conjoining* jamo
(U+1100 block), which keep the initial/final distinction (initial ㄱ U+1100 differs from final ㄱ
U+11A8); that distinction is what lets a jamo CTC model be recomposed without ambiguity.

Composition tolerates any stream. A jamo that cannot join a syllable (an orphan medial or final, or an
initial with no medial after it) is **kept as its Hangul compatibility jamo** (U+3131 block, the form
people type, e.g. "ㅋㅋ"), never dropped and never raising, so no recognised sound is lost from a
transcript.

This module lives beside the DeepSpeech2 tokenizer, its main user, because a saved model ships this folder's files
as its custom code (``trust_remote_code``), which may import nothing of ko_asr outside it;
``ko_asr.text.hangul`` re-exports it for the rest of the library.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

SYLLABLE_BASE = 0xAC00
INITIAL_BASE = 0x1100
MEDIAL_BASE = 0x1161
FINAL_BASE = 0x11A7  # one below the first real final: T index 0 means "no final"
NUM_INITIALS = 19
NUM_MEDIALS = 21
NUM_FINALS = 28  # including "no final"
NUM_SYLLABLES = NUM_INITIALS * NUM_MEDIALS * NUM_FINALS  # 11,172

INITIALS = tuple(chr(INITIAL_BASE + i) for i in range(NUM_INITIALS))
MEDIALS = tuple(chr(MEDIAL_BASE + i) for i in range(NUM_MEDIALS))
FINALS = tuple(chr(FINAL_BASE + i) for i in range(1, NUM_FINALS))
#: All 67 conjoining jamo in canonical order (initials, medials, finals).
JAMO = INITIALS + MEDIALS + FINALS
#: All 11,172 precomposed syllables in code point order.
SYLLABLES = tuple(chr(SYLLABLE_BASE + i) for i in range(NUM_SYLLABLES))
#: The 51 Hangul compatibility letters U+3131..U+3163 (ㄱ..ㅣ), as typed in casual text.
COMPATIBILITY_JAMO = tuple(chr(c) for c in range(0x3131, 0x3164))

_INITIAL_INDEX = {ch: i for i, ch in enumerate(INITIALS)}
_MEDIAL_INDEX = {ch: i for i, ch in enumerate(MEDIALS)}
_FINAL_INDEX = {ch: i + 1 for i, ch in enumerate(FINALS)}


def _compatibility_of(jamo: str) -> str:
    """Compatibility letter with the same name (HANGUL CHOSEONG KIYEOK -> HANGUL LETTER KIYEOK)."""
    name = unicodedata.name(jamo)
    for position in ("CHOSEONG ", "JUNGSEONG ", "JONGSEONG "):
        name = name.replace(position, "LETTER ")
    return unicodedata.lookup(name)


#: Conjoining jamo -> compatibility jamo, used for orphans.
TO_COMPATIBILITY = {jamo: _compatibility_of(jamo) for jamo in JAMO}
#: Compatibility jamo -> conjoining jamo (its NFKD form: consonants map to the initial when one exists,
#: otherwise to the final, e.g. ㄳ -> U+11AA; vowels map to medials).
FROM_COMPATIBILITY = {
    compat: jamo
    for compat in COMPATIBILITY_JAMO
    if (jamo := unicodedata.normalize("NFKD", compat)) in TO_COMPATIBILITY  # archaic letters have no position
}

# str.translate tables: C-speed decomposition of whole strings.
_DECOMPOSE_TABLE = {
    SYLLABLE_BASE + s: INITIALS[s // (NUM_MEDIALS * NUM_FINALS)]
    + MEDIALS[(s // NUM_FINALS) % NUM_MEDIALS]
    + (FINALS[s % NUM_FINALS - 1] if s % NUM_FINALS else "")
    for s in range(NUM_SYLLABLES)
}
_DECOMPOSE_TABLE.update({ord(c): j for c, j in FROM_COMPATIBILITY.items()})


def to_nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC, the one form ko_asr tokenizes and scores.

    Korean text also arrives decomposed into conjoining jamo (NFD: macOS file names, some copied web text and
    tools); NFC composes those into the precomposed syllables, so canonically equivalent strings compare equal.
    Compatibility jamo ("ㅋㅋ") are left alone (that would be NFKC). Already-NFC text, the common case, costs one
    C-level quick check.
    """
    return unicodedata.normalize("NFC", text)


def is_syllable(char: str) -> bool:
    """Whether ``char`` is one of the 11,172 precomposed Hangul syllables."""
    return len(char) == 1 and SYLLABLE_BASE <= ord(char) < SYLLABLE_BASE + NUM_SYLLABLES


def decompose_syllable(syllable: str) -> tuple[str, str, str | None]:
    """Split one precomposed syllable into (initial, medial, final-or-None) conjoining jamo.

    Raises:
        ValueError: if ``syllable`` is not a precomposed Hangul syllable.
    """
    if not is_syllable(syllable):
        raise ValueError(f"{syllable!r} is not a precomposed Hangul syllable (U+AC00..U+D7A3)")
    index = ord(syllable) - SYLLABLE_BASE
    final = index % NUM_FINALS
    return (
        INITIALS[index // (NUM_MEDIALS * NUM_FINALS)],
        MEDIALS[(index // NUM_FINALS) % NUM_MEDIALS],
        FINALS[final - 1] if final else None,
    )


def compose_syllable(initial: str, medial: str, final: str | None = None) -> str:
    """Join conjoining jamo into one precomposed syllable.

    Raises:
        ValueError: if a jamo is not of the position it is passed for.
    """
    try:
        l_index, v_index = _INITIAL_INDEX[initial], _MEDIAL_INDEX[medial]
        t_index = _FINAL_INDEX[final] if final is not None else 0
    except KeyError as error:
        raise ValueError(f"cannot compose ({initial!r}, {medial!r}, {final!r}): {error} is misplaced") from None
    return chr(SYLLABLE_BASE + (l_index * NUM_MEDIALS + v_index) * NUM_FINALS + t_index)


def decompose(text: str) -> str:
    """Replace every Hangul syllable (and compatibility jamo) in ``text`` by conjoining jamo.

    Other characters pass through unchanged. Compatibility consonants become initials where Unicode has
    one (ㄳ, which only exists as a final, becomes a final), compatibility vowels become medials.
    """
    return text.translate(_DECOMPOSE_TABLE)


def compose_spans(symbols: Sequence[str]) -> list[tuple[str, int, int]]:
    """Recompose a stream of conjoining jamo (mixed with any other symbols) into syllables.

    Greedy left to right: initial + medial [+ final] becomes a syllable. Anything that cannot join (an
    initial without a following medial, a medial without an initial before it, a final without a
    syllable before it) is kept as its compatibility jamo; other symbols pass through. Never raises.

    Args:
        symbols (`Sequence[str]`): a string, or a list of symbols (multi-character tokens such as
            ``"<unk>"`` are passed through whole).

    Returns:
        `list[tuple[str, int, int]]`: each output character with the indices of the first and last input
        symbol it was made from (used to turn jamo CTC offsets into syllable offsets).
    """
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(symbols)
    while i < n:
        symbol = symbols[i]
        l_index = _INITIAL_INDEX.get(symbol)
        if l_index is not None and i + 1 < n and symbols[i + 1] in _MEDIAL_INDEX:
            v_index = _MEDIAL_INDEX[symbols[i + 1]]
            t_index = _FINAL_INDEX.get(symbols[i + 2], 0) if i + 2 < n else 0
            last = i + 2 if t_index else i + 1
            out.append((chr(SYLLABLE_BASE + (l_index * NUM_MEDIALS + v_index) * NUM_FINALS + t_index), i, last))
            i = last + 1
            continue
        out.append((TO_COMPATIBILITY.get(symbol, symbol), i, i))
        i += 1
    return out


def compose(text: str) -> str:
    """Recompose conjoining jamo in ``text`` into syllables; see [`compose_spans`] for the rules."""
    return "".join(char for char, _, _ in compose_spans(text))


__all__ = [
    "COMPATIBILITY_JAMO",
    "FINALS",
    "FINAL_BASE",
    "FROM_COMPATIBILITY",
    "INITIALS",
    "INITIAL_BASE",
    "JAMO",
    "MEDIALS",
    "MEDIAL_BASE",
    "NUM_FINALS",
    "NUM_INITIALS",
    "NUM_MEDIALS",
    "NUM_SYLLABLES",
    "SYLLABLES",
    "SYLLABLE_BASE",
    "TO_COMPATIBILITY",
    "compose",
    "compose_spans",
    "compose_syllable",
    "decompose",
    "decompose_syllable",
    "is_syllable",
    "to_nfc",
]
