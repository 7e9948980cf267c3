import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ko_asr.text import (
    UNINTELLIGIBLE_TOKEN,
    TranscriptDecodeError,
    UnintelligibleUtteranceError,
    normalize_transcript,
    read_transcript,
)

# Every example row of the corpus notes (shared/ksponspeech/FORMAT.md): raw, spelling, phonetic.
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
        ("((3G)/(쓰리 쥐)) 폰", "3G 폰"),
        ("(20년)/(이십 년 전에", "20년이십 년 전에"),  # second group never closed: no pair, nothing lost
        ("[웃음] 좋아", "웃음 좋아"),
        ("AT&T K-POP C# 3.5 1,000원 70%", "AT&T K-POP C# 3.5 1,000원 70%"),
        ("끝.   시작,끝", "끝 시작 끝"),
        ("Latin Case Kept", "Latin Case Kept"),
        ("b/ l/ n/", ""),
    ],
)
def test_parser_edge_cases(raw, expected):
    assert normalize_transcript(raw) == expected


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
    list("가나다라마바사아자차카타파하있었는데요 ") + list("()/+*[].,?!%") + ["b/", "u/", "n/", "l/", "o/", "club/", "(20년)/(이십 년)"]
)
kspon_like = st.lists(KSPON_ALPHABET, max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), kspon_like), st.sampled_from(["spelling", "phonetic"]), st.booleans())
def test_output_has_no_notation_and_is_idempotent(raw, policy, keep_punctuation):
    once = normalize_transcript(raw, policy=policy, keep_punctuation=keep_punctuation)
    assert not NOTATION & set(once)
    assert once == once.strip()
    assert "  " not in once
    assert normalize_transcript(once, policy=policy, keep_punctuation=keep_punctuation) == once


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80), st.sampled_from(["remove", "token"]))
def test_arbitrary_unicode_never_crashes(raw, unintelligible):
    assert isinstance(normalize_transcript(raw, unintelligible=unintelligible), str)


def test_read_transcript_decodes_cp949(tmp_path):
    path = tmp_path / "KsponSpeech_000001.txt"
    path.write_bytes("아/ 몬 소리야, 그건 또. b/\n".encode("cp949"))
    assert read_transcript(path) == "아/ 몬 소리야, 그건 또. b/"


def test_read_transcript_names_file_and_offset_of_bad_bytes(tmp_path):
    path = tmp_path / "KsponSpeech_000002.txt"
    good = "안녕".encode("cp949")
    path.write_bytes(good + b"\xff\xff")
    with pytest.raises(TranscriptDecodeError, match=rf"KsponSpeech_000002\.txt: byte offset {len(good)} "):
        read_transcript(path)


def test_read_transcript_refuses_utf8_text_with_a_clear_error(tmp_path):
    path = tmp_path / "KsponSpeech_000003.txt"
    path.write_bytes("안녕하세요".encode())
    with pytest.raises(TranscriptDecodeError, match="KsponSpeech_000003.txt"):
        read_transcript(path)
