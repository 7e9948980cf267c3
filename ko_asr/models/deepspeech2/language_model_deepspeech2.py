"""CTC beam search with an n-gram language model for the Hangul tokenizer: pyctcdecode's decoder, KenLM's scores.

The beam search itself is pyctcdecode's (`BeamSearchDecoderCTC`: CTC prefix beam search with LM weight alpha,
insertion bonus beta, beam and token pruning, hotwords, n-best and word frames). This module adds what Korean needs:

- **Syllable-level LMs** ([`SyllableLanguageModel`]). Korean words (eojeol) carry particles and endings, so a word
  n-gram model meets a word it never saw in almost every other position (45% of the synthetic dev words; eojeol
  out-of-vocabulary rates are similarly high on KsponSpeech). A syllable n-gram model has no such gap. pyctcdecode
  asks its LM for a score only when a word is complete (and for a context-free score of the partial word), so the
  syllable model scores a completed word as its syllables followed by a word-boundary token [`WORD_BOUNDARY`], in
  the context of the previous words, and a partial word as its complete syllables after a boundary.
- **Jamo models**. Hypotheses are recomposed to syllables before syllable scoring; word-level LMs are written in the
  tokenizer's own spelling (jamo for a jamo model), which is the same model since decomposition is one-to-one;
  hotwords are respelled the same way, and every returned text is composed (NFC).

The LM, its settings and nothing else live in a model directory's `language_model/` folder
([`LANGUAGE_MODEL_DIRECTORY`]): `lm.arpa` (KenLM reads ARPA; see `ko_asr.lm_build` for why not KenLM's binary),
`unigrams.txt` for word units, and `decoder_config.json` ([`DecoderConfig`]).

This file lives beside the tokenizer because a saved model ships this folder as its custom code.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from multiprocessing import get_context
from typing import Any, NamedTuple

from .hangul import is_syllable, to_nfc

LANGUAGE_MODEL_DIRECTORY = "language_model"
DECODER_CONFIG_NAME = "decoder_config.json"
ARPA_NAME = "lm.arpa"
UNIGRAMS_NAME = "unigrams.txt"
#: The token between words in a syllable-level LM's text (``오늘 저녁`` -> ``오 늘 | 저 녁``).
WORD_BOUNDARY = "|"
UNITS = ("syllable", "word")
#: pyctcdecode's label for the unknown token.
PYCTCDECODE_UNK = "⁇"
_LOG10_TO_LN = math.log(10.0)


@dataclass
class DecoderConfig:
    """How a language model was built and how the beam search uses it (saved as `decoder_config.json`).

    Args:
        units (`str`): `"syllable"` (lexicon-free: the LM scores syllables and word boundaries) or `"word"`.
        order (`int`): the n-gram order.
        alpha (`float`): LM weight (natural-log LM scores are multiplied by it).
        beta (`float`): insertion bonus, per syllable for syllable units and per word for word units.
        beam_width (`int`): beams kept per frame.
        beam_prune_logp (`float`): beams this far (natural log) below the best are dropped.
        token_min_logp (`float`): tokens below this log-probability in a frame are not expanded (the arg-max always
            is).
        hotword_weight (`float`): score added per hotword character (pyctcdecode's weighting).
        unk_score_offset (`float`): word units only: the score of a partial word no known word starts with.
        builder (`str`): what wrote the ARPA file (provenance only).
    """

    units: str = "syllable"
    order: int = 5
    alpha: float = 0.5
    beta: float = 1.0
    beam_width: int = 32
    beam_prune_logp: float = -10.0
    token_min_logp: float = -5.0
    hotword_weight: float = 10.0
    unk_score_offset: float = -10.0
    builder: str = ""

    def __post_init__(self):
        if self.units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {self.units!r}")
        if self.beam_width < 1:
            raise ValueError(f"beam_width must be >= 1, got {self.beam_width}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def save(self, directory: str) -> None:
        with open(os.path.join(directory, DECODER_CONFIG_NAME), "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=2, ensure_ascii=False)

    @classmethod
    def load(cls, directory: str) -> DecoderConfig:
        path = os.path.join(directory, DECODER_CONFIG_NAME)
        with open(path, encoding="utf-8") as handle:
            saved = json.load(handle)
        known = {f.name for f in fields(cls)}
        if unknown := set(saved) - known:
            raise ValueError(f"{path}: unknown decoder settings {sorted(unknown)}")
        return cls(**saved)


def find_language_model(path: str | os.PathLike, **hub_kwargs: Any) -> str | None:
    """The `language_model/` folder of a saved model: a local directory's, or a Hub repository's (downloaded, or
    from the cache offline); `None` when there is none."""
    local = os.path.join(path, LANGUAGE_MODEL_DIRECTORY)
    if os.path.isdir(path):
        return local if os.path.isfile(os.path.join(local, DECODER_CONFIG_NAME)) else None
    from transformers.utils import cached_file

    options = {k: hub_kwargs[k] for k in ("cache_dir", "revision", "token", "local_files_only") if k in hub_kwargs}
    found = None
    for name in (DECODER_CONFIG_NAME, ARPA_NAME, UNIGRAMS_NAME):
        resolved = cached_file(
            str(path), f"{LANGUAGE_MODEL_DIRECTORY}/{name}", _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False, **options,
        )
        if name == DECODER_CONFIG_NAME and resolved is None:
            return None
        found = found or (os.path.dirname(resolved) if resolved else None)
    return found


def _kenlm():
    try:
        import kenlm
    except ImportError as error:  # pragma: no cover - the message is the point
        raise ImportError(
            "Language-model decoding needs `kenlm` and `pyctcdecode`: pip install kenlm pygtrie && "
            "pip install --no-deps pyctcdecode==0.5.0 (pyctcdecode pins numpy<2 in its metadata but runs on numpy 2)"
        ) from error
    return kenlm


class SyllableLanguageModel:
    """A syllable n-gram KenLM model behind pyctcdecode's word-level LM interface (`AbstractLanguageModel`'s
    methods; not a subclass, so importing this module does not need pyctcdecode). See the module docstring.

    Args:
        kenlm_model (`kenlm.Model`): trained on text written as syllables separated by spaces, with
            [`WORD_BOUNDARY`] between words (`ko_asr.lm_build` writes it).
        alpha (`float`): LM weight on natural-log scores.
        beta (`float`): bonus per syllable.
    """

    def __init__(self, kenlm_model, alpha: float = 0.5, beta: float = 1.0):
        kenlm = _kenlm()
        self._kenlm_model = kenlm_model
        self.alpha, self.beta = alpha, beta
        # The state after a word boundary without other context: where a partial word is scored from.
        null, self._word_start = kenlm.State(), kenlm.State()
        kenlm_model.NullContextWrite(null)
        kenlm_model.BaseScore(null, WORD_BOUNDARY, self._word_start)

    @property
    def order(self) -> int:
        return self._kenlm_model.order

    def get_start_state(self):
        state = _kenlm().State()
        self._kenlm_model.BeginSentenceWrite(state)
        return state

    def _log10_score(self, state, units: list[str]):
        kenlm = _kenlm()
        total = 0.0
        for unit in units:
            end = kenlm.State()
            total += self._kenlm_model.BaseScore(state, unit, end)
            state = end
        return total, state

    @staticmethod
    def syllables(word: str) -> list[str]:
        """The LM units of a hypothesis word: its composed characters (jamo recomposed first)."""
        return list(to_nfc(word))

    def score_partial_token(self, partial_token: str) -> float:
        # The last character may still grow (가 -> 각 in a jamo model), so only the ones before it are scored.
        units = [c for c in self.syllables(partial_token)[:-1] if is_syllable(c) or c.isalnum()]
        if not units:
            return 0.0
        log10_score, _ = self._log10_score(self._word_start, units)
        return self.alpha * log10_score * _LOG10_TO_LN + self.beta * len(units)

    def score(self, prev_state, word: str, is_last_word: bool = False):
        units = self.syllables(word)
        log10_score, state = self._log10_score(prev_state, units + ["</s>" if is_last_word else WORD_BOUNDARY])
        return self.alpha * log10_score * _LOG10_TO_LN + self.beta * len(units), state

    def reset_params(self, **params: Any) -> None:
        for name in ("alpha", "beta"):
            if params.get(name) is not None:
                setattr(self, name, params[name])

    def save_to_dir(self, filepath: str) -> None:  # ko_asr saves the folder itself (`save_language_model`)
        raise NotImplementedError("saved with DeepSpeech2ProcessorWithLM.save_pretrained")

    @classmethod
    def load_from_dir(cls, filepath: str):  # pragma: no cover - see save_to_dir
        raise NotImplementedError("loaded with DeepSpeech2ProcessorWithLM.from_pretrained")


def alphabet_labels(tokenizer) -> list[str]:
    """pyctcdecode's labels for `tokenizer`'s ids: `""` for the CTC blank, `⁇` for the unknown token, the tokens
    otherwise (the space token is pyctcdecode's word delimiter too)."""
    labels = []
    for index in range(len(tokenizer)):
        token = tokenizer.convert_ids_to_tokens(index)
        labels.append("" if index == tokenizer.pad_token_id else PYCTCDECODE_UNK if token == tokenizer.unk_token else token)
    return labels


def spell(tokenizer, text: str) -> str:
    """`text` in `tokenizer`'s units, words kept apart: jamo for a jamo tokenizer, unchanged for a syllable one."""
    return " ".join("".join(tokenizer._tokenize(word)) for word in to_nfc(text).split())


def load_language_model(directory: str, config: DecoderConfig, tokenizer):
    """The pyctcdecode LM of a `language_model/` folder: [`SyllableLanguageModel`] or pyctcdecode's word
    `LanguageModel` (unigrams in the tokenizer's spelling)."""
    from pyctcdecode import LanguageModel

    kenlm = _kenlm()
    arpa = os.path.join(directory, ARPA_NAME)
    if not os.path.isfile(arpa):
        raise FileNotFoundError(f"{directory}: no {ARPA_NAME} beside {DECODER_CONFIG_NAME}")
    model = kenlm.Model(arpa)
    if config.units == "syllable":
        return SyllableLanguageModel(model, alpha=config.alpha, beta=config.beta)
    with open(os.path.join(directory, UNIGRAMS_NAME), encoding="utf-8") as handle:
        unigrams = handle.read().split()
    return LanguageModel(
        model, unigrams, alpha=config.alpha, beta=config.beta, unk_score_offset=config.unk_score_offset
    )


def build_decoder(tokenizer, language_model=None):
    """pyctcdecode's `BeamSearchDecoderCTC` over `tokenizer`'s alphabet with `language_model` (or none)."""
    from pyctcdecode import Alphabet, BeamSearchDecoderCTC

    return BeamSearchDecoderCTC(Alphabet.build_alphabet(alphabet_labels(tokenizer)), language_model)


class Beam(NamedTuple):
    """One hypothesis, in pyctcdecode's output order (so `beam[0]` is the text and `beam[2]` the word frames, as
    transformers' ASR pipeline reads them).

    Attributes:
        text (`str`): composed (NFC) text.
        lm_state: pyctcdecode's LM state at the end (`None` from a process pool).
        text_frames (`list[tuple[str, tuple[int, int]]]`): each word with its `(start, end)` output frames.
        logit_score (`float`): the acoustic (CTC path) log score.
        lm_score (`float`): the combined score the beams were ranked by (acoustic + weighted LM + bonuses).
    """

    text: str
    lm_state: Any
    text_frames: list
    logit_score: float
    lm_score: float

    @property
    def word_offsets(self) -> list[dict[str, Any]]:
        """Words with `start_offset`/`end_offset` in output frames (the tokenizer's `word_offsets` shape)."""
        return [{"word": word, "start_offset": start, "end_offset": end} for word, (start, end) in self.text_frames]


#: Settings a decode call may override.
CALL_SETTINGS = ("beam_width", "beam_prune_logp", "token_min_logp", "hotword_weight", "alpha", "beta")


class HangulBeamSearch:
    """pyctcdecode's beam search for a Hangul tokenizer, with the saved [`DecoderConfig`] as defaults.

    It respells hotwords in the tokenizer's units, composes every output (NFC) and writes pyctcdecode's `⁇` back as
    the tokenizer's unknown token, so texts compare with greedy decoding. `decode_beams(logits, **settings)` is the
    method transformers' ASR pipeline calls (`decoder_kwargs` of a pipeline call reach it). One instance decodes one
    utterance at a time (pyctcdecode sets alpha/beta on the shared LM before each call).

    Args:
        tokenizer ([`DeepSpeech2CTCTokenizer`]): the model's vocabulary (its ids are the logits' columns).
        config ([`DecoderConfig`]): defaults of every call.
        language_model: a pyctcdecode LM ([`SyllableLanguageModel`] or its word `LanguageModel`), or `None` for beam
            search without an LM.
        directory (`str`, *optional*): the `language_model/` folder it was loaded from (copied on save).
    """

    def __init__(self, tokenizer, config: DecoderConfig, language_model=None, directory: str | None = None,
                 decoder=None):
        self.tokenizer, self.config, self.directory = tokenizer, config, directory
        self.decoder = decoder or build_decoder(tokenizer, language_model)

    @classmethod
    def from_directory(cls, directory: str, tokenizer, **overrides: Any) -> HangulBeamSearch:
        """Load a `language_model/` folder; `overrides` replace saved settings."""
        config = replace(DecoderConfig.load(directory), **overrides)
        return cls(tokenizer, config, load_language_model(directory, config, tokenizer), directory)

    def with_config(self, config: DecoderConfig) -> HangulBeamSearch:
        """The same decoder and LM (not reloaded) with other default settings."""
        if (config.units, config.order) != (self.config.units, self.config.order):
            raise ValueError("units and order describe the saved LM; build another LM to change them")
        return type(self)(self.tokenizer, config, directory=self.directory, decoder=self.decoder)

    @property
    def has_language_model(self) -> bool:
        return self.decoder._language_model is not None

    def describe(self, weights: bool = False) -> str:
        """The decoding in words, e.g. `"LM beam search (syllable 5-gram, beam 32)"`; `weights` adds alpha and beta."""
        c = self.config
        if not self.has_language_model:
            return f"beam search without LM (beam {c.beam_width})"
        return f"LM beam search ({c.units} {c.order}-gram, beam {c.beam_width}" + (
            f", alpha {c.alpha}, beta {c.beta})" if weights else ")")

    def save(self, save_directory: str) -> None:
        """Write `language_model/` (the LM files copied, the current settings) into `save_directory`."""
        import shutil

        if self.directory is None:
            raise ValueError("a beam search without a language model folder has nothing to save")
        target = os.path.join(save_directory, LANGUAGE_MODEL_DIRECTORY)
        os.makedirs(target, exist_ok=True)
        for name in (ARPA_NAME, UNIGRAMS_NAME):
            source = os.path.join(self.directory, name)
            if os.path.isfile(source) and os.path.abspath(source) != os.path.abspath(os.path.join(target, name)):
                shutil.copyfile(source, os.path.join(target, name))
        self.config.save(target)

    def _prepare(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Set alpha/beta on the LM and return pyctcdecode's `decode_beams` options for one call."""
        values, hotwords = self._settings(settings)
        self.decoder.reset_params(alpha=values["alpha"], beta=values["beta"])
        return dict(beam_width=values["beam_width"], beam_prune_logp=values["beam_prune_logp"],
                    token_min_logp=values["token_min_logp"], hotwords=hotwords, hotword_weight=values["hotword_weight"])

    def _settings(self, settings: dict[str, Any]) -> tuple[dict[str, Any], list[str] | None]:
        unknown = set(settings) - set(CALL_SETTINGS) - {"hotwords"}
        if unknown:
            raise TypeError(f"unknown decoder settings {sorted(unknown)}; known: {CALL_SETTINGS + ('hotwords',)}")
        values = {name: settings.get(name) if settings.get(name) is not None else getattr(self.config, name)
                  for name in CALL_SETTINGS}
        hotwords = settings.get("hotwords")
        if isinstance(hotwords, str):
            hotwords = [hotwords]
        # Hotwords are matched against hypothesis text, which is in the tokenizer's units (jamo for a jamo model).
        respelled = [spell(self.tokenizer, word) for word in hotwords or [] if word.strip()] or None
        return values, respelled

    def _finish(self, text: str, frames: list, logit_score: float, lm_score: float, lm_state=None) -> Beam:
        unk = self.tokenizer.unk_token

        def clean(piece: str) -> str:
            return to_nfc(piece).replace(PYCTCDECODE_UNK, unk)

        return Beam(clean(text), lm_state, [(clean(word), span) for word, span in frames], logit_score, lm_score)

    def decode_beams(self, logits, **settings: Any) -> list[Beam]:
        """Beams of one utterance, best first.

        Args:
            logits (`np.ndarray` of shape `(frames, vocab_size)`): raw logits or log-probabilities.
            settings: `beam_width`, `alpha`, `beta`, `beam_prune_logp`, `token_min_logp`, `hotwords` (a list of
                words or phrases, boosted by `hotword_weight`).

        Raises:
            TypeError: for an unknown setting.
        """
        beams = self.decoder.decode_beams(logits, **self._prepare(settings))
        return [self._finish(text, frames, logit, combined, state) for text, state, frames, logit, combined in beams]

    def decode_batch(self, logits_list, pool=None, num_processes: int | None = None, **settings: Any) -> list[list[Beam]]:
        """[`decode_beams`] for each of `logits_list`, in `pool`'s processes, or in `num_processes` forked ones."""
        options = self._prepare(settings)
        if pool is None and (num_processes or 1) > 1:
            # Fork: children inherit the loaded LM (pyctcdecode keeps it in a class attribute) and never touch torch.
            with get_context("fork").Pool(num_processes) as owned:
                batches = self.decoder.decode_beams_batch(owned, list(logits_list), **options)
        else:
            batches = self.decoder.decode_beams_batch(pool, list(logits_list), **options)
        return [[self._finish(text, frames, logit, combined) for text, frames, logit, combined in beams]
                for beams in batches]


__all__ = [
    "Beam",
    "HangulBeamSearch",
    "find_language_model",
    "ARPA_NAME",
    "DECODER_CONFIG_NAME",
    "LANGUAGE_MODEL_DIRECTORY",
    "UNIGRAMS_NAME",
    "WORD_BOUNDARY",
    "DecoderConfig",
    "SyllableLanguageModel",
    "alphabet_labels",
    "build_decoder",
    "load_language_model",
    "spell",
]
