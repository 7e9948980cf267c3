import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ko_asr.text import (
    UNINTELLIGIBLE_TOKEN,
    MalformedTranscriptError,
    TranscriptDecodeError,
    UnintelligibleUtteranceError,
    normalize_transcript,
    read_transcript,
)

# Every example row of the corpus format notes (docs/ksponspeech_format.md; every row there is a test): raw, spelling, phonetic.
FORMAT_ROWS = [
    ("아/ 몬 소리야, 그건 또. b/", "아 몬 소리야 그건 또", "아 몬 소리야 그건 또"),
    (
        "그럼 (20년)/(이십 년) 전+ 전처럼 이메일로 l/ 소통하면 되잖아. l/",
        "그럼 20년 전 전처럼 이메일로 소통하면 되잖아",
        "그럼 이십 년 전 전처럼 이메일로 소통하면 되잖아",
    ),
    ("한+ 한+ 한 시간에", "한 한 한 시간에", "한 한 한 시간에"),
    ("까* 오히려", "까 오히려", "까 오히려"),
    ("(2월)/(이 월 )달에 가? 응.", "2월달에 가 응", "이 월 달에 가 응"),
    ("(7명)/(일곱 명)+ (7명)/(일곱 명)? 마지막엔", "7명 7명 마지막엔", "일곱 명 일곱 명 마지막엔"),
    ("(뭐)/(머)/ 그래", "뭐 그래", "머 그래"),
    (
        "b/ (70%)/(칠 십 퍼센트) 확률이라니 아/ (뭐+ 뭔)/(모+ 몬) 소리야 진짜 (100%)(백 프로)가 왜 안돼? n/",
        "70% 확률이라니 아 뭐 뭔 소리야 진짜 100%가 왜 안돼",
        "칠 십 퍼센트 확률이라니 아 모 몬 소리야 진짜 백 프로가 왜 안돼",
    ),
    ("그 (웃음) 다음 말 (2)/(두) 개", "그 웃음 다음 말 2 개", "그 웃음 다음 말 두 개"),
]


def _document_rows() -> list[tuple[str, str, str]]:
    """Every `| raw | spelling | phonetic |` row of the repo's format document."""
    document = (Path(__file__).parents[1] / "docs" / "ksponspeech_format.md").read_text(encoding="utf-8")
    rows = []
    for line in document.splitlines():
        cells = re.findall(r"\| `([^`]*)` \| `([^`]*)` \| (?:`([^`]*)`|same) \|", line)
        rows += [(raw, spelling, phonetic or spelling) for raw, spelling, phonetic in cells]
    return rows


def test_every_row_of_the_format_document_is_tested():
    rows = _document_rows()
    assert len(rows) >= len(FORMAT_ROWS) + 9
    assert set(rows) <= {*FORMAT_ROWS, *NOTATION_VARIANTS}, "a documented row has no test of its own"
    for raw, spelling, phonetic in rows:
        assert normalize_transcript(raw, policy="spelling") == spelling, raw
        assert normalize_transcript(raw, policy="phonetic") == phonetic, raw


@pytest.mark.parametrize(("raw", "spelling", "phonetic"), FORMAT_ROWS)
def test_format_examples(raw, spelling, phonetic):
    assert normalize_transcript(raw) == spelling
    assert normalize_transcript(raw, policy="spelling") == spelling
    assert normalize_transcript(raw, policy="phonetic") == phonetic


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("club/ 가자", "club 가자"),  # a word with a filler slash, not the tag b/
        ("들어서.b/ 그래서", "들어서 그래서"),  # tag glued after punctuation
        ("그래 b/. 응", "그래 응"),  # tag followed by punctuation
        ("o/ n/ 어/ 그래", "어 그래"),
        ("그 (말이 맞아", "그 말이 맞아"),  # lone "(" dropped, content kept
        ("그 말이) 맞아", "그 말이 맞아"),  # stray ")"
        ("(5일)/(오 일)+ 일)이나 쉬어", "5일 일이나 쉬어"),  # a stray ")" after a pair, linked to nothing
        ("(뭐)/(머)/ 그래 (어", "뭐 그래 어"),
        ("((3G)/(쓰리 쥐)) 폰", "3G 폰"),
        ("[웃음] 좋아", "웃음 좋아"),
        ("AT&T K-POP C# 3.5 1,000원 70%", "AT&T K-POP C# 3.5 1,000원 70%"),
        ("끝.   시작,끝", "끝 시작 끝"),
        ("Latin Case Kept", "Latin Case Kept"),
        ("b/ l/ n/", ""),
    ],
)
def test_parser_edge_cases(raw, expected):
    assert normalize_transcript(raw) == expected


# Notation written differently from the canonical form (public bug reports against Korean ASR toolkits), and the
# neighbours of each variant: raw, spelling, phonetic.
NOTATION_VARIANTS = [
    # spaces around the slash of a dual transcription, on both sides or one
    ("그 돈이 (70%) / (칠십 퍼센트)는 넘을걸", "그 돈이 70%는 넘을걸", "그 돈이 칠십 퍼센트는 넘을걸"),
    ("그 돈이 (70%)/ (칠십 퍼센트)는", "그 돈이 70%는", "그 돈이 칠십 퍼센트는"),
    ("그 돈이 (70%) /(칠십 퍼센트)는", "그 돈이 70%는", "그 돈이 칠십 퍼센트는"),
    ("(3G)  /  (쓰리 쥐) 폰", "3G 폰", "쓰리 쥐 폰"),
    # a noise tag glued to a Hangul word; a Latin word before the slash stays a word
    ("그래서 거기 갔거든b/ 근데", "그래서 거기 갔거든 근데", "그래서 거기 갔거든 근데"),
    ("그래서 거기 갔거든n/ 근데 l/", "그래서 거기 갔거든 근데", "그래서 거기 갔거든 근데"),
    ("갔어o/b/ 그래", "갔어 그래", "갔어 그래"),
    ("club/ 가자 menu/ 줘", "club 가자 menu 줘", "club 가자 menu 줘"),
    ("그래b/. 응", "그래 응", "그래 응"),
    # a tag right after a pair is a tag, whichever side is chosen
    ("(TV)/(티비)o/ 봤어", "TV 봤어", "티비 봤어"),
    ("(SNS)/(에스엔에스)b/ 해", "SNS 해", "에스엔에스 해"),
    # tags between a word and punctuation, glued on either side
    ("그래.b/응", "그래 응", "그래 응"),
    ("그래 b/, 응b/?", "그래 응", "그래 응"),
    # doubled or nested brackets inside a pair resolve recursively
    ("((70%))/((칠십 퍼센트)) 야", "70% 야", "칠십 퍼센트 야"),
    ("((2)/(이) 시)/(두 시)에 봐", "2 시에 봐", "두 시에 봐"),
    ("((3G)/(쓰리 쥐)) 폰", "3G 폰", "쓰리 쥐 폰"),
    # a slash inside one side of a pair (fractions, 24/7, A/S) is text, never a filler mark
    ("(24/7)/(이십사 칠) 편의점", "24/7 편의점", "이십사 칠 편의점"),
    ("(1/2)/(이 분의 일) 정도", "1/2 정도", "이 분의 일 정도"),
    ("(A/S)/(에이 에스) 센터", "A/S 센터", "에이 에스 센터"),
    # two pairs joined by a filler slash are two pairs
    ("(뭐)/(머)/ (2)/(두) 개", "뭐 2 개", "머 두 개"),
]

# Lines that cannot be resolved without guessing: never turned into different words or numbers.
MALFORMED = [
    "(20년)/(이십 년 전에",  # the second side never closes
    "(70%/(칠십 퍼센트) 넘을걸",  # the first side never closes
    "(70%)/칠십 퍼센트) 넘을걸",  # the second side never opens
    "(A)/(B)/(C) 가",  # three groups chained by slashes
    "(웃음)(2)/(두) 개",  # a group glued to a pair
    "()/(이십) 년",  # an empty side
    "(20년)/( ) 전",
    "70%)/(칠십 퍼센트) 넘을걸",  # the first side never opens
    "(A)(B 가",  # glued groups, the second never closed
    "(70%)//(칠십 퍼센트) 넘을걸",  # a doubled slash: two groups that form no pair, with no word between them
    "(70%) (칠십 퍼센트) 넘을걸",  # the slash lost
    "(TV)b/(티비) 봤어",  # a tag where the slash should be
    "(())/(이십) 년",  # a side that is empty once its own brackets resolve
    "(" * 3000 + "가" + ")" * 3000,  # nesting deeper than any transcript
]


@pytest.mark.parametrize(("raw", "spelling", "phonetic"), NOTATION_VARIANTS)
def test_notation_variants_resolve_like_the_canonical_form(raw, spelling, phonetic):
    assert normalize_transcript(raw, policy="spelling") == spelling
    assert normalize_transcript(raw, policy="phonetic") == phonetic


@pytest.mark.parametrize("raw", MALFORMED)
@pytest.mark.parametrize("policy", ["spelling", "phonetic"])
def test_unresolvable_notation_raises_naming_the_utterance(raw, policy):
    with pytest.raises(MalformedTranscriptError, match="KsponSpeech_000042"):
        normalize_transcript(raw, policy=policy, utterance_id="KsponSpeech_000042")


@pytest.mark.parametrize("policy", ["spelling", "phonetic"])
def test_unintelligible_tag_after_a_pair_follows_the_option_on_either_side(policy):
    raw = "(TV)/(티비)u/ 봐"
    side = "TV" if policy == "spelling" else "티비"
    assert normalize_transcript(raw, policy=policy) == f"{side} 봐"
    assert normalize_transcript(raw, policy=policy, unintelligible="token") == f"{side} {UNINTELLIGIBLE_TOKEN} 봐"
    with pytest.raises(UnintelligibleUtteranceError):
        normalize_transcript(raw, policy=policy, unintelligible="drop")


def test_tag_glued_to_punctuation_keeps_the_punctuation_attached():
    assert normalize_transcript("그래b/. 응b/?", keep_punctuation=True) == "그래. 응?"


def test_keep_punctuation():
    assert normalize_transcript("아/ 그래? 응. b/", keep_punctuation=True) == "아 그래? 응."


def test_unintelligible_modes():
    raw = "그게 u/ 뭐였지"
    assert normalize_transcript(raw) == "그게 뭐였지"
    assert normalize_transcript(raw, unintelligible="token") == f"그게 {UNINTELLIGIBLE_TOKEN} 뭐였지"
    with pytest.raises(UnintelligibleUtteranceError, match="KsponSpeech_000123"):
        normalize_transcript(raw, unintelligible="drop", utterance_id="KsponSpeech_000123")
    # "menu/" is a word with a filler slash; it must not trigger the drop.
    assert normalize_transcript("menu/ 주세요", unintelligible="drop") == "menu 주세요"


def test_bare_percent_is_read_in_phonetic_policy_only():
    assert normalize_transcript("성공률 50% 정도", policy="spelling") == "성공률 50% 정도"
    assert normalize_transcript("성공률 50% 정도", policy="phonetic") == "성공률 50퍼센트 정도"
    for file_id in ("KsponSpeech_501006", "KsponSpeech_502173.txt", "542363"):
        assert normalize_transcript("50% 정도", policy="phonetic", utterance_id=file_id) == "50프로 정도"
    assert normalize_transcript("50% 정도", policy="phonetic", utterance_id="KsponSpeech_000001") == "50퍼센트 정도"


def test_invalid_options_raise():
    with pytest.raises(ValueError, match="policy"):
        normalize_transcript("가", policy="both")
    with pytest.raises(ValueError, match="unintelligible"):
        normalize_transcript("가", unintelligible="keep")


NOTATION = set("/+*()[]")
KSPON_ALPHABET = st.sampled_from(
    list("가나다라마바사아자차카타파하있었는데요 ") + list("()/+*[].,?!%27AS") + ["b/", "u/", "n/", "l/", "o/", "club/"]
    + ["(20년)/(이십 년)", "(70%) / (칠십 퍼센트)", "((2)/(이) 시)/(두 시)", "(24/7)/(이십사 칠)", "갔거든b/"]
)
PAIRS = [("20년", "이십 년"), ("70%", "칠십 퍼센트"), ("24/7", "이십사 칠"), ("3G", "쓰리 쥐")]
CONNECTORS = ["/", " / ", "/ ", " /", ""]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(PAIRS), st.sampled_from(CONNECTORS), st.integers(1, 2)), min_size=1, max_size=4),
    st.sampled_from(["가", "나는", "b/", "어/", "club/"]),
)
def test_every_spelling_of_a_pair_resolves_to_its_side(pairs, filler):
    """A line of pairs written with any connector and bracket doubling gives the canonical line's sides."""
    written, spelling = [], []
    for (a, b), connector, depth in pairs:
        written.append(f"{'(' * depth}{a}{')' * depth}{connector}{'(' * depth}{b}{')' * depth} {filler}")
        spelling.append(f"({a})/({b}) {filler}")
    raw, canonical = " ".join(written), " ".join(spelling)
    for policy in ("spelling", "phonetic"):
        assert normalize_transcript(raw, policy=policy) == normalize_transcript(canonical, policy=policy)
    assert all(a in normalize_transcript(raw) for (a, _), _, _ in pairs)
kspon_like = st.lists(KSPON_ALPHABET, max_size=40).map("".join)


def _normalize_or_none(raw, **options):
    try:
        return normalize_transcript(raw, **options)
    except MalformedTranscriptError:
        return None


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), kspon_like), st.sampled_from(["spelling", "phonetic"]), st.booleans())
def test_output_has_no_notation_and_is_idempotent(raw, policy, keep_punctuation):
    once = _normalize_or_none(raw, policy=policy, keep_punctuation=keep_punctuation)
    if once is None:  # counted as malformed by the loaders
        return
    # the only slash left is text between two ASCII letters or digits (24/7, A/S)
    assert not NOTATION & set(re.sub(r"(?<=[0-9A-Za-z])/(?=[0-9A-Za-z])", "", once))
    assert once == once.strip()
    assert "  " not in once
    assert normalize_transcript(once, policy=policy, keep_punctuation=keep_punctuation) == once


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80), st.sampled_from(["remove", "token"]))
def test_arbitrary_unicode_never_crashes(raw, unintelligible):
    """Any input gives text or the one documented error for unresolvable notation."""
    result = _normalize_or_none(raw, unintelligible=unintelligible)
    assert result is None or isinstance(result, str)
    if "(" not in raw and ")" not in raw:
        assert result is not None  # only brackets can make a line ambiguous


def test_read_transcript_decodes_cp949(tmp_path):
    path = tmp_path / "KsponSpeech_000001.txt"
    path.write_bytes("아/ 몬 소리야, 그건 또. b/\n".encode("cp949"))
    assert read_transcript(path) == "아/ 몬 소리야, 그건 또. b/"


LINE = "아/ 몬 소리야, 그건 또. b/ (70%)/(칠십 퍼센트)"


@pytest.mark.parametrize(
    "encoded",
    [
        LINE.encode("cp949") + b"\n",  # the corpus' own encoding
        LINE.encode("utf-8") + b"\r\n",  # re-saved as UTF-8
        b"\xef\xbb\xbf" + LINE.encode("utf-8"),  # UTF-8 with a byte-order mark
    ],
    ids=["cp949", "utf-8", "utf-8-bom"],
)
def test_read_transcript_decodes_every_encoding_people_save(tmp_path, encoded):
    path = tmp_path / "KsponSpeech_000004.txt"
    path.write_bytes(encoded)
    assert read_transcript(path) == LINE


@pytest.mark.parametrize("word", ["징", "가", "힣", "똠", "쀍"])
def test_short_cp949_line_that_is_valid_utf8_by_chance_is_read_as_cp949(tmp_path, word):
    data = word.encode("cp949")
    path = tmp_path / "KsponSpeech_000005.txt"
    path.write_bytes(data)
    assert read_transcript(path) == word


def test_no_cp949_hangul_syllable_reads_as_anything_else(tmp_path):
    """Every KS X 1001 syllable alone in a file (the shortest, most ambiguous transcript) decodes to itself."""
    from ko_asr.text import decode_transcript, hangul

    for syllable in hangul.SYLLABLES:
        try:
            data = syllable.encode("cp949")
        except UnicodeEncodeError:
            continue
        assert decode_transcript(data, "x.txt") == syllable


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("안녕하세요 \ufffd\ufffd 반가워요", "U\\+FFFD"),  # decoded lossily, saved again
        ("안녕하세요 반가워요".encode("cp949").decode("latin-1"), "mojibake: CP949 bytes read as"),
        ("안녕하세요 반가워요".encode().decode("cp1252", errors="ignore"), "mojibake: UTF-8 bytes read as"),
    ],
    ids=["replacement-characters", "cp949-as-latin1", "utf8-as-cp1252"],
)
def test_mojibake_never_loads_as_text(tmp_path, text, reason):
    path = tmp_path / "KsponSpeech_000006.txt"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(TranscriptDecodeError, match=rf"KsponSpeech_000006\.txt: .*{reason}"):
        read_transcript(path)


def test_read_transcript_names_file_and_offset_of_bad_bytes(tmp_path):
    path = tmp_path / "KsponSpeech_000002.txt"
    good = "안녕".encode("cp949")
    path.write_bytes(good + b"\xff\xff")
    with pytest.raises(TranscriptDecodeError, match=rf"KsponSpeech_000002\.txt: neither UTF-8 nor CP949 \(byte offset {len(good)}"):
        read_transcript(path)


@pytest.mark.parametrize("text", ["café 가자", "café", "naïve", "wait…ok", "K-POP…"])
def test_utf8_latin_text_is_never_re_read_as_cp949_or_called_mojibake(text):
    from ko_asr.text import decode_transcript

    assert decode_transcript(text.encode("utf-8"), "x.txt") == text

