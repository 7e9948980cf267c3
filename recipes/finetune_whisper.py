"""Fine-tune Whisper on Korean with the same data path, normalization, loop and metrics as recipes/train.py.

    accelerate launch recipes/finetune_whisper.py recipes/configs/whisper_small_kspon.yaml --data_root /data/KsponSpeech
    accelerate launch recipes/finetune_whisper.py recipes/configs/whisper_tiny_test.yaml     # tiny random Whisper, offline

`model_name_or_path` is a Hub id or a local directory; `tiny-random` builds a small random-init Whisper with the
offline processor of `ko_asr.whisper` (no Hub access), which is how the tests and the CPU comparison run.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arguments import AugmentationConfig, DataArguments, TrainingLoopConfig, hub_model_id, parse_config  # noqa: E402
from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperProcessor, set_seed  # noqa: E402

from ko_asr.data import column  # noqa: E402
from ko_asr.data.augment import WaveformAugmenter  # noqa: E402
from ko_asr.data.duration import DurationLimits, filter_by_duration  # noqa: E402
from ko_asr.lora import LoraOptions, apply_lora  # noqa: E402
from ko_asr.training import TrainingTask, make_accelerator, run_training  # noqa: E402
from ko_asr.transcription import Seq2SeqTranscriber  # noqa: E402
from ko_asr.whisper import WHISPER_WINDOW_SECONDS, offline_whisper_processor, whisper_generation_config  # noqa: E402

TINY_RANDOM = "tiny-random"


@dataclass
class WhisperArguments:
    """Which Whisper, in which language, with which regularization and decoding."""

    model_name_or_path: str = field(default="openai/whisper-small", metadata={"help": "Hub id, local path, or 'tiny-random'."})
    language: str = field(default="korean", metadata={"help": "Language token for training labels and generation."})
    task: str = field(default="transcribe", metadata={"help": "transcribe or translate."})
    mask_time_prob: float = field(default=0.0, metadata={"help": "SpecAugment through the Whisper config (0 disables)."})
    mask_feature_prob: float = field(default=0.0, metadata={"help": "SpecAugment feature masking through the config."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for activation memory."})
    lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights; the model "
                                                "directory gets the merged model and the adapter in adapter/."})
    lora_r: int = field(default=32, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=64, metadata={"help": "LoRA scaling numerator (update scaled by alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the adapters' input."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
        metadata={"help": "Modules that get adapters (Whisper's attention projections and feed-forward layers)."},
    )
    generation_max_new_tokens: int = field(default=96, metadata={"help": "Tokens generated per utterance in evaluation."})
    num_beams: int = field(default=1, metadata={"help": "Beam width in evaluation (1 = greedy)."})


def build_model(args: WhisperArguments) -> tuple[WhisperForConditionalGeneration, WhisperProcessor]:
    if args.model_name_or_path == TINY_RANDOM:
        processor = offline_whisper_processor(args.language, args.task)
        config = WhisperConfig(
            vocab_size=len(processor.tokenizer), d_model=64, encoder_layers=2, decoder_layers=2,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
            max_target_positions=128, decoder_start_token_id=50258, pad_token_id=50257, eos_token_id=50257,
            bos_token_id=50257,
        )
        model = WhisperForConditionalGeneration(config)
        model.generation_config = whisper_generation_config(max_length=config.max_target_positions)
    else:
        try:
            processor = WhisperProcessor.from_pretrained(args.model_name_or_path)
        except OSError:  # weights without tokenizer files (or no Hub): the tokenizer ships in openai-whisper
            processor = offline_whisper_processor(args.language, args.task)
        model = WhisperForConditionalGeneration.from_pretrained(args.model_name_or_path)
    processor.tokenizer.set_prefix_tokens(language=args.language, task=args.task)
    model.config.apply_spec_augment = args.mask_time_prob > 0 or args.mask_feature_prob > 0
    model.config.mask_time_prob = args.mask_time_prob
    model.config.mask_feature_prob = args.mask_feature_prob
    if args.gradient_checkpointing:
        # non-reentrant: with LoRA the checkpointed layers' inputs do not require grad, and reentrant checkpointing
        # would then give the adapters inside them no gradient
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if args.lora:
        model = apply_lora(model, LoraOptions(args.lora_r, args.lora_alpha, args.lora_dropout, args.lora_target_modules))
    return model, processor


def fits_whisper(dataset, processor, max_label_tokens: int, split: str) -> tuple[object, dict[str, int]]:
    """Drop (and count) audio over Whisper's 30 s window and labels longer than the decoder allows."""
    dataset, by_duration = filter_by_duration(dataset, DurationLimits(max_seconds=WHISPER_WINDOW_SECONDS))
    lengths = [len(ids) for ids in processor.tokenizer(column(dataset, "text")).input_ids]
    too_long_labels = [i for i, n in enumerate(lengths) if n > max_label_tokens]
    counts = {f"{split}_audio_over_30s": by_duration["too_long"], f"{split}_labels_over_{max_label_tokens}_tokens": len(too_long_labels)}
    if too_long_labels:
        dropped = set(too_long_labels)
        dataset = dataset.select([i for i in range(len(dataset)) if i not in dropped])
    return dataset, counts


def main(argv: list[str] | None = None) -> dict:
    data, whisper_args, augment, loop = parse_config((DataArguments, WhisperArguments, AugmentationConfig, TrainingLoopConfig), argv)
    set_seed(loop.seed)
    accelerator = make_accelerator(loop)
    corpus = data.load(accelerator)
    model, processor = build_model(whisper_args)
    max_labels = model.config.max_target_positions
    train, filtered = fits_whisper(corpus[data.train_split], processor, max_labels, data.train_split)
    train = data.limit_train(train)
    evals = {}
    for split in data.eval_splits:
        evals[split], counts = fits_whisper(corpus[split], processor, max_labels, split)
        filtered.update(counts)
    accelerator.print(f"filtered for Whisper's limits: {filtered}")

    generate_kwargs = {"language": whisper_args.language, "task": whisper_args.task,
                       "max_new_tokens": min(whisper_args.generation_max_new_tokens, max_labels - 4),
                       "num_beams": whisper_args.num_beams}
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    task = TrainingTask(
        model=model,
        processor=processor,
        transcriber=Seq2SeqTranscriber(processor, generate_kwargs, model.config.decoder_start_token_id),
        train_dataset=train,
        eval_datasets=evals,
        policy=data.transcript_policy,
        augment=WaveformAugmenter.from_config(augment, loop.seed),
        describe={
            "model_name": f"Whisper ({whisper_args.model_name_or_path}) fine-tuned for Korean",
            "summary": f"WhisperForConditionalGeneration, {params / 1e6:.1f} M parameters, fine-tuned with ko_asr on "
                       f"{data.dataset}"
                       + (f" with LoRA (rank {whisper_args.lora_r}, {trainable / 1e6:.2f} M trainable parameters; merged "
                          "here, adapter in adapter/)" if whisper_args.lora else "")
                       + f"; greedy/beam {whisper_args.num_beams} generation.{data.synthetic_note}",
            "data": f"{data.dataset}, train `{data.train_split}` {len(train):,} utterances; eval {data.eval_splits}; "
                    f"filtered: {json.dumps(filtered)}.{data.synthetic_note}",
            "policy": data.policy, "language": whisper_args.language, "parameters": params, "dataset": data.dataset,
            "synthetic_note": data.synthetic_note, "tags": ["whisper"],
            "base_model": None if whisper_args.model_name_or_path == TINY_RANDOM else hub_model_id(whisper_args.model_name_or_path),
        },
    )
    result = run_training(task, loop, accelerator)
    if accelerator.is_main_process and "eval" in result:
        print(json.dumps({"output_dir": loop.output_dir, "filtered": filtered, **result}, indent=1, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
