"""What the demo shows for an explanation: plain words first, then the exact arithmetic.

Pure functions of an :class:`~textcnn.pipeline.Explanation` (and of the model's class names, the
figures :mod:`textcnn.facts` reads from its metrics, and its filter n-grams), returning named
results; the Gradio app only wires them to components.

Everything that came from outside the code (the visitor's text, and the labels, n-grams and metrics
of a model folder, which may be anyone's) is rendered as text: characters that are invisible or
reorder the display are written as escapes (:func:`visible`), and whatever goes into HTML is escaped
(:func:`html_text`), so a label like ``<img src=…>`` or ``[link](…)`` shows as those characters.
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from textcnn.facts import CAPABILITY_WORDS, ModelFacts

if TYPE_CHECKING:  # for annotations only: this module needs neither torch nor a model
    from textcnn.pipeline import Explanation

# Colours (ColorBrewer RdBu, colour-blind safe): blue pushes positive, red pushes negative; one
# scale for the tokens, the bars, the probabilities and the legends, weakest to strongest.
POSITIVE_COLOURS = ("#d1e5f0", "#67a9cf", "#2166ac")
NEGATIVE_COLOURS = ("#fddbc7", "#ef8a62", "#b2182b")
REMOVED_COLOUR = "#d9d9d9"
LEVELS = ("weak", "medium", "strong")  # thirds of the largest |token score|, the same both ways
REMOVED = "removed"  # the token category of a word taken out in a what-if
DISPLAY_NAMES = {"neg": "negative", "pos": "positive"}  # the model's labels, as the page shows them
CHART_FILTERS = 15  # bars in the chart
TABLE_FILTERS = 20  # rows of the filter table sent with each analysis; the rest on demand
STRONGEST_WORDS = 4  # words named in the verdict, per direction

# invisible characters, and characters that reorder the display (bidirectional controls); the
# zero-width joiner is kept inside emoji sequences (👨‍👩‍👧), where it is what draws one glyph
_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_INVISIBLE = {"\u034f", "\u115f", "\u1160", "\u17b4", "\u17b5", "\u180e", "\u3164", "\uffa0"}
_ZWJ = "\u200d"
# characters that HTML templates (JS template literals, Handlebars) would read as syntax
_TEMPLATE_SYNTAX = {"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;", "\\": "&#92;"}


# --- text ------------------------------------------------------------------------------------------
def _joins_emoji(text: str, i: int) -> bool:
    """True when the zero-width joiner at ``i`` sits between two emoji (or an emoji and its modifiers)."""
    def emoji(c: str) -> bool:
        return unicodedata.category(c) in {"So", "Sk"} or c == "\ufe0f"

    return 0 < i < len(text) - 1 and emoji(text[i - 1]) and emoji(text[i + 1])


def visible(text: str) -> str:
    """``text`` with invisible and display-reordering characters written as ``\\uXXXX`` escapes.

    Controls, format characters (zero-width space, bidirectional overrides, soft hyphen...),
    separators other than the plain space, unassigned and private-use code points, and the
    blank-looking fillers are escaped; letters, marks and emoji (with their joiners) are kept.
    """
    out = []
    for i, c in enumerate(text):
        category = unicodedata.category(c)
        invisible = (
            category in _INVISIBLE_CATEGORIES
            or (category == "Zs" and c != " ")
            or c in _INVISIBLE
        )
        if invisible and not (c == _ZWJ and _joins_emoji(text, i)):
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return "".join(out)


def html_text(text: str) -> str:
    """``text`` as HTML that displays exactly its (visible) characters: no markup, no template syntax."""
    escaped = html.escape(visible(text), quote=True)
    return "".join(_TEMPLATE_SYNTAX.get(c, c) for c in escaped)


def short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- class names -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassNames:
    """The two classes as the page and the API name them (``neg``/``pos`` become negative/positive)."""

    negative: str
    positive: str

    def of(self, positive: bool) -> str:
        return self.positive if positive else self.negative


def class_names(labels: Sequence[str]) -> ClassNames:
    """Display names of the model's two labels (negative first, in logit order)."""
    negative, positive = (str(label) for label in labels)
    shown = ClassNames(DISPLAY_NAMES.get(negative, negative), DISPLAY_NAMES.get(positive, positive))
    # two labels that the mapping would merge ("neg" and "negative") keep their own names
    return shown if shown.negative != shown.positive else ClassNames(negative, positive)


# --- the verdict ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The prediction in plain words: "Positive — 82% confident"."""

    label: str  # the predicted class, as shown
    positive: bool
    confidence: float  # probability of the predicted class
    probabilities: dict[str, float]  # class name -> probability, positive first
    headline: str
    truncated: bool
    num_tokens: int


def verdict(explanation: Explanation, names: ClassNames) -> Verdict:
    negative, positive = explanation.labels
    p_positive = explanation.prediction.probabilities[positive]
    is_positive = explanation.prediction.label == positive
    confidence = p_positive if is_positive else explanation.prediction.probabilities[negative]
    label = names.of(is_positive)
    return Verdict(
        label=label,
        positive=is_positive,
        confidence=confidence,
        probabilities={names.positive: p_positive, names.negative: explanation.prediction.probabilities[negative]},
        headline=f"{label[:1].upper()}{label[1:]} — {percent(confidence)} confident",
        truncated=explanation.prediction.truncated,
        num_tokens=explanation.prediction.num_tokens,
    )


def percent(probability: float) -> str:
    """A probability as a percentage that never rounds a doubt away (99.96% is "99.9%", not "100%")."""
    value = probability * 100
    if 99 < value < 100:
        return f"{math.floor(value * 10) / 10:.1f}%"
    if 0 < value < 1:
        return f"{max(math.ceil(value * 10) / 10, 0.1):.1f}%"
    return f"{value:.0f}%"


@dataclass(frozen=True)
class Word:
    """A token of the text and its share of the decision score (positive: towards the positive class)."""

    token: str  # as shown (visible)
    score: float
    position: int  # index of its strongest occurrence


@dataclass(frozen=True)
class StrongestWords:
    positive: list[Word]  # strongest first
    negative: list[Word]  # strongest (most negative) first


def strongest_words(explanation: Explanation, limit: int = STRONGEST_WORDS) -> StrongestWords:
    """The tokens that pushed hardest each way, each distinct token once (its strongest occurrence)."""
    best: dict[tuple[str, bool], Word] = {}
    for position, (token, score) in enumerate(zip(explanation.tokens, explanation.token_scores)):
        if score == 0:
            continue
        key = (token, score > 0)
        if key not in best or abs(score) > abs(best[key].score):
            best[key] = Word(visible(token), score, position)
    ranked = sorted(best.values(), key=lambda w: (-abs(w.score), w.position))
    return StrongestWords(
        positive=[w for w in ranked if w.score > 0][:limit],
        negative=[w for w in ranked if w.score < 0][:limit],
    )


# --- tokens --------------------------------------------------------------------------------------
class TokenSpan(NamedTuple):
    """One piece of gr.HighlightedText: text and its colour category (None: uncoloured)."""

    text: str
    category: str | None


def token_level(score: float, largest: float) -> str | None:
    """Colour category of a token score (``pos-1`` .. ``pos-3``, ``neg-1`` .. ``neg-3``); the same
    thresholds in both directions keep the colours honest."""
    if score == 0 or largest == 0:
        return None  # in no filter's winning n-gram (or filters that did not fire): no push at all
    level = min(len(LEVELS), math.ceil(len(LEVELS) * abs(score) / largest))
    return f"{'pos' if score > 0 else 'neg'}-{level}"


def token_colours() -> dict[str, str]:
    """Category -> colour for :func:`token_spans`."""
    colours = {f"pos-{i + 1}": c for i, c in enumerate(POSITIVE_COLOURS)}
    colours |= {f"neg-{i + 1}": c for i, c in enumerate(NEGATIVE_COLOURS)}
    return colours | {REMOVED: REMOVED_COLOUR}


def token_spans(explanation: Explanation, removed: frozenset[int] | set[int] = frozenset()) -> list[TokenSpan]:
    """The tokens as the model read them, coloured by score, separated by spaces.

    Token ``i`` is span ``2 * i`` (the spaces between are spans too); tokens in ``removed`` are
    shown greyed out.
    """
    largest = max((abs(s) for s in explanation.token_scores), default=0.0)
    spans: list[TokenSpan] = []
    for i, (token, score) in enumerate(zip(explanation.tokens, explanation.token_scores)):
        if spans:
            spans.append(TokenSpan(" ", None))
        spans.append(TokenSpan(visible(token), REMOVED if i in removed else token_level(score, largest)))
    return spans


def token_index(span_index: int, num_tokens: int) -> int | None:
    """The token behind span ``span_index`` of :func:`token_spans` (None for a space or out of range)."""
    if span_index % 2 or not 0 <= span_index // 2 < num_tokens:
        return None
    return span_index // 2


# --- the arithmetic ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Arithmetic:
    """score = logit(positive) − logit(negative) = bias + the filters' contributions."""

    bias: float
    filters_total: float
    score: float
    p_positive: float
    num_filters: int
    firing: int  # filters with a nonzero activation
    largest_token: float  # the colour scale's full strength
    num_tokens: int


def arithmetic(explanation: Explanation) -> Arithmetic:
    return Arithmetic(
        bias=explanation.bias,
        filters_total=sum(f.contribution for f in explanation.filters),
        score=explanation.score,
        p_positive=explanation.prediction.probabilities[explanation.labels[1]],
        num_filters=len(explanation.filters),
        firing=sum(1 for f in explanation.filters if f.activation > 0),
        largest_token=max((abs(s) for s in explanation.token_scores), default=0.0),
        num_tokens=explanation.prediction.num_tokens,
    )


# --- filters: chart and table ----------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    """One bar of the filter chart."""

    filter: int
    label: str  # "#12 not bad at" (visible, shortened)
    contribution: float
    positive: bool
    fraction: float  # |contribution| relative to the largest bar, 0..1


def chart_bars(explanation: Explanation, limit: int = CHART_FILTERS) -> list[Bar]:
    """The ``limit`` filters with the largest |contribution|, strongest first whichever their direction."""
    fired = [f for f in explanation.filters if f.contribution != 0]
    strongest = sorted(fired, key=lambda f: -abs(f.contribution))[:limit]
    largest = max((abs(f.contribution) for f in strongest), default=0.0)
    return [
        Bar(f.filter, short(f"#{f.filter} {visible(f.ngram)}"), f.contribution, f.contribution > 0,
            abs(f.contribution) / largest if largest else 0.0)
        for f in strongest
    ]


@dataclass(frozen=True)
class Table:
    """Rows for a gr.Dataframe, with their column names and types."""

    columns: list[str]
    datatypes: list[str]
    rows: list[list]


# filter and contribution first, so that both stay visible on a narrow screen
FILTER_COLUMNS = ["filter", "contribution", "n-gram in the text", "width", "activation"]
FILTER_DATATYPES = ["number", "number", "str", "number", "number"]
NGRAM_COLUMNS = ["n-gram in IMDb train", "activation"]


def filter_table(explanation: Explanation, limit: int | None = TABLE_FILTERS) -> Table:
    """Filters by |contribution|, strongest first: the first ``limit`` (None: every filter)."""
    ranked = sorted(explanation.filters, key=lambda f: -abs(f.contribution))
    rows = [
        [f.filter, round(f.contribution, 4), visible(f.ngram) if f.activation > 0 else "(did not fire)",
         f.width, round(f.activation, 4)]
        for f in (ranked if limit is None else ranked[:limit])
    ]
    return Table(FILTER_COLUMNS, FILTER_DATATYPES, rows)


def empty_filter_table() -> Table:
    return Table(FILTER_COLUMNS, FILTER_DATATYPES, [])


@dataclass(frozen=True)
class FilterView:
    """What one filter has learned: its width, direction and top training n-grams."""

    filter: int
    width: int
    weight: float  # what one unit of activation adds to the decision score
    direction: str  # the class it pushes towards
    ngrams: Table | None  # None: the model folder has no filter_ngrams.json


def filter_view(filter_index: int, width: int, weight: float, ngrams: list[dict] | None,
                names: ClassNames) -> FilterView:
    table = None
    if ngrams is not None:
        table = Table(NGRAM_COLUMNS, ["str", "number"],
                      [[visible(str(entry["ngram"])), entry["activation"]] for entry in ngrams])
    return FilterView(filter_index, width, weight, names.of(weight > 0), table)


def filter_choices(widths: Sequence[int], weights: Sequence[float], names: ClassNames) -> list[tuple[str, int]]:
    """Dropdown entries, one per filter: "#12 · 3-grams · pushes positive (+0.12)"."""
    return [(f"#{i} · {width}-grams · pushes {visible(names.of(weight > 0))} ({weight:+.2f})", i)
            for i, (width, weight) in enumerate(zip(widths, weights))]


# --- what if -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WhatIf:
    """The prediction once some tokens are taken out, next to the original."""

    removed: list[str]  # the removed tokens, in text order, as shown
    probabilities: dict[str, float] | None  # class name -> probability, positive first; None: nothing left
    score: float | None
    original_score: float
    label: str | None


def what_if(tokens: Sequence[str], removed: Sequence[int], logits: Sequence[float] | None,
            original_score: float, names: ClassNames) -> WhatIf:
    """``logits``: (negative, positive) of the text without the ``removed`` tokens (None: no token left)."""
    shown = [visible(tokens[i]) for i in sorted(removed)]
    if logits is None:
        return WhatIf(shown, None, None, original_score, None)
    negative, positive = logits
    score = positive - negative
    p_positive = 1 / (1 + math.exp(-score))
    return WhatIf(shown, {names.positive: p_positive, names.negative: 1 - p_positive}, score, original_score,
                  names.of(score > 0))


# --- what the model is good at ---------------------------------------------------------------
WEAK_RATE = 0.8  # a capability the model gets right less often than this is named as a limit


def _limits_text(pass_rates: Sequence[tuple[str, float]]) -> str:
    """What the model reads and misreads among short negations and contrasts, as measured."""
    if not pass_rates:
        return ('Known limits: negations ("not bad", "didn\'t enjoy") and contrasts ("good, but too long") often '
                "fool it, as do sarcasm and irony")

    def listed(rates: list[tuple[str, float]], right: str) -> str:
        items = [f'{CAPABILITY_WORDS[name][0]} ("{CAPABILITY_WORDS[name][1]}": {rate:.0%}{right if i == 0 else ""})'
                 for i, (name, rate) in enumerate(rates)]
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"

    strong = [(name, rate) for name, rate in pass_rates if rate >= WEAK_RATE]
    weak = [(name, rate) for name, rate in pass_rates if rate < WEAK_RATE]
    text = f"On held-out sentences it reads {listed(strong, ' right')}. " if strong else ""
    verb = "fools" if len(weak) == 1 else "fool"
    fooled = f"{listed(weak, ' right')} often {verb} it, as do sarcasm and irony" if weak else "sarcasm and irony fool it"
    return f"{text}Known limits: {fooled}"


def facts_text(facts: ModelFacts, widths: Sequence[int]) -> str:
    """One paragraph of plain text: how often the model is right, and what it cannot read."""
    parts = []
    if facts.test_accuracy is not None:
        of = f" of {facts.test_examples:,} IMDb test reviews" if facts.test_examples else " of IMDb test reviews"
        parts.append(f"Right on {facts.test_accuracy:.1%}{of}")
    short_parts = [f"{acc:.1%} ({source})" for source, acc in (("Yelp", facts.yelp_accuracy),
                                                                ("Amazon", facts.amazon_accuracy)) if acc is not None]
    if short_parts:
        count = f"{facts.short_examples:,} " if facts.short_examples else ""
        parts.append(f"on {count}short sentences from other sites: {' and '.join(short_parts)}")
    measured = ("; ".join(parts) + ".") if parts else "No test accuracy was saved with this model."
    longest = max(widths, default=0)
    return (f"{measured} {_limits_text(facts.pass_rates)}; it sees word patterns "
            f"of at most {longest} tokens and was trained on English movie reviews.")


# --- HTML ----------------------------------------------------------------------------------------
def _bar_row(name: str, probability: float, positive: bool, attributes: str = "") -> str:
    colour = POSITIVE_COLOURS[-1] if positive else NEGATIVE_COLOURS[-1]
    return (
        f'<div class="prob-row"{attributes}><span class="prob-name">{html_text(name)}</span>'
        f'<span class="prob-track"><span class="prob-fill" style="width:{probability * 100:.1f}%;'
        f'background:{colour}"></span></span><span class="prob-value">{percent(probability)}</span></div>'
    )


def _word_list(words: list[Word]) -> str:
    return ", ".join(f"<b>{html_text(short(w.token, 30))}</b>" for w in words) or "none"


def verdict_html(v: Verdict, words: StrongestWords, names: ClassNames, max_tokens: int) -> str:
    """The headline, both probabilities as bars (blue positive, red negative) and the strongest words."""
    colour = POSITIVE_COLOURS[-1] if v.positive else NEGATIVE_COLOURS[-1]
    rows = "".join(
        _bar_row(name, p, name == names.positive,
                 f' role="meter" aria-label="{html_text(name)}" aria-valuemin="0" aria-valuemax="1"'
                 f' aria-valuenow="{p!r}"')
        for name, p in v.probabilities.items()
    )
    lines = [
        f'<div class="verdict" data-label="{html_text(v.label)}">',
        f'<p class="headline" style="color:{colour}">{html_text(v.headline)}</p>',
        f'<div class="probabilities">{rows}</div>',
        f'<p class="words"><span class="swatch" style="background:{POSITIVE_COLOURS[-1]}"></span>'
        f'Towards {html_text(names.positive)}: {_word_list(words.positive)}</p>',
        f'<p class="words"><span class="swatch" style="background:{NEGATIVE_COLOURS[-1]}"></span>'
        f'Towards {html_text(names.negative)}: {_word_list(words.negative)}</p>',
    ]
    if v.truncated:
        lines.append(f'<p class="note">⚠️ The review was cut: the model reads only its first {max_tokens} tokens; '
                     f'everything after them is ignored.</p>')
    return "".join(lines) + "</div>"


def message_html(message: str) -> str:
    """A plain message in place of the verdict (an empty review, a model that is not loaded...)."""
    return f'<div class="verdict"><p class="message">{html_text(message)}</p></div>'


def arithmetic_html(a: Arithmetic, names: ClassNames) -> str:
    neg, pos = html_text(names.negative), html_text(names.positive)
    return (
        f"<p><b>Decision score</b> = logit({pos}) − logit({neg}) = bias <b>{a.bias:+.3f}</b> "
        f"+ contributions of the {a.num_filters} filters <b>{a.filters_total:+.3f}</b> = <b>{a.score:+.3f}</b>, "
        f"so P({pos}) = σ({a.score:+.3f}) = {a.p_positive:.3f}.</p>"
        f"<p>The model read {a.num_tokens} tokens; {a.firing} filters fired (the others have activation 0 and "
        f"add nothing). A token's score is its share of the contributions of the filters whose winning n-gram "
        f"contains it, so the token scores add up to the decision score minus the bias. The strongest token "
        f"scores ±{a.largest_token:.3f}: the colours' full strength, the same scale both ways.</p>"
    )


def legend_html(names: ClassNames) -> str:
    """The token colours, in a fixed order: positive strongest to weakest, then negative weakest to strongest."""
    swatches = [(POSITIVE_COLOURS[i], f"{names.positive}, {LEVELS[i]}") for i in reversed(range(len(LEVELS)))]
    swatches += [(NEGATIVE_COLOURS[i], f"{names.negative}, {LEVELS[i]}") for i in range(len(LEVELS))]
    items = "".join(f'<span class="legend-item"><span class="swatch" style="background:{c}"></span>'
                    f"{html_text(label)}</span>" for c, label in swatches)
    return f'<div class="legend">{items}<span class="legend-item">uncoloured: in no filter\'s n-gram</span></div>'


def chart_html(bars: list[Bar], names: ClassNames) -> str:
    """Horizontal bars, one line each: label, a bar to the right (positive) or the left (negative), value."""
    if not bars:
        return '<p class="message">No filter fired.</p>'
    rows = []
    for bar in bars:
        colour = POSITIVE_COLOURS[-1] if bar.positive else NEGATIVE_COLOURS[-1]
        fill = f'<span class="bar-fill" style="width:{bar.fraction * 100:.1f}%;background:{colour}"></span>'
        # negative bars grow leftwards from the middle line, positive ones rightwards
        rows.append(
            f'<div class="bar-row" data-filter="{bar.filter}"><span class="bar-label">{html_text(bar.label)}</span>'
            f'<span class="bar-track"><span class="bar-half bar-left">{"" if bar.positive else fill}</span>'
            f'<span class="bar-half bar-right">{fill if bar.positive else ""}</span></span>'
            f'<span class="bar-value">{bar.contribution:+.3f}</span></div>'
        )
    legend = (f'<div class="legend"><span class="legend-item"><span class="swatch" style="background:'
              f'{POSITIVE_COLOURS[-1]}"></span>pushes towards {html_text(names.positive)}</span>'
              f'<span class="legend-item"><span class="swatch" style="background:{NEGATIVE_COLOURS[-1]}"></span>'
              f"pushes towards {html_text(names.negative)}</span></div>")
    return f'<div class="chart">{legend}{"".join(rows)}</div>'


def filter_view_html(view: FilterView | None) -> str:
    if view is None:
        return '<p class="message">Pick a filter to see what it has learned to detect.</p>'
    text = (f"<p><b>Filter #{view.filter}</b> reads {view.width}-grams. Its output weight is "
            f"<b>{view.weight:+.3f}</b>: each unit of activation pushes the decision towards "
            f"<b>{html_text(view.direction)}</b>.</p>")
    if view.ngrams is None:
        return text + "<p>This model was saved without its training-set n-grams (filter_ngrams.json).</p>"
    return text + ("<p>The training n-grams that activate it most are below. A filter responds to a mix of "
                   "word patterns at once, so its top n-grams can look unrelated to each other and to the "
                   "n-gram it matched in your text: what they share is what the filter weighs.</p>")


def what_if_html(w: WhatIf | None, names: ClassNames) -> str:
    if w is None or not w.removed:
        return ('<p class="message">What if? Click a word above to take it out of the review and see the '
                'prediction without it; click it again to put it back.</p>')
    removed = ", ".join(f"<b>{html_text(short(t, 30))}</b>" for t in w.removed)
    if w.probabilities is None:
        return f"<p>Without {removed} no token is left to read.</p>"
    rows = "".join(_bar_row(name, p, name == names.positive) for name, p in w.probabilities.items())
    confidence = max(w.probabilities.values())
    label = w.label or ""
    return (f'<div class="what-if"><p>Without {removed}: <b>{html_text(label[:1].upper() + label[1:])} — '
            f"{percent(confidence)} confident</b> (decision score {w.score:+.3f}, was {w.original_score:+.3f}), "
            f'computed by the model on the remaining tokens.</p><div class="probabilities">{rows}</div></div>')
