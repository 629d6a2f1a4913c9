"""Gradio demo: IMDb sentiment with a Kim (2014) TextCNN, and exactly what the network did with the text.

For two classes the decision score is ``logit_pos - logit_neg = bias + sum_f w_f * pooled_f``, and each
filter's max-pooled activation ``pooled_f`` comes from one n-gram of the text; the demo shows those
exact terms (see :mod:`textcnn.pipeline`), per token and per filter.

    python app.py                                       # the bundled model, http://127.0.0.1:7860
    python app.py --model user/textcnn-imdb --revision <commit>
    TEXTCNN_MODEL=path/to/folder python app.py          # how a Space picks its model

A Hub model is served only at a revision given with it (``--revision`` or ``TEXTCNN_REVISION``),
best a commit, so that a push to the repo cannot change what the demo serves. The model is
loaded once, at import. ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (set by Spaces)
choose where it listens. Endpoints for ``gradio_client``: ``/predict``, ``/explain``, ``/filter_ngrams``.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import math
import os
import re
import sys
import threading
import time
import unicodedata
from dataclasses import asdict
from pathlib import Path

import gradio as gr
import pandas as pd
import torch

from textcnn.hub import ModelLoadError
from textcnn.pipeline import Explanation, SentimentPipeline, default_model_source, is_empty
from textcnn.tokenizer import Tokenizer

# A request is a few milliseconds of small tensor operations: extra intra-op threads only fight over
# a shared 2-core CPU (measured under load: 1 ms with one thread, 90 ms with two)
torch.set_num_threads(1)
# oneDNN compiles and caches convolution kernels for each new review length: one review at a time it
# is slower (2.5 vs 2.0 ms per explanation) and its cache took 28 MB more per 1,500 new IMDb reviews,
# still growing under scripts/load_test.py; batched prediction (CLI, benchmarks) keeps it, 3x faster there
torch.backends.mkldnn.enabled = False

log = logging.getLogger("app")


def return_freed_memory(arenas: int = 2, every_seconds: float = 5.0) -> None:
    """Keep the server's resident memory close to what it uses (glibc only; no effect elsewhere).

    glibc gives each thread that allocates a heap of its own (up to 8 per core) and keeps what a
    request freed for later instead of returning it to the system. Capping the heaps (as
    ``MALLOC_ARENA_MAX=2`` would, without relying on how the Space starts the process) and trimming
    them every few seconds (``malloc_trim``: 1-7 ms here) took scripts/load_test.py's peak from
    607 to 591 MB.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # -8: M_ARENA_MAX in glibc's malloc.h
    except (OSError, AttributeError):
        return

    def trim_forever() -> None:
        while True:
            time.sleep(every_seconds)
            libc.malloc_trim(0)

    threading.Thread(target=trim_forever, name="malloc-trim", daemon=True).start()


return_freed_memory()

MAX_QUEUE_SIZE = 20  # beyond this, a request is refused at once ("queue is full") instead of waiting
CONCURRENCY_LIMIT = 2  # one per core; all model endpoints share this limit
# chunks the tokenizer memoises: at worst (random punctuation) about 1.1 KB each, so at most ~22 MB
# for a public server that reads endless new text (training's default of 500,000 could take 550 MB)
SERVING_TOKENIZER_CACHE = 20_000
# strings spaCy may collect (0.36 MB per 1,000) before the tokenizer starts a fresh one (65 ms, once per
# that many new strings): at most ~7 MB, where training's 100,000 allows 36 MB
SERVING_SPACY_VOCAB = 20_000
CHART_FILTERS = 15  # the chart shows this many strongest filters; the table shows all
LEVELS = ("weak", "medium", "strong")  # token colour strengths, thirds of the largest |token score|
NEGATIVE_COLOURS = ("#fddbc7", "#ef8a62", "#b2182b")  # ColorBrewer RdBu: red pushes negative,
POSITIVE_COLOURS = ("#d1e5f0", "#67a9cf", "#2166ac")  # blue pushes positive (colour-blind safe)
DISPLAY_NAMES = {"neg": "negative", "pos": "positive"}  # the model's labels, as the page shows them
# characters that are invisible or reorder the display (RTL overrides) are shown as escapes
_BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

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


# --- handlers: plain functions of the pipeline and the text, testable without a server ------------
def user_error(message: str) -> gr.Error:
    """A message for the visitor; not logged with a traceback (a flood of empty reviews would fill the log)."""
    return gr.Error(message, print_exception=False)


def _review(text: object) -> str:
    """``text`` if the model can read it, else one clear message (for the page and the API alike)."""
    if not isinstance(text, str):
        raise user_error("The review must be a string of text.")
    if is_empty(text):
        raise user_error("The review is empty: type some text.")
    return text


def predict(pipeline: SentimentPipeline, text: str) -> dict:
    """Label, class probabilities, tokens read and whether the text was cut."""
    return pipeline(_review(text)).as_dict()


def explain(pipeline: SentimentPipeline, text: str) -> dict:
    """The prediction and its exact decomposition: score == bias + sum of filter contributions."""
    explanation = pipeline.explain(_review(text))
    return {
        **explanation.prediction.as_dict(),
        "score": explanation.score,
        "bias": explanation.bias,
        "tokens": explanation.tokens,
        "token_scores": explanation.token_scores,
        "filters": [asdict(evidence) for evidence in explanation.filters],
    }


def filter_weights(pipeline: SentimentPipeline) -> list[float]:
    """Per filter, w_pos - w_neg: what one unit of its activation adds to the decision score."""
    head = pipeline.model.head.weight.detach()
    return (head[1] - head[0]).tolist()


def filter_ngrams(pipeline: SentimentPipeline, filter_index: int) -> dict:
    """A filter's width, output weight and the IMDb training n-grams that activate it most."""
    config = pipeline.model.config
    if isinstance(filter_index, float) and filter_index.is_integer():
        filter_index = int(filter_index)  # JSON clients may send 3.0
    if isinstance(filter_index, bool) or not isinstance(filter_index, int):
        raise user_error("The filter must be a whole number.")
    if not 0 <= filter_index < config.num_features:
        raise user_error(f"There is no filter {filter_index}: they are numbered 0 to {config.num_features - 1}.")
    saved = pipeline.filter_ngrams
    return {
        "filter": filter_index,
        "width": config.filter_widths[filter_index // config.num_filters],
        "weight": filter_weights(pipeline)[filter_index],
        "ngrams": None if saved is None else saved[filter_index],
    }


def visible(text: str) -> str:
    """``text`` with control and bidirectional-override characters written as escapes, for display."""
    return "".join(
        f"\\u{ord(c):04x}" if c in _BIDI_CONTROLS or unicodedata.category(c) == "Cc" else c for c in text
    )


def class_names(pipeline: SentimentPipeline) -> tuple[str, str]:
    """(negative, positive) as the page names them."""
    negative, positive = pipeline.labels
    return DISPLAY_NAMES.get(negative, negative), DISPLAY_NAMES.get(positive, positive)


def token_level(score: float, largest: float) -> str | None:
    """Colour category of a token score; the same thresholds in both directions keep the colours honest."""
    if score == 0 or largest == 0:
        return None  # in no filter's winning n-gram (or filters that did not fire): no push at all
    level = min(len(LEVELS), math.ceil(len(LEVELS) * abs(score) / largest))
    return f"{'+' if score > 0 else '−'} {LEVELS[level - 1]}"


def highlighted_tokens(explanation: Explanation) -> list[tuple[str, str | None]]:
    largest = max((abs(s) for s in explanation.token_scores), default=0.0)
    spans: list[tuple[str, str | None]] = []
    for token, score in zip(explanation.tokens, explanation.token_scores):
        if spans:
            spans.append((" ", None))
        spans.append((visible(token), token_level(score, largest)))
    return spans


def summary(pipeline: SentimentPipeline, explanation: Explanation) -> str:
    """How the decision adds up, in numbers (never any of the user's text)."""
    negative, positive = class_names(pipeline)
    filters_total = sum(f.contribution for f in explanation.filters)
    firing = sum(1 for f in explanation.filters if f.activation > 0)
    p_positive = explanation.prediction.probabilities[pipeline.labels[1]]
    largest = max((abs(s) for s in explanation.token_scores), default=0.0)
    lines = [
        f"**Decision score** = logit({positive}) − logit({negative}) = bias **{explanation.bias:+.3f}** "
        f"+ contributions of the {len(explanation.filters)} filters **{filters_total:+.3f}** "
        f"= **{explanation.score:+.3f}**, so P({positive}) = σ({explanation.score:+.3f}) = {p_positive:.3f}.",
        f"The model read {explanation.prediction.num_tokens} tokens; {firing} filters fired "
        f"(the others have activation 0 and add nothing). "
        f"Strongest token: ±{largest:.3f}, the colour scale's full strength in both directions.",
    ]
    if explanation.prediction.truncated:
        lines.append(
            f"⚠️ **The review was cut**: it is longer than {pipeline.max_tokens} tokens, and the model reads "
            f"only the first {pipeline.max_tokens}; everything after them is ignored."
        )
    return "\n\n".join(lines)


def filter_table(explanation: Explanation) -> pd.DataFrame:
    """Every filter, strongest absolute contribution first."""
    return pd.DataFrame(
        [
            [
                f.filter,
                f.width,
                round(f.activation, 4),
                visible(f.ngram) if f.activation > 0 else "(did not fire)",
                round(f.contribution, 4),
            ]
            for f in explanation.filters
        ],
        columns=["filter", "width", "activation", "n-gram in the text", "contribution"],
    )


def filter_chart(pipeline: SentimentPipeline, explanation: Explanation) -> pd.DataFrame:
    negative, positive = class_names(pipeline)
    strongest = [f for f in explanation.filters if f.contribution != 0][:CHART_FILTERS]
    return pd.DataFrame(
        {
            "filter": [_short(f"#{f.filter} {visible(f.ngram)}") for f in strongest],
            "contribution": [f.contribution for f in strongest],
            "pushes towards": [positive if f.contribution > 0 else negative for f in strongest],
        }
    )


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def analyze(pipeline: SentimentPipeline, text: str):
    """Everything the page shows for a review: probabilities, summary, coloured tokens, filters."""
    explanation = pipeline.explain(_review(text))
    top_filter = explanation.filters[0].filter if explanation.filters else None
    return (
        dict(zip(class_names(pipeline), (explanation.prediction.probabilities[k] for k in pipeline.labels))),
        summary(pipeline, explanation),
        highlighted_tokens(explanation),
        filter_table(explanation),
        filter_chart(pipeline, explanation),
        top_filter,
    )


def filter_view(pipeline: SentimentPipeline, filter_index: int | None) -> tuple[str, pd.DataFrame]:
    """What one filter has learned: its width, direction and top training n-grams."""
    columns = ["n-gram in IMDb train", "activation"]
    if filter_index is None:
        return "Pick a filter to see what it has learned to detect.", pd.DataFrame(columns=columns)
    info = filter_ngrams(pipeline, filter_index)
    negative, positive = class_names(pipeline)
    direction = positive if info["weight"] > 0 else negative
    text = (
        f"**Filter #{info['filter']}** reads {info['width']}-grams. Its output weight is "
        f"**{info['weight']:+.3f}**: each unit of activation pushes the decision towards **{direction}**."
    )
    if info["ngrams"] is None:
        missing = "\n\nThis model was saved without its training-set n-grams (filter_ngrams.json)."
        return text + missing, pd.DataFrame(columns=columns)
    rows = [[visible(entry["ngram"]), entry["activation"]] for entry in info["ngrams"]]
    return text + " The training n-grams that activate it most:", pd.DataFrame(rows, columns=columns)


def filter_choices(pipeline: SentimentPipeline) -> list[tuple[str, int]]:
    config = pipeline.model.config
    negative, positive = class_names(pipeline)
    return [
        (
            f"#{i} · {config.filter_widths[i // config.num_filters]}-grams · "
            f"pushes {positive if weight > 0 else negative} ({weight:+.2f})",
            i,
        )
        for i, weight in enumerate(filter_weights(pipeline))
    ]


# --- UI wiring ------------------------------------------------------------------------------------
DESCRIPTION = """
# TextCNN sentiment (IMDb)

A convolutional network in the style of [Kim (2014)](https://arxiv.org/abs/1408.5882): each filter slides
over the review's n-grams and keeps only its strongest match (max-pooling); a linear layer weighs those
maxima. So the decision is *exactly* a bias plus one term per filter, and each term comes from one n-gram
of your text. Below, that sum is shown per token and per filter.
"""


def build_demo(pipeline: SentimentPipeline, max_queue_size: int = MAX_QUEUE_SIZE,
               concurrency_limit: int = CONCURRENCY_LIMIT) -> gr.Blocks:
    negative, positive = class_names(pipeline)
    colour_map = {f"− {level}": colour for level, colour in zip(LEVELS, NEGATIVE_COLOURS)}
    colour_map |= {f"+ {level}": colour for level, colour in zip(LEVELS, POSITIVE_COLOURS)}
    first = analyze(pipeline, EXAMPLES[0][1])  # the page opens with an analysed example
    first_filter = filter_view(pipeline, first[5])

    # named, typed wrappers: gradio derives the API schema from these signatures
    def predict_endpoint(text: str) -> dict:
        """Label, probabilities of each class, tokens read, and whether the review was cut."""
        return predict(pipeline, text)

    def explain_endpoint(text: str) -> dict:
        """The prediction plus its exact decomposition over tokens and filters."""
        return explain(pipeline, text)

    def filter_ngrams_endpoint(filter_index: int) -> dict:
        """A filter's width, output weight and the IMDb training n-grams that activate it most."""
        return filter_ngrams(pipeline, filter_index)

    def analyze_event(text: str):
        return analyze(pipeline, text)

    def filter_view_event(filter_index: int | None):
        return filter_view(pipeline, filter_index)

    def select_filter_event(event: gr.SelectData):
        return int(event.row_value[0]) if event.row_value else gr.skip()

    with gr.Blocks(title="TextCNN sentiment (IMDb)") as demo:
        gr.Markdown(DESCRIPTION)
        with gr.Row():
            with gr.Column(scale=3) as input_column:
                review = gr.Textbox(
                    value=EXAMPLES[0][1],
                    label="Review",
                    lines=6,
                    max_lines=20,
                    placeholder="Type or paste a movie review…",
                    info=f"English; the model reads at most {pipeline.max_tokens} tokens.",
                    elem_id="review",
                )
                analyze_button = gr.Button("Analyze", variant="primary", elem_id="analyze")
            with gr.Column(scale=2):
                probabilities = gr.Label(
                    value=first[0], num_top_classes=2, label="Prediction", elem_id="probabilities"
                )
                decision = gr.Markdown(first[1], elem_id="decision")
        gr.Markdown(
            f"### Which words mattered\nA token's score is its share of the contributions of the filters whose "
            f"winning n-gram contains it; the scores add up to the decision score minus the bias. "
            f"**−** pushes towards {negative}, **+** towards {positive}; weak, medium and strong are thirds of "
            f"the strongest token's score, the same scale both ways. Uncoloured tokens won no filter."
        )
        tokens = gr.HighlightedText(
            value=first[2],
            label="Tokens as the model read them",
            color_map=colour_map,
            show_legend=True,
            show_inline_category=False,
            elem_id="tokens",
        )
        gr.Markdown("### Which filters mattered")
        chart = gr.BarPlot(
            value=first[4],
            x="filter",
            y="contribution",
            color="pushes towards",
            color_map={negative: NEGATIVE_COLOURS[-1], positive: POSITIVE_COLOURS[-1]},
            sort="-y",
            x_label_angle=-40,
            x_title="filter and its n-gram in the text",
            y_title="contribution to the decision score",
            title=f"The {CHART_FILTERS} strongest filters",
            height=360,
            elem_id="chart",
        )
        with gr.Row():
            filters = gr.Dataframe(
                value=first[3],
                label="Every filter, strongest |contribution| first; click a row to see what it detects",
                datatype=["number", "number", "number", "str", "number"],
                column_widths=["12%", "11%", "16%", "43%", "18%"],
                interactive=False,
                max_height=420,
                scale=3,
                elem_id="filters",
            )
            with gr.Column(scale=2):
                chosen_filter = gr.Dropdown(
                    choices=filter_choices(pipeline), value=first[5], label="What does this filter detect?",
                    filterable=True,
                    elem_id="filter-choice",
                )
                filter_description = gr.Markdown(first_filter[0], elem_id="filter-description")
                training_ngrams = gr.Dataframe(
                    value=first_filter[1],
                    label="Top n-grams in the IMDb training set (computed at training time)",
                    datatype=["str", "number"],
                    column_widths=["75%", "25%"],
                    interactive=False,
                    max_height=320,
                    elem_id="training-ngrams",
                )
        outputs = [probabilities, decision, tokens, filters, chart, chosen_filter]
        with input_column:  # shown under the text box, declared once every output exists
            gr.Examples(
                examples=[[text] for _, text in EXAMPLES],
                example_labels=[name for name, _ in EXAMPLES],
                inputs=review,
                outputs=outputs,
                fn=analyze_event,
                run_on_click=True,
                cache_examples=False,
            )

        # every model call shares one concurrency group, sized for a 2-core CPU
        shared = {"concurrency_id": "model", "concurrency_limit": concurrency_limit}
        analyze_button.click(analyze_event, review, outputs, api_name="analyze",
                             api_visibility="undocumented", **shared)
        chosen_filter.change(filter_view_event, chosen_filter, [filter_description, training_ngrams],
                             api_name="filter_view", api_visibility="undocumented", **shared)
        filters.select(select_filter_event, None, chosen_filter, api_name="select_filter",
                       api_visibility="private", **shared)
        gr.api(predict_endpoint, api_name="predict", **shared)
        gr.api(explain_endpoint, api_name="explain", **shared)
        gr.api(filter_ngrams_endpoint, api_name="filter_ngrams", **shared)

    return demo.queue(max_size=max_queue_size, default_concurrency_limit=concurrency_limit)


# --- start-up: load once, at import ------------------------------------------------------------
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


MODEL_SOURCE, MODEL_REVISION = parse_args(sys.argv[1:] if __name__ == "__main__" else [])
try:
    pipeline = load_pipeline(MODEL_SOURCE, MODEL_REVISION)
except ModelLoadError as error:
    if __name__ == "__main__":
        sys.exit(f"Cannot start the demo: {error}")
    raise
demo = build_demo(pipeline)

if __name__ == "__main__":
    demo.launch(ssr_mode=False)  # host and port: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
