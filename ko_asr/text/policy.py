"""The transcript policy a model was trained with, saved with its tokenizer so it travels with the model.

Which side of a dual transcription a model learned (spelling `20년` or phonetic `이십 년`), what it does with `u/`
and punctuation are decided at training time. Scoring the model with another policy measures the policy, not the
model, so evaluation, comparison and the Space read it from the saved tokenizer (as Whisper saves its English
normalizer beside its tokenizer); an explicit choice still overrides it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .kspon import POLICIES, UNINTELLIGIBLE_MODES, normalize_transcript

#: Key of the policy in `tokenizer_config.json` (the tokenizer's `init_kwargs`).
POLICY_KEY = "transcript_policy"


@dataclass(frozen=True)
class TranscriptPolicy:
    """How raw KsponSpeech notation becomes training text (see [`normalize_transcript`]).

    Args:
        policy (`str`, *optional*, defaults to `"spelling"`): `"spelling"` or `"phonetic"`.
        unintelligible (`str`, *optional*, defaults to `"remove"`): `"remove"`, `"token"` or `"drop"`.
        keep_punctuation (`bool`, *optional*, defaults to `False`): keep `. , ? !`.

    Raises:
        ValueError: for an unknown `policy` or `unintelligible` mode.
    """

    policy: str = "spelling"
    unintelligible: str = "remove"
    keep_punctuation: bool = False

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.unintelligible not in UNINTELLIGIBLE_MODES:
            raise ValueError(f"unintelligible must be one of {UNINTELLIGIBLE_MODES}, got {self.unintelligible!r}")

    def normalize(self, raw: str, utterance_id: str | None = None) -> str:
        """A corpus transcript under this policy (raises like [`normalize_transcript`])."""
        return normalize_transcript(
            raw, policy=self.policy, keep_punctuation=self.keep_punctuation, unintelligible=self.unintelligible,
            utterance_id=utterance_id,
        )

    def normalize_hypothesis(self, text: str) -> str:
        """A model's output under this policy, so it is scored on the same text as the references. Model output is
        not corpus notation: its brackets are characters to drop, never a pair to resolve or refuse."""
        unintelligible = "remove" if self.unintelligible == "drop" else self.unintelligible
        return normalize_transcript(
            text.replace("(", "").replace(")", ""), policy=self.policy, keep_punctuation=self.keep_punctuation,
            unintelligible=unintelligible,
        )

    def save_to(self, tokenizer) -> None:
        """Record the policy in `tokenizer` so `save_pretrained` writes it into `tokenizer_config.json`."""
        tokenizer.init_kwargs[POLICY_KEY] = asdict(self)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> TranscriptPolicy | None:
        """The policy saved with `tokenizer` (or a processor's tokenizer), or `None` for a model saved without."""
        tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
        saved: dict[str, Any] | None = getattr(tokenizer, "init_kwargs", {}).get(POLICY_KEY)
        return cls(**saved) if saved else None

    @classmethod
    def resolve(cls, processor, policy: str | None = None) -> TranscriptPolicy:
        """The policy to score a model with: `policy` when given (an explicit choice overrides), else the one saved
        with the model, else the default `spelling` policy."""
        saved = cls.from_tokenizer(processor) if processor is not None else None
        if policy is not None:
            return cls(policy=policy, **({} if saved is None else {"unintelligible": saved.unintelligible,
                                                                    "keep_punctuation": saved.keep_punctuation}))
        return saved or cls()
