import unicodedata

import evaluate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ko_asr.metrics import (
    EVALUATE_MODULE,
    cer,
    cer_with_spaces,
    compute_metrics,
    respace_to_reference,
    swer,
    wer,
)


def test_hand_computed_rates():
    references = ["나는 학교에 간다", "오늘 날씨 좋다"]
    hypotheses = ["나는학교에 간다", "오늘 날시 좋다 정말"]
    # cer, spaces removed: 나는학교에간다 (7) exact; 오늘날씨좋다 (6) vs 오늘날시좋다정말: 1 sub + 2 ins -> 3 / 13
    assert cer(references, hypotheses) == pytest.approx(3 / 13)
    # with spaces: "나는 학교에 간다" (9) vs "나는학교에 간다": 1 deletion; "오늘 날씨 좋다" (8) vs "오늘 날시 좋다 정말":
    # 1 substitution + 3 insertions (" 정말") -> 5 / 17
    assert cer_with_spaces(references, hypotheses) == pytest.approx(5 / 17)
    # words: [나는 학교에 간다] vs [나는학교에 간다]: 1 sub + 1 del; [오늘 날씨 좋다] vs [오늘 날시 좋다 정말]: 1 sub + 1 ins
    assert wer(references, hypotheses) == pytest.approx(4 / 6)
    # sWER re-spaces "나는학교에" to "나는 학교에": only the second sentence's 2 errors remain
    assert swer(references, hypotheses) == pytest.approx(2 / 6)


def test_respacing_follows_the_reference():
    assert respace_to_reference("나는 학교에 간다", "나는학교에간다") == "나는 학교에 간다"
    assert respace_to_reference("그럼 이십 년 전", "그럼이 십년전") == "그럼 이십 년 전"
    assert respace_to_reference("가 나", "가다나") == "가다 나"  # an inserted character joins the word before it
    assert respace_to_reference("가나", "") == ""


def test_empty_hypotheses_and_references():
    assert cer(["가나다"], [""]) == 1.0
    assert wer(["가 나", ""], ["가 나", "다 라"]) == pytest.approx(2 / 2)
    with pytest.raises(ValueError, match="empty"):
        cer([""], ["가"])
    with pytest.raises(ValueError, match="hypotheses"):
        cer(["가"], [])


def test_evaluate_module_loads_offline_and_agrees():
    metric = evaluate.load(EVALUATE_MODULE)
    references, hypotheses = ["나는 학교에 간다", "오늘 날씨 좋다"], ["나는학교에 간다", "오늘 날시 좋다 정말"]
    assert metric.compute(predictions=hypotheses, references=references) == pytest.approx(
        compute_metrics(references, hypotheses)
    )


def nfd(texts):
    return [unicodedata.normalize("NFD", t) for t in texts]


@pytest.mark.parametrize("metric", [cer, cer_with_spaces, wer, swer])
def test_decomposed_spelling_is_not_an_error(metric):
    references = ["나는 학교에 간다", "오늘 날씨 좋다"]
    assert nfd(references) != references
    assert metric(references, nfd(references)) == 0.0
    assert metric(nfd(references), references) == 0.0
    hypotheses = ["나는학교에 간다", "오늘 날시 좋다 정말"]
    expected = metric(references, hypotheses)
    assert expected > 0
    assert metric(nfd(references), nfd(hypotheses)) == metric(references, nfd(hypotheses)) == expected


def test_respacing_decomposed_text_gives_composed_text():
    expected = "나는 학교에 간다"
    assert respace_to_reference(*nfd(["나는 학교에 간다", "나는학교에간다"])) == expected
    assert respace_to_reference("나는 학교에 간다", *nfd(["나는학교에간다"])) == expected


korean_text = st.lists(
    st.one_of(st.integers(0xAC00, 0xD7A3).map(chr), st.sampled_from([" ", " ", "ㅋ", "A", "é"])), max_size=16
).map("".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(korean_text.filter(str.strip), korean_text), min_size=1, max_size=4))
def test_every_metric_is_the_same_for_canonically_equivalent_text(pairs):
    references, hypotheses = map(list, zip(*pairs))
    expected = compute_metrics(references, hypotheses)
    assert compute_metrics(nfd(references), nfd(hypotheses)) == expected
    assert compute_metrics(references, nfd(hypotheses)) == expected
    assert compute_metrics(nfd(references), hypotheses) == expected
    for reference, hypothesis in pairs:
        respaced = respace_to_reference(reference, hypothesis)
        assert respace_to_reference(*nfd([reference, hypothesis])) == respaced


def test_evaluate_module_scores_decomposed_text_like_composed_text():
    metric = evaluate.load(EVALUATE_MODULE)
    references = ["나는 학교에 간다", "오늘 날씨 좋다"]
    hypotheses = ["나는학교에 간다", "오늘 날시 좋다 정말"]
    expected = compute_metrics(references, hypotheses)
    assert metric.compute(predictions=nfd(hypotheses), references=references) == pytest.approx(expected)
    assert metric.compute(predictions=hypotheses, references=nfd(references)) == pytest.approx(expected)
    assert metric.compute(predictions=nfd(references), references=references) == dict.fromkeys(expected, 0.0)
