"""The Gradio demo: its handlers called directly, then the launched app used through gradio_client."""

from __future__ import annotations

import math
import random
import string
import threading
import time

import gradio as gr
import pytest

from app_server import app, pipeline, serving  # noqa: F401 (app, pipeline: shared fixtures)
from textcnn.pipeline import BUNDLED_MODEL, SentimentPipeline
from textcnn.tokenizer import clean


HOSTILE = {
    "single character": "a",
    "only emoji": "😀🎬🍿👍🏽👨‍👩‍👧",
    "only punctuation": "?!... ;-) ---",
    "1 MB review": "This film was great, I loved it. " * 31_000,
    "one 100,000-character token": "(" * 100_000,
    # no whitespace and no repeats: every 100-character piece is new to the tokenizer's caches
    "1 MB without whitespace": "".join(random.Random(0).choices(string.ascii_letters + string.punctuation, k=10**6)),
    "NUL and control characters": "good\x00movie\x01\x02 \x1b[31mbad\x7f",
    "right-to-left and combining": "\u202eevil\u202c هذا الفيلم رائع Z̴͓̈a̶l̷g̸o",
    "HTML and script": '<script>alert(1)</script><b>bold</b><img src=x onerror="alert(2)">',
    "non-English": "这部电影非常好看。Ce film est magnifique. Этот фильм ужасен.",
}


@pytest.fixture(scope="module")
def bare_pipeline(tiny_model_dir):
    """A model saved without filter n-grams."""
    return SentimentPipeline.from_pretrained(tiny_model_dir)


# --- handlers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["examples", *HOSTILE])
def test_probabilities_sum_to_one(app, pipeline, name):
    texts = [text for _, text in app.EXAMPLES] if name == "examples" else [HOSTILE[name]]
    for text in texts:
        result = app.predict(pipeline, text)
        assert math.isclose(sum(result["probabilities"].values()), 1.0, abs_tol=1e-6)
        assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
        probabilities = app.analyze(pipeline, text)[0]
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-6)


@pytest.mark.parametrize("name", ["examples", *HOSTILE])
def test_contributions_add_up_to_the_logit(app, pipeline, name):
    texts = [text for _, text in app.EXAMPLES] if name == "examples" else [HOSTILE[name]]
    for text in texts:
        result = app.explain(pipeline, text)
        filters_total = sum(f["contribution"] for f in result["filters"])
        assert result["score"] == pytest.approx(result["bias"] + filters_total, abs=1e-4)
        assert result["score"] == pytest.approx(result["bias"] + sum(result["token_scores"]), abs=1e-4)
        negative, positive = pipeline.labels
        logit_gap = math.log(result["probabilities"][positive] / result["probabilities"][negative])
        assert result["score"] == pytest.approx(logit_gap, abs=1e-4)
        assert len(result["filters"]) == pipeline.model.config.num_features


@pytest.mark.parametrize("name", ["examples", *HOSTILE])
def test_every_reported_ngram_is_in_the_text(app, pipeline, name):
    texts = [text for _, text in app.EXAMPLES] if name == "examples" else [HOSTILE[name]]
    for text in texts:
        result = app.explain(pipeline, text)
        tokens = result["tokens"]
        for f in result["filters"]:
            assert f["ngram"] == " ".join(tokens[f["start"] : f["start"] + f["width"]])
            for token in f["ngram"].split(" "):
                assert token in clean(text)
        # the page shows the same n-grams and the same tokens, in order
        _, _, spans, table, _, _ = app.analyze(pipeline, text)
        assert [token for token, _ in spans if token != " "] == [app.visible(t) for t in tokens]
        shown = table[table["activation"] > 0]
        by_filter = {f["filter"]: app.visible(f["ngram"]) for f in result["filters"]}
        assert all(ngram == by_filter[f] for f, ngram in zip(shown["filter"], shown["n-gram in the text"]))


def test_filter_table_is_sorted_by_absolute_contribution(app, pipeline):
    table = app.analyze(pipeline, "A wonderful, moving film. Boring plot though.")[3]
    magnitudes = table["contribution"].abs().tolist()
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert len(table) == pipeline.model.config.num_features


def test_token_colours_use_the_same_scale_both_ways(app):
    largest = 2.0
    for score in (0.1, 0.7, 1.4, 2.0):
        up, down = app.token_level(score, largest), app.token_level(-score, largest)
        assert up.startswith("+") and down.startswith("−") and up[1:] == down[1:]
    assert app.token_level(0.0, largest) is None
    assert app.token_level(2.0, largest).endswith("strong")
    assert app.token_level(0.1, largest).endswith("weak")


def test_controls_and_bidi_overrides_are_shown_as_escapes(app):
    assert app.visible("evil\u202etxt") == "evil\\u202etxt"
    assert app.visible("a\x00b") == "a\\u0000b"
    assert app.visible("👨‍👩‍👧 café هذا") == "👨‍👩‍👧 café هذا"


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "<br /><br />", None, 42, ["a list"]])
def test_bad_input_is_one_clear_message(app, pipeline, text):
    for handler in (app.predict, app.explain, app.analyze):
        with pytest.raises(gr.Error, match="empty|must be a string"):
            handler(pipeline, text)


def test_long_reviews_are_cut_with_a_visible_note(app, pipeline):
    limit = pipeline.max_tokens
    text = "great film " * limit
    result = app.predict(pipeline, text)
    assert result["truncated"] and result["num_tokens"] == limit
    note = app.analyze(pipeline, text)[1]
    assert "cut" in note and str(limit) in note
    assert "cut" not in app.analyze(pipeline, "great film")[1]


def test_hostile_inputs_answer_within_a_second(app, pipeline):
    for name, text in HOSTILE.items():
        start = time.perf_counter()
        app.analyze(pipeline, text)
        assert time.perf_counter() - start < 1.0, name


def test_filter_view_shows_training_ngrams(app, pipeline, bare_pipeline):
    description, table = app.filter_view(pipeline, 3)
    assert "Filter #3" in description
    assert table.iloc[0, 0] == "great film 3"
    description, table = app.filter_view(bare_pipeline, 3)
    assert "without" in description and table.empty
    assert "Pick a filter" in app.filter_view(pipeline, None)[0]
    info = app.filter_ngrams(pipeline, 3)
    assert info["width"] == pipeline.model.config.filter_widths[3 // pipeline.model.config.num_filters]
    assert info["ngrams"][0]["ngram"] == "great film 3"
    for bad in (-1, pipeline.model.config.num_features, 1.5, float("nan"), float("inf"), "3", None, True):
        with pytest.raises(gr.Error):
            app.filter_ngrams(pipeline, bad)


def test_model_source_from_command_line_or_environment(app, monkeypatch):
    monkeypatch.setenv("TEXTCNN_MODEL", "someone/textcnn")
    monkeypatch.setenv("TEXTCNN_REVISION", "abc123")
    assert app.parse_args([]) == ("someone/textcnn", "abc123")
    assert app.parse_args(["--revision", "def456"]) == ("someone/textcnn", "def456")
    assert app.parse_args(["--model", "other/model"]) == ("other/model", None)
    monkeypatch.delenv("TEXTCNN_MODEL")
    monkeypatch.delenv("TEXTCNN_REVISION")
    source, revision = app.parse_args([])
    assert source.endswith("textcnn-imdb") and revision is None


@pytest.mark.skipif(not BUNDLED_MODEL.is_dir(), reason="no bundled model yet (models/textcnn-imdb)")
def test_bundled_model_gets_the_clear_examples_right_in_milliseconds(app):
    pipeline = SentimentPipeline.from_pretrained(BUNDLED_MODEL)
    examples = dict(app.EXAMPLES)
    negative, positive = pipeline.labels
    assert app.predict(pipeline, examples["Clearly positive"])["label"] == positive
    assert app.predict(pipeline, examples["Clearly negative"])["label"] == negative
    assert pipeline.filter_ngrams is not None, "the bundled model should carry filter_ngrams.json"
    app.analyze(pipeline, examples["Long IMDb-style review"])  # warm-up
    start = time.perf_counter()
    for _ in range(5):
        app.analyze(pipeline, examples["Long IMDb-style review"])
    assert (time.perf_counter() - start) / 5 < 0.25  # about 10 ms on a 2-core CPU; generous for shared CI


# --- the launched app, through gradio_client -----------------------------------------------------
@pytest.fixture(scope="module")
def client(app, pipeline):
    from gradio_client import Client

    with serving(app.build_demo(pipeline)) as url:
        yield Client(url, verbose=False)


def test_api_has_named_endpoints(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/predict", "/explain", "/filter_ngrams"} <= set(endpoints)


def test_api_predict_and_explain(client, pipeline):
    text = "A wonderful, moving film. Not boring at all."
    prediction = client.predict(text, api_name="/predict")
    assert math.isclose(sum(prediction["probabilities"].values()), 1.0, abs_tol=1e-6)
    explanation = client.predict(text, api_name="/explain")
    assert explanation["label"] == prediction["label"]
    filters_total = sum(f["contribution"] for f in explanation["filters"])
    assert explanation["score"] == pytest.approx(explanation["bias"] + filters_total, abs=1e-4)
    ngrams = client.predict(explanation["filters"][0]["filter"], api_name="/filter_ngrams")
    assert ngrams["ngrams"][0]["ngram"].startswith("great film")


def test_api_page_event_is_callable(client):
    probabilities, note, spans, table, chart, top_filter = client.predict("great film", api_name="/analyze")
    assert probabilities["label"] in ("negative", "positive")
    assert isinstance(top_filter, int)


@pytest.mark.parametrize("text", ["", "  \n "])
def test_api_empty_text_is_a_clear_error(client, text):
    from gradio_client.exceptions import AppError

    for endpoint in ("/predict", "/explain"):
        with pytest.raises(AppError, match="The review is empty"):
            client.predict(text, api_name=endpoint)


def test_api_hostile_inputs(client):
    for name, text in HOSTILE.items():
        start = time.perf_counter()
        result = client.predict(text, api_name="/explain")
        assert time.perf_counter() - start < 1.0, name
        assert math.isclose(sum(result["probabilities"].values()), 1.0, abs_tol=1e-6), name
    # HTML comes back as the plain text it was (tokens), never interpreted
    tokens = client.predict(HOSTILE["HTML and script"], api_name="/explain")["tokens"]
    assert "alert" in "".join(tokens)


class SlowPipeline:
    """A pipeline whose every call takes a while, to fill the queue."""

    def __init__(self, pipeline: SentimentPipeline, seconds: float) -> None:
        self._pipeline, self._seconds = pipeline, seconds

    def __getattr__(self, name):
        return getattr(self._pipeline, name)

    def __call__(self, text):
        time.sleep(self._seconds)
        return self._pipeline(text)


def test_full_queue_answers_with_a_clear_message(app, pipeline):
    from gradio_client import Client

    with serving(app.build_demo(SlowPipeline(pipeline, 1.0), max_queue_size=1, concurrency_limit=1)) as url:
        client = Client(url, verbose=False)
        outcomes: list[str] = []

        def call() -> None:
            try:
                client.predict("great film", api_name="/predict")
                outcomes.append("answered")
            except Exception as error:  # the client's QueueError, or AppError, depending on timing
                outcomes.append(str(error))

        threads = [threading.Thread(target=call) for _ in range(4)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads), "a request hung"
        assert "answered" in outcomes
        refused = [outcome for outcome in outcomes if outcome != "answered"]
        assert refused and all("queue is full" in outcome.lower() for outcome in refused), outcomes
        assert time.perf_counter() - start < 10
