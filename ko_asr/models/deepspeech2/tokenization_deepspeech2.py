"""Hangul character CTC tokenizer for DeepSpeech2: syllable or jamo units."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from itertools import groupby
from os import PathLike

from transformers.models.wav2vec2.tokenization_wav2vec2 import (
    Wav2Vec2CTCTokenizer,
    Wav2Vec2CTCTokenizerOutput,
)
from transformers.tokenization_python import PreTrainedTokenizer
from transformers.tokenization_utils_base import AddedToken
from transformers.utils import logging

# From this folder, in the `from .module import` form: transformers copies such imports with the model as its
# custom code, so the saved tokenizer loads where ko_asr is not installed.
from .hangul import (
    COMPATIBILITY_JAMO,
    JAMO,
    SYLLABLES,
    TO_COMPATIBILITY,
    compose_spans,
    decompose,
    is_syllable,
    to_nfc,
)

logger = logging.get_logger(__name__)

UNITS = ("syllable", "jamo")
#: Symbols that normalized KsponSpeech text keeps inside words (``70%``, ``AT&T``, ``K-POP``, ``C#``, ``3.5``)
#: plus the sentence punctuation kept under ``keep_punctuation=True``.
SYMBOLS = tuple("!#%&',-.:?@~")
DIGITS = tuple("0123456789")
LATIN = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _check_vocabulary(vocab: dict[str, int], source: object, pad: str, unk: str, delimiter: str) -> None:
    """Raise a ValueError naming `source` unless the vocabulary fits the CTC contract."""
    for required in (pad, unk, delimiter):
        if required not in vocab:
            raise ValueError(f"{source}: the vocabulary has no {required!r} token")
    # Input text is NFC-normalized before lookup, so a token in another form could never be produced.
    not_nfc = [token for token in vocab if to_nfc(token) != token]
    if not_nfc:
        raise ValueError(f"{source}: tokens must be in Unicode NFC form, found {not_nfc[:3]!r}")
    if vocab[pad] != 0:
        raise ValueError(f"{source}: the pad token {pad!r} is the CTC blank and must have id 0, found id {vocab[pad]}")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"{source}: ids must be 0..{len(vocab) - 1} without gaps or repeats")


class DeepSpeech2CTCTokenizer(Wav2Vec2CTCTokenizer):
    """
    Constructs a Korean character-level CTC tokenizer (one token per Hangul syllable, or per jamo).

    It keeps the [`~transformers.Wav2Vec2CTCTokenizer`] decoding contract (`group_tokens`, `output_char_offsets`,
    `output_word_offsets`) so the ASR pipeline can return character and word timestamps, with three
    differences: the CTC blank is the pad token and has id 0; the word delimiter is the space character itself,
    a real token and not a special one, so word boundaries survive decoding and `skip_special_tokens`; and in
    jamo mode decoding recomposes syllables (offsets then cover whole syllables).

    Input text is normalized to Unicode NFC first ([`~ko_asr.text.to_nfc`]), so composed and decomposed
    (conjoining jamo, e.g. from macOS) spellings of the same text encode to the same ids.

    Build a vocabulary with [`~DeepSpeech2CTCTokenizer.from_hangul`] (full inventory),
    [`~DeepSpeech2CTCTokenizer.from_corpus`] (frequency-pruned, from training text only) or
    [`~DeepSpeech2CTCTokenizer.from_csv`] (the original project's `id,char` file).

    Args:
        vocab_file (`str`):
            JSON file mapping each token to its id.
        units (`str`, *optional*, defaults to `"syllable"`):
            `"syllable"`: one token per precomposed syllable. `"jamo"`: text is decomposed into conjoining jamo
            (initial/medial/final, 67 symbols) before lookup and recomposed when decoding.
        unk_token (`str`, *optional*, defaults to `"<unk>"`):
            Token for characters outside the vocabulary. Every such character is counted in
            `unknown_counts` and `last_unknown_count`, and logged once per distinct character.
        pad_token (`str`, *optional*, defaults to `"<pad>"`):
            Padding token, also the CTC blank. Must have id 0.
        word_delimiter_token (`str`, *optional*, defaults to `" "`):
            Token separating words. It is text, never a special token.
    """

    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str,
        units: str = "syllable",
        unk_token: str = "<unk>",
        pad_token: str = "<pad>",
        word_delimiter_token: str = " ",
        **kwargs,
    ):
        if units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {units!r}")
        # transformers 5 registers every `*_token` string reaching the base __init__ as a named special token
        # (from_pretrained passes saved ones back as `model_specific_special_tokens`). The delimiter is text, so it
        # is kept off that route, and off the added tokens of configs saved while it was treated as special.
        model_specific = dict(kwargs.pop("model_specific_special_tokens", None) or {})
        word_delimiter_token = model_specific.pop("word_delimiter_token", word_delimiter_token)
        if model_specific:  # other model-specific tokens stay special
            kwargs["model_specific_special_tokens"] = model_specific
        unk_token, pad_token, word_delimiter_token = str(unk_token), str(pad_token), str(word_delimiter_token)
        if saved_added_tokens := kwargs.get("added_tokens_decoder"):
            kwargs["added_tokens_decoder"] = {
                index: token for index, token in saved_added_tokens.items() if str(token) != word_delimiter_token
            }
        with open(vocab_file, encoding="utf-8") as handle:
            self.vocab = json.load(handle)
        _check_vocabulary(self.vocab, vocab_file, pad_token, unk_token, word_delimiter_token)
        self.units = units
        self.encoder = self.vocab
        self.decoder = {index: token for token, index in self.encoder.items()}
        self.target_lang = None
        self.do_lower_case = False
        self.replace_word_delimiter_char = " "
        self._word_delimiter_token = word_delimiter_token
        self._unk_id = self.encoder[unk_token]
        self.unknown_counts: Counter[str] = Counter()
        self.last_unknown_count = 0
        for name in ("bos_token", "eos_token", "do_lower_case", "replace_word_delimiter_char", "target_lang"):
            kwargs.pop(name, None)
        # Skip Wav2Vec2CTCTokenizer.__init__: it registers multi-character tokens as added tokens that strip
        # the spaces around them, which would erase word boundaries next to "<unk>".
        PreTrainedTokenizer.__init__(
            self,
            units=units,
            unk_token=unk_token,
            pad_token=pad_token,
            bos_token=None,
            eos_token=None,
            special_tokens_pattern="none",
            clean_up_tokenization_spaces=kwargs.pop("clean_up_tokenization_spaces", False),
            **kwargs,
        )
        self.init_kwargs["word_delimiter_token"] = word_delimiter_token  # still saved to tokenizer_config.json
        for token in self.encoder:
            if len(token) > 1 and token not in self._added_tokens_encoder:
                special = token != word_delimiter_token
                self.add_tokens(AddedToken(token, rstrip=False, lstrip=False, normalized=False, special=special))

    # ------------------------------------------------------------------ vocabulary builders
    @classmethod
    def from_vocabulary(cls, symbols: Iterable[str], units: str = "syllable", **kwargs) -> DeepSpeech2CTCTokenizer:
        """Build a tokenizer whose ids follow `symbols` (NFC-normalized, duplicates dropped) after `<pad>` (0),
        `<unk>` (1) and space (2)."""
        pad, unk = kwargs.get("pad_token", "<pad>"), kwargs.get("unk_token", "<unk>")
        vocab: dict[str, int] = {}
        for symbol in (pad, unk, " ", *map(to_nfc, symbols)):
            vocab.setdefault(symbol, len(vocab))
        return cls._from_vocab_dict(vocab, units=units, **kwargs)

    @classmethod
    def _from_vocab_dict(cls, vocab: dict[str, int], **kwargs) -> DeepSpeech2CTCTokenizer:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "vocab.json")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(vocab, handle, ensure_ascii=False)
            return cls(path, **kwargs)

    @classmethod
    def from_hangul(cls, units: str = "syllable", **kwargs) -> DeepSpeech2CTCTokenizer:
        """The full inventory: all 11,172 syllables and the 51 compatibility jamo (`units="syllable"`) or the 67
        conjoining jamo (`units="jamo"`), plus space, digits, Latin letters and [`SYMBOLS`]."""
        if units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {units!r}")
        hangul_symbols = SYLLABLES + COMPATIBILITY_JAMO if units == "syllable" else JAMO
        return cls.from_vocabulary(DIGITS + LATIN + SYMBOLS + hangul_symbols, units=units, **kwargs)

    @classmethod
    def from_corpus(
        cls,
        texts: Iterable[str],
        units: str = "syllable",
        max_size: int | None = None,
        min_freq: int = 1,
        **kwargs,
    ) -> DeepSpeech2CTCTokenizer:
        """A vocabulary of the symbols seen in `texts` (pass training text only, never eval text).

        Args:
            texts (`Iterable[str]`): normalized transcripts.
            units (`str`, *optional*, defaults to `"syllable"`): `"syllable"` or `"jamo"`.
            max_size (`int`, *optional*): keep the `max_size` most frequent symbols (ties broken by code point),
                like kospeech's 2,000-syllable vocabulary. Special tokens and space are not counted.
            min_freq (`int`, *optional*, defaults to 1): drop symbols seen fewer times.
        """
        if units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {units!r}")
        counts: Counter[str] = Counter()
        for text in map(to_nfc, texts):  # decomposed text would otherwise count jamo as symbols
            counts.update(decompose(text) if units == "jamo" else text)
        counts.pop(" ", None)
        ranked = sorted((s for s, c in counts.items() if c >= min_freq and not s.isspace()), key=lambda s: (-counts[s], s))
        return cls.from_vocabulary(ranked[:max_size], units=units, **kwargs)

    @classmethod
    def from_csv(cls, path: str | PathLike[str], units: str | None = None, **kwargs) -> DeepSpeech2CTCTokenizer:
        """Read the original project's vocabulary CSV: a row per symbol, integer id then character (a header row
        and extra columns such as a frequency are allowed). Symbols are NFC-normalized, like input text. `units`
        is inferred when not given: jamo if every Hangul symbol is a conjoining jamo."""
        vocab: dict[str, int] = {}
        with open(path, encoding="utf-8", newline="") as handle:
            for line_number, row in enumerate(csv.reader(handle), start=1):
                if not row or (line_number == 1 and not row[0].strip().lstrip("-").isdigit()):
                    continue
                if len(row) < 2:
                    raise ValueError(f"{path}:{line_number}: expected 'id,char', got {row!r}")
                try:
                    index = int(row[0])
                except ValueError:
                    raise ValueError(f"{path}:{line_number}: id {row[0]!r} is not an integer") from None
                symbol = to_nfc(row[1])
                if symbol in vocab:
                    raise ValueError(f"{path}:{line_number}: symbol {symbol!r} appears twice (compared in NFC)")
                vocab[symbol] = index
        unk = str(kwargs.get("unk_token", "<unk>"))
        vocab.setdefault(unk, len(vocab))
        _check_vocabulary(
            vocab, path, str(kwargs.get("pad_token", "<pad>")), unk, str(kwargs.get("word_delimiter_token", " "))
        )
        if units is None:
            has_syllables = any(is_syllable(s) for s in vocab)
            units = "jamo" if not has_syllables and any(s in TO_COMPATIBILITY for s in vocab) else "syllable"
        return cls._from_vocab_dict(vocab, units=units, **kwargs)

    def to_csv(self, path: str | PathLike[str]) -> None:
        """Write the vocabulary as the original project's `id,char` CSV (with an `id,char` header)."""
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "char"])
            for index in sorted(self.decoder):
                writer.writerow([index, self.decoder[index]])

    # ------------------------------------------------------------------ encoding
    def tokenize(self, text: str, **kwargs) -> list[str]:
        text = to_nfc(text)  # canonically equivalent spellings (NFC, NFD) must give the same tokens
        # Fast path: only text that can hold an added token ("<unk>", "<pad>") needs the added-token trie.
        if "<" not in text and not kwargs.get("is_split_into_words"):
            return self._tokenize(text)
        return super().tokenize(text, **kwargs)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return list(decompose(text) if self.units == "jamo" else text)

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self._convert_token_to_id_with_added_voc(tokens)
        ids = list(map(self.encoder.get, tokens))  # C-speed lookup; None marks an unknown symbol
        self.last_unknown_count = 0
        if None in ids:
            unknown = [token for token, index in zip(tokens, ids) if index is None]
            ids = [self._unk_id if index is None else index for index in ids]
            self.last_unknown_count = len(unknown)
            new = set(unknown) - self.unknown_counts.keys()
            self.unknown_counts.update(unknown)
            if new:
                logger.warning(f"characters outside the vocabulary encoded as {self.unk_token}: {sorted(new)}")
        return ids

    # ------------------------------------------------------------------ decoding
    def convert_tokens_to_string(
        self,
        tokens: list[str],
        group_tokens: bool = True,
        spaces_between_special_tokens: bool = False,
        output_char_offsets: bool = False,
        output_word_offsets: bool = False,
        skip_special_tokens: bool = False,
    ) -> dict:
        """CTC collapse: merge repeated frames first, then drop blanks (never the other order, which would fuse
        a legitimate double syllable "있있", emitted as 있-blank-있, into one). Jamo are then recomposed.
        `skip_special_tokens` removes special tokens such as `<unk>` after the collapse."""
        if group_tokens:
            chars, repetitions = zip(*((token, len(list(run))) for token, run in groupby(tokens))) if tokens else ((), ())
        else:
            chars, repetitions = tokens, [1] * len(tokens)
        offsets = self._compute_offsets(repetitions, chars, self.pad_token) if chars else []
        if skip_special_tokens:
            special = set(self.all_special_tokens)  # the word delimiter is text, not among them
            offsets = [offset for offset in offsets if offset["char"] not in special]
        if self.units == "jamo":
            offsets = [
                {"char": char, "start_offset": offsets[first]["start_offset"], "end_offset": offsets[last]["end_offset"]}
                for char, first, last in compose_spans([offset["char"] for offset in offsets])
            ]
        text = " ".join("".join(offset["char"] for offset in offsets).split())
        char_offsets = offsets if output_char_offsets else None
        word_offsets = self._get_word_offsets(offsets, " ") if output_word_offsets else None
        return {"text": text, "char_offsets": char_offsets, "word_offsets": word_offsets}

    def _decode(
        self,
        token_ids: list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        group_tokens: bool = True,
        spaces_between_special_tokens: bool = False,
        output_word_offsets: bool | None = False,
        output_char_offsets: bool | None = False,
        **kwargs,
    ) -> str | Wav2Vec2CTCTokenizerOutput:
        # Wav2Vec2CTCTokenizer drops special tokens, the blank included, *before* merging repeats, which fuses
        # 있-blank-있 into one syllable; here skipping happens after the CTC collapse.
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        decoded = self.convert_tokens_to_string(
            self.convert_ids_to_tokens(token_ids),
            group_tokens=group_tokens,
            output_char_offsets=output_char_offsets,
            output_word_offsets=output_word_offsets,
            skip_special_tokens=skip_special_tokens,
        )
        if output_char_offsets or output_word_offsets:
            return Wav2Vec2CTCTokenizerOutput(**decoded)
        return decoded["text"]


DeepSpeech2CTCTokenizer.register_for_auto_class()  # saved as custom code, see configuration_deepspeech2.py
