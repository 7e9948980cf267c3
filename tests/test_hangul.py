import unicodedata

import pytest

from ko_asr.text import hangul


def test_inventory_sizes():
    assert len(hangul.SYLLABLES) == 11_172
    assert len(hangul.JAMO) == 19 + 21 + 27
    assert len(set(hangul.JAMO)) == len(hangul.JAMO)
    assert len(hangul.COMPATIBILITY_JAMO) == 51


def test_every_syllable_round_trips_and_matches_unicode_nfd():
    for syllable in hangul.SYLLABLES:
        initial, medial, final = hangul.decompose_syllable(syllable)
        assert hangul.compose_syllable(initial, medial, final) == syllable
        jamo = initial + medial + (final or "")
        assert unicodedata.normalize("NFD", syllable) == jamo
        assert hangul.decompose(syllable) == jamo
        assert hangul.compose(jamo) == syllable


def test_whole_inventory_as_one_stream_round_trips():
    text = "".join(hangul.SYLLABLES)
    assert hangul.compose(hangul.decompose(text)) == text


def test_decompose_and_compose_leave_other_text_alone():
    text = "K-POP 3G 70% AT&T 있었으면 좋겠어!"
    assert hangul.compose(hangul.decompose(text)) == text
    assert hangul.decompose("abc 123") == "abc 123"


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ("\u1161", "ㅏ"),  # orphan medial
        ("\u11a8", "ㄱ"),  # orphan final
        ("\u1100", "ㄱ"),  # initial with no medial
        ("\u1100\u1100\u1161", "ㄱ가"),  # first initial is orphaned, second joins
        ("\u1100\u1161\u11a8\u11a8", "각ㄱ"),  # second final has no syllable
        ("\u1161\u11a8", "ㅏㄱ"),
        ("가\u1161", "가ㅏ"),
        ("", ""),
    ],
)
def test_compose_keeps_orphans_as_compatibility_jamo(stream, expected):
    assert hangul.compose(stream) == expected


def test_compose_spans_report_source_indices():
    spans = hangul.compose_spans(["\u1100", "\u1161", "\u11a8", " ", "<unk>", "\u1161"])
    assert spans == [("각", 0, 2), (" ", 3, 3), ("<unk>", 4, 4), ("ㅏ", 5, 5)]


def test_compatibility_jamo_decompose_to_positional_jamo():
    assert hangul.decompose("ㅋㅋ") == "\u110f\u110f"
    assert hangul.compose(hangul.decompose("ㅋㅋ ㅠㅠ")) == "ㅋㅋ ㅠㅠ"
    assert hangul.decompose("ㄳ") == "\u11aa"  # exists only as a final


def test_invalid_single_syllable_arguments_raise():
    with pytest.raises(ValueError, match="not a precomposed"):
        hangul.decompose_syllable("a")
    with pytest.raises(ValueError, match="misplaced"):
        hangul.compose_syllable("\u1161", "\u1161")
