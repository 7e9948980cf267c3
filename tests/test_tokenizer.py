import json

import pytest

from ko_asr import DeepSpeech2CTCTokenizer
from ko_asr.text import hangul, normalize_transcript

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
