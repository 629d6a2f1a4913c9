"""The Gradio demo: its handlers called directly, then the launched app used through gradio_client and MCP."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time

import gradio as gr
import pytest

from app_server import app, free_port, pipeline, serving  # noqa: F401 (app, pipeline: shared fixtures)
from benchmarks.hostile import REVIEWS as HOSTILE
from textcnn.pipeline import BUNDLED_MODEL, SentimentPipeline
from textcnn.tokenizer import clean


@pytest.fixture(scope="module")
def bare_pipeline(tiny_model_dir):
    """A model saved without filter n-grams."""
    return SentimentPipeline.from_pretrained(tiny_model_dir)


def texts_for(app, name: str) -> list[str]:
    return [text for _, text in app.EXAMPLES] if name == "examples" else [HOSTILE[name]]


# --- handlers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["examples", *HOSTILE])
def test_probabilities_sum_to_one(app, pipeline, name):
    for text in texts_for(app, name):
        result = app.predict(pipeline, text)
        assert set(result["probabilities"]) == {"negative", "positive"}  # the page's names, not neg/pos
        assert math.isclose(sum(result["probabilities"].values()), 1.0, abs_tol=1e-6)
        assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
        shown = app.analyze(pipeline, text).verdict
        assert math.isclose(sum(shown.probabilities.values()), 1.0, abs_tol=1e-6)
        assert shown.label == result["label"]


@pytest.mark.parametrize("name", ["examples", *HOSTILE])
def test_contributions_add_up_to_the_logit(app, pipeline, name):
    for text in texts_for(app, name):
        result = app.explain(pipeline, text)
        filters_total = sum(f["contribution"] for f in result["filters"])
        assert result["score"] == pytest.approx(result["bias"] + filters_total, abs=1e-4)
        assert result["score"] == pytest.approx(result["bias"] + sum(result["token_scores"]), abs=1e-4)
        logit_gap = math.log(result["probabilities"]["positive"] / result["probabilities"]["negative"])
        assert result["score"] == pytest.approx(logit_gap, abs=1e-4)
        assert len(result["filters"]) == pipeline.model.config.num_features
        # the page's arithmetic is the same sum
        shown = app.analyze(pipeline, text).arithmetic
        assert shown.score == pytest.approx(shown.bias + shown.filters_total, abs=1e-4)


@pytest.mark.parametrize("name", ["examples", *HOSTILE])
def test_every_reported_ngram_is_in_the_text(app, pipeline, name):
    for text in texts_for(app, name):
        result = app.explain(pipeline, text)
        tokens = result["tokens"]
        for f in result["filters"]:
            assert f["ngram"] == " ".join(tokens[f["start"] : f["start"] + f["width"]])
            for token in f["ngram"].split(" "):
                assert token in clean(text)
        # the page shows the same tokens, in order, and the same n-grams
        spans = app.analyze(pipeline, text).tokens
        assert [token for token, _ in spans if token != " "] == [app.presentation.visible(t) for t in tokens]
        by_filter = {f["filter"]: app.presentation.visible(f["ngram"]) for f in result["filters"]}
        for row in app.full_filter_table(pipeline, text).rows:
            if row[4] > 0:
                assert row[2] == by_filter[row[0]]


def test_the_page_gets_the_strongest_filters_and_all_of_them_on_demand(app, pipeline):
    text = "A wonderful, moving film. Boring plot though."
    shown = app.analyze(pipeline, text, table_rows=3).table
    everything = app.full_filter_table(pipeline, text)
    assert len(shown.rows) == 3 and len(everything.rows) == pipeline.model.config.num_features
    assert shown.rows == everything.rows[:3]
    magnitudes = [abs(row[1]) for row in everything.rows]
    assert magnitudes == sorted(magnitudes, reverse=True)


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "<br /><br />", None, 42, ["a list"]])
def test_bad_input_is_one_clear_message(app, pipeline, text):
    assert app.review_problem(text) in (app.EMPTY_MESSAGE, app.NOT_TEXT_MESSAGE)
    for handler in (app.predict, app.explain, app.analyze):
        with pytest.raises(gr.Error, match="empty|must be a string"):
            handler(pipeline, text)
    assert app.review_problem("great film") is None


def test_long_reviews_are_cut_with_a_visible_note(app, pipeline):
    limit = pipeline.max_tokens
    text = "great film " * limit
    result = app.predict(pipeline, text)
    assert result["truncated"] and result["num_tokens"] == limit
    names = app.names_of(pipeline)
    cut = app.analyze(pipeline, text)
    assert "cut" in app.verdict_html(cut.verdict, cut.words, names, limit) and str(limit) in app.verdict_html(
        cut.verdict, cut.words, names, limit)
    whole = app.analyze(pipeline, "great film")
    assert "cut" not in app.verdict_html(whole.verdict, whole.words, names, limit)


def test_taking_a_token_out_is_the_model_run_on_the_rest(app, pipeline):
    text = "the plot was boring and the actors were wonderful"
    tokens = pipeline.explain(text).tokens
    gone = tokens.index("boring")
    explanation, result = app.remove_tokens(pipeline, text, [gone])
    without = pipeline.explain("the plot was and the actors were wonderful")  # the same tokens, one fewer
    assert result.removed == ["boring"]
    assert result.score == pytest.approx(without.score, abs=1e-5)
    assert result.original_score == pytest.approx(explanation.score)
    assert result.probabilities["positive"] == pytest.approx(without.prediction.probabilities["pos"], abs=1e-6)
    assert app.remove_tokens(pipeline, text, [])[1].score == pytest.approx(explanation.score, abs=1e-5)
    assert app.remove_tokens(pipeline, text, list(range(len(tokens))))[1].probabilities is None
    # positions outside the text are ignored, not an error
    assert app.remove_tokens(pipeline, text, [gone, 10_000])[1].removed == ["boring"]


def test_filter_view_shows_training_ngrams(app, pipeline, bare_pipeline):
    view = app.filter_view(pipeline, 3)
    assert view.filter == 3 and view.ngrams.rows[0][0] == "great film 3"
    assert view.ngrams.rows[1][0] == "<b>not</b> bad"  # text; the page escapes it
    assert app.filter_view(bare_pipeline, 3).ngrams is None
    info = app.filter_ngrams(pipeline, 3)
    assert info["width"] == pipeline.model.config.filter_widths[3 // pipeline.model.config.num_filters]
    assert info["ngrams"][0]["ngram"] == "great film 3"
    assert info["direction"] in ("negative", "positive")
    for bad in (-1, pipeline.model.config.num_features, 1.5, float("nan"), float("inf"), "3", None, True):
        with pytest.raises(gr.Error):
            app.filter_ngrams(pipeline, bad)


def test_metrics_come_from_the_pipeline_or_the_model_folder(app, pipeline, tmp_path):
    assert not app.model_metrics(pipeline)  # the tiny model folder has no metrics.json

    class WithMetrics:
        metrics = {"test_accuracy": 0.9}
        model = pipeline.model

    assert app.model_metrics(WithMetrics()) == {"test_accuracy": 0.9}

    class FromFolder:
        metrics = None
        folder = tmp_path
        model = pipeline.model

    (tmp_path / "metrics.json").write_text(json.dumps({"test_accuracy": 0.8}))
    assert app.model_metrics(FromFolder()) == {"test_accuracy": 0.8}
    (tmp_path / "metrics.json").write_text("{not json")
    assert app.model_metrics(FromFolder()) is None


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
def test_bundled_model_gets_the_clear_examples_right_and_says_how_good_it_is(app):
    pipeline = SentimentPipeline.from_pretrained(BUNDLED_MODEL)
    examples = dict(app.EXAMPLES)
    assert app.predict(pipeline, examples["Clearly positive"])["label"] == "positive"
    assert app.predict(pipeline, examples["Clearly negative"])["label"] == "negative"
    assert app.predict(pipeline, examples["Negation"])["label"] == "positive"  # "not bad at all. Not boring"
    assert pipeline.filter_ngrams is not None, "the bundled model should carry filter_ngrams.json"
    facts = app.model_facts(app.model_metrics(pipeline))
    assert facts.test_accuracy is not None and 0.5 < facts.test_accuracy <= 1


# --- the launched app, through gradio_client -----------------------------------------------------
@pytest.fixture(scope="module")
def client(app, pipeline):
    from gradio_client import Client

    with serving(app.build_demo(pipeline)) as url:
        yield Client(url, verbose=False)


def test_api_is_the_three_endpoints_with_declared_fields(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/predict", "/explain", "/filter_ngrams"}  # page events are not API
    returns = {name: endpoint["returns"][0]["python_type"]["type"] for name, endpoint in endpoints.items()}
    assert "label: str" in returns["/predict"] and "probabilities: dict(str, float)" in returns["/predict"]
    assert "filters: list[dict(filter: int" in returns["/explain"]
    assert "ngrams: None | list[dict(ngram: str, activation: float)]" in returns["/filter_ngrams"]
    assert "Any" not in "".join(returns.values())


def test_api_predict_and_explain(client, pipeline):
    text = "A wonderful, moving film. Not boring at all."
    prediction = client.predict(text, api_name="/predict")
    assert prediction["label"] in ("negative", "positive")
    assert math.isclose(sum(prediction["probabilities"].values()), 1.0, abs_tol=1e-6)
    explanation = client.predict(text, api_name="/explain")
    assert explanation["label"] == prediction["label"]
    filters_total = sum(f["contribution"] for f in explanation["filters"])
    assert explanation["score"] == pytest.approx(explanation["bias"] + filters_total, abs=1e-4)
    ngrams = client.predict(explanation["filters"][0]["filter"], api_name="/filter_ngrams")
    assert ngrams["ngrams"][0]["ngram"].startswith("great film")


@pytest.mark.parametrize("text", ["", "  \n "])
def test_api_empty_text_is_a_clear_error(client, text):
    from gradio_client.exceptions import AppError

    for endpoint in ("/predict", "/explain"):
        with pytest.raises(AppError, match="The review is empty"):
            client.predict(text, api_name=endpoint)


def test_api_hostile_inputs(client):
    for name, text in HOSTILE.items():
        result = client.predict(text, api_name="/explain")
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
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a request hung"
        assert "answered" in outcomes
        refused = [outcome for outcome in outcomes if outcome != "answered"]
        assert refused and all("queue is full" in outcome.lower() for outcome in refused), outcomes


# --- the same endpoints as MCP tools -------------------------------------------------------------
def test_mcp_lists_the_three_tools_and_predicts(app, pipeline):
    pytest.importorskip("mcp", reason="needs the mcp package (requirements.txt)")
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    demo = app.build_demo(pipeline)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                            ssr_mode=False, mcp_server=True)

    async def session_results():
        async with streamablehttp_client(url.rstrip("/") + "/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = (await session.list_tools()).tools
                called = await session.call_tool("predict", {"text": "A wonderful, moving film."})
                return tools, called

    try:
        tools, called = asyncio.run(session_results())
    finally:
        demo.close()
    by_name = {tool.name: tool for tool in tools}
    assert set(by_name) == {"predict", "explain", "filter_ngrams"}
    assert by_name["predict"].inputSchema["properties"]["text"]["description"].startswith("the review")
    assert "filter_index" in by_name["filter_ngrams"].inputSchema["properties"]
    assert "probabilities" in by_name["predict"].description  # the declared return fields
    assert not called.isError
    text = called.content[0].text
    expected = app.predict(pipeline, "A wonderful, moving film.")
    assert expected["label"] in text and f"{expected['probabilities']['positive']:.6f}"[:6] in text


def test_the_page_names_the_model_s_own_filter_widths(app):
    assert "every 3-, 4- or 5-token window" in app.filter_help((3, 4, 5))
    assert "every 2-token window" in app.filter_help([2, 2])
