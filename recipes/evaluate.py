"""Evaluate a saved DeepSpeech2 model on any split: metrics JSON, a printed table, transcripts.

    python recipes/evaluate.py --model outputs/ds2-demo --dataset synthetic --splits eval_clean eval_other  # policy: the model's

Writes `<output_dir>/metrics.json` and `<output_dir>/transcripts_<split>.csv` (reference vs hypothesis), and adds the
splits to the model card (`<model>/README.md`: its evaluation table and model-index; `--update_model_card false`
leaves it alone). The default `<model>/eval` sits beside the model like the run's other artefacts and is never
uploaded by `--push_to_hub` (nor by training's push).
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arguments import parse_config  # noqa: E402

import ko_asr  # noqa: E402, F401  (registers DeepSpeech2 with the Auto classes)
from ko_asr.data.sources import load_corpus  # noqa: E402
from ko_asr.evaluation import evaluate_dataset, load_asr_model  # noqa: E402
from ko_asr.metrics import METRICS  # noqa: E402
from ko_asr.models.deepspeech2.language_model_deepspeech2 import find_language_model  # noqa: E402
from ko_asr.text.policy import TranscriptPolicy  # noqa: E402
from ko_asr.training.hub import push_model_folder  # noqa: E402
from ko_asr.training.model_card import update_model_card  # noqa: E402


@dataclass
class EvaluateArguments:
    model: str = field(metadata={"help": "Saved model directory."})
    dataset: str = field(default="synthetic", metadata={"help": "synthetic, ksponspeech, or a load_speech_dataset source."})
    data_root: str | None = field(default=None, metadata={"help": "Corpus directory."})
    synthetic_size: str = field(default="demo", metadata={"help": "Synthetic corpus size."})
    splits: list[str] = field(default_factory=lambda: ["eval_clean", "eval_other"], metadata={"help": "Splits to score."})
    policy: str | None = field(
        default=None, metadata={"help": "Transcript policy of references and hypotheses (default: the one saved with the model)."}
    )
    batch_size: int = field(default=32, metadata={"help": "Utterances per batch."})
    vad: bool = field(
        default=False,
        metadata={"help": "Gate each utterance with voice activity detection (Silero VAD): where it finds no speech "
                  "the hypothesis is empty, as `ko-asr transcribe` and the Space give. Off by default so scores stay "
                  "comparable; scores with it leave the model card alone."},
    )
    use_lm: bool = field(
        default=True,
        metadata={"help": "Decode with the model's n-gram language model when its directory has one (language_model/); "
                  "false decodes greedily. The decoding used is printed and recorded in metrics.json."},
    )
    beam_width: int | None = field(default=None, metadata={"help": "LM beam width (default: the saved decoder setting)."})
    num_processes: int | None = field(default=None, metadata={"help": "Beam-search each batch in this many processes."})
    max_samples: int | None = field(default=None, metadata={"help": "Score only the first N rows of each split."})
    num_examples: int = field(default=5, metadata={"help": "Transcripts printed per split."})
    output_dir: str | None = field(default=None, metadata={"help": "Where results go (default: <model>/eval)."})
    update_model_card: bool = field(
        default=True,
        metadata={"help": "Add these splits to the model card's evaluation table and model-index (a local model folder "
                  "with a README.md); false leaves the card untouched."},
    )
    push_to_hub: bool = field(
        default=False, metadata={"help": "Then upload the model folder with its updated card (as training's push does)."}
    )
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repository to push to (default: the model folder's name)."})


def main(argv: list[str] | None = None) -> dict:
    (args,) = parse_config((EvaluateArguments,), argv)
    settings = {"beam_width": args.beam_width} if args.beam_width else {}
    model, processor, transcriber = load_asr_model(args.model, use_lm=args.use_lm, num_processes=args.num_processes,
                                                   **settings)
    lm = getattr(transcriber, "beam_search", None)
    decoding = "greedy" if lm is None else lm.describe(weights=True)
    policy = TranscriptPolicy.resolve(processor, args.policy)
    corpus = load_corpus(args.dataset, args.splits, data_root=args.data_root, policy=policy,
                         synthetic_size=args.synthetic_size)
    output = Path(args.output_dir or Path(args.model) / "eval")
    output.mkdir(parents=True, exist_ok=True)
    results = {}
    for split in args.splits:
        dataset = corpus[split]
        if args.max_samples:
            dataset = dataset.select(range(min(args.max_samples, len(dataset))))
        metrics, rows = evaluate_dataset(transcriber, model, dataset, batch_size=args.batch_size, policy=policy,
                                         desc=f"evaluating {split}", vad=args.vad)
        results[split] = {**metrics, "utterances": len(rows)}
        with open(output / f"transcripts_{split}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, ["id", "reference", "hypothesis"])
            writer.writeheader()
            writer.writerows(rows)
        print(f"\n{split}: first {args.num_examples} transcripts (reference / hypothesis)")
        for row in rows[: args.num_examples]:
            print(f"  {row['id']}\n    REF {row['reference']}\n    HYP {row['hypothesis']}")
    synthetic = " (synthetic espeak-ng speech, not real-speech accuracy)" if args.dataset == "synthetic" else ""
    print(f"\n{args.model} on {args.dataset}{synthetic}, policy={policy.policy}, decoding: {decoding}"
          + (", VAD-gated" if args.vad else ""))
    print("| split | utterances | " + " | ".join(METRICS) + " |")
    print("|---|---:|" + "---:|" * len(METRICS))
    for split, values in results.items():
        print(f"| {split} | {values['utterances']} | " + " | ".join(f"{values[m]:.4f}" for m in METRICS) + " |")
    (output / "metrics.json").write_text(json.dumps(
        {"model": args.model, "dataset": args.dataset, "policy": policy.policy, "vad": args.vad, "decoding": decoding,
         "splits": results},
        indent=1))
    print(f"\nwritten: {output / 'metrics.json'}, {output}/transcripts_*.csv")
    card = Path(args.model) / "README.md"
    saved_policy = TranscriptPolicy.from_tokenizer(processor)
    if args.update_model_card and card.is_file() and saved_policy not in (None, policy):
        # the card's table is the model under its own policy; scores under another one would read as the model's
        print(f"model card left as it is: these scores use policy {policy}, the model was trained with {saved_policy}")
    elif args.update_model_card and card.is_file() and lm is None and find_language_model(args.model):
        # the card's table is how the saved model decodes by default (with its LM)
        print("model card left as it is: these scores are greedy (--use_lm false) and the model has an LM")
    elif args.update_model_card and card.is_file() and args.vad:
        # likewise the card's table is the model alone, not the model behind a speech detector
        print("model card left as it is: these scores are VAD-gated (--vad)")
    elif args.update_model_card and card.is_file():
        # a subset is not the split: the card names it with the datasets slicing notation
        named = {split if v["utterances"] == len(corpus[split]) else f"{split}[:{v['utterances']}]": v
                 for split, v in results.items()}
        update_model_card(card, named, args.dataset)
        print(f"model card updated: {card}")
    if args.push_to_hub:
        if not Path(args.model).is_dir():
            raise SystemExit(f"--push_to_hub uploads a local model folder; {args.model} is not one")
        repo_id = args.hub_model_id or Path(args.model).resolve().name
        print(f"pushed: {push_model_folder(args.model, repo_id, commit_message='ko_asr evaluation', local_dirs=(output,))}")
    return results


if __name__ == "__main__":
    main()
