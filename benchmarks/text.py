"""Text-layer throughput: KsponSpeech normalization and CTC tokenization, one core.

Generates 100,000 raw transcript lines that use the full notation (dual pairs, malformed pairs, noise tags
glued to punctuation, fillers, repetition/unclear marks, brackets, bare %), then times:

- `normalize_transcript` (spelling and phonetic policies), lines/s;
- encoding normalized lines with `DeepSpeech2CTCTokenizer` (syllable and jamo units): the core
  `tokenize` + `convert_tokens_to_ids` path, and the full batched `tokenizer(texts)` call;
- the baseline measured in the same run: transformers' `Wav2Vec2CTCTokenizer` on the same syllable vocabulary.

Run: `.venv/bin/python benchmarks/text.py [--lines N]`
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time

from transformers import Wav2Vec2CTCTokenizer

from ko_asr import DeepSpeech2CTCTokenizer
from ko_asr.text import normalize_transcript

WORDS = ["그럼", "전처럼", "이메일로", "소통하면", "되잖아", "확률이라니", "소리야", "진짜", "마지막엔", "시간에", "오히려", "다음", "말", "왜", "안돼", "있었으면", "좋겠다", "우리", "내일", "같이", "밥", "먹을래"]
PAIRS = ["(20년)/(이십 년)", "(3G)/(쓰리 쥐)", "(70%)/(칠 십 퍼센트)", "(100%)(백 프로)", "(뭐+ 뭔)/(모+ 몬)", "(2월)/(이 월 )"]
DECORATIONS = ["b/ ", "l/ ", "n/ ", "o/ ", "u/ ", "어/ ", "아/ ", ".b/", "+", "*", "?", ",", "."]


def generate_lines(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(4, 12)):
            choice = rng.random()
            if choice < 0.15:
                parts.append(rng.choice(PAIRS))
            elif choice < 0.2:
                parts.append(f"[{rng.choice(WORDS)}]" if rng.random() < 0.5 else f"({rng.choice(WORDS)})")
            else:
                parts.append(rng.choice(WORDS))
            if rng.random() < 0.3:
                parts[-1] += rng.choice(DECORATIONS)
        if rng.random() < 0.01:
            parts.append("50%")
        lines.append(" ".join(parts))
    return lines


def rate(function, items) -> float:
    start = time.perf_counter()
    function(items)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()

    raw = generate_lines(args.lines)
    example = next(line for line in raw if "(" in line and "/" in line)
    print(f"{len(raw):,} raw lines, mean {sum(map(len, raw)) / len(raw):.0f} characters, e.g.\n  {example}")
    spelling_rate = rate(lambda xs: [normalize_transcript(x) for x in xs], raw)
    phonetic_rate = rate(lambda xs: [normalize_transcript(x, policy="phonetic") for x in xs], raw)
    texts = [normalize_transcript(x) for x in raw]
    print(f"normalize_transcript spelling : {spelling_rate:>10,.0f} lines/s")
    print(f"normalize_transcript phonetic : {phonetic_rate:>10,.0f} lines/s")

    results = {}
    for units in ("syllable", "jamo"):
        tok = DeepSpeech2CTCTokenizer.from_hangul(units=units)
        results[units, "core"] = rate(lambda xs, tok=tok: [tok.convert_tokens_to_ids(tok.tokenize(x)) for x in xs], texts)
        results[units, "call"] = rate(lambda xs, tok=tok: tok(xs).input_ids, texts)
        print(f"encode {units:<8} tokenize+ids   : {results[units, 'core']:>10,.0f} lines/s")
        print(f"encode {units:<8} tokenizer(batch): {results[units, 'call']:>10,.0f} lines/s")

    syllables = DeepSpeech2CTCTokenizer.from_hangul()
    with tempfile.TemporaryDirectory() as tmp:
        vocab = dict(syllables.get_vocab())
        vocab["|"] = vocab.pop(" ")
        path = os.path.join(tmp, "vocab.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(vocab, handle, ensure_ascii=False)
        baseline = Wav2Vec2CTCTokenizer(path, pad_token="<pad>", unk_token="<unk>", bos_token=None, eos_token=None)
    baseline_rate = rate(lambda xs: baseline(xs).input_ids, texts)
    print(f"baseline Wav2Vec2CTCTokenizer(batch), same vocabulary: {baseline_rate:>10,.0f} lines/s")
    print(f"ratio syllable tokenizer(batch) / baseline: {results['syllable', 'call'] / baseline_rate:.1f}x")


if __name__ == "__main__":
    main()
