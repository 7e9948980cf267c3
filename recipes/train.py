"""Train DeepSpeech2 from scratch (or from a saved model) on Accelerate.

    accelerate launch recipes/train.py recipes/configs/ds2_demo.yaml             # synthetic corpus, CPU, minutes
    accelerate launch recipes/train.py recipes/configs/ds2_kspon.yaml            # AI Hub corpus, one 24 GB GPU
    accelerate launch recipes/train.py recipes/configs/ds2_demo.yaml --learning_rate 5e-4 --max_steps 200

This script only orchestrates: data, tokenizer, model and the training loop all come from `ko_asr`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arguments import AugmentArguments, DataArguments, ModelArguments, TrainingLoopConfig, parse_config  # noqa: E402
from transformers import AutoModelForCTC, AutoProcessor, set_seed  # noqa: E402

from ko_asr import (  # noqa: E402
    DeepSpeech2Config,
    DeepSpeech2CTCTokenizer,
    DeepSpeech2FeatureExtractor,
    DeepSpeech2ForCTC,
    DeepSpeech2Processor,
)
from ko_asr.data import column  # noqa: E402
from ko_asr.data.collators import CTCCollator  # noqa: E402
from ko_asr.evaluation import evaluate_dataset  # noqa: E402
from ko_asr.training import TrainingTask, make_accelerator, run_training  # noqa: E402


def build_processor(data: DataArguments, train_texts: list[str], num_input_features: int, hop_length: int):
    if data.vocabulary == "hangul":
        tokenizer = DeepSpeech2CTCTokenizer.from_hangul(units=data.units)
    else:
        tokenizer = DeepSpeech2CTCTokenizer.from_corpus(
            train_texts, units=data.units, max_size=data.vocab_max_size, min_freq=data.vocab_min_freq
        )
    feature_extractor = DeepSpeech2FeatureExtractor(
        feature_type="linear" if num_input_features == 161 else "mel",
        feature_size=num_input_features,
        hop_length=hop_length,
    )
    return DeepSpeech2Processor(feature_extractor, tokenizer)


def main(argv: list[str] | None = None) -> dict:
    data, model_args, augment, loop = parse_config(
        (DataArguments, ModelArguments, AugmentArguments, TrainingLoopConfig), argv
    )
    set_seed(loop.seed)  # before the model exists: its initialization is part of the run
    accelerator = make_accelerator(loop)
    corpus = data.load(accelerator)
    train = data.limit_train(corpus[data.train_split])

    spec_augment = {
        "mask_time_prob": model_args.mask_time_prob, "mask_time_length": model_args.mask_time_length,
        "mask_feature_prob": model_args.mask_feature_prob, "mask_feature_length": model_args.mask_feature_length,
    }
    if model_args.model_name_or_path:
        processor = AutoProcessor.from_pretrained(model_args.model_name_or_path)
        model = AutoModelForCTC.from_pretrained(model_args.model_name_or_path, **spec_augment)
    else:
        overrides = json.loads(model_args.model_overrides)
        probe = DeepSpeech2Config.from_preset(model_args.preset, **overrides)
        processor = build_processor(data, column(train, "text"), probe.num_input_features, probe.input_hop_length)
        config = DeepSpeech2Config.from_preset(
            model_args.preset, **{**overrides, **spec_augment},
            vocab_size=len(processor.tokenizer), pad_token_id=processor.tokenizer.pad_token_id,
        )
        model = DeepSpeech2ForCTC(config)

    params = sum(p.numel() for p in model.parameters())
    hours = sum(column(train, "duration")) / 3600
    task = TrainingTask(
        model=model,
        processor=processor,
        train_dataset=train,
        eval_datasets={split: corpus[split] for split in data.eval_splits},
        train_collator=CTCCollator(processor, augment.build(loop.seed)),
        evaluate=lambda m, dataset, acc: evaluate_dataset(
            m, processor, dataset, accelerator=acc, batch_size=loop.eval_batch_size, policy=data.policy
        ),
        batch_hypotheses=lambda outputs, inputs: processor.batch_decode(outputs.logits.argmax(-1)),
        describe={
            "model_name": f"DeepSpeech2 ({model_args.preset}, {data.units} units) for Korean",
            "summary": f"DeepSpeech2ForCTC, {params / 1e6:.1f} M parameters, vocabulary {len(processor.tokenizer)} "
                       f"{data.units} tokens, trained with ko_asr on {data.dataset}.{data.synthetic_note}",
            "data": f"{data.dataset} ({data.data_root or 'default location'}), train split `{data.train_split}`: "
                    f"{len(train):,} utterances, {hours:.2f} h; eval splits {data.eval_splits}.{data.synthetic_note}",
            "policy": data.policy, "units": data.units, "preset": model_args.preset, "parameters": params,
            "dataset": data.dataset,
        },
    )
    result = run_training(task, loop, accelerator)
    if accelerator.is_main_process and "eval" in result:
        print(json.dumps({"output_dir": loop.output_dir, **result}, indent=1, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
