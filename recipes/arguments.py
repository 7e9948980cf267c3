"""Argument dataclasses shared by the recipes, read from a YAML file plus command-line overrides.

`python recipes/train.py recipes/configs/ds2_demo.yaml --learning_rate 5e-4` reads the YAML, then applies the
flags. Every option has help text: `python recipes/train.py --help`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import yaml
from transformers import HfArgumentParser

from ko_asr.data.augment import AugmentationConfig
from ko_asr.data.sources import load_corpus
from ko_asr.text.policy import TranscriptPolicy
from ko_asr.training import TrainingLoopConfig


@dataclass
class DataArguments:
    """Which corpus, which splits, which transcript policy and vocabulary."""

    dataset: str = field(
        default="synthetic",
        metadata={"help": "'synthetic' (generated in the AI Hub layout on first use), 'ksponspeech' (data_root is the "
                  "AI Hub corpus), or any source ko_asr.data.load_speech_dataset accepts (a folder or a datasets name)."},
    )
    data_root: str | None = field(default=None, metadata={"help": "Corpus directory (synthetic: where it is generated)."})
    synthetic_size: str = field(default="demo", metadata={"help": "Synthetic corpus size: tiny or demo."})
    synthetic_seed: int = field(default=0, metadata={"help": "Seed of the synthetic corpus."})
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_splits: list[str] = field(default_factory=lambda: ["dev"], metadata={"help": "Splits evaluated during and after training."})
    policy: str = field(default="spelling", metadata={"help": "Transcript policy: spelling (20년) or phonetic (이십 년)."})
    unintelligible: str = field(default="remove", metadata={"help": "u/ tags: remove, token (<unk>) or drop the utterance."})
    units: str = field(default="syllable", metadata={"help": "Tokenizer units: syllable or jamo."})
    vocabulary: str = field(default="corpus", metadata={"help": "corpus: symbols of the training text only; hangul: the full inventory."})
    vocab_max_size: int | None = field(default=None, metadata={"help": "Keep the N most frequent training symbols (kospeech used 2,000)."})
    vocab_min_freq: int = field(default=1, metadata={"help": "Drop training symbols seen fewer times."})
    min_duration: float = field(default=0.0, metadata={"help": "Skip (and count) shorter utterances, seconds."})
    max_duration: float | None = field(default=20.0, metadata={"help": "Skip (and count) longer utterances, seconds."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training utterances."})
    num_proc: int | None = field(default=None, metadata={"help": "Processes for corpus preparation."})
    cache_dir: str | None = field(default=None, metadata={"help": "datasets cache directory."})

    def load(self, accelerator) -> datasets.DatasetDict:
        """The train and eval splits (prepared once, on the main process first)."""
        with accelerator.main_process_first():
            return load_corpus(
                self.dataset, [self.train_split, *self.eval_splits], data_root=self.data_root,
                policy=self.transcript_policy,
                synthetic_size=self.synthetic_size, synthetic_seed=self.synthetic_seed, min_duration=self.min_duration,
                max_duration=self.max_duration, num_proc=self.num_proc, cache_dir=self.cache_dir,
            )

    @property
    def transcript_policy(self) -> TranscriptPolicy:
        """The policy the corpus is normalized with; saved with the model's tokenizer."""
        return TranscriptPolicy(policy=self.policy, unintelligible=self.unintelligible)

    def limit_train(self, train: datasets.Dataset) -> datasets.Dataset:
        """The first `max_train_samples` training utterances (all when unset)."""
        return train.select(range(min(self.max_train_samples, len(train)))) if self.max_train_samples else train

    @property
    def synthetic_note(self) -> str:
        """What every model card and summary of a synthetic-data run says."""
        return " Synthetic espeak-ng speech: not real-speech accuracy." if self.dataset == "synthetic" else ""


SPEC_AUGMENT_FIELDS = ("mask_time_prob", "mask_time_length", "mask_feature_prob", "mask_feature_length")


@dataclass
class ModelArguments:
    """The model family and its size, and SpecAugment.

    SpecAugment options default to `None`, which means the model config's value (the preset's, or the saved
    model's): the config is their one source of truth, and a flag only changes what it names.
    """

    architecture: str = field(
        default="deepspeech2",
        metadata={"help": "deepspeech2 (from scratch, `preset`), fastconformer (FastConformer-CTC from scratch through "
                  "transformers' ParakeetForCTC, `preset` of ko_asr.ctc_families.FASTCONFORMER_PRESETS) or wav2vec2 "
                  "(fine-tune the pretrained wav2vec2/XLS-R/MMS/HuBERT/Wav2Vec2-Conformer checkpoint in "
                  "model_name_or_path with a fresh CTC head for the Korean vocabulary)."},
    )
    preset: str = field(default="demo", metadata={"help": "Size preset: DeepSpeech2Config's tiny, demo, streaming, base or "
                                                  "paper; FastConformer's tiny or demo."})
    freeze_feature_encoder: bool = field(
        default=True, metadata={"help": "wav2vec2: keep the pretrained convolutional feature encoder fixed."}
    )
    feature_normalization: str = field(
        default="utterance",
        metadata={"help": "utterance: each utterance's own feature statistics; global: per-bin statistics measured on "
                  "training audio before training (needed to stream, see ko_asr.streaming). New models only."},
    )
    normalization_utterances: int = field(
        default=1000, metadata={"help": "Training utterances (drawn with the run's seed) the global feature statistics "
                                "are measured on."}
    )
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "deepspeech2/fastconformer: continue from a saved ko_asr model instead of random "
                                "init; wav2vec2: the pretrained checkpoint (Hub id or path) to fine-tune."}
    )
    model_overrides: str = field(
        default="{}",
        metadata={"help": "JSON dict of config fields overriding the preset (DeepSpeech2Config; ParakeetEncoderConfig "
                  "for fastconformer; dropouts/layerdrop for wav2vec2), or the saved model's config with "
                  "model_name_or_path: fields that change weight shapes then fail to load."},
    )
    mask_time_prob: float | None = field(default=None, metadata={"help": "SpecAugment: fraction of frames masked in time (config: 0)."})
    mask_time_length: int | None = field(default=None, metadata={"help": "SpecAugment: frames per time mask (config: 10)."})
    mask_feature_prob: float | None = field(default=None, metadata={"help": "SpecAugment: fraction of bins masked (config: 0)."})
    mask_feature_length: int | None = field(default=None, metadata={"help": "SpecAugment: bins per feature mask (config: 10)."})

    def config_overrides(self) -> dict:
        """`model_overrides` plus the SpecAugment flags that were given.

        Raises:
            ValueError: when a flag and `model_overrides` set the same field to different values (neither silently
                wins).
        """
        overrides = json.loads(self.model_overrides)
        for name in SPEC_AUGMENT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if name in overrides and overrides[name] != value:
                raise ValueError(f"--{name} {value} contradicts model_overrides {{{name!r}: {overrides[name]!r}}}")
            overrides[name] = value
        return overrides


def hub_model_id(name_or_path: str | None) -> str | None:
    """`name_or_path` when it names a Hub model (the card's `base_model`), `None` for a local folder or nothing."""
    if not name_or_path or Path(name_or_path).exists():
        return None
    return name_or_path


def parse_config(dataclass_types: tuple, argv: list[str] | None = None) -> tuple:
    """Parse `[config.yaml] [--flag value ...]` into the given dataclasses: YAML first, flags override.

    Raises:
        ValueError: on a YAML key no dataclass defines.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(dataclass_types)
    if argv and argv[0].endswith((".yaml", ".yml")):
        with open(argv.pop(0), encoding="utf-8") as handle:
            values = yaml.safe_load(handle) or {}
        known = {f.name for t in dataclass_types for f in dataclasses.fields(t)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown options in the config file: {unknown}")
        parser.set_defaults(**values)
        for action in parser._actions:  # a value from the YAML satisfies a required flag
            if action.dest in values:
                action.required = False
    return parser.parse_args_into_dataclasses(args=argv)


__all__ = ["AugmentationConfig", "DataArguments", "ModelArguments", "TrainingLoopConfig", "hub_model_id", "parse_config"]
