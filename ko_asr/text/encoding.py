"""Transcript bytes -> text, whichever encoding a corpus file was re-saved in.

KsponSpeech ships its per-utterance `.txt` files in CP949 and its `.trn` scripts in UTF-8, but copies of the corpus
turn up re-saved either way, with or without a UTF-8 byte-order mark. Strict UTF-8 is tried first: CP949 Hangul is
almost never valid UTF-8 (its lead bytes 0xB0-0xC8 are mostly UTF-8 continuation bytes; the byte pairs that are
valid UTF-8 decode to Latin letters such as "ġ", never to Hangul, so a UTF-8 decode without Hangul whose non-ASCII
bytes are all Hangul in CP949 and which has no Latin letter is read as CP949: a Korean corpus line is far likelier to
be one short CP949 word than accented Latin, and "café" stays as it is; a line such as UTF-8 "2×3", with neither
Hangul nor Latin letters, would read as CP949 "2횞3", a limit of telling the two apart from bytes alone).
Bytes that are neither are an
error naming the file; text that was already damaged by an earlier lossy decode (U+FFFD replacement characters, or
CP949/UTF-8 bytes read as Latin-1 and saved again) is refused too, so mojibake never loads as text.
"""

from __future__ import annotations

import re
from os import PathLike

#: Encodings tried, in this order, on every transcript file.
TRANSCRIPT_ENCODINGS = ("utf-8", "cp949")
_BOM = b"\xef\xbb\xbf"
# Latin-1 / Windows-1252 letters that appear when Korean bytes were decoded as a Western code page.
_WESTERN = re.compile("[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u2122]")
_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3131-\u318e]")


class TranscriptDecodeError(ValueError):
    """A transcript's bytes are neither UTF-8 nor CP949, or hold mojibake; the message names the file."""


def _decode_or_none(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _mostly_hangul(text: str, minimum: int = 1) -> bool:
    """At least `minimum` Hangul characters, and at least half of the non-ASCII characters Hangul: what a Korean
    line decodes to, unlike "caf챕" (UTF-8 "café" read as CP949) or one stray syllable in Latin text."""
    hangul = len(_HANGUL.findall(text))
    other = sum(1 for char in text if not char.isascii())
    return hangul >= minimum and 2 * hangul >= other


def _only_hangul(text: str) -> bool:
    """No Latin letter, and every non-ASCII character a Hangul syllable or jamo (at least one)."""
    if any(char.isascii() and char.isalpha() for char in text):
        return False
    letters = [char for char in text if not char.isascii()]
    return bool(letters) and all(_HANGUL.fullmatch(char) for char in letters)


def _mojibake(text: str) -> str | None:
    """Why `text` is damaged text rather than a transcript, or `None`."""
    if "\ufffd" in text:
        return "holds U+FFFD replacement characters (it was decoded lossily and saved again)"
    if _WESTERN.search(text):
        for western in ("cp1252", "latin-1"):
            try:
                original = text.encode(western)
            except UnicodeEncodeError:
                continue
            for encoding in TRANSCRIPT_ENCODINGS:
                recovered = _decode_or_none(original, encoding)
                if recovered is not None and _mostly_hangul(recovered, minimum=2):
                    return f"is mojibake: {encoding.upper()} bytes read as {western} and saved again ({recovered[:20]!r}...)"
    return None


def decode_transcript(data: bytes, source: str | PathLike[str], korean_line: bool = True) -> str:
    """Decode a transcript file's bytes: strict UTF-8 (a leading BOM dropped), else strict CP949.

    Args:
        data (`bytes`): the file's (or one `.trn` line's) bytes.
        source (`str` or `os.PathLike`): the file (and line) named in errors.
        korean_line (`bool`, *optional*, defaults to `True`): the bytes are one Korean transcript, so a UTF-8
            reading without Hangul and without Latin letters whose bytes are all Hangul in CP949 is read as CP949
            (a one- or two-syllable CP949 line such as "치" is valid UTF-8 by chance). Off for whole files such as
            manifests, whose lines may hold no Hangul at all.

    Returns:
        `str`: the decoded text, line breaks kept.

    Raises:
        TranscriptDecodeError: when the bytes decode in neither encoding (the message gives the byte offset where
            CP949 failed), or decode to mojibake.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp949")
        except UnicodeDecodeError as error:
            bad = data[error.start : error.end].hex(" ")
            raise TranscriptDecodeError(
                f"{source}: neither UTF-8 nor CP949 (byte offset {error.start}: {bad})"
            ) from None
    else:
        damage = _mojibake(text)
        if damage:
            raise TranscriptDecodeError(f"{source}: {damage}")
        if korean_line and not text.isascii() and not _HANGUL.search(text):  # see `korean_line`
            cp949 = _decode_or_none(data, "cp949")
            text = cp949 if cp949 is not None and _only_hangul(cp949) else text
    return text


def read_transcript(path: str | PathLike[str]) -> str:
    """Read one per-utterance KsponSpeech `.txt` (one line, maybe a trailing newline) in UTF-8 or CP949.

    Raises:
        TranscriptDecodeError: see [`decode_transcript`].
    """
    with open(path, "rb") as handle:
        return decode_transcript(handle.read(), path).strip("\r\n")


def read_text_file(path: str | PathLike[str]) -> str:
    """A whole text file (a manifest) in UTF-8 or CP949; see [`decode_transcript`] (`korean_line=False`)."""
    with open(path, "rb") as handle:
        return decode_transcript(handle.read(), path, korean_line=False)
