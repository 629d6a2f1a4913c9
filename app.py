"""Gradio demo: IMDb sentiment with a Kim (2014) TextCNN, and exactly what the network did with the text.

The page says the verdict in plain words first ("Positive — 82% confident", the words that pushed
hardest), then shows the exact terms behind it: for two classes the decision score is
``logit_pos - logit_neg = bias + sum_f w_f * pooled_f``, and each filter's max-pooled activation
``pooled_f`` comes from one n-gram of the text (see :mod:`textcnn.pipeline`); what is shown is built
by the pure functions of :mod:`textcnn.presentation`, and this module wires them to the page.

    python app.py                                       # the bundled model, http://127.0.0.1:7860
    python app.py --model user/textcnn-imdb --revision <commit>
    TEXTCNN_MODEL=path/to/folder python app.py          # how a Space picks its model

A Hub model is served only at a revision given with it (``--revision`` or ``TEXTCNN_REVISION``),
best a commit, so that a push to the repo cannot change what the demo serves. The model is
loaded once, at import (which changes no global setting and starts no thread); ``python app.py``
runs :func:`main`, which tunes the process for serving and launches with the limits of
:mod:`textcnn.serving` (request sizes, no uploads, every model call through the queue, MCP tools).
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (set by Spaces) choose where it listens. Endpoints for
``gradio_client`` and tools for MCP clients: ``predict``, ``explain``, ``filter_ngrams``, with declared
return fields. A page can be opened on a review with ``?review=<text>``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import re
import sys
import threading
import time
import typing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

import gradio as gr
import numpy as np
import pandas as pd
import torch

from textcnn import presentation, serving
from textcnn.data import pad_batch
from textcnn.facts import model_facts
from textcnn.hub import ModelLoadError
from textcnn.pipeline import Explanation, SentimentPipeline, default_model_source, is_empty
from textcnn.presentation import (
    FILTER_DATATYPES,
    TABLE_FILTERS,
    Arithmetic,
    Bar,
    ClassNames,
    FilterView,
    StrongestWords,
    Table,
    TokenSpan,
    Verdict,
    WhatIf,
    arithmetic,
    arithmetic_html,
    chart_bars,
    chart_html,
    class_names,
    facts_text,
    filter_choices,
    filter_table,
    filter_view_html,
    html_text,
    legend_html,
    message_html,
    strongest_words,
    token_colours,
    token_index,
    token_spans,
    verdict,
    verdict_html,
    what_if,
    what_if_html,
)
from textcnn.tokenizer import Tokenizer

log = logging.getLogger("app")


# --- process tuning: done by main(), for a server process; importing this module changes nothing ----
def tune_torch() -> None:
    """Settings for a server that runs one small request at a time on a shared CPU (global to torch)."""
    # A request is a few milliseconds of small tensor operations: extra intra-op threads only fight over
    # a shared 2-core CPU (measured under load: 1 ms with one thread, 90 ms with two)
    torch.set_num_threads(1)
    # oneDNN compiles and caches convolution kernels for each new review length: one review at a time it
    # is slower (2.5 vs 2.0 ms per explanation) and its cache took 28 MB more per 1,500 new IMDb reviews,
    # still growing under scripts/load_test.py; batched prediction (CLI, benchmarks) keeps it, 3x faster there
    torch.backends.mkldnn.enabled = False


def return_freed_memory(arenas: int = 2, every_seconds: float = 5.0) -> threading.Thread | None:
    """Keep the server's resident memory close to what it uses (glibc only; no effect elsewhere).

    glibc gives each thread that allocates a heap of its own (up to 8 per core) and keeps what a
    request freed for later instead of returning it to the system. Capping the heaps (as
    ``MALLOC_ARENA_MAX=2`` would, without relying on how the Space starts the process) and trimming
    them every few seconds (``malloc_trim``: 1-7 ms here) took scripts/load_test.py's peak from
    607 to 591 MB. Returns the (daemon) thread that trims, or None without glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # -8: M_ARENA_MAX in glibc's malloc.h
    except (OSError, AttributeError):
        return None

    def trim_forever() -> None:
        while True:
            time.sleep(every_seconds)
            libc.malloc_trim(0)

    thread = threading.Thread(target=trim_forever, name="malloc-trim", daemon=True)
    thread.start()
    return thread


MAX_QUEUE_SIZE = 20  # beyond this, a request is refused at once ("queue is full") instead of waiting
CONCURRENCY_LIMIT = 2  # one per core; all model endpoints share this limit
# chunks the tokenizer memoises: at worst (random punctuation) about 1.1 KB each, so at most ~22 MB
# for a public server that reads endless new text (training's default of 500,000 could take 550 MB)
SERVING_TOKENIZER_CACHE = 20_000
# strings spaCy may collect (0.36 MB per 1,000) before the tokenizer starts a fresh one (65 ms, once per
# that many new strings): at most ~7 MB, where training's 100,000 allows 36 MB
SERVING_SPACY_VOCAB = 20_000
EXAMPLES = [
    ("Clearly positive", "A wonderful, moving film. The performances are superb and I loved every minute of it."),
    ("Clearly negative", "The worst movie I have seen in years: boring, badly acted and a complete waste of time."),
    ("Mixed", "The acting is superb and the music is beautiful, but the plot is a mess and the ending is dull."),
    ("Negation", "I expected to hate it, but honestly it was not bad at all. Not boring, not predictable."),
    ("Very short", "Brilliant!"),
    (
        "Long IMDb-style review",
        "I rented this one on a rainy Sunday with no expectations at all, and I am glad I did.<br /><br />"
        "The story follows a retired lighthouse keeper who takes in a runaway teenager, and for the first "
        "half hour I worried it would turn into the usual sentimental mess. It does not. The script is "
        "sharp and often funny, the two leads have real chemistry, and the director trusts the audience "
        "enough to leave things unsaid. The photography of the coast is gorgeous without ever feeling "
        "like a postcard.<br /><br />"
        "It is not perfect. A subplot about a greedy developer is clumsy and predictable, the villain is "
        "a cartoon, and the film is at least fifteen minutes too long; the last act drags. Some of the "
        "supporting cast seem to be acting in a different, much worse movie.<br /><br />"
        "Still, the central performances are so good that I forgave it almost everything. The final "
        "scene on the rocks had me in tears, which I did not expect from a film I had never heard of. "
        "Highly recommended if you like quiet character dramas; 8/10.",
    ),
]
EMPTY_MESSAGE = "The review is empty: type some text."
NOT_TEXT_MESSAGE = "The review must be a string of text."
SHARE_LIMIT = 2_000  # longest review (URL-encoded characters) that the address bar links to
METRICS_MAX_BYTES = 1_000_000  # a metrics.json larger than this is not read (it is a few KB)


# --- what the API returns: declared, so the API page, view_api() and MCP clients show the fields ---
class PredictResult(TypedDict):
    label: str  # the predicted class: "negative" or "positive"
    probabilities: dict[str, float]  # class name -> probability; they add up to 1
    num_tokens: int  # tokens the model read (after cutting a long review)
    truncated: bool  # the review was longer than the model reads, and was cut


class FilterTerm(TypedDict):
    filter: int  # index of the filter
    width: int  # its n-gram size
    activation: float  # its max-pooled activation on this text
    start: int  # token index where its winning n-gram starts
    ngram: str  # that n-gram
    contribution: float  # what it adds to the decision score


class ExplainResult(TypedDict):
    label: str
    probabilities: dict[str, float]
    num_tokens: int
    truncated: bool
    score: float  # logit(positive) - logit(negative) == bias + sum of the contributions
    bias: float
    tokens: list[str]
    token_scores: list[float]  # per token; they add up to score - bias
    filters: list[FilterTerm]  # every filter, strongest |contribution| first


class NgramActivation(TypedDict):
    ngram: str
    activation: float


class FilterNgramsResult(TypedDict):
    filter: int
    width: int  # the n-gram size it reads
    weight: float  # what one unit of its activation adds to the decision score
    direction: str  # the class it pushes towards
    ngrams: list[NgramActivation] | None  # its strongest IMDb training n-grams (None: not saved with the model)


# --- handlers: plain functions of the pipeline and the text, testable without a server ------------
def user_error(message: str) -> gr.Error:
    """A message for the visitor; not logged with a traceback (a flood of empty reviews would fill the log)."""
    return gr.Error(message, print_exception=False)


def review_problem(text: object) -> str | None:
    """Why the model cannot read ``text`` (one sentence), or None when it can."""
    if not isinstance(text, str):
        return NOT_TEXT_MESSAGE
    if is_empty(text):
        return EMPTY_MESSAGE
    return None


def _review(text: object) -> str:
    """``text`` if the model can read it, else one clear message (for the API)."""
    problem = review_problem(text)
    if problem:
        raise user_error(problem)
    return serving.replace_surrogates(text)  # type: ignore[arg-type]  (UTF-8 cannot encode a lone surrogate)


def names_of(pipeline: SentimentPipeline) -> ClassNames:
    return class_names(pipeline.labels)


def _named(pipeline: SentimentPipeline, probabilities: dict[str, float]) -> dict[str, float]:
    names = names_of(pipeline)
    negative, positive = pipeline.labels
    return {names.negative: probabilities[negative], names.positive: probabilities[positive]}


def predict(pipeline: SentimentPipeline, text: str) -> PredictResult:
    """Label, class probabilities, tokens read and whether the text was cut (classes named as on the page)."""
    prediction = pipeline(_review(text))
    return PredictResult(
        label=names_of(pipeline).of(prediction.label == pipeline.labels[1]),
        probabilities=_named(pipeline, prediction.probabilities),
        num_tokens=prediction.num_tokens,
        truncated=prediction.truncated,
    )


def explain(pipeline: SentimentPipeline, text: str) -> ExplainResult:
    """The prediction and its exact decomposition: score == bias + sum of filter contributions."""
    explanation = pipeline.explain(_review(text))
    prediction = explanation.prediction
    return ExplainResult(
        label=names_of(pipeline).of(prediction.label == pipeline.labels[1]),
        probabilities=_named(pipeline, prediction.probabilities),
        num_tokens=prediction.num_tokens,
        truncated=prediction.truncated,
        score=explanation.score,
        bias=explanation.bias,
        tokens=explanation.tokens,
        token_scores=explanation.token_scores,
        filters=[FilterTerm(**asdict(evidence)) for evidence in explanation.filters],
    )


def filter_weights(pipeline: SentimentPipeline) -> list[float]:
    """Per filter, w_pos - w_neg: what one unit of its activation adds to the decision score."""
    head = pipeline.model.head.weight.detach()
    return (head[1] - head[0]).tolist()


def filter_widths(pipeline: SentimentPipeline) -> list[int]:
    """Per filter, its n-gram size (features are in config order: all filters of a width, then the next)."""
    config = pipeline.model.config
    return [width for width in config.filter_widths for _ in range(config.num_filters)]


def model_metrics(pipeline: SentimentPipeline) -> dict | None:
    """The model folder's metrics.json, as the loader read it, else from the folder (None: none, or unreadable)."""
    metrics = getattr(pipeline, "metrics", None)
    if metrics is not None:
        return metrics
    folder = getattr(pipeline, "folder", None)
    if folder is None:
        return None
    path = Path(folder) / "metrics.json"
    try:
        if path.stat().st_size > METRICS_MAX_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _filter_index(pipeline: SentimentPipeline, filter_index: object) -> int:
    if isinstance(filter_index, float) and filter_index.is_integer():
        filter_index = int(filter_index)  # JSON clients may send 3.0
    if isinstance(filter_index, bool) or not isinstance(filter_index, int):
        raise user_error("The filter must be a whole number.")
    count = pipeline.model.config.num_features
    if not 0 <= filter_index < count:
        raise user_error(f"There is no filter {filter_index}: they are numbered 0 to {count - 1}.")
    return filter_index


def filter_ngrams(pipeline: SentimentPipeline, filter_index: int) -> FilterNgramsResult:
    """A filter's width, output weight and the IMDb training n-grams that activate it most."""
    index = _filter_index(pipeline, filter_index)
    weight = filter_weights(pipeline)[index]
    saved = pipeline.filter_ngrams
    return FilterNgramsResult(
        filter=index,
        width=filter_widths(pipeline)[index],
        weight=weight,
        direction=names_of(pipeline).of(weight > 0),
        ngrams=None if saved is None else [NgramActivation(ngram=e["ngram"], activation=e["activation"])
                                           for e in saved[index]],
    )


def filter_view(pipeline: SentimentPipeline, filter_index: int) -> FilterView:
    info = filter_ngrams(pipeline, filter_index)
    return presentation.filter_view(info["filter"], info["width"], info["weight"], info["ngrams"],
                                    names_of(pipeline))


@dataclass(frozen=True)
class Analysis:
    """Everything the page shows for a review."""

    verdict: Verdict
    words: StrongestWords
    arithmetic: Arithmetic
    tokens: list[TokenSpan]
    bars: list[Bar]
    table: Table  # the strongest filters only; the full table on demand
    top_filter: FilterView | None


def analyze(pipeline: SentimentPipeline, text: str, table_rows: int = TABLE_FILTERS) -> Analysis:
    """The prediction in words, the coloured tokens, the strongest filters (``table_rows`` of them in the
    table) and what the first one detects."""
    explanation = pipeline.explain(_review(text))
    names = names_of(pipeline)
    top = explanation.filters[0].filter if explanation.filters else None
    return Analysis(
        verdict=verdict(explanation, names),
        words=strongest_words(explanation),
        arithmetic=arithmetic(explanation),
        tokens=token_spans(explanation),
        bars=chart_bars(explanation),
        table=filter_table(explanation, limit=table_rows),
        top_filter=None if top is None else filter_view(pipeline, top),
    )


def full_filter_table(pipeline: SentimentPipeline, text: str) -> Table:
    return filter_table(pipeline.explain(_review(text)), limit=None)


@torch.inference_mode()
def remove_tokens(pipeline: SentimentPipeline, text: str, removed: list[int]) -> tuple[Explanation, WhatIf]:
    """The review's explanation, and what the model says once the tokens at ``removed`` are taken out.

    The shortened token sequence goes through the model itself (not an approximation from the
    explanation's terms): taking a token out changes which n-grams each filter can win.
    """
    explanation = pipeline.explain(_review(text))
    _, ids, _ = pipeline.encode(text)
    gone = {i for i in removed if 0 <= i < len(ids)}
    kept = np.asarray([token_id for i, token_id in enumerate(ids) if i not in gone], dtype=np.int64)
    logits = None
    if len(kept):
        # padded as the pipeline pads, so that every filter fits at least once
        logits = pipeline.model(pad_batch([kept], pipeline.model.config.min_length))[0].double().tolist()
    return explanation, what_if(explanation.tokens, sorted(gone), logits, explanation.score, names_of(pipeline))


def table_frame(table: Table) -> pd.DataFrame:
    return pd.DataFrame(table.rows, columns=table.columns)


# --- UI wiring ------------------------------------------------------------------------------------
DESCRIPTION = """
# TextCNN sentiment (IMDb)

Type a movie review: the model says whether it is positive or negative, and which words decided it.
It is a convolutional network in the style of [Kim (2014)](https://arxiv.org/abs/1408.5882), so the
decision is *exactly* a bias plus one term per filter, each from one n-gram of your text: the page
shows that sum word by word and filter by filter.
"""



def filter_help(widths: list[int] | tuple[int, ...]) -> str:
    """What a filter is, in two sentences, for a model with filters of these widths."""
    sizes = sorted(set(widths))
    listed = ", ".join(f"{w}-" for w in sizes[:-1]) + (" or " if len(sizes) > 1 else "") + f"{sizes[-1]}-token"
    return (
        f"A **filter** is a small detector that slides over every {listed} window of the review and keeps "
        f"its best match (max-pooling); its weight decides which way that match pushes. The bars below are "
        f"the filters that pushed hardest, strongest first whichever the direction; click a row of the table "
        f"to see the training n-grams a filter responds to most."
    )

# one style sheet for the page's HTML panels (each panel scopes it to itself)
CSS = """
.verdict .headline { font-size: 1.6rem; font-weight: 700; margin: 0 0 .4rem; }
.verdict .message, .message { color: var(--body-text-color-subdued); margin: .2rem 0; }
.probabilities { margin: .3rem 0 .6rem; }
.prob-row { display: flex; align-items: center; gap: .5rem; margin: .15rem 0; }
.prob-name { flex: 0 0 5.5rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.prob-track { flex: 1 1 auto; height: .9rem; background: var(--background-fill-secondary); border-radius: 3px; }
.prob-fill { display: block; height: 100%; border-radius: 3px; }
.prob-value { flex: 0 0 3.5rem; text-align: right; font-variant-numeric: tabular-nums; }
.words { margin: .2rem 0; overflow-wrap: anywhere; }
.note { margin: .4rem 0 0; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .3rem;
          vertical-align: -0.05rem; }
.legend { display: flex; flex-wrap: wrap; gap: .2rem 1rem; font-size: .85rem; margin: .2rem 0 .5rem; }
.legend-item { white-space: nowrap; }
.chart { width: 100%; }
.bar-row { display: grid; grid-template-columns: minmax(6rem, 16rem) 1fr 4rem; align-items: center;
           gap: .5rem; margin: .2rem 0; font-size: .9rem; }
.bar-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar-track { display: flex; height: 1rem; }
.bar-half { flex: 1 1 50%; display: flex; }
.bar-left { justify-content: flex-end; border-right: 1px solid var(--border-color-primary); }
.bar-right { justify-content: flex-start; }
.bar-fill { display: block; height: 100%; border-radius: 2px; }
.bar-value { text-align: right; font-variant-numeric: tabular-nums; }
@media (max-width: 640px) {
  .bar-row { grid-template-columns: 1fr 3.6rem; }
  .bar-label { grid-column: 1 / span 2; white-space: normal; overflow-wrap: anywhere; }
  .verdict .headline { font-size: 1.35rem; }
}
"""

# Enter analyses the review and Shift+Enter starts a new line (the text box alone does the opposite);
# a new result is scrolled into view when it lands below the fold (phones, where the columns stack)
PAGE_JS = """
if (!window.textcnnKeys) {
  window.textcnnKeys = true;
  const inReview = (event) => event.key === 'Enter' && !event.isComposing && event.target.closest
    && event.target.closest('#review');
  // captured before the text box's own handlers see the key
  document.addEventListener('keydown', (event) => {
    if (!inReview(event)) return;
    event.stopPropagation();
    if (event.shiftKey) return;  // the browser inserts the new line
    event.preventDefault();
    document.querySelector('#analyze')?.click();
  }, true);
  document.addEventListener('keypress', (event) => { if (inReview(event)) event.stopPropagation(); }, true);
}
// the API page opens from the footer's "Use via API", which a phone-sized page hides: open it from here
element.querySelector('.api-link')?.addEventListener('click', (event) => {
  const button = document.querySelector('button.show-api');
  if (button) {
    event.preventDefault();
    button.click();
  }
});
"""
SCROLL_JS = """
watch('value', () => {
  requestAnimationFrame(() => {  // once the new content is laid out
    const top = element.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight * 0.75) window.scrollTo({top: window.scrollY + top - 8});
  });
});
"""
# what a filter detects is scrolled into view after a tap on the table, not after each analysis
ROW_SCROLL_JS = """
document.addEventListener('click', (event) => {
  if (event.target.closest && event.target.closest('#filters')) window.textcnnRowTap = Date.now();
}, true);
watch('value', () => {
  if (!window.textcnnRowTap || Date.now() - window.textcnnRowTap > 10000) return;
  window.textcnnRowTap = 0;
  requestAnimationFrame(() => {  // once the new content is laid out
    const top = element.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight * 0.75) window.scrollTo({top: window.scrollY + top - 8});
  });
});
"""
# after each analysis the address bar links to it (?review=...), when the review is short enough
SHARE_JS = f"""
(text) => {{
  const url = new URL(window.location.href);
  if (text && encodeURIComponent(text).length <= {SHARE_LIMIT}) url.searchParams.set('review', text);
  else url.searchParams.delete('review');
  window.history.replaceState(null, '', url);
}}
"""

READ_SHARED_JS = "() => new URLSearchParams(window.location.search).get('review') || ''"


def build_demo(pipeline: SentimentPipeline, max_queue_size: int = MAX_QUEUE_SIZE,
               concurrency_limit: int = CONCURRENCY_LIMIT, table_rows: int = TABLE_FILTERS) -> gr.Blocks:
    """The page and the API for ``pipeline``; each analysis sends the ``table_rows`` strongest filters."""
    names = names_of(pipeline)
    config = pipeline.model.config
    first = analyze(pipeline, EXAMPLES[0][1], table_rows)  # the page opens with an analysed example
    facts = facts_text(model_facts(model_metrics(pipeline)), config.filter_widths)

    # --- the API (and MCP) endpoints: gradio reads their types and docstrings for the API page and
    # the MCP tool list, and MCP names each tool after its function ---
    def predict_endpoint(text: str) -> PredictResult:
        """Classify a movie review as positive or negative.

        Args:
            text: the review, English text (the model reads at most its first 1,000 tokens)
        Returns:
            label ("negative" or "positive"), probabilities (class name -> probability), num_tokens (tokens read), truncated (whether the review was cut)
        """
        return predict(pipeline, text)

    def explain_endpoint(text: str) -> ExplainResult:
        """Classify a movie review and give the exact decomposition of the decision over its tokens and the model's filters.

        Args:
            text: the review, English text (the model reads at most its first 1,000 tokens)
        Returns:
            label, probabilities, num_tokens, truncated (as predict), score (logit(positive) - logit(negative)), bias, tokens, token_scores (add up to score - bias), filters (each with filter, width, activation, start, ngram, contribution; strongest first)
        """
        return explain(pipeline, text)

    def filter_ngrams_endpoint(filter_index: int) -> FilterNgramsResult:
        """What one filter of the model detects: its n-gram width, output weight and the IMDb training n-grams that activate it most.

        Args:
            filter_index: the filter's number, from 0 to the number of filters - 1 (explain returns them)
        Returns:
            filter, width, weight (what one unit of activation adds to the decision score), direction (the class it pushes towards), ngrams (list of ngram and activation, or null)
        """
        return filter_ngrams(pipeline, filter_index)

    endpoints = {"predict": predict_endpoint, "explain": explain_endpoint, "filter_ngrams": filter_ngrams_endpoint}
    for name, endpoint in endpoints.items():
        endpoint.__name__ = endpoint.__qualname__ = name
        # gradio reads the return type from the signature: resolve this module's postponed annotations
        endpoint.__annotations__ = typing.get_type_hints(endpoint)
        # the docstrings say "1,000 tokens": keep them true for this model
        endpoint.__doc__ = endpoint.__doc__.replace("1,000", f"{pipeline.max_tokens:,}")

    with gr.Blocks(title="TextCNN sentiment (IMDb)") as demo:
        gr.Markdown(DESCRIPTION)
        gr.HTML(f'<p class="message" id="model-facts">{html_text(facts)} '
                f'<a class="api-link" href="?view=api">Use it from code or as an MCP tool</a>.</p>',
                css_template=CSS, js_on_load=PAGE_JS, elem_id="facts")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3) as input_column:
                review = gr.Textbox(
                    value=EXAMPLES[0][1],
                    label="Review",
                    lines=5,
                    max_lines=20,
                    placeholder="Type or paste a movie review…",
                    info=f"English; the model reads at most {pipeline.max_tokens} tokens. "
                         f"Enter analyses it, Shift+Enter starts a new line.",
                    elem_id="review",
                )
                analyze_button = gr.Button("Analyze", variant="primary", elem_id="analyze")
            with gr.Column(scale=2):
                verdict_panel = gr.HTML(
                    verdict_html(first.verdict, first.words, names, pipeline.max_tokens),
                    css_template=CSS, js_on_load=SCROLL_JS, elem_id="verdict",
                )
                with gr.Accordion("How the score adds up", open=False, elem_id="arithmetic-box"):
                    arithmetic_panel = gr.HTML(arithmetic_html(first.arithmetic, names), js_on_load=None,
                                               elem_id="arithmetic")

        gr.Markdown("### Which words mattered")
        gr.HTML(legend_html(names), css_template=CSS, js_on_load=None, elem_id="legend")
        tokens = gr.HighlightedText(
            value=first.tokens,
            label="Tokens as the model read them (click one to take it out)",
            color_map=token_colours(),
            show_legend=False,
            show_inline_category=False,
            elem_id="tokens",
        )
        what_if_panel = gr.HTML(what_if_html(None, names), css_template=CSS, js_on_load=None, elem_id="what-if")
        restore_button = gr.Button("Put every word back", size="sm", elem_id="restore")

        gr.Markdown("### Which filters mattered")
        gr.Markdown(filter_help(config.filter_widths), elem_id="filter-help")
        chart = gr.HTML(chart_html(first.bars, names), css_template=CSS, js_on_load=None, elem_id="chart")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                filters = gr.Dataframe(
                    value=table_frame(first.table),
                    label="The strongest filters; click a row to see what the filter detects",
                    datatype=FILTER_DATATYPES,
                    # in pixels: on a phone the first two (pinned) columns stay readable and the rest scroll
                    column_widths=["88px", "128px", "240px", "80px", "104px"],
                    pinned_columns=2,
                    interactive=False,
                    max_height=420,
                    elem_id="filters",
                )
                all_filters_button = gr.Button(f"Show all {config.num_features} filters", size="sm",
                                               elem_id="all-filters")
            with gr.Column(scale=2):
                chosen_filter = gr.Dropdown(
                    choices=filter_choices(filter_widths(pipeline), filter_weights(pipeline), names),
                    value=first.top_filter.filter if first.top_filter else None,
                    label="What does this filter detect?",
                    filterable=True,
                    elem_id="filter-choice",
                )
                filter_description = gr.HTML(filter_view_html(first.top_filter), css_template=CSS,
                                             js_on_load=ROW_SCROLL_JS, elem_id="filter-description")
                training_ngrams = gr.Dataframe(
                    value=ngram_frame(first.top_filter),
                    label="Top n-grams in the IMDb training set (computed at training time)",
                    datatype=["str", "number"],
                    column_widths=["75%", "25%"],
                    interactive=False,
                    max_height=320,
                    elem_id="training-ngrams",
                )
        # the review the page shows (for the what-if and the full table), kept in the browser
        analysed = gr.Textbox(value=EXAMPLES[0][1], visible=False)
        shared_review = gr.Textbox(value="", visible=False)  # a shared link's ?review=, read in the browser
        removed = gr.State([])  # token positions taken out of it

        def show_filter(view: FilterView | None) -> dict:
            return {chosen_filter: view.filter if view else None, filter_description: filter_view_html(view),
                    training_ngrams: ngram_frame(view)}

        def analyze_event(text: str) -> dict:
            problem = review_problem(text)
            if problem:  # one message, and no numbers left from the previous review
                return {verdict_panel: message_html(problem), arithmetic_panel: "", tokens: [],
                        chart: "", filters: table_frame(presentation.empty_filter_table()),
                        what_if_panel: what_if_html(None, names), analysed: "", removed: []}
            result = analyze(pipeline, text, table_rows)
            return {
                verdict_panel: verdict_html(result.verdict, result.words, names, pipeline.max_tokens),
                arithmetic_panel: arithmetic_html(result.arithmetic, names),
                tokens: result.tokens,
                chart: chart_html(result.bars, names),
                filters: table_frame(result.table),
                what_if_panel: what_if_html(None, names),
                analysed: text,
                removed: [],
            }

        def toggle_token_event(text: str, taken_out: list[int], event: gr.SelectData) -> dict:
            index = token_index(event.index, pipeline.max_tokens) if isinstance(event.index, int) else None
            if review_problem(text) or index is None:
                return unchanged(tokens, what_if_panel, removed)  # a space between tokens, or nothing analysed
            taken_out = sorted(set(taken_out) ^ {index})
            explanation, result = remove_tokens(pipeline, text, taken_out)
            return {tokens: token_spans(explanation, set(taken_out)), what_if_panel: what_if_html(result, names),
                    removed: taken_out}

        def restore_event(text: str) -> dict:
            if review_problem(text):
                return unchanged(tokens, what_if_panel, removed)
            return {tokens: token_spans(pipeline.explain(text)), what_if_panel: what_if_html(None, names),
                    removed: []}

        def all_filters_event(text: str) -> dict:
            if review_problem(text):
                return unchanged(filters)
            return {filters: table_frame(full_filter_table(pipeline, text))}

        def choose_filter_event(filter_index: object) -> dict:
            try:
                return show_filter(filter_view(pipeline, filter_index))
            except gr.Error:
                return show_filter(None)

        def select_row_event(event: gr.SelectData) -> dict:
            if not event.row_value:
                return unchanged(chosen_filter, filter_description, training_ngrams)
            return choose_filter_event(event.row_value[0])

        def shared_review_event(text: str) -> dict:
            if not text or review_problem(text):
                return unchanged(review, *page)
            return {review: text, **analyze_event(text)}

        # what an analysis changes (the filter panel keeps the filter the visitor chose: it describes
        # the model, not the review, and leaving it alone spares the browser two re-renders)
        page = [verdict_panel, arithmetic_panel, tokens, chart, filters, what_if_panel, analysed, removed]
        with input_column:  # shown under the text box, declared once every output exists
            # a Dataset rather than gr.Examples: one request fills the box and analyses it
            examples = gr.Dataset(components=[review], samples=[[text] for _, text in EXAMPLES],
                                  sample_labels=[name for name, _ in EXAMPLES], type="index",
                                  label="Examples", elem_id="examples")

        def example_event(index: int) -> dict:
            text = EXAMPLES[index][1]
            return {review: text, **analyze_event(text)}

        # every model call shares one concurrency group, sized for a 2-core CPU; page events are not
        # API endpoints (the API is predict, explain and filter_ngrams)
        shared = {"concurrency_id": "model", "concurrency_limit": concurrency_limit}
        # no progress overlay: an analysis takes a fraction of a second, and each overlay is a re-render
        page_event = {"api_visibility": "private", "show_progress": "hidden", **shared}
        analyze_button.click(analyze_event, review, page, **page_event)
        examples.click(example_event, examples, [review, *page], **page_event)
        analysed.change(None, analysed, None, js=SHARE_JS)  # in the browser only: no request
        tokens.select(toggle_token_event, [analysed, removed], [tokens, what_if_panel, removed], **page_event)
        restore_button.click(restore_event, analysed, [tokens, what_if_panel, removed], **page_event)
        all_filters_button.click(all_filters_event, analysed, filters, **page_event)
        chosen_filter.input(choose_filter_event, chosen_filter, [chosen_filter, filter_description, training_ngrams],
                            **page_event)
        filters.select(select_row_event, None, [chosen_filter, filter_description, training_ngrams],
                       **page_event)
        # opening the page costs no request; a shared link's review is analysed once it is read
        demo.load(None, None, shared_review, js=READ_SHARED_JS)
        shared_review.change(shared_review_event, shared_review, [review, *page], **page_event)
        for name, endpoint in endpoints.items():
            gr.api(endpoint, api_name=name, **shared)

    return demo.queue(max_size=max_queue_size, default_concurrency_limit=concurrency_limit)


def unchanged(*components: gr.components.Component) -> dict:
    """An event's answer that leaves its outputs as they are."""
    return {component: gr.skip() for component in components}


def ngram_frame(view: FilterView | None) -> pd.DataFrame:
    if view is None or view.ngrams is None:
        return pd.DataFrame(columns=presentation.NGRAM_COLUMNS)
    return table_frame(view.ngrams)


# --- start-up: load once, at import; serve from main() ------------------------------------------------------------
def parse_args(argv: list[str]) -> tuple[str, str | None]:
    """(model source, revision): command line first, then TEXTCNN_MODEL / TEXTCNN_REVISION, then bundled."""
    parser = argparse.ArgumentParser(description="Gradio demo of the IMDb TextCNN.")
    parser.add_argument(
        "--model", help="Hub repo id or local model folder (default: $TEXTCNN_MODEL, else the bundled model)"
    )
    parser.add_argument("--revision", help="Hub commit, branch or tag to pin (default: $TEXTCNN_REVISION)")
    args = parser.parse_args(argv)
    env_source, env_revision = default_model_source()
    if args.model is None:
        return env_source, args.revision or env_revision
    return args.model, args.revision


def check_pinned(source: str, revision: str | None) -> None:
    """Refuse a Hub model without a revision: whatever was pushed last would be served, unreviewed."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if revision or os.path.isdir(source):
        return
    try:
        validate_repo_id(source)
    except HFValidationError:
        return  # neither a folder nor a repo id: the loader says so
    raise ModelLoadError(
        f"There is no model folder {source}, and the demo serves a Hub model only at a pinned revision: "
        f"pass --revision <commit> (or set TEXTCNN_REVISION) to serve {source} from the Hub."
    )


def load_pipeline(source: str, revision: str | None) -> SentimentPipeline:
    check_pinned(source, revision)
    pipeline = SentimentPipeline.from_pretrained(source, revision=revision)
    if revision and not os.path.isdir(source) and not re.fullmatch(r"[0-9a-f]{40}", revision):
        commit = Path(pipeline.folder).name  # the Hub cache names each snapshot by its commit
        log.warning("serving %s at %s, which is a branch or tag and can move; to keep serving these weights, "
                    "pin their commit: --revision %s", source, revision, commit)
    pipeline.tokenizer = Tokenizer(max_cache=SERVING_TOKENIZER_CACHE, max_spacy_vocab=SERVING_SPACY_VOCAB)
    return pipeline


def main() -> None:
    """Serve the demo loaded at import: tune this process for serving, then launch with the limits of
    :mod:`textcnn.serving` (request sizes, no uploads, the queue for every model call, MCP tools)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per internal request (start-up checks, MCP calls)
    tune_torch()
    return_freed_memory()
    serving.launch(demo)  # host and port: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT


MODEL_SOURCE, MODEL_REVISION = parse_args(sys.argv[1:] if __name__ == "__main__" else [])
try:
    pipeline = load_pipeline(MODEL_SOURCE, MODEL_REVISION)
except ModelLoadError as error:
    if __name__ == "__main__":
        sys.exit(f"Cannot start the demo: {error}")
    raise
demo = build_demo(pipeline)

if __name__ == "__main__":
    main()
