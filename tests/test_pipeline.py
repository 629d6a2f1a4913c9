import pytest

from textcnn.pipeline import EmptyTextError, SentimentPipeline, is_empty

TEXTS = ["great film", "awful boring mess", "the", "a great great film and the actors were superb !", "x " * 80]


@pytest.fixture(scope="module")
def pipeline(tiny_model_dir):
    return SentimentPipeline.from_pretrained(tiny_model_dir)


def test_batch_predictions_equal_one_by_one(pipeline):
    batched = pipeline.predict(TEXTS)
    for text, prediction in zip(TEXTS, batched):
        alone = pipeline(text)
        assert alone.label == prediction.label
        for label in ("neg", "pos"):
            assert alone.probabilities[label] == pytest.approx(prediction.probabilities[label], abs=1e-6)


@pytest.mark.parametrize("text", TEXTS)
def test_explanation_adds_up_exactly(pipeline, text):
    explanation = pipeline.explain(text)
    contributions = sum(f.contribution for f in explanation.filters)
    assert explanation.bias + contributions == pytest.approx(explanation.score, abs=1e-5)
    assert explanation.bias + sum(explanation.token_scores) == pytest.approx(explanation.score, abs=1e-5)
    assert sum(explanation.prediction.probabilities.values()) == pytest.approx(1.0)
    assert len(explanation.token_scores) == len(explanation.tokens)


@pytest.mark.parametrize("text", TEXTS)
def test_every_reported_ngram_is_in_the_text(pipeline, text):
    explanation = pipeline.explain(text)
    for evidence in explanation.filters:
        ngram_tokens = explanation.tokens[evidence.start : evidence.start + evidence.width]
        assert evidence.ngram == " ".join(ngram_tokens)
        assert evidence.ngram in " ".join(explanation.tokens)


def test_filters_are_sorted_by_absolute_contribution(pipeline):
    magnitudes = [abs(f.contribution) for f in pipeline.explain(TEXTS[3]).filters]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_long_texts_are_truncated_and_say_so(pipeline):
    prediction = pipeline("great " * 500)
    assert prediction.truncated and prediction.num_tokens == pipeline.max_tokens


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "<br /><br />"])
def test_empty_text_is_a_clear_error(pipeline, text):
    assert is_empty(text)
    with pytest.raises(EmptyTextError, match="empty"):
        pipeline(text)
    with pytest.raises(EmptyTextError):
        pipeline.explain(text)


@pytest.mark.native_bf16
def test_bf16_batch_predictions_stay_close_to_fp32(tiny_model_dir):
    fp32 = SentimentPipeline.from_pretrained(tiny_model_dir)
    bf16 = SentimentPipeline.from_pretrained(tiny_model_dir, method="conv-bf16")
    for a, b in zip(fp32.predict(TEXTS), bf16.predict(TEXTS)):
        assert a.probabilities["pos"] == pytest.approx(b.probabilities["pos"], abs=2e-2)


def test_worker_processes_give_the_same_predictions(tiny_model_dir):
    from tests.conftest import make_reviews

    texts, _ = make_reviews(600, seed=3)  # enough for the pool to be used
    alone = SentimentPipeline.from_pretrained(tiny_model_dir).predict(texts)
    with SentimentPipeline.from_pretrained(tiny_model_dir, workers=2) as pooled:
        parallel = pooled.predict(texts)
        assert pooled._pool is not None
    assert [p.as_dict() for p in parallel] == [p.as_dict() for p in alone]


def test_once_the_workers_run_a_small_batch_goes_to_them_too(tiny_model_dir):
    from tests.conftest import make_reviews

    texts, _ = make_reviews(600, seed=4)
    alone = SentimentPipeline.from_pretrained(tiny_model_dir).predict(texts[:5])
    with SentimentPipeline.from_pretrained(tiny_model_dir, workers=2) as pooled:
        pooled.predict(texts)  # a large input's first chunk starts the workers
        last = pooled.predict(texts[:5])  # its last chunk: no spaCy to build in this process for it
        assert pooled._tokenizer is None
    assert [p.as_dict() for p in last] == [p.as_dict() for p in alone]


def test_an_empty_text_in_a_worker_is_still_a_clear_error(tiny_model_dir):
    texts = ["a great film"] * 600 + ["  "]
    with SentimentPipeline.from_pretrained(tiny_model_dir, workers=2) as pooled:
        with pytest.raises(EmptyTextError, match="empty"):
            pooled.predict(texts)


@pytest.mark.parametrize("seed", range(5))
def test_length_batches_cover_every_text_once_within_the_budgets(seed):
    import numpy as np

    from textcnn.pipeline import length_batches

    lengths = np.random.default_rng(seed).integers(1, 400, size=300)
    batches = length_batches(lengths, batch_size=16, max_tokens=1_000, min_length=5)
    assert sorted(np.concatenate(batches).tolist()) == list(range(300))
    for batch in batches:
        padded = len(batch) * max(int(lengths[batch].max()), 5)
        assert len(batch) <= 16 and (padded <= 1_000 or len(batch) == 1)


def test_length_batches_reference_case():
    import numpy as np

    from textcnn.pipeline import length_batches

    # sorted: 1, 2, 3, 10, 10; at most 3 per batch and 20 padded tokens (lengths below 4 count as 4)
    batches = length_batches(np.array([10, 1, 3, 2, 10]), batch_size=3, max_tokens=20, min_length=4)
    assert [b.tolist() for b in batches] == [[1, 3, 2], [0, 4]]


@pytest.mark.parametrize("method,tolerance", [("lookup", 1e-6), ("lookup-int8", 2e-2)])
def test_lookup_batch_predictions_match_the_convolutions(tiny_model_dir, method, tolerance):
    from tests.conftest import make_reviews

    texts, _ = make_reviews(300, seed=5)
    convolutions = SentimentPipeline.from_pretrained(tiny_model_dir).predict(texts)
    lookup = SentimentPipeline.from_pretrained(tiny_model_dir, method=method)
    assert lookup.lookup is not None and lookup.lookup.int8 == (method == "lookup-int8")
    for a, b in zip(convolutions, lookup.predict(texts)):
        assert (a.num_tokens, a.truncated) == (b.num_tokens, b.truncated)
        assert a.probabilities["pos"] == pytest.approx(b.probabilities["pos"], abs=tolerance)


def test_method_can_change_and_must_be_known(tiny_model_dir):
    pipeline = SentimentPipeline.from_pretrained(tiny_model_dir, method="lookup")
    pipeline.method = "conv"
    assert pipeline.lookup is None
    with pytest.raises(ValueError, match="method must be one of conv, conv-bf16, lookup, lookup-int8"):
        pipeline.method = "fast"


@pytest.mark.parametrize("text", ["bad \ud800 film", "\udfff", "great \ud83d\ude00 film"])
def test_lone_surrogates_are_replaced_not_refused(pipeline, text):
    prediction = pipeline(text)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0)
    explanation = pipeline.explain(text)
    assert "\ufffd" in "".join(explanation.tokens)
    assert not any("\ud800" <= character <= "\udfff" for token in explanation.tokens for character in token)


def test_batch_ids_equal_the_ids_of_encode(pipeline):
    """The memoised chunk-to-ids path of batch prediction gives encode's ids and truncation flag exactly."""
    from tests.conftest import make_reviews

    texts, _ = make_reviews(100, seed=7)
    texts += ["x" * 5_000, "word " * 3_000, "(" * 300 + " ok", "bad \ud800 film", "a" * 99 + " " + "b" * 101,
              "great film " * 24 + "(" * 150, "unknownword great"]
    encoder = pipeline.id_encoder()
    for _ in range(2):  # new chunks, then memoised ones
        for text in texts:
            _, ids, truncated = pipeline.encode(text)
            batch_ids, batch_truncated = encoder(text)
            assert (batch_ids.tolist(), batch_truncated) == (ids.tolist(), truncated), text[:50]
    with pytest.raises(EmptyTextError):
        encoder(" <br /> ")
