"""LM beam search: building the n-gram LM, pyctcdecode decoding through DeepSpeech2ProcessorWithLM, the pipeline."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
import torch
from helpers import make_waveform, save_random_tiny_ds2

import ko_asr
from ko_asr import DeepSpeech2CTCTokenizer, DeepSpeech2FeatureExtractor, DeepSpeech2Processor
from ko_asr.lm_build import build_language_model, kenlm_arpa, perplexity
from ko_asr.models.deepspeech2.language_model_deepspeech2 import DecoderConfig, HangulBeamSearch

TRAIN_LINES = [
    "오늘 저녁은 뭐 먹을까",
    "서초구 사무실에 갑니다",
    "내일 서초구 회의가 있어요",
    "저녁은 집에서 먹을까",
    "오늘 회의는 사무실에서 해요",
]


def logits_for(tokenizer, frames: list[dict[str, float]], floor: float = -12.0) -> np.ndarray:
    """Log-probabilities `(len(frames), vocab)`: each frame gives some tokens a probability, the rest `floor`."""
    vocab = tokenizer.get_vocab()
    out = np.full((len(frames), len(vocab)), floor, dtype=np.float32)
    for index, probabilities in enumerate(frames):
        for token, probability in probabilities.items():
            out[index, vocab["<pad>" if token == "" else token]] = np.log(probability)
    return out


def spelled(text: str) -> list[dict[str, float]]:
    """Frames that spell `text` with certainty, a blank between characters."""
    frames = []
    for char in text:
        frames += [{char: 0.98, "": 0.02}, {"": 0.98}]
    return frames


@pytest.fixture(scope="module")
def syllable_tokenizer():
    return DeepSpeech2CTCTokenizer.from_corpus(TRAIN_LINES + ["고"])


def test_built_lm_is_kenlm_readable_and_in_decoder_units(tmp_path, syllable_tokenizer):
    import kenlm

    report = build_language_model(TRAIN_LINES + ["(20년)/(이십 년) 만이야"], tmp_path, units="syllable", order=3,
                                  tokenizer=syllable_tokenizer)
    arpa = (tmp_path / "language_model" / "lm.arpa").read_text(encoding="utf-8")
    assert arpa.startswith("\\data\\") and "\t<unk>" in arpa  # arpabo's summary line gone, <unk> added
    assert "\t오 늘\t" in arpa or "\t오 늘\n" in arpa  # tab-separated fields, syllables as units
    model = kenlm.Model(str(tmp_path / "language_model" / "lm.arpa"))
    assert model.order == 3
    assert report.lines == 6 and report.ngrams[1] == report.vocabulary + 2  # + <s>, </s>
    # KsponSpeech notation was normalized (spelling side), and 2/0/년 are not in this tokenizer's vocabulary.
    assert "(" not in arpa and set(report.unreachable) >= {"2", "0"}
    seen, unseen = perplexity(report.directory, ["오늘 저녁은 뭐 먹을까"]), perplexity(report.directory, ["뭐 늘 오 까을"])
    assert 1 < seen < unseen


def test_word_units_spell_words_like_the_tokenizer(tmp_path):
    jamo = DeepSpeech2CTCTokenizer.from_corpus(TRAIN_LINES, units="jamo")
    build_language_model(TRAIN_LINES, tmp_path, units="word", order=2, tokenizer=jamo)
    unigrams = (tmp_path / "language_model" / "unigrams.txt").read_text(encoding="utf-8").split()
    assert "".join(jamo._tokenize("서초구")) in unigrams and "서초구" not in unigrams
    with pytest.raises(ValueError, match="tokenizer"):
        build_language_model(TRAIN_LINES, tmp_path / "other", units="word")


def test_arpa_mending_handles_the_highest_order_without_backoff():
    from arpabo import ArpaBoLM

    model = ArpaBoLM(max_order=2, smoothing_method="kneser_ney", unicode_norm=False)
    for line in ["가 나 다", "가 다"]:
        model.read_corpus_line(line)
    model.compute()
    lines = kenlm_arpa(model).splitlines()
    bigrams = lines[lines.index("\\2-grams:") + 1:]
    assert all(len(line.split("\t")) == 2 for line in bigrams if line and not line.startswith("\\"))


def test_beam_one_without_lm_equals_greedy(syllable_tokenizer):
    rng = np.random.default_rng(0)
    search = HangulBeamSearch(syllable_tokenizer, DecoderConfig(beam_width=1, token_min_logp=-1e9), None)
    for _ in range(20):
        logits = rng.normal(size=(40, len(syllable_tokenizer))).astype(np.float32) * 3
        greedy = syllable_tokenizer.decode(logits.argmax(-1))
        assert search.decode_beams(logits)[0].text == " ".join(greedy.split())


def test_lm_prefers_the_seen_sentence(tmp_path, syllable_tokenizer):
    build_language_model(TRAIN_LINES, tmp_path, units="syllable", order=4, tokenizer=syllable_tokenizer,
                         alpha=1.0, beta=0.5)
    processor = DeepSpeech2Processor(DeepSpeech2FeatureExtractor(), syllable_tokenizer)
    with_lm = ko_asr.DeepSpeech2ProcessorWithLM.from_language_model(processor, str(tmp_path / "language_model"))
    frames = spelled("서초") + [{"고": 0.55, "구": 0.45}, {"": 0.98}]
    logits = logits_for(syllable_tokenizer, frames)
    assert syllable_tokenizer.decode(logits.argmax(-1)) == "서초고"
    assert with_lm.decode(logits).text == "서초구"
    assert with_lm.decode(logits, alpha=0.0, beta=0.0).text == "서초고"  # the LM is what changed it


def test_hotword_turns_a_near_miss_into_the_boosted_word(syllable_tokenizer):
    search = HangulBeamSearch(syllable_tokenizer, DecoderConfig(beam_width=16), None)
    frames = spelled("사무") + [{"실": 0.6, "고": 0.4}, {"": 0.98}]
    logits = logits_for(syllable_tokenizer, frames)
    assert search.decode_beams(logits)[0].text == "사무실"
    assert search.decode_beams(logits, hotwords=["사무고"])[0].text == "사무고"


def test_jamo_model_decodes_composed_text_and_respelled_hotwords():
    jamo = DeepSpeech2CTCTokenizer.from_corpus(TRAIN_LINES + ["고"], units="jamo")
    search = HangulBeamSearch(jamo, DecoderConfig(beam_width=16), None)
    letters = "".join(jamo._tokenize("서초"))
    frames = spelled(letters) + [{"ᄀ": 0.98}, {"": 0.98}, {"ᅩ": 0.6, "ᅮ": 0.4}, {"": 0.98}]
    logits = logits_for(jamo, frames)
    best = search.decode_beams(logits, hotwords=["서초구"])[0]
    assert best.text == "서초구" and unicodedata.is_normalized("NFC", best.text)
    assert search.decode_beams(logits)[0].text == "서초고"


def test_processor_round_trip_keeps_the_lm_and_settings(tmp_path):
    model_dir = save_random_tiny_ds2(tmp_path / "model")
    from transformers import AutoProcessor

    plain = AutoProcessor.from_pretrained(model_dir)
    assert type(plain).__name__ == "DeepSpeech2Processor"
    build_language_model(TRAIN_LINES, model_dir, order=3, tokenizer=plain.tokenizer)
    loaded = AutoProcessor.from_pretrained(model_dir)
    assert isinstance(loaded, ko_asr.DeepSpeech2ProcessorWithLM) and loaded.decoder_config.order == 3
    tuned = loaded.with_settings(alpha=0.8, beta=2.5, beam_width=8)
    tuned.save_pretrained(tmp_path / "copy")
    again = AutoProcessor.from_pretrained(tmp_path / "copy")
    assert (again.decoder_config.alpha, again.decoder_config.beta, again.decoder_config.beam_width) == (0.8, 2.5, 8)
    # the pipeline factory must not side-load pyctcdecode's own decoder (it cannot read a syllable LM)
    for name in ("processor_config.json", "tokenizer_config.json"):
        saved = json.loads((tmp_path / "copy" / name).read_text(encoding="utf-8"))
        assert saved["processor_class"] == "DeepSpeech2Processor"
    assert type(AutoProcessor.from_pretrained(tmp_path / "copy", use_lm=False)).__name__ == "DeepSpeech2Processor"
    logits = np.random.default_rng(1).normal(size=(2, 30, len(plain.tokenizer))).astype(np.float32)
    out = again.batch_decode(logits, n_best=2, output_word_offsets=True)
    assert len(out.text) == 2 and all(len(hyps) <= 2 for hyps in out.text)
    assert again.batch_decode(logits, num_processes=2).text == again.batch_decode(logits).text


def test_pipeline_uses_the_lm_only_when_present(tmp_path, rng):
    from transformers import pipeline

    model_dir = save_random_tiny_ds2(tmp_path / "model")
    waveform = make_waveform(rng, 2.0)
    greedy = pipeline("automatic-speech-recognition", model=str(model_dir))
    assert greedy.type == "ctc"
    expected_greedy = greedy(waveform)["text"]
    build_language_model(TRAIN_LINES, model_dir, order=3, tokenizer=greedy.tokenizer, alpha=2.0, beta=0.0)
    with_lm = pipeline("automatic-speech-recognition", model=str(model_dir))
    assert with_lm.type == "ctc_with_lm"
    off = pipeline("automatic-speech-recognition", model=str(model_dir), use_lm=False)
    assert off.type == "ctc" and off(waveform)["text"] == expected_greedy
    result = with_lm(waveform, return_timestamps="word")
    assert isinstance(result["text"], str)
    for chunk in result["chunks"]:
        start, end = chunk["timestamp"]
        assert 0 <= start <= end <= 2.0 + 1e-6
    # beam 1, no LM weight: the greedy path (per-call settings reach the decoder)
    plain = with_lm(waveform, decoder_kwargs={"beam_width": 1, "alpha": 0.0, "beta": 0.0, "token_min_logp": -1e9})
    assert plain["text"] == " ".join(expected_greedy.split())


@pytest.mark.parametrize("units", ["syllable", "jamo"])
def test_evaluation_transcriber_decodes_with_the_lm(tmp_path, rng, units):
    from ko_asr import DeepSpeech2Config, DeepSpeech2ForCTC
    from ko_asr.evaluation import load_asr_model

    tokenizer = DeepSpeech2CTCTokenizer.from_corpus(TRAIN_LINES, units=units)
    torch.manual_seed(0)
    config = DeepSpeech2Config.from_preset("tiny", num_input_features=161, vocab_size=len(tokenizer))
    DeepSpeech2ForCTC(config).eval().save_pretrained(tmp_path)
    DeepSpeech2Processor(DeepSpeech2FeatureExtractor(), tokenizer).save_pretrained(tmp_path)
    build_language_model(TRAIN_LINES, tmp_path, order=3, tokenizer=tokenizer)
    model, processor, transcriber = load_asr_model(str(tmp_path), beam_width=4)
    assert transcriber.beam_search is not None and processor.decoder_config.beam_width == 4
    text = transcriber.transcribe_waveform(model, make_waveform(rng, 1.5))
    assert isinstance(text, str) and unicodedata.is_normalized("NFC", text)
    _, _, greedy = load_asr_model(str(tmp_path), use_lm=False)
    assert greedy.beam_search is None
