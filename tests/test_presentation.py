"""What the demo shows, as pure functions: a hand-checked explanation, hostile text and untrusted labels."""

from __future__ import annotations

import math
import re

import pytest

from textcnn import presentation as p
from textcnn.facts import ModelFacts, model_facts
from textcnn.pipeline import Explanation, FilterEvidence, Prediction

NAMES = p.ClassNames("negative", "positive")


@pytest.fixture
def hand_checked() -> Explanation:
    """"not bad at all": bias 0.5, filter 0 ("not bad") +1.5, filter 1 ("bad at all") -0.5, filter 2 silent.

    score = 0.5 + 1.5 - 0.5 = 1.5, so P(positive) = σ(1.5) = 0.8176. Token scores spread each filter's
    term over its n-gram: not = 1.5/2 = 0.75; bad = 0.75 - 0.5/3 = 0.5833; at = all = -0.5/3 = -0.1667
    (sum 1.0 = score - bias).
    """
    p_pos = 1 / (1 + math.exp(-1.5))
    return Explanation(
        prediction=Prediction("pos", {"neg": 1 - p_pos, "pos": p_pos}, num_tokens=4, truncated=False),
        tokens=["not", "bad", "at", "all"],
        token_scores=[0.75, 0.75 - 0.5 / 3, -0.5 / 3, -0.5 / 3],
        filters=[
            FilterEvidence(0, 2, 1.0, 0, "not bad", 1.5),
            FilterEvidence(1, 3, 0.5, 1, "bad at all", -0.5),
            FilterEvidence(2, 3, 0.0, 0, "not bad at", 0.0),
        ],
        bias=0.5,
        score=1.5,
        labels=("neg", "pos"),
    )


def test_verdict_in_plain_words(hand_checked):
    v = p.verdict(hand_checked, NAMES)
    assert v.headline == "Positive — 82% confident"
    assert v.label == "positive" and v.positive and v.confidence == pytest.approx(0.8176, abs=1e-4)
    assert list(v.probabilities) == ["positive", "negative"]
    assert sum(v.probabilities.values()) == pytest.approx(1.0)


def test_percent_never_rounds_doubt_away():
    assert [p.percent(x) for x in (0.82, 0.5, 1.0, 0.0)] == ["82%", "50%", "100%", "0%"]
    assert p.percent(0.9996) == "99.9%" and p.percent(0.0004) == "0.1%" and p.percent(0.995) == "99.5%"


def test_strongest_words_each_way_strongest_first(hand_checked):
    words = p.strongest_words(hand_checked)
    assert [w.token for w in words.positive] == ["not", "bad"]
    assert [w.token for w in words.negative] == ["at", "all"]  # a tie keeps the text's order
    assert words.positive[0].score == pytest.approx(0.75)
    assert len(p.strongest_words(hand_checked, limit=1).positive) == 1


def test_a_repeated_word_is_named_once(hand_checked):
    hand_checked.tokens = ["bad", "bad", "at", "all"]
    hand_checked.token_scores = [-0.2, -0.9, 0.1, 0.0]
    words = p.strongest_words(hand_checked)
    assert [(w.token, w.position) for w in words.negative] == [("bad", 1)]


def test_token_colours_hand_checked(hand_checked):
    # largest |score| 0.75: not 0.75 -> 3/3; bad 0.583 -> ceil(2.33) = 3; at, all 0.167 -> ceil(0.67) = 1
    assert p.token_spans(hand_checked) == [
        ("not", "pos-3"), (" ", None), ("bad", "pos-3"), (" ", None), ("at", "neg-1"), (" ", None), ("all", "neg-1"),
    ]
    assert p.token_spans(hand_checked, removed={1})[2] == ("bad", p.REMOVED)
    assert set(p.token_colours()) == {"pos-1", "pos-2", "pos-3", "neg-1", "neg-2", "neg-3", p.REMOVED}


def test_token_colours_use_the_same_scale_both_ways():
    largest = 2.0
    for score in (0.1, 0.7, 1.4, 2.0):
        up, down = p.token_level(score, largest), p.token_level(-score, largest)
        assert up.startswith("pos-") and down.startswith("neg-") and up[-1] == down[-1]
    assert p.token_level(0.0, largest) is None and p.token_level(1.0, 0.0) is None
    assert p.token_level(2.0, largest) == "pos-3" and p.token_level(0.1, largest) == "pos-1"


def test_token_index_maps_spans_back_to_tokens():
    assert [p.token_index(i, 4) for i in range(9)] == [0, None, 1, None, 2, None, 3, None, None]
    assert p.token_index(-2, 4) is None


def test_arithmetic_hand_checked(hand_checked):
    a = p.arithmetic(hand_checked)
    assert (a.bias, a.filters_total, a.score, a.firing, a.num_filters) == (0.5, 1.0, 1.5, 2, 3)
    assert a.largest_token == pytest.approx(0.75) and a.p_positive == pytest.approx(0.8176, abs=1e-4)
    shown = p.arithmetic_html(a, NAMES)
    assert "bias <b>+0.500</b>" in shown and "<b>+1.000</b>" in shown and "= <b>+1.500</b>" in shown
    assert "σ(+1.500) = 0.818" in shown


def test_chart_bars_strongest_first_whichever_direction(hand_checked):
    hand_checked.filters[1].contribution = -2.0  # now the strongest, and negative
    bars = p.chart_bars(hand_checked)
    assert [(b.filter, b.positive) for b in bars] == [(1, False), (0, True)]  # the silent filter is left out
    assert [b.fraction for b in bars] == [1.0, 0.75]
    assert bars[0].label == "#1 bad at all"
    html = p.chart_html(bars, NAMES)
    assert html.index("#1 bad at all") < html.index("#0 not bad")
    # negative bars grow left of the middle line, positive ones right
    rows = re.findall(r'<div class="bar-row".*?</div>', html)
    assert 'bar-left"><span class="bar-fill' in rows[0] and 'bar-right"><span class="bar-fill' in rows[1]
    assert p.chart_html([], NAMES).count("No filter fired") == 1


def test_filter_table_puts_filter_and_contribution_first(hand_checked):
    table = p.filter_table(hand_checked)
    assert table.columns[:2] == ["filter", "contribution"]
    assert table.rows == [[0, 1.5, "not bad", 2, 1.0], [1, -0.5, "bad at all", 3, 0.5],
                          [2, 0.0, "(did not fire)", 3, 0.0]]
    assert p.filter_table(hand_checked, limit=1).rows == table.rows[:1]
    assert len(table.datatypes) == len(table.columns)


def test_what_if_hand_checked():
    w = p.what_if(["not", "bad", "at", "all"], [0], [0.0, -1.0], 1.5, NAMES)
    assert w.removed == ["not"] and w.score == -1.0 and w.label == "negative"
    assert w.probabilities["positive"] == pytest.approx(1 / (1 + math.e))
    html = p.what_if_html(w, NAMES)
    assert "Without <b>not</b>" in html and "-1.000, was +1.500" in html and "73% confident" in html
    nothing = p.what_if(["bad"], [0], None, 1.5, NAMES)
    assert nothing.probabilities is None and "no token is left" in p.what_if_html(nothing, NAMES)
    assert "Click a word" in p.what_if_html(None, NAMES)


def test_invisible_characters_are_written_as_escapes():
    assert p.visible("evil\u202etxt") == "evil\\u202etxt"
    assert p.visible("a\x00b") == "a\\u0000b"
    assert p.visible("gr\u200beat\ufeff") == "gr\\u200beat\\ufeff"  # zero-width space, byte-order mark
    assert p.visible("a\u00a0b\u3164c\u2060") == "a\\u00a0b\\u3164c\\u2060"
    assert p.visible("x\U000f0000") == "x\\U000f0000"  # private use
    assert p.visible("a\u200db") == "a\\u200db"  # a joiner between letters draws nothing
    # what is visible stays as it is: emoji sequences with their joiners, accents, other scripts
    assert p.visible("👨‍👩‍👧 🏳️‍🌈 café هذا Z̴͓̈") == "👨‍👩‍👧 🏳️‍🌈 café هذا Z̴͓̈"


def test_html_text_shows_characters_never_markup():
    assert p.html_text('<img src=x onerror="alert(1)">') == "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    assert p.html_text("${alert(1)} {{x}} `y`") == "&#36;&#123;alert(1)&#125; &#123;&#123;x&#125;&#125; &#96;y&#96;"
    assert p.html_text("a\u200bb") == "a&#92;u200bb"


HOSTILE_NAMES = p.ClassNames('<img src=x onerror="alert(1)">', "[click](https://example.com) ${x}")


def test_labels_from_a_model_folder_are_text_everywhere(hand_checked):
    v = p.verdict(hand_checked, HOSTILE_NAMES)
    a = p.arithmetic(hand_checked)
    view = p.filter_view(0, 2, -0.5, [{"ngram": "<b>x</b>", "activation": 1.0}], HOSTILE_NAMES)
    w = p.what_if(hand_checked.tokens, [0], [1.0, 0.0], 1.5, HOSTILE_NAMES)
    shown = "".join([
        p.verdict_html(v, p.strongest_words(hand_checked), HOSTILE_NAMES, 100),
        p.arithmetic_html(a, HOSTILE_NAMES),
        p.legend_html(HOSTILE_NAMES),
        p.chart_html(p.chart_bars(hand_checked), HOSTILE_NAMES),
        p.filter_view_html(view),
        p.what_if_html(w, HOSTILE_NAMES),
    ])
    assert "<img" not in shown and "${" not in shown and "&lt;img" in shown
    assert "](https" in shown  # markdown syntax stays characters: these panels are HTML, not Markdown
    assert view.direction == HOSTILE_NAMES.negative and view.ngrams.rows[0][0] == "<b>x</b>"  # tables show text


def test_class_names():
    assert p.class_names(["neg", "pos"]) == NAMES
    assert p.class_names(("bad", "good")) == p.ClassNames("bad", "good")
    assert p.class_names(["neg", "negative"]) == p.ClassNames("neg", "negative")  # never two of the same name
    assert NAMES.of(True) == "positive" and NAMES.of(False) == "negative"


def test_legend_order_is_fixed():
    legend = p.legend_html(NAMES)
    order = [legend.index(f"{name}, {level}") for name, level in
             [("positive", "strong"), ("positive", "medium"), ("positive", "weak"),
              ("negative", "weak"), ("negative", "medium"), ("negative", "strong")]]
    assert order == sorted(order)


def test_filter_choices_and_view():
    choices = p.filter_choices([3, 3, 4], [0.5, -0.25, 0.0], NAMES)
    assert choices[0] == ("#0 · 3-grams · pushes positive (+0.50)", 0)
    assert choices[1][0].startswith("#1 · 3-grams · pushes negative") and choices[2][1] == 2
    view = p.filter_view(5, 4, 0.3, None, NAMES)
    assert view.ngrams is None and "without its training-set n-grams" in p.filter_view_html(view)
    assert "look unrelated" in p.filter_view_html(p.filter_view(5, 4, 0.3, [], NAMES))
    assert "Pick a filter" in p.filter_view_html(None)


def test_model_facts_read_what_is_there_and_ignore_what_is_malformed():
    metrics = {"test_accuracy": 0.917, "examples": {"test": 25000},
               "short_sentences": {"yelp": 0.805, "amazon": 0.816, "examples": 2000}}
    facts = model_facts(metrics)
    assert facts == ModelFacts(0.917, 25000, 0.805, 0.816, 2000)
    text = p.facts_text(facts, [3, 4, 5])
    assert "91.7% of 25,000 IMDb test reviews" in text and "80.5% (Yelp)" in text and "81.6% (Amazon)" in text
    assert "sarcasm" in text and "at most 5 tokens" in text and "negations" in text  # unmeasured: the general limits
    for bad in ("0.9", float("nan"), 1.5, -0.1, True, None, [0.9]):
        assert model_facts({"test_accuracy": bad, "short_sentences": {"yelp": bad}}).test_accuracy is None
        assert model_facts({"behavior": {"pass_rates": {"contrast": bad}}}).pass_rates == ()
    assert model_facts(None) == model_facts("not a dict") == ModelFacts(None, None, None, None, None)
    assert model_facts({"behavior": "x"}).pass_rates == model_facts({"behavior": {"pass_rates": [1]}}).pass_rates == ()
    assert "No test accuracy" in p.facts_text(model_facts({}), [3])


def test_measured_capabilities_are_named_as_strengths_or_limits():
    rates = {"contrast": 0.46, "negation: negative adjectives": 0.333, "negation: positive adjectives": 0.95,
             "<b>made up</b>": 0.1}
    facts = model_facts({"behavior": {"pass_rates": rates}})
    assert [name for name, _ in facts.pass_rates] == ["negation: positive adjectives", "negation: negative adjectives",
                                                      "contrast"]  # the page's order; unknown names dropped
    text = p.facts_text(facts, [3, 4, 5])
    assert 'it reads negated praise ("not great": 95% right).' in text
    assert ('Known limits: negated criticism ("not bad": 33% right) and contrasts ("slow at first, but worth it": '
            '46%) often fool it, as do sarcasm and irony;') in text
    assert "made up" not in text
    one_weak = model_facts({"behavior": {"pass_rates": {"negation: positive verbs": 0.75, "contrast": 0.9}}})
    assert 'Known limits: negated liking ("didn\'t enjoy": 75% right) often fools it, as do sarcasm and irony;' in \
        p.facts_text(one_weak, [3])
    strong = model_facts({"behavior": {"pass_rates": {name: 0.9 for name in p.CAPABILITY_WORDS}}})
    assert "Known limits: sarcasm and irony fool it;" in p.facts_text(strong, [3])


def test_message_replaces_the_verdict():
    shown = p.message_html("The review is empty: type some text.")
    assert "The review is empty" in shown and "meter" not in shown
