import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ko_asr import DeepSpeech2CTCTokenizer
from ko_asr.text import hangul, normalize_transcript, to_nfc

SENTENCES = [
    normalize_transcript(raw)
    for raw in [
        "그럼 (20년)/(이십 년) 전+ 전처럼 이메일로 l/ 소통하면 되잖아. l/",
        "b/ (70%)/(칠 십 퍼센트) 확률이라니 아/ (뭐+ 뭔)/(모+ 몬) 소리야 진짜 (100%)(백 프로)가 왜 안돼? n/",
        "어/ 나 어제 (3G)/(쓰리 쥐) 폰으로 club/ 음악 들었어",
        "있었으면 좋겠다 같같이 K-POP AT&T 3.5",
        "ㅋㅋ 진짜 웃기다",
    ]
]


@pytest.fixture(scope="module", params=["syllable", "jamo"])
def tokenizer(request):
    return DeepSpeech2CTCTokenizer.from_hangul(units=request.param)


def test_full_inventories():
    syllable = DeepSpeech2CTCTokenizer.from_hangul(units="syllable")
    jamo = DeepSpeech2CTCTokenizer.from_hangul(units="jamo")
    assert all(s in syllable.get_vocab() for s in hangul.SYLLABLES)
    assert all(j in jamo.get_vocab() for j in hangul.JAMO)
    assert not any(hangul.is_syllable(s) for s in jamo.get_vocab())
    for tok in (syllable, jamo):
        assert tok.pad_token_id == 0 and tok.convert_ids_to_tokens(0) == "<pad>"
        assert " " in tok.get_vocab() and tok.word_delimiter_token == " "
        assert all(c in tok.get_vocab() for c in "09AZaz%&-.")
    assert len(jamo) < 160 < 11_000 < len(syllable)


@pytest.mark.parametrize("sentence", SENTENCES)
def test_encode_decode_round_trip(tokenizer, sentence):
    ids = tokenizer(sentence).input_ids
    assert tokenizer.last_unknown_count == 0
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, group_tokens=False) == sentence
    # Space is a real token: words survive.
    assert ids.count(tokenizer.convert_tokens_to_ids(" ")) == sentence.count(" ")


def test_jamo_units_encode_positional_jamo():
    tok = DeepSpeech2CTCTokenizer.from_hangul(units="jamo")
    assert tok.tokenize("각") == ["\u1100", "\u1161", "\u11a8"]
    assert len(tok("있었으면").input_ids) == len(hangul.decompose("있었으면"))


def frames(tok, spec):
    """Build a CTC frame sequence; '_' is the blank."""
    return [tok.pad_token_id if s == "_" else tok.convert_tokens_to_ids(s) for s in spec]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (["있", "있", "있", "_", "_", "으", "으", "면", "면"], "있으면"),  # repeated frames never stutter
        (["있", "_", "있", "다"], "있있다"),  # a blank separates a real double syllable
        (["같", "같", "_", "같", "이"], "같같이"),
        (["거", "_", "야", "야", "야", "_"], "거야"),
        (["_", "_", "가", " ", " ", "_", " ", "나", "_"], "가 나"),  # repeated spaces collapse, edges strip
        (["_", "_"], ""),
        ([], ""),
    ],
)
def test_ctc_collapse_merges_repeats_before_dropping_blanks(spec, expected):
    tok = DeepSpeech2CTCTokenizer.from_hangul()
    ids = frames(tok, spec)
    assert tok.decode(ids) == expected
    assert tok.decode(ids, skip_special_tokens=True) == expected
    assert tok.batch_decode([ids, ids]) == [expected, expected]


def test_jamo_ctc_collapse_recomposes_syllables():
    tok = DeepSpeech2CTCTokenizer.from_hangul(units="jamo")
    i, a, ss = "\u110b", "\u1175", "\u11bb"  # ㅇ ㅣ ㅆ(final)
    spec = [i, i, a, ss, ss, "_", i, a, a, ss, "_", "_", "\u1103", "\u1161"]  # 있 있 다
    assert tok.decode(frames(tok, spec)) == "있있다"


def test_char_and_word_offsets(tokenizer):
    if tokenizer.units == "syllable":
        spec = ["_", "가", "가", "_", " ", "나", "_", "나", "_"]
        expected_chars = [("가", 1, 3), (" ", 4, 5), ("나", 5, 6), ("나", 7, 8)]
        expected_words = [("가", 1, 3), ("나나", 5, 8)]
    else:  # a syllable spans the frames of all its jamo
        g, n, a = "\u1100", "\u1102", "\u1161"
        spec = ["_", g, g, a, "_", " ", n, a, "_", n, a, a, "_"]
        expected_chars = [("가", 1, 4), (" ", 5, 6), ("나", 6, 8), ("나", 9, 12)]
        expected_words = [("가", 1, 4), ("나나", 6, 12)]
    out = tokenizer.decode(frames(tokenizer, spec), output_char_offsets=True, output_word_offsets=True)
    assert out.text == "가 나나"
    assert [(o["char"], int(o["start_offset"]), int(o["end_offset"])) for o in out.char_offsets] == expected_chars
    assert [(o["word"], int(o["start_offset"]), int(o["end_offset"])) for o in out.word_offsets] == expected_words


def test_unknown_characters_map_to_unk_and_are_counted():
    tok = DeepSpeech2CTCTokenizer.from_hangul()
    ids = tok("가 ☃ 나 ☃ é").input_ids
    assert ids.count(tok.unk_token_id) == 3
    assert tok.last_unknown_count == 3
    assert tok.unknown_counts == {"☃": 2, "é": 1}
    assert tok.decode(ids) == "가 <unk> 나 <unk> <unk>"
    assert tok.decode(ids, skip_special_tokens=True) == "가 나"
    tok("가나")
    assert tok.last_unknown_count == 0


def test_unintelligible_token_encodes_as_unk_with_word_boundaries():
    tok = DeepSpeech2CTCTokenizer.from_hangul()
    text = normalize_transcript("그게 u/ 뭐였지", unintelligible="token")
    ids = tok(text).input_ids
    assert tok.convert_ids_to_tokens(ids) == ["그", "게", " ", "<unk>", " ", "뭐", "였", "지"]
    assert tok.last_unknown_count == 0  # the token itself is not an unknown character


def test_from_corpus_prunes_by_frequency():
    texts = ["가가가 나나 다", "가 나 라"]
    tok = DeepSpeech2CTCTokenizer.from_corpus(texts, max_size=2)
    vocab = tok.get_vocab()
    assert [tok.convert_ids_to_tokens(i) for i in range(len(vocab))] == ["<pad>", "<unk>", " ", "가", "나"]
    assert tok("다").input_ids == [tok.unk_token_id]
    tok2 = DeepSpeech2CTCTokenizer.from_corpus(texts, min_freq=2)
    assert set(tok2.get_vocab()) == {"<pad>", "<unk>", " ", "가", "나"}
    jamo = DeepSpeech2CTCTokenizer.from_corpus(texts, units="jamo")
    assert set(jamo.get_vocab()) - {"<pad>", "<unk>", " "} == set(hangul.decompose("가나다라"))


def test_csv_round_trip(tmp_path, tokenizer):
    path = tmp_path / "vocab.csv"
    tokenizer.to_csv(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,char" and lines[1] == "0,<pad>"
    again = DeepSpeech2CTCTokenizer.from_csv(path)
    assert again.get_vocab() == tokenizer.get_vocab()
    assert again.units == tokenizer.units


def test_csv_reads_the_original_projects_format_with_extra_columns(tmp_path):
    path = tmp_path / "kor_syllable.csv"
    path.write_text("id,char,freq\n0,<pad>,0\n1,<unk>,0\n2, ,100\n3,가,5\n4,\",\",1\n", encoding="utf-8")
    tok = DeepSpeech2CTCTokenizer.from_csv(path)
    assert tok("가, 가").input_ids == [3, 4, 2, 3]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,char\n1,<pad>\n0,가\n2, \n", "must have id 0"),
        ("id,char\n0,<pad>\n3,가\n1, \n", "without gaps"),
        ("id,char\n0,<pad>\nx,가\n", "not an integer"),
        ("id,char\n0,<pad>\n1,가\n2,가\n", "appears twice"),
        ("id,char\n0,<pad>\n1,가\n", "no ' ' token"),
    ],
)
def test_bad_csv_names_the_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        DeepSpeech2CTCTokenizer.from_csv(path)
    assert "bad.csv" in str(error.value)


def test_save_pretrained_round_trip(tmp_path, tokenizer):
    tokenizer.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["units"] == tokenizer.units
    again = DeepSpeech2CTCTokenizer.from_pretrained(tmp_path)
    assert again.get_vocab() == tokenizer.get_vocab()
    assert again.units == tokenizer.units
    assert (again.pad_token_id, again.unk_token_id) == (0, tokenizer.unk_token_id)
    for sentence in SENTENCES:
        assert again(sentence).input_ids == tokenizer(sentence).input_ids


def test_invalid_units_raise():
    with pytest.raises(ValueError, match="units"):
        DeepSpeech2CTCTokenizer.from_hangul(units="word")


# ---------------------------------------------------------------- the word delimiter is text, not a special token


def test_word_delimiter_is_not_a_special_token(tokenizer):
    space = tokenizer.convert_tokens_to_ids(" ")
    assert tokenizer.word_delimiter_token == " " and tokenizer.word_delimiter_token_id == space
    assert sorted(tokenizer.all_special_tokens) == ["<pad>", "<unk>"]
    assert sorted(tokenizer.all_special_ids) == [0, tokenizer.unk_token_id]
    assert tokenizer.special_tokens_map == {"unk_token": "<unk>", "pad_token": "<pad>"}
    assert tokenizer.extra_special_tokens == []
    assert [str(t) for t in tokenizer.added_tokens_decoder.values() if t.special] == ["<pad>", "<unk>"]
    ids = [0, *tokenizer("가 <unk> 나").input_ids, 0]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    mask = [int(token in ("<pad>", "<unk>")) for token in tokens]
    assert tokens.count(" ") == 2 and sum(mask) == 3
    assert tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True) == mask
    kept = tokenizer.convert_ids_to_tokens(ids, skip_special_tokens=True)
    assert kept == [token for token, special in zip(tokens, mask) if not special]
    assert kept.count(" ") == 2


@pytest.mark.parametrize("group_tokens", [True, False])
@pytest.mark.parametrize("skip_special_tokens", [True, False])
def test_every_decode_path_keeps_word_boundaries(tokenizer, group_tokens, skip_special_tokens):
    if tokenizer.units == "syllable":
        spec = ["_", "가", " ", "<unk>", " ", "나", "_"]
        chars = [("가", 1, 2), (" ", 2, 3), ("<unk>", 3, 4), (" ", 4, 5), ("나", 5, 6)]
    else:
        spec = ["_", "\u1100", "\u1161", " ", "<unk>", " ", "\u1102", "\u1161", "_"]
        chars = [("가", 1, 3), (" ", 3, 4), ("<unk>", 4, 5), (" ", 5, 6), ("나", 6, 8)]
    words = [c for c in chars if c[0] != " "]
    if skip_special_tokens:
        chars, words = [c for c in chars if c[0] != "<unk>"], [w for w in words if w[0] != "<unk>"]
    text = "가 나" if skip_special_tokens else "가 <unk> 나"
    ids = frames(tokenizer, spec)
    options = {"group_tokens": group_tokens, "skip_special_tokens": skip_special_tokens}
    assert tokenizer.decode(ids, **options) == text
    assert tokenizer.batch_decode([ids, ids], **options) == [text, text]
    both = tokenizer.decode(ids, output_char_offsets=True, output_word_offsets=True, **options)
    only_words = tokenizer.batch_decode([ids], output_word_offsets=True, **options)
    only_chars = tokenizer.batch_decode([ids], output_char_offsets=True, **options)
    assert both.text == only_words.text[0] == only_chars.text[0] == text
    for char_offsets in (both.char_offsets, only_chars.char_offsets[0]):
        assert [(o["char"], int(o["start_offset"]), int(o["end_offset"])) for o in char_offsets] == chars
    for word_offsets in (both.word_offsets, only_words.word_offsets[0]):
        assert [(o["word"], int(o["start_offset"]), int(o["end_offset"])) for o in word_offsets] == words


@pytest.mark.parametrize("delimiter", ["|", "<sp>"])
def test_custom_word_delimiter_survives_save_and_load_and_is_not_special(tmp_path, delimiter):
    tok = DeepSpeech2CTCTokenizer.from_vocabulary(["가", "나", delimiter], word_delimiter_token=delimiter)
    tok.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["word_delimiter_token"] == delimiter
    again = DeepSpeech2CTCTokenizer.from_pretrained(tmp_path)
    for t in (tok, again):
        assert t.word_delimiter_token == delimiter
        assert t.word_delimiter_token_id == tok.convert_tokens_to_ids(delimiter) == 5
        assert sorted(t.all_special_tokens) == ["<pad>", "<unk>"]
        ids = t(f"가{delimiter}나").input_ids
        assert ids == [3, 5, 4]
        assert t.convert_ids_to_tokens(ids, skip_special_tokens=True) == ["가", delimiter, "나"]
        assert t.get_special_tokens_mask(ids, already_has_special_tokens=True) == [0, 0, 0]


def test_tokenizer_saved_with_a_special_space_loads_with_a_plain_space(tmp_path, tokenizer):
    """Configs saved before this fix list the space as a special added token; loading them must not revive it."""
    tokenizer.save_pretrained(tmp_path)
    config_path = tmp_path / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["added_tokens_decoder"]["2"] = {
        "content": " ", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True
    }
    config_path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    again = DeepSpeech2CTCTokenizer.from_pretrained(tmp_path)
    assert sorted(again.all_special_tokens) == ["<pad>", "<unk>"]
    assert [str(t) for t in again.added_tokens_decoder.values()] == ["<pad>", "<unk>"]
    ids = again("가 나").input_ids
    assert again.convert_ids_to_tokens(ids, skip_special_tokens=True) == again.convert_ids_to_tokens(ids)
    again.save_pretrained(tmp_path / "resaved")
    resaved = json.loads((tmp_path / "resaved" / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert sorted(token["content"] for token in resaved["added_tokens_decoder"].values()) == ["<pad>", "<unk>"]


# ---------------------------------------------------------------- Unicode normalization forms

#: Korean text with the characters whose composed and decomposed spellings differ (syllables, "é") and some
#: that have only one (compatibility jamo, digits, Latin, symbols, space).
korean_text = st.lists(
    st.one_of(st.integers(0xAC00, 0xD7A3).map(chr), st.sampled_from([" ", "ㅋ", "A", "7", "%", "é"])),
    max_size=24,
).map("".join)


def spellings(text: str) -> list[str]:
    """The NFD spelling and one that decomposes every other character, both canonically equal to `text`."""
    mixed = "".join(unicodedata.normalize("NFD", c) if i % 2 else c for i, c in enumerate(text))
    return [unicodedata.normalize("NFD", text), mixed]


def test_to_nfc_composes_conjoining_jamo_and_keeps_compatibility_jamo():
    assert to_nfc("\u1100\u1161\u11a8 \u1112\u1161\u11ab") == "각 한"
    assert to_nfc("e\u0301") == "\u00e9"
    assert to_nfc("ㅋㅋ ㄳ") == "ㅋㅋ ㄳ"  # compatibility jamo are not canonically decomposable


@pytest.mark.parametrize("units", ["syllable", "jamo"])
def test_decomposed_text_encodes_like_composed_text(units):
    tok = DeepSpeech2CTCTokenizer.from_hangul(units=units)
    composed = "한국어 음성 인식 ㅋㅋ é"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed and len(decomposed) > len(composed)
    expected = tok(composed).input_ids
    assert tok.last_unknown_count == 1  # only "é"
    assert tok(decomposed).input_ids == expected
    assert tok.last_unknown_count == 1  # not "e" + an unknown combining accent
    assert tok([decomposed, composed]).input_ids == [expected, expected]
    assert tok("<unk> " + decomposed).input_ids == [tok.unk_token_id, 2, *expected]  # the added-token path
    assert tok.decode(tok(decomposed).input_ids, group_tokens=False) == "한국어 음성 인식 ㅋㅋ <unk>"


@settings(max_examples=60, deadline=None)
@given(text=korean_text)
def test_canonically_equivalent_text_gives_the_same_ids_and_decoding(tokenizer, text):
    expected = tokenizer(text).input_ids
    decoded = tokenizer.decode(expected, group_tokens=False)
    assert decoded == " ".join(text.replace("é", "<unk>").split())
    for spelling in spellings(text):
        ids = tokenizer(spelling).input_ids
        assert ids == expected
        assert tokenizer.decode(ids, group_tokens=False) == decoded


@pytest.mark.parametrize("units", ["syllable", "jamo"])
def test_vocabularies_built_from_decomposed_text_match_composed_ones(units):
    texts = ["한국어 음성", "인식 한국"]
    decomposed = [unicodedata.normalize("NFD", t) for t in texts]
    composed_vocab = DeepSpeech2CTCTokenizer.from_corpus(texts, units=units).get_vocab()
    assert DeepSpeech2CTCTokenizer.from_corpus(decomposed, units=units).get_vocab() == composed_vocab
    symbols = sorted(set("".join(texts)) - {" "})
    assert (
        DeepSpeech2CTCTokenizer.from_vocabulary([unicodedata.normalize("NFD", s) for s in symbols]).get_vocab()
        == DeepSpeech2CTCTokenizer.from_vocabulary(symbols).get_vocab()
    )


def test_csv_symbols_are_read_in_nfc(tmp_path):
    path = tmp_path / "vocab.csv"
    path.write_text("id,char\n0,<pad>\n1,<unk>\n2, \n3,\u1100\u1161\n", encoding="utf-8")
    tok = DeepSpeech2CTCTokenizer.from_csv(path)
    assert tok.convert_ids_to_tokens(3) == "가"
    assert tok("가 가").input_ids == tok("\u1100\u1161 가").input_ids == [3, 2, 3]
    path.write_text("id,char\n0,<pad>\n1,<unk>\n2, \n3,가\n4,\u1100\u1161\n", encoding="utf-8")
    with pytest.raises(ValueError, match="appears twice"):
        DeepSpeech2CTCTokenizer.from_csv(path)


def test_a_vocabulary_token_outside_nfc_is_rejected(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"<pad>": 0, "<unk>": 1, " ": 2, "\u1100\u1161": 3}), encoding="utf-8")
    with pytest.raises(ValueError, match="NFC"):
        DeepSpeech2CTCTokenizer(str(path))
