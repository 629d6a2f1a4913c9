"""The behavioural suite covers what it claims, scores what it should, and its benchmark runs (quick mode)."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from benchmarks import behavior, behavior_suite
from benchmarks.behavior_suite import NAMES, build_suite, capabilities, perturbations, typo
from textcnn.facts import CAPABILITY_WORDS, model_facts

REQUIRED = {
    "vocabulary: adjectives", "vocabulary: verbs", "vocabulary: nouns",
    "negation: positive adjectives", "negation: negative adjectives", "negation: positive verbs", "negation: negative verbs",
    "contrast", "intensifiers", "diminishers",
    "invariance: names", "invariance: typos", "invariance: punctuation", "invariance: line breaks", "invariance: casing",
}


@pytest.fixture(scope="module")
def suite():
    return build_suite()


def test_suite_covers_every_capability_with_enough_cases(suite):
    counts = Counter(case.capability for case in suite)
    assert len(suite) >= 500 and set(counts) == REQUIRED
    assert min(counts.values()) >= 15
    assert len({(c.text, c.pair) for c in suite}) == len(suite)  # no duplicate case
    assert build_suite() == suite  # deterministic


def test_negation_cases_use_every_negator_with_and_without_at_all(suite):
    negation = [c.text.lower() for c in suite if c.capability.startswith("negation")]
    for negator in ("not ", "n't ", "never ", "no "):
        assert any(negator in text for text in negation), negator
    assert any("at all" in t for t in negation) and any("at all" not in t for t in negation)
    # negating a positive word gives a negative label and the reverse
    for case in suite:
        if case.capability.startswith("negation: positive"):
            assert case.label == 0
        elif case.capability.startswith("negation: negative"):
            assert case.label == 1


def test_expectation_cases_have_labels_and_invariance_cases_have_a_different_pair(suite):
    for case in suite:
        if case.capability.startswith("invariance"):
            assert case.label is None and case.pair and case.pair != case.text
        else:
            assert case.label in (0, 1) and case.pair is None
    labels = Counter(c.label for c in suite if c.label is not None and not c.capability.startswith("negation"))
    assert labels[0] == labels[1]  # balanced where both directions are tested


def test_perturbations():
    import random

    rng = random.Random(0)
    text = "Emma was charming in this film. The story was great."
    out = perturbations(text, rng)
    assert "Emma" not in out["invariance: names"] and any(n in out["invariance: names"] for n in NAMES)
    assert out["invariance: line breaks"].count("<br />") == 3
    assert out["invariance: casing"] in (text.upper(), text.lower())
    assert out["invariance: punctuation"].rstrip("!") == text.rstrip(".")
    misspelt = typo(text, random.Random(1))
    changed = [(a, b) for a, b in zip(text.split(), misspelt.split()) if a != b]
    assert len(misspelt) == len(text) and len(changed) == 1 and sorted(changed[0][0]) == sorted(changed[0][1])


def test_pass_rates_score_expectations_and_invariance(suite):
    always_positive = behavior.pass_rates(suite, lambda texts: [1] * len(texts))
    assert always_positive["negation: negative adjectives"]["rate"] == 1.0
    assert always_positive["negation: positive adjectives"]["rate"] == 0.0
    assert always_positive["vocabulary: adjectives"]["rate"] == 0.5
    assert always_positive["invariance: casing"]["rate"] == 1.0
    # every failure is listed, so a reader can count the misses of each kind
    assert always_positive["negation: positive adjectives"]["failures"] == [
        c.text for c in suite if c.capability == "negation: positive adjectives"]
    # a model that reads only the letter case fails every casing case whose perturbation is upper case
    by_case = behavior.pass_rates(suite, lambda texts: [int(t.isupper()) for t in texts])
    upper = sum(c.pair.isupper() for c in suite if c.capability == "invariance: casing")
    assert by_case["invariance: casing"]["passed"] == 40 - upper
    assert list(always_positive) == capabilities(suite)


def test_source_accuracy_and_targets():
    accuracy = behavior.source_accuracy(["a", "b", "c", "d"], [1, 0, 1, 1], ["yelp", "yelp", "amazon", "amazon"],
                                        lambda texts: [1, 1, 1, 0])
    assert accuracy == {"amazon": {"accuracy": 0.5, "examples": 2, "by_label": {"negative": None, "positive": 0.5}},
                        "yelp": {"accuracy": 0.5, "examples": 2, "by_label": {"negative": 0.0, "positive": 1.0}}}
    split = behavior.source_accuracy(["a", "b", "c", "d"], [1, 0, 1, 1], ["yelp", "yelp", "amazon", "amazon"],
                                     lambda texts: [1, 1, 1, 0], negated=[True, True, False, True])
    assert split["yelp"]["by_negator"] == {"with": 0.5, "without": None, "examples_with": 2}
    assert split["amazon"]["by_negator"] == {"with": 0.0, "without": 1.0, "examples_with": 1}
    rates = {"negation: positive verbs": {"rate": 0.9}, "contrast": {"rate": 0.84}, "intensifiers": {"rate": 0.1}}
    met = behavior.targets_met(rates, {"yelp": {"accuracy": 0.88}})
    assert met == {"negation: positive verbs": True, "contrast": False, "short sentences: yelp": True}


@pytest.mark.parametrize(("text", "bare"), [
    ("Great phone.", "Great phone"), ("Not bad at all!!! ", "Not bad at all"), ('He said "wow."', 'He said "wow'),
    ("Great phone", "Great phone"), ("!!!", "!!!"),
])
def test_without_end_punctuation(text, bare):
    assert behavior.without_end_punctuation(text) == bare


def test_source_accuracy_reads_the_sentences_again_without_their_closing_punctuation():
    def ends_with_a_stop(texts):  # a model that says positive only when a sentence closes with "."
        return [int(t.endswith(".")) for t in texts]
    accuracy = behavior.source_accuracy(["Good.", "Good!", "Bad.", "Fine."], [1, 1, 0, 1], ["yelp"] * 4,
                                        ends_with_a_stop, unpunctuated=True)
    assert accuracy["yelp"]["accuracy"] == 0.5 and accuracy["yelp"]["unpunctuated"] == 0.25


def test_source_accuracy_scores_the_unseen_sentences_apart():
    accuracy = behavior.source_accuracy(["a", "b", "c", "d"], [1, 0, 1, 1], ["yelp", "yelp", "amazon", "amazon"],
                                        lambda texts: [1, 1, 1, 0], unseen=[True, False, False, False])
    assert accuracy["yelp"]["unseen"] == {"accuracy": 1.0, "examples": 1}
    assert accuracy["amazon"]["unseen"] == {"accuracy": None, "examples": 0}


def test_snippets_leave_the_sentences_a_model_trained_on_out_of_the_unseen_score(tiny_model_dir, tiny_imdb, tmp_path):
    import pandas as pd
    from textcnn.snippets import CORPORA

    for corpus, name in CORPORA.items():
        (tmp_path / name).write_text("1\t2.5\tGREAT phone .\n" if corpus == "amazon" else "1\t0\tnews\n")
    path = tmp_path / "sentences.parquet"
    pd.DataFrame({"text": ["Great phone!", "Awful battery.", "Lovely food.", "Cold fries."], "label": [1, 0, 1, 0],
                  "source": ["amazon", "amazon", "yelp", "yelp"]}).to_parquet(path)
    record = behavior.main(["--quick", "--model", str(tiny_model_dir), "--dataset", str(tiny_imdb), "--sentences",
                            str(path), "--snippets", str(tmp_path), "--output", str(tmp_path / "behavior.json")])
    short = record["results"]["textcnn"]["short_sentences"]
    assert short["amazon"]["unseen"]["examples"] == 1 and short["yelp"]["unseen"]["examples"] == 2
    assert record["config"]["snippets"] == str(tmp_path)


def test_typed_negations_retype_only_the_contracted_negations():
    suite = [behavior_suite.Case("negation: positive verbs", "I didn't enjoy it.", 0),
             behavior_suite.Case("negation: negative verbs", "I didn't hate it.", 1),
             behavior_suite.Case("negation: negative verbs", "I never hated it.", 1),
             behavior_suite.Case("contrast", "It wasn't bad, but dull.", 0)]
    seen = []

    def reads_only_plain_apostrophes(texts):  # right on "n't", positive on anything else
        seen.extend(texts)
        return [0 if "enjoy" in t and "n't" in t else 1 for t in texts]
    typed = behavior.typed_negations(suite, reads_only_plain_apostrophes)
    assert typed == {"cases": 2, "pass_rates": {"n't": 1.0, "n\u2019t": 0.5, "nt": 0.5}}
    assert "I didn\u2019t enjoy it." in seen and "I didnt hate it." in seen
    assert not any("never" in t or "bad" in t for t in seen)


def test_record_measurements_keeps_the_other_metrics_and_the_page_reads_them(tmp_path, tiny_model_dir):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "metrics.json").write_text(json.dumps({"test_accuracy": 0.9}))
    behavior.record_measurements(folder, {"amazon": {"accuracy": 0.8, "examples": 10}, "yelp": {"accuracy": 0.7, "examples": 12}},
                                 {"contrast": {"cases": 4, "rate": 0.25}, "negation: negative adjectives": {"cases": 6, "rate": 1.0}})
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics == {"test_accuracy": 0.9, "short_sentences": {"amazon": 0.8, "yelp": 0.7, "examples": 22},
                       "behavior": {"cases": 10, "pass_rates": {"contrast": 0.25, "negation: negative adjectives": 1.0}}}
    facts = model_facts(metrics)
    assert facts.pass_rates == (("negation: negative adjectives", 1.0), ("contrast", 0.25))


def test_the_page_names_capabilities_the_suite_measures():
    assert set(CAPABILITY_WORDS) <= REQUIRED


def test_quick_run_writes_both_models_results(tiny_model_dir, tiny_imdb, tmp_path):
    out = tmp_path / "behavior.json"
    record = behavior.main(["--quick", "--model", str(tiny_model_dir), "--dataset", str(tiny_imdb),
                            "--sentences", str(tmp_path / "absent.parquet"), "--output", str(out)])
    written = json.loads(out.read_text())
    assert written["benchmark"] == "behavior" and written["quick"] is True
    assert written["config"]["sentences"] == "synthetic"
    for name in ("textcnn", "tfidf_logreg"):
        result = written["results"][name]
        assert set(result["capabilities"]) == REQUIRED
        assert all(0 <= r["rate"] <= 1 and r["cases"] > 0 for r in result["capabilities"].values())
        assert set(result["short_sentences"]) == {"yelp", "amazon"}
    assert set(record["behavior_target_met"]) >= {"contrast", "short sentences: yelp"}


def test_quick_mode_takes_a_slice_of_each_source_of_a_sentences_file(tmp_path):
    import pandas as pd

    path = tmp_path / "sentences.parquet"
    pd.DataFrame({"text": [f"s{i}" for i in range(230)], "label": [i % 2 for i in range(230)],
                  "source": ["yelp"] * 200 + ["amazon"] * 30}).to_parquet(path)
    texts, labels, sources, origin = behavior.load_sentences(path, quick=True, seed=0)
    assert origin == str(path) and len(texts) == len(labels) == len(sources)
    assert sources.count("yelp") == behavior.QUICK_SENTENCES_PER_SOURCE and sources.count("amazon") == 30
    assert all(labels[i] == int(texts[i][1:]) % 2 for i in range(len(texts)))  # rows stay whole


def test_record_refuses_quick_mode(tiny_model_dir):
    with pytest.raises(SystemExit):
        behavior.main(["--quick", "--record", "--model", str(tiny_model_dir)])


def test_quick_run_scores_the_teachers_on_the_same_cases(tiny_model_dir, tiny_imdb, tmp_path):
    out = tmp_path / "behavior.json"
    behavior.main(["--quick", "--teachers", "--model", str(tiny_model_dir), "--dataset", str(tiny_imdb),
                   "--sentences", str(tmp_path / "absent.parquet"), "--output", str(out)])
    results = json.loads(out.read_text())["results"]
    teachers = ("ngram_teacher", "ngram_teacher_negation_scope", "ngram_teacher_negation_contrast_scope")
    assert set(teachers) <= set(results)
    for name in teachers:
        assert set(results[name]["capabilities"]) == REQUIRED
        assert set(results[name]["short_sentences"]) == {"yelp", "amazon"}

    # the bundled command's labels, VADER centred as train.py --vader-centre centres it
    assert set(results["ngram_teacher_negation_contrast_scope_plus_2_vader_centred"]["short_sentences"]) == {"yelp", "amazon"}
    assert set(results["ngram_teacher_negation_contrast_scope_plus_2_vader_centred_flip_1"]["short_sentences"]) == {"yelp", "amazon"}
    # what --self-distill trains the spans towards: the bundled command's labels plus the model's log-odds
    for weight in behavior.SELF_DISTILL_WEIGHTS:
        assert set(results[f"ngram_teacher_negation_contrast_scope_plus_2_vader_centred_flip_1_plus_{weight}_textcnn"]["short_sentences"]) == {"yelp", "amazon"}
