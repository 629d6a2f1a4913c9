"""Training-side text: templates fill and label correctly, spans and negation scope are cut right,
and nothing training may use overlaps the held-out behavioural suite."""

from __future__ import annotations

import random
import re

import pytest

from benchmarks import behavior_suite
from textcnn import augment
from textcnn.augment import TRAINING_LEXICON, TRAINING_TEMPLATES, Lexicon, Template, fill, mark_contrast, mark_negation, sample_spans, sentence_spans, synthetic_sentences, teacher_view

HELD_OUT_TEMPLATES = behavior_suite.TEMPLATES + behavior_suite.INVARIANCE_TEMPLATES
TINY = Lexicon((["bad"], ["good"]), ([("hate", "hated")], [("love", "loved")]), (["mess"], ["gem"]),
               ["the film"], ["Ann"], ["very"], ["a bit"], ["didn't"])


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", re.sub(r"\{\w+\}", " ", text.lower())))


def test_training_and_held_out_templates_are_disjoint():
    training = {t.text for t in TRAINING_TEMPLATES}
    held_out = {t.text for t in HELD_OUT_TEMPLATES}
    assert training and held_out and not training & held_out


def test_training_and_held_out_sentiment_words_are_disjoint():
    training, held_out = TRAINING_LEXICON.sentiment_words(), behavior_suite.HELD_OUT_LEXICON.sentiment_words()
    assert len(training) >= 40 and len(held_out) >= 40
    assert not training & held_out
    # nor does a held-out sentiment word hide in a training template's fixed text, or the reverse
    assert not set().union(*(words(t.text) for t in TRAINING_TEMPLATES)) & held_out
    assert not set().union(*(words(t.text) for t in HELD_OUT_TEMPLATES)) & training
    assert not set(TRAINING_LEXICON.names) & set(behavior_suite.HELD_OUT_LEXICON.names)


def test_fill_labels_by_the_deciding_word_and_flips_negations():
    rng = random.Random(0)
    assert fill(Template("x", "The film is {adj_a}."), 1, TINY, rng) == ("The film is good.", 1)
    assert fill(Template("x", "It is not {adj_a} at all.", flip=True), 0, TINY, rng) == ("It is not bad at all.", 1)
    assert fill(Template("x", "{adj_b} at first, but I {verbed_a} it."), 0, TINY, rng) == ("Good at first, but I hated it.", 0)
    assert fill(Template("x", "I {aux} {verb_a} {subject}.", flip=True), 1, TINY, rng) == ("I didn't love the film.", 0)
    assert fill(Template("x", "{name}: a {adj_a} one"), 0, TINY, rng) == ("Ann: a bad one", 0)
    awful = Lexicon((["awful"], ["good"]), TINY.verbs, TINY.nouns, TINY.subjects, TINY.names, TINY.intensifiers, TINY.diminishers)
    assert fill(Template("x", "A {adj_a} film"), 0, awful, rng)[0] == "An awful film"


def test_synthetic_sentences_are_balanced_complete_and_deterministic():
    texts, labels = synthetic_sentences(400, seed=3)
    assert len(texts) == 400 and sum(labels) == 200
    assert not any("{" in t or "}" in t for t in texts)
    assert (texts, labels) == synthetic_sentences(400, seed=3)
    assert texts != synthetic_sentences(400, seed=4)[0]
    # every training template is usable with the training lexicon
    rng = random.Random(0)
    for template in TRAINING_TEMPLATES:
        for polarity in (0, 1):
            text, label = fill(template, polarity, TRAINING_LEXICON, rng)
            assert label == (1 - polarity if template.flip else polarity)


def test_sentence_spans_cut_after_sentence_ends_and_skip_short_and_long_ones():
    tokens = "it was good . ok ! the plot , however , was not bad at all ; fin".split()
    assert list(sentence_spans(tokens, min_tokens=3)) == [
        ["it", "was", "good", "."], ["the", "plot", ",", "however", ",", "was", "not", "bad", "at", "all", ";"]]
    assert list(sentence_spans(tokens, min_tokens=1, max_tokens=4)) == [["it", "was", "good", "."], ["ok", "!"], ["fin"]]
    assert list(sentence_spans(["wow", "...", "great", "film", "!!!"], min_tokens=2)) == [["wow", "..."], ["great", "film", "!!!"]]


def test_sample_spans_takes_at_most_two_per_document_deterministically():
    documents = [f"a{i} b . c{i} d . e{i} f .".split() for i in range(10)]
    spans = sample_spans(documents, 12, seed=1, min_tokens=2)
    assert len(spans) == 12 and spans == sample_spans(documents, 12, seed=1, min_tokens=2)
    per_document = {}
    for span in spans:
        per_document[span[0][1:]] = per_document.get(span[0][1:], 0) + 1
    assert max(per_document.values()) <= 2
    assert len(sample_spans(documents, 100, min_tokens=2)) == 30  # two per document are too few: three each


@pytest.mark.parametrize("count, most", [(20, 2), (21, 3), (30, 3), (31, 4)])
def test_sample_spans_takes_more_per_document_only_when_two_are_too_few(count, most):
    documents = [f"a{i} b . c{i} d . e{i} f . g{i} h .".split() for i in range(10)]
    spans = sample_spans(documents, count, seed=2, min_tokens=2)
    assert len(spans) == count and len({tuple(span) for span in spans}) == count
    per_document = {}
    for span in spans:
        per_document[span[0][1:]] = per_document.get(span[0][1:], 0) + 1
    assert max(per_document.values()) == most


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 1.0])
def test_sample_spans_draws_the_asked_share_of_negated_sentences(share):
    # a quarter of these sentences hold a negator, as in reviews
    documents = [f"a{i} b . c{i} d . e{i} f . g{i} was n't h .".split() for i in range(40)]
    spans = sample_spans(documents, 20, seed=3, min_tokens=2, negated_share=share)
    assert len(spans) == 20 and spans == sample_spans(documents, 20, seed=3, min_tokens=2, negated_share=share)
    assert sum(augment.holds_negator(span) for span in spans) == round(20 * share)
    sentences = {tuple(s) for document in documents for s in sentence_spans(document, min_tokens=2)}
    assert all(tuple(span) in sentences for span in spans)
    per_document = {}
    for span in spans:
        per_document[span[0][1:]] = per_document.get(span[0][1:], 0) + 1
    assert max(per_document.values()) <= 2


def test_sample_spans_stops_short_when_the_documents_lack_negated_sentences():
    documents = [f"a{i} b . c{i} is not d .".split() for i in range(5)]
    spans = sample_spans(documents, 10, min_tokens=2, negated_share=1.0)
    assert len(spans) == 5 and all(augment.holds_negator(span) for span in spans)


def test_mark_negation_marks_up_to_punctuation_or_but():
    assert mark_negation("it was n't bad at all , really".split()) == \
        ["it", "was", "n't", "NOT_bad", "NOT_at", "NOT_all", ",", "really"]
    assert mark_negation("never boring but long".split()) == ["never", "NOT_boring", "but", "long"]
    assert mark_negation("good film".split()) == ["good", "film"]
    assert augment.NEGATED_PREFIX not in "".join(mark_negation(["not"]))



@pytest.mark.parametrize("text, marked", [
    # before "but", back to the start of its sentence
    ("the plot was great , but the film was silly .",
     "C_the C_plot C_was C_great , but the film was silly ."),
    ("fine . good acting but a dull plot !", "fine . C_good C_acting but a dull plot !"),
    # after a concessive, up to the next punctuation mark, on either side of the main clause
    ("although the acting was bad , the film was great .", "although C_the C_acting C_was C_bad , the film was great ."),
    ("it was great , though the ending was weak", "it was great , though C_the C_ending C_was C_weak"),
    # two contrasts in one sentence: each "but" concedes what came since the last one
    ("good but long but fun", "C_good but C_long but fun"),
    # nothing to concede
    ("a good film .", "a good film ."),
    ("but it was fun", "but it was fun"),
])
def test_mark_contrast_hand_checked(text, marked):
    assert mark_contrast(text.split()) == marked.replace("C_", augment.CONCEDED_PREFIX).split()


def test_mark_contrast_composes_with_negation_and_keeps_the_length():
    tokens = "it was not bad but boring".split()
    marked = mark_contrast(mark_negation(tokens))
    assert marked == ["CONCEDED_it", "CONCEDED_was", "CONCEDED_not", "CONCEDED_NOT_bad", "but", "boring"]
    assert len(marked) == len(tokens)


@pytest.mark.parametrize("negation, contrast, expected", [
    (False, False, "good but not bad"),
    (True, False, "good but not NOT_bad"),
    (False, True, "CONCEDED_good but not bad"),
    (True, True, "CONCEDED_good but not NOT_bad"),
])
def test_teacher_view_marks_what_it_is_asked(negation, contrast, expected):
    assert teacher_view(negation, contrast)("good but not bad".split()) == expected.split()

def test_short_texts_label_spans_by_the_teacher_without_its_prior_and_templates_by_their_labels():
    import numpy as np

    from textcnn.teacher import NgramTeacher
    from textcnn.vocab import Vocab

    documents = [["a", "great", "film", "."], ["great", "fun", "!"], ["an", "awful", "mess", "."], ["awful", "."]] * 5
    labels = [1, 1, 0, 0] * 5
    teacher = NgramTeacher(min_df=1).fit(documents + [["the", "end"]] * 4, labels + [1] * 4)  # leans positive
    unseen = teacher.predict_proba([["zzz"]], prior=False)
    assert np.allclose(unseen, [[0.5, 0.5]])  # no n-gram known, no prior: undecided
    assert teacher.predict_proba([["zzz"]])[0, 1] > 0.5  # with the prior it leans as the training reviews do
    vocab = Vocab.build(documents, 100, 1)
    split = augment.short_texts(documents, spans=6, synthetic=4, teacher=teacher, vocab=vocab, max_tokens=50)
    assert len(split) == 10 and split.targets.shape == (10, 2)
    assert np.allclose(split.targets.sum(axis=1), 1)
    assert set(split.targets[6:].max(axis=1)) == {1.0} and list(split.labels[6:]) == [0, 1, 0, 1]
    spans = sample_spans(documents, 6)
    assert np.allclose(split.targets[:6], teacher.predict_proba(spans, prior=False))


def test_with_vader_hand_checked_reference():
    import numpy as np

    # VADER's compound for "good" is 0.4404; undecided (0 log-odds) plus 2 x 0.4404 is sigmoid(0.8808) = 0.7070
    assert augment.vader_compound(["good"])[0] == pytest.approx(0.4404)
    shifted = augment.with_vader(np.array([[0.5, 0.5], [0.9, 0.1]], dtype=np.float32),
                                 augment.vader_compound(["good", "the table is made of wood"]), 2.0)
    assert shifted[0] == pytest.approx([0.2930, 0.7070], abs=1e-4)
    assert shifted[1] == pytest.approx([0.9, 0.1], abs=1e-6)  # a compound of 0 changes nothing
    assert np.allclose(shifted.sum(axis=1), 1)


def test_centred_vader_keeps_the_differences_and_drops_the_lean():
    import numpy as np

    # compounds 0.4404 ("good") and 0 (no sentiment word): mean 0.2202, so each moves 2 x 0.2202 = 0.4404 logits
    undecided = np.full((2, 2), 0.5, dtype=np.float32)
    compound = augment.vader_compound(["good", "the table is made of wood"])
    centred = augment.with_vader(undecided, compound, 2.0, centre=1.0)
    assert centred[:, 1] == pytest.approx([1 / (1 + np.exp(-0.4404)), 1 / (1 + np.exp(0.4404))], abs=1e-4)
    log_odds = np.log(centred[:, 1] / centred[:, 0])
    assert log_odds.mean() == pytest.approx(0, abs=1e-5)
    plain = augment.with_vader(undecided, compound, 2.0)
    assert np.diff(np.log(plain[:, 1] / plain[:, 0])) == pytest.approx(np.diff(log_odds), abs=1e-4)


@pytest.mark.parametrize(("text", "subject_negated"), [
    ("nobody would like it .", "not anybody would like it ."),
    ("no one will enjoy this film .", "not anyone will enjoy this film ."),
    ("no - one liked it", "no - one liked it"),  # "no-one" as the tokenizer splits it: left as it is
    ("there is no one good scene", "there is not anyone good scene"),
    ("nobodyknows said no", "nobodyknows said no"),
])
def test_vader_reads_a_negating_subject_only_when_asked(text, subject_negated):
    tokens = text.split()
    assert augment.vader_reading(tokens) == text
    assert augment.vader_reading(tokens, subject_negation=True) == subject_negated


def test_a_negating_subject_rewritten_turns_vaders_score():
    plain, rewritten = (augment.vader_compound([augment.vader_reading(s.split(), flag) for s in
                                                ("nobody would like this film .", "no one will regret this film .")])
                        for flag in (False, True))
    assert plain[0] > 0 > rewritten[0]  # praise negated by its subject
    assert plain[1] < 0 < rewritten[1]  # blame negated by its subject


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5, 1.0])
def test_centring_by_a_share_moves_every_label_by_that_share_of_the_mean(share):
    import numpy as np

    undecided = np.full((3, 2), 0.5, dtype=np.float32)
    compound = np.array([0.6, 0.0, -0.3])  # mean 0.1
    shifted = augment.with_vader(undecided, compound, 2.0, centre=share)
    log_odds = np.log(shifted[:, 1] / shifted[:, 0])
    assert log_odds == pytest.approx(2.0 * (compound - share * 0.1), abs=1e-5)


def test_spans_labelled_with_vader_read_a_negation_the_teacher_cannot():
    import numpy as np

    from textcnn.vocab import Vocab

    class Undecided:  # a teacher that knows no n-gram
        def predict_proba(self, documents, prior=True):
            return np.full((len(documents), 2), 0.5, dtype=np.float32)

    documents = [["it", "was", "not", "good", "at", "all", "."], ["it", "was", "good", "."]] * 3
    vocab = Vocab.build(documents, 100, 1)
    plain = augment.short_texts(documents, spans=4, synthetic=0, teacher=Undecided(), vocab=vocab, max_tokens=50)
    assert np.allclose(plain.targets, 0.5)
    read = augment.short_texts(documents, spans=4, synthetic=0, teacher=Undecided(), vocab=vocab, max_tokens=50,
                               vader_weight=2.0)
    for tokens, target in zip(sample_spans(documents, 4), read.targets):
        assert (target[1] < 0.5) == ("not" in tokens)


class WordScores:
    """A stand-in teacher whose log-odds (no prior) are the sum of fixed word scores: 0 for words it does not know."""

    SCORES = {"boring": -2.0, "good": 1.5, "not": -0.5, "NOT_boring": -0.25}

    def predict_proba(self, documents, prior=True):
        return augment.from_log_odds([sum(self.SCORES.get(token, 0.0) for token in document) for document in documents])


@pytest.mark.parametrize(("text", "expected"), [
    ("it was not boring .", -2.0),  # "boring" as a plain word, not the teacher's "NOT_boring"
    ("not boring , but good", -2.0),  # the scope ends at the comma; "good" is outside it
    ("good fun .", 0.0),  # nothing negated
    ("never boring or good", -0.5),  # every word up to the punctuation: -2 + 1.5
])
def test_negated_log_odds_reads_the_negated_words_plain(text, expected):
    view = teacher_view(True, False)
    assert augment.negated_log_odds(WordScores(), [view(text.split())])[0] == pytest.approx(expected, abs=1e-5)


def test_negation_flip_moves_each_span_by_its_negated_words_only():
    import numpy as np

    from textcnn.vocab import Vocab

    documents = [["it", "was", "not", "boring", "."], ["it", "was", "good", "."]] * 3
    vocab = Vocab.build(documents, 100, 1)
    view = teacher_view(True, False)
    plain = augment.short_texts(documents, spans=4, synthetic=0, teacher=WordScores(), vocab=vocab, max_tokens=50,
                                teacher_view=view)
    flipped = augment.short_texts(documents, spans=4, synthetic=0, teacher=WordScores(), vocab=vocab, max_tokens=50,
                                  teacher_view=view, negation_flip=0.5)
    moved = augment.log_odds(flipped.targets) - augment.log_odds(plain.targets)
    for tokens, shift in zip(sample_spans(documents, 4), moved):
        # "not boring": the teacher's -0.5 - 0.25 becomes -0.75 + 0.5 x 2 = +0.25; "good" is not negated
        assert shift == pytest.approx(1.0 if "not" in tokens else 0.0, abs=1e-4)
    assert any("not" in tokens for tokens in sample_spans(documents, 4))
    assert np.allclose(flipped.targets.sum(axis=1), 1)


def test_span_model_reader_moves_each_span_by_its_weighted_log_odds():
    import numpy as np

    from textcnn.vocab import Vocab

    documents = [["it", "was", "not", "boring", "."], ["it", "was", "good", "."]] * 3
    vocab = Vocab.build(documents, 100, 1)

    def reader(token_lists):  # a stand-in model: +2 for a span that says "good", -1 otherwise
        return np.array([2.0 if "good" in tokens else -1.0 for tokens in token_lists])
    view = teacher_view(True, False)
    plain = augment.short_texts(documents, spans=4, synthetic=0, teacher=WordScores(), vocab=vocab, max_tokens=50,
                                teacher_view=view)
    spans = sample_spans(documents, 4)
    assert {"good" in tokens for tokens in spans} == {True, False}
    for which in ("unmarked", "marked", "all"):
        read = augment.short_texts(documents, spans=4, synthetic=0, teacher=WordScores(), vocab=vocab, max_tokens=50,
                                   teacher_view=view, reader=reader, reader_weight=0.5, reader_spans=which)
        moved = augment.log_odds(read.targets) - augment.log_odds(plain.targets)
        for tokens, shift in zip(spans, moved):
            # "it was not boring" has its negation scope marked, "it was good" has none
            marked = "not" in tokens
            joins = which == "all" or marked == (which == "marked")
            assert shift == pytest.approx((-0.5 if marked else 1.0) if joins else 0.0, abs=1e-4)
        assert np.allclose(read.targets.sum(axis=1), 1)

