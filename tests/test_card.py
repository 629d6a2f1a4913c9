"""The model card: Hub metadata that huggingface_hub parses, and a body generated from the run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from huggingface_hub import ModelCard

from conftest import FILLER, NEGATIVE, POSITIVE
from textcnn.card import CODE_URL, PLACEHOLDER_REPO_ID, model_card
from textcnn.hub import model_card_for_folder
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.pipeline import BUNDLED_MODEL, SentimentPipeline

CONFIG = TextCNNConfig(vocab_size=30_000, embedding_dim=50, filter_widths=(3, 4, 5), num_filters=100, max_tokens=1000)


@pytest.fixture
def metrics() -> dict:
    """What train.py writes to metrics.json (figures of a plausible full run)."""
    history = [
        {"epoch": 1, "train_loss": 0.45, "train_accuracy": 0.78, "val_loss": 0.31, "val_accuracy": 0.871,
         "seconds": 61.2, "learning_rate": 0.0008},
        {"epoch": 2, "train_loss": 0.27, "train_accuracy": 0.89, "val_loss": 0.29, "val_accuracy": 0.884,
         "seconds": 60.8, "learning_rate": 0.0006},
    ]
    return {
        "val_accuracy": 0.884, "val_loss": 0.29, "test_accuracy": 0.87764, "test_loss": 0.301, "best_epoch": 2,
        "history": history, "seconds": {"prepare_data": 40.0, "train": 122.0, "total": 170.0},
        "examples": {"train": 22500, "validation": 2500, "test": 25000}, "vocab_size": 30000,
        "glove": "6B.50d", "glove_coverage": 28000, "parameters": 1_560_302, "device": "cpu (x86_64, 2 threads)",
        "torch": "2.13.0", "dry_run": False,
        "args": {"dataset": "stanfordnlp/imdb", "glove": "6B.50d", "lr": 0.001, "epochs": 2, "seed": 0,
                 "output_dir": "runs/x", "no_progress": True, "push_to_hub": "me/textcnn-imdb"},
        "command": "python train.py --epochs 2 --push-to-hub me/textcnn-imdb",
    }


def test_metadata_is_what_the_hub_reads(metrics):
    card = ModelCard(str(model_card(CONFIG, metrics, "me/textcnn-imdb")))  # parse it back from text
    data = card.data
    assert data.library_name == "textcnn"
    assert data.license == "mit"
    assert data.pipeline_tag == "text-classification"
    assert data.datasets == ["stanfordnlp/imdb"]
    assert {"text-classification", "sentiment-analysis", "textcnn"} <= set(data.tags)
    assert data.language == ["en"]
    [result] = data.eval_results
    assert (result.task_type, result.dataset_type, result.dataset_split) == ("text-classification", "stanfordnlp/imdb", "test")
    assert (result.metric_type, result.metric_value) == ("accuracy", 0.8776)
    assert data.model_name == "textcnn-imdb"


def test_card_survives_a_save_and_load(metrics, tmp_path):
    model_card(CONFIG, metrics, "me/textcnn-imdb").save(tmp_path / "README.md")
    loaded = ModelCard.load(tmp_path / "README.md")
    assert loaded.data.eval_results[0].metric_value == 0.8776


def test_body_carries_the_run(metrics):
    text = str(model_card(CONFIG, metrics, "me/textcnn-imdb"))
    assert "**Test accuracy: 87.76%**" in text
    assert "| 2 | 0.2700 | 89.00% | 0.2900 | 88.40% | 60.8 s |" in text  # per-epoch history
    assert "| `lr` | `0.001` |" in text and "output_dir" not in text  # options, not where files went
    assert "python train.py --epochs 2" in text
    assert "GloVe 6B.50d" in text and "28,000 of 30,000 trained tokens" in text
    assert "Dry run" not in text
    for limit in ("English movie reviews only", "Short texts", "Sarcasm"):
        assert limit in text


def test_body_says_how_the_vocabulary_was_expanded(metrics):
    assert "vocabulary expansion" not in str(model_card(CONFIG, metrics))
    expanded = {**metrics, "vocab_size": 57_000, "val_accuracy": 0.886,
                "vocab_expansion": {"glove_words": 50_000, "added": 27_000, "neighbours": 20, "val_accuracy": 0.886,
                                    "val_loss": 0.29, "trained_val_accuracy": 0.884, "trained_val_loss": 0.29}}
    config = TextCNNConfig(vocab_size=57_000, embedding_dim=50, filter_widths=(3, 4, 5), num_filters=100, max_tokens=1000)
    text = str(model_card(config, expanded))
    assert "the 30,000 the CNN trained on and 27,000 more from GloVe's 50,000 most frequent words" in text
    assert "its 20 nearest trained words" in text and "(vocabulary expansion)" in text
    assert "28,000 of 30,000 trained tokens" in text  # coverage counts the words that trained
    assert "| validation accuracy before the vocabulary expansion | 88.40% |" in text
    assert "| validation accuracy (best epoch) | 88.60% |" in text


def test_body_carries_the_figures_beyond_imdb_when_they_were_recorded(metrics):
    assert "short Yelp and Amazon sentences" not in str(model_card(CONFIG, metrics))
    recorded = {**metrics, "short_sentences": {"amazon": 0.845, "yelp": 0.828, "examples": 2000},
                "behavior": {"cases": 804, "pass_rates": {"vocabulary: verbs": 0.9, "contrast": 0.461}}}
    text = str(model_card(CONFIG, recorded))
    assert "On 2,000 short Yelp and Amazon sentences (not used in training): 84.50% (Amazon), 82.80% (Yelp)." in text
    assert "share right: contrast 46.10%." in text  # the negations and contrasts, not every capability
    assert "Held-out" not in str(model_card(CONFIG, {**metrics, "behavior": ["malformed"]}))
    assert "Held-out" not in str(model_card(CONFIG, {**metrics, "behavior": {"pass_rates": {"contrast": "x"}}}))


@pytest.mark.parametrize(
    "repo_id, revision, expected",
    [
        (None, None, [f'SentimentPipeline.from_pretrained("{PLACEHOLDER_REPO_ID}")']),
        ("me/textcnn-imdb", None, ['SentimentPipeline.from_pretrained("me/textcnn-imdb")',
                                   'load_model("me/textcnn-imdb")',
                                   "hf download me/textcnn-imdb --local-dir textcnn-imdb\n",
                                   "predict --model me/textcnn-imdb reviews.txt"]),
        ("me/textcnn-imdb", "v2", ['SentimentPipeline.from_pretrained("me/textcnn-imdb", revision="v2")',
                                   'load_model("me/textcnn-imdb", revision="v2")',
                                   "hf download me/textcnn-imdb --revision v2 --local-dir textcnn-imdb\n",
                                   "predict --model me/textcnn-imdb --revision v2 reviews.txt"]),
    ],
)
def test_usage_snippet_names_the_repo(metrics, repo_id, revision, expected):
    text = str(model_card(CONFIG, metrics, repo_id, revision))
    for snippet in expected:
        assert snippet in text


@pytest.mark.parametrize("flag, banner", [("dry_run", "**Dry run.**"), ("interrupted", "**Interrupted run.** Training was stopped after 2 epoch(s)")])
def test_unfinished_runs_are_flagged(metrics, flag, banner):
    assert banner not in str(model_card(CONFIG, metrics))
    metrics[flag] = True
    assert banner in str(model_card(CONFIG, metrics))


@pytest.mark.parametrize("glove, adapt, says", [
    ("6B.50d", False, "initialised from GloVe 6B.50d vectors, then fine-tuned"),
    ("6B.50d", True, "initialised from GloVe 6B.50d vectors that word2vec adapted to IMDb's"),
    ("word2vec", False, "initialised from word2vec vectors learned on IMDb's unlabelled and training reviews"),
    ("none", False, "randomly initialised and trained"),
])
def test_card_says_where_the_embeddings_came_from(metrics, glove, adapt, says):
    metrics["args"].update(glove=glove, adapt_embeddings=adapt)
    assert says in str(model_card(CONFIG, metrics))


def test_card_says_when_the_embeddings_were_frozen(metrics):
    metrics["args"].update(glove="6B.50d", adapt_embeddings=True, freeze_embeddings=True)
    assert "training reviews, then kept fixed during training" in str(model_card(CONFIG, metrics))


def test_card_says_when_the_embeddings_have_a_static_channel(metrics):
    metrics["args"].update(glove="6B.50d", adapt_embeddings=False, multichannel=True)
    assert ("GloVe 6B.50d vectors, then laid twice side by side, one copy kept fixed during training and one "
            "fine-tuned (Kim's multichannel)") in str(model_card(CONFIG, metrics))


def test_card_describes_distillation_only_when_it_happened(metrics):
    assert "Distillation" not in str(model_card(CONFIG, metrics))
    metrics["teacher"] = {"kind": "NB-weighted logistic regression, binary word 1-3 grams", "C": 1.0,
                          "val_accuracy": 0.9168, "unlabelled_reviews": 50000, "seconds": 72.0}
    card = str(model_card(CONFIG, metrics))
    assert "the CNN also trained on 50000 of IMDb's unlabelled reviews" in card
    assert "validation accuracy 91.68%" in card and "Distilling the Knowledge" in card


def test_card_names_the_rated_snippets_only_when_the_model_trained_on_them(metrics):
    metrics["teacher"] = {"kind": "NB-weighted logistic regression, binary word 1-3 grams", "val_accuracy": 0.9,
                          "unlabelled_reviews": 50000, "snippets": 0}
    assert "Rated short texts" not in str(model_card(CONFIG, metrics))
    metrics["teacher"]["snippets"] = 23703
    metrics["args"].update(snippets="vaderSentiment-3.3.2.tar.gz", snippet_corpora=["amazon", "tweets"])
    card = str(model_card(CONFIG, metrics))
    assert "the CNN also trained on 23,703 short texts that people rated for VADER" in card
    assert "corpora used: amazon, tweets), each towards the sigmoid of its mean rating. Do not measure" in card
    metrics["args"]["snippet_repeats"], metrics["teacher"]["snippets"] = 3, 3 * 23703  # rows: each text 3 times
    card = str(model_card(CONFIG, metrics))
    assert "the CNN also trained on 23,703 short texts" in card
    assert "mean rating, 3 times per epoch. Do not measure this model on those texts." in card
    metrics["args"]["snippet_centre"] = True
    assert "its mean rating less its corpus's mean, 3 times per epoch." in str(model_card(CONFIG, metrics))


def test_a_run_without_test_evaluation_has_no_results(metrics):
    metrics["test_accuracy"] = metrics["test_loss"] = None  # train.py --no-test
    card = ModelCard(str(model_card(CONFIG, metrics)))
    assert card.data.eval_results is None and "Test accuracy" not in card.text


def test_without_metrics_there_are_no_results():
    card = ModelCard(str(model_card(CONFIG)))
    assert card.data.eval_results is None
    assert "## Training" not in str(card)
    assert card.data.library_name == "textcnn"


def test_card_for_a_folder_reads_its_config_and_metrics(tiny_model_dir, metrics, tmp_path):
    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (folder / "metrics.json").write_text(json.dumps(metrics))
    text = str(model_card_for_folder(folder, "me/tiny"))
    assert "4 convolution filters of each width 2, 3" in text
    assert ModelCard(text).data.eval_results[0].metric_value == 0.8776


def test_metadata_comes_from_the_model_class(metrics):
    """The class's Hub mixin metadata is the one declaration: the card says exactly the same."""
    declared = TextCNN._hub_mixin_info.model_card_data
    data = ModelCard(str(model_card(CONFIG, metrics, "me/textcnn-imdb"))).data
    for field in ("library_name", "license", "pipeline_tag", "language", "tags"):
        assert getattr(data, field) == getattr(declared, field), field


def test_card_links_to_the_code():
    assert CODE_URL == TextCNN._hub_mixin_info.repo_url and CODE_URL.startswith("https://github.com/")
    assert CODE_URL in str(model_card(CONFIG))


def standalone_snippet(card_text: str) -> str:
    """The card's Python block that needs neither textcnn nor huggingface_hub."""
    blocks = re.findall(r"```python\n(.*?)```", card_text, flags=re.DOTALL)
    [snippet] = [block for block in blocks if "safetensors" in block]
    return snippet


def test_the_standalone_snippet_gives_the_packages_probabilities(tiny_model_dir, tmp_path):
    """The card's torch + safetensors + spaCy code, run as a user would (textcnn unimportable), on saved
    folders: the tiny model's, and the bundled model's where the checkout has it. Both run in one
    interpreter, each snippet in its own namespace and folder, so torch starts once."""
    folders = {"tiny": tiny_model_dir, **({"bundled": BUNDLED_MODEL} if BUNDLED_MODEL.is_dir() else {})}
    long_review = " ".join((POSITIVE + FILLER * 5 + NEGATIVE) * 14)  # 1,064 tokens: more than either model reads
    texts = [
        "A wonderful film.<br /><br />The actors were SUPERB!",  # HTML breaks, upper case
        "awful",  # shorter than the widest filter
        "it was boring , a dull mess and a waste",
        "The plot? Unheard-of twists, (brilliant) moments; I hated nothing.",  # punctuation, unknown words
        "I didnt hate it.It wasn’t bad, just ‘fine’",  # contractions and sentences as people type them
        long_review,
    ]
    runs = {}
    for which, folder in folders.items():
        snippet = standalone_snippet(str(model_card_for_folder(folder, "me/tiny-model", "v1")))
        assert "textcnn" not in snippet and 'folder = "tiny-model"' in snippet
        shutil.copytree(folder, tmp_path / which / "tiny-model")  # where `hf download ... --local-dir` puts it
        runs[which] = (str(tmp_path / which), snippet)
    program = (
        "import json, os, sys\nsys.modules['textcnn'] = None  # any use of the package fails\n"
        f"runs, texts, results = {runs!r}, {texts!r}, {{}}\n"
        "for which, (where, snippet) in runs.items():\n"
        "    os.chdir(where)\n"
        "    namespace = {}\n"
        "    exec(snippet, namespace)\n"
        "    results[which] = [namespace['predict'](t) for t in texts]\n"
        "print(json.dumps(results))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    standalone = json.loads(result.stdout.strip().splitlines()[-1])
    assert standalone.keys() == folders.keys()
    for which, folder in folders.items():
        package = SentimentPipeline.from_pretrained(folder).predict(texts)
        assert package[-1].truncated  # truncation is exercised
        for mine, theirs in zip(standalone[which], package):
            assert mine.keys() == theirs.probabilities.keys()
            assert mine == pytest.approx(theirs.probabilities, abs=1e-6)


@pytest.mark.skipif(not BUNDLED_MODEL.is_dir(), reason="no bundled model in this checkout")
def test_the_bundled_models_card_is_the_one_the_code_writes():
    """The card shipped with the bundled model is regenerated whenever the card's code changes."""
    written = (BUNDLED_MODEL / "README.md").read_text(encoding="utf-8")
    assert written == str(model_card_for_folder(BUNDLED_MODEL)), (
        "regenerate it: python -c \"from textcnn.hub import model_card_for_folder; "
        "model_card_for_folder('models/textcnn-imdb').save('models/textcnn-imdb/README.md')\"")
