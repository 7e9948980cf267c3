"""Train a CTC model for Korean on Accelerate: DeepSpeech2 or FastConformer from scratch (or from a saved model), or a
pretrained wav2vec2-family checkpoint fine-tuned with a fresh character head.

    accelerate launch recipes/train.py recipes/configs/ds2_demo.yaml             # synthetic corpus, CPU, minutes
    accelerate launch recipes/train.py recipes/configs/ds2_kspon.yaml            # AI Hub corpus, one 24 GB GPU
    accelerate launch recipes/train.py recipes/configs/ds2_demo.yaml --learning_rate 5e-4 --max_steps 200
    accelerate launch recipes/train.py recipes/configs/fastconformer_demo.yaml   # FastConformer-CTC, same budget
    accelerate launch recipes/train.py recipes/configs/xlsr_kspon.yaml           # fine-tune XLS-R 300M on KsponSpeech

This script only orchestrates: data, tokenizer, model and the training loop all come from `ko_asr`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arguments import (  # noqa: E402
    SPEC_AUGMENT_FIELDS,
    AugmentationConfig,
    DataArguments,
    ModelArguments,
    TrainingLoopConfig,
    hub_model_id,
    parse_config,
)
from transformers import AutoConfig, AutoModelForCTC, AutoProcessor, set_seed  # noqa: E402

from ko_asr import (  # noqa: E402
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.ctc_families import FineTuneOptions, fastconformer_ctc, finetune_pretrained_ctc  # noqa: E402
from ko_asr.data import column  # noqa: E402
from ko_asr.data.audio import decode_audio  # noqa: E402
from ko_asr.data.augment import WaveformAugmenter  # noqa: E402
from ko_asr.training import TrainingTask, make_accelerator, run_training  # noqa: E402
from ko_asr.transcription import CTCTranscriber  # noqa: E402

ARCHITECTURES = ("deepspeech2", "fastconformer", "wav2vec2")
SAVED_MODEL_TYPES = {"deepspeech2": "deepspeech2", "fastconformer": "parakeet_ctc"}
FAMILY_NAMES = {"deepspeech2": "DeepSpeech2", "fastconformer": "FastConformer-CTC", "wav2vec2": "wav2vec2-family CTC"}


def build_tokenizer(data: DataArguments, train_texts: list[str]) -> DeepSpeech2CTCTokenizer:
    if data.vocabulary == "hangul":
        return DeepSpeech2CTCTokenizer.from_hangul(units=data.units)
    return DeepSpeech2CTCTokenizer.from_corpus(
        train_texts, units=data.units, max_size=data.vocab_max_size, min_freq=data.vocab_min_freq
    )


def build_model(model_args: ModelArguments, data: DataArguments, train, seed: int = 0):
    """`(model, processor)`: a saved model (with the SpecAugment flags given), a pretrained wav2vec2-family checkpoint
    with a fresh head, or a preset with a fresh vocabulary from the training text. For DeepSpeech2 the preset's config
    decides the feature extractor, and `feature_normalization: global` measures its statistics on
    `normalization_utterances` training utterances drawn with `seed`."""
    overrides = model_args.config_overrides()
    if model_args.feature_normalization not in ("utterance", "global"):
        raise ValueError(f"feature_normalization must be 'utterance' or 'global', got {model_args.feature_normalization!r}")
    if model_args.architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {model_args.architecture!r}")
    if model_args.architecture != "deepspeech2" and model_args.feature_normalization != "utterance":
        raise ValueError(f"feature_normalization is DeepSpeech2's; {model_args.architecture} keeps its own features")
    if model_args.architecture == "fastconformer":
        spec_augment = sorted(set(overrides) & set(SPEC_AUGMENT_FIELDS))
        if spec_augment:
            raise ValueError(f"fastconformer (ParakeetForCTC) has no {spec_augment} option")
    if model_args.architecture == "wav2vec2":
        if not model_args.model_name_or_path:
            raise ValueError("architecture wav2vec2 fine-tunes a pretrained checkpoint: set model_name_or_path "
                             "(e.g. facebook/wav2vec2-xls-r-300m or a local directory)")
        options = FineTuneOptions(model_args.freeze_feature_encoder, overrides)
        return finetune_pretrained_ctc(model_args.model_name_or_path, build_tokenizer(data, column(train, "text")), options)
    if model_args.model_name_or_path:
        saved = AutoConfig.from_pretrained(model_args.model_name_or_path).model_type
        if saved != SAVED_MODEL_TYPES[model_args.architecture]:
            raise ValueError(f"{model_args.model_name_or_path} is a {saved} model, not {model_args.architecture}; set "
                             "architecture to match (wav2vec2 to fine-tune a pretrained encoder)")
        if model_args.feature_normalization == "global":
            raise ValueError("feature_normalization applies to a new model; a saved model keeps its processor's "
                             "normalization (model_name_or_path is set)")
        return (
            AutoModelForCTC.from_pretrained(model_args.model_name_or_path, **overrides),
            AutoProcessor.from_pretrained(model_args.model_name_or_path),
        )
    tokenizer = build_tokenizer(data, column(train, "text"))
    if model_args.architecture == "fastconformer":
        return fastconformer_ctc(tokenizer, model_args.preset, **overrides)
    config = DeepSpeech2Config.from_preset(
        model_args.preset, **overrides, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id
    )
    feature_extractor = DeepSpeech2FeatureExtractor.from_model_config(config)
    if model_args.feature_normalization == "global":
        sample = train.shuffle(seed=seed).select(range(min(model_args.normalization_utterances, len(train))))
        feature_extractor.fit_global_normalization(decode_audio(audio) for audio in column(sample, "audio"))
    return DeepSpeech2ForCTC(config), DeepSpeech2Processor(feature_extractor, tokenizer)


def main(argv: list[str] | None = None) -> dict:
    data, model_args, augment, loop = parse_config(
        (DataArguments, ModelArguments, AugmentationConfig, TrainingLoopConfig), argv
    )
    set_seed(loop.seed)  # before the model exists: its initialization is part of the run
    accelerator = make_accelerator(loop)
    corpus = data.load(accelerator)
    train = data.limit_train(corpus[data.train_split])
    model, processor = build_model(model_args, data, train, seed=loop.seed)

    params = sum(p.numel() for p in model.parameters())
    hours = sum(column(train, "duration")) / 3600
    family, tags = FAMILY_NAMES[model_args.architecture], [model.config.model_type, "ctc"]
    size = model_args.model_name_or_path if model_args.architecture == "wav2vec2" else model_args.preset
    task = TrainingTask(
        model=model,
        processor=processor,
        transcriber=CTCTranscriber(processor),
        train_dataset=train,
        eval_datasets={split: corpus[split] for split in data.eval_splits},
        policy=data.transcript_policy,
        augment=WaveformAugmenter.from_config(augment, loop.seed),
        describe={
            "model_name": f"{family} ({size}, {data.units} units) for Korean",
            "summary": f"{type(model).__name__}, {params / 1e6:.1f} M parameters, vocabulary {len(processor.tokenizer)} "
                       f"{data.units} tokens, trained with ko_asr on {data.dataset}.{data.synthetic_note}",
            "data": f"{data.dataset} ({data.data_root or 'default location'}), train split `{data.train_split}`: "
                    f"{len(train):,} utterances, {hours:.2f} h; eval splits {data.eval_splits}.{data.synthetic_note}",
            "policy": data.policy, "units": data.units, "preset": model_args.preset, "parameters": params,
            "dataset": data.dataset, "synthetic_note": data.synthetic_note, "tags": tags,
            "base_model": hub_model_id(model_args.model_name_or_path),
        },
    )
    result = run_training(task, loop, accelerator)
    if accelerator.is_main_process and "eval" in result:
        print(json.dumps({"output_dir": loop.output_dir, **result}, indent=1, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
