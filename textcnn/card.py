"""The model card: the Hub repo's README.md, generated from a run's config and metrics.

The YAML header is what the Hub indexes (library, license, tags, dataset, task, and the test
accuracy as ``model-index``); the library, license, language, task and tags are the ones
:class:`~textcnn.model.TextCNN` declares to the Hub mixin, so they are written down once. The body
says what the model is, how to use it (with the package, or with torch, safetensors and spaCy
alone), how it was trained and where it fails. This module only formats: :mod:`textcnn.hub`
reads a folder's files and passes them in.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from textcnn.data import IMDB_HUB_ID
from textcnn.facts import model_facts
from textcnn.model import TextCNN
from textcnn.settings import RunSettings
from textcnn.snippets import CORPORA

CODE_URL = TextCNN._hub_mixin_info.repo_url  # the code's home, declared with the class
DEFAULT_MODEL_NAME = "textcnn-imdb"
PLACEHOLDER_REPO_ID = "your-name/textcnn-imdb"  # shown in the usage snippet until the repo is known



def model_card(config: Any, metrics: dict | None = None, repo_id: str | None = None,
               revision: str | None = None) -> ModelCard:
    """The card for a model with ``config`` (a TextCNNConfig or its dict) trained with ``metrics``.

    ``repo_id`` and ``revision`` go into the loading snippet; without ``metrics`` (a model saved
    outside train.py) the card has no results and no training section.
    """
    config = asdict(config) if is_dataclass(config) else dict(config)
    metrics = metrics or {}
    model_name = repo_id.split("/")[-1] if repo_id else DEFAULT_MODEL_NAME
    test_accuracy = metrics.get("test_accuracy")
    eval_results = None
    if test_accuracy is not None:
        eval_results = [
            EvalResult(
                task_type="text-classification",
                task_name="Sentiment analysis",
                dataset_type=IMDB_HUB_ID,
                dataset_name="IMDb",
                dataset_config="plain_text",
                dataset_split="test",
                metric_type="accuracy",
                metric_name="Accuracy",
                metric_value=round(float(test_accuracy), 4),
            )
        ]
    data = ModelCardData(
        **hub_metadata(),
        datasets=[IMDB_HUB_ID],
        metrics=["accuracy"],
        model_name=model_name if eval_results else None,  # only model-index uses it
        eval_results=eval_results,
    )
    sections = [
        _overview(config, metrics),
        _usage(repo_id or PLACEHOLDER_REPO_ID, revision),
        _training(metrics) if metrics else "",
        _limitations(config),
        _files(),
        _citation(),
    ]
    body = "\n".join(section for section in sections if section)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def hub_metadata() -> dict:
    """Library, license, language, task and tags, as the model class declares them to the Hub mixin."""
    return TextCNN._hub_mixin_info.model_card_data.to_dict()


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _overview(config: dict, metrics: dict) -> str:
    widths = ", ".join(str(w) for w in config.get("filter_widths", []))
    num_filters = config.get("num_filters", 0)
    labels = " / ".join(f"`{label}`" for label in config.get("labels", ()))
    settings = RunSettings.from_dict(metrics["args"]) if metrics.get("args") else None
    glove = settings.glove if settings else metrics.get("glove")
    frozen = bool(settings and settings.freeze_embeddings)
    if frozen:
        tuned = "kept fixed during training"
    elif settings and settings.multichannel:
        tuned = "laid twice side by side, one copy kept fixed during training and one fine-tuned (Kim's multichannel)"
    else:
        tuned = "fine-tuned"
    if not glove or glove == "none":
        init = "randomly initialised" + (" and kept fixed" if frozen else " and trained")
    elif glove == "word2vec":
        init = f"initialised from word2vec vectors learned on IMDb's unlabelled and training reviews, then {tuned}"
    elif settings and settings.adapt_embeddings:
        init = (f"initialised from GloVe {glove} vectors that word2vec adapted to IMDb's unlabelled and "
                f"training reviews, then {tuned}")
    else:
        init = f"initialised from GloVe {glove} vectors, then {tuned}"
    lines = ["# TextCNN sentiment classifier for IMDb movie reviews\n"]
    if metrics.get("dry_run"):
        lines.append(
            "> **Dry run.** This model was trained for a few batches on a small slice of the data to check "
            "the training script; its figures mean nothing and it should not be used.\n"
        )
    if metrics.get("interrupted"):
        lines.append(
            f"> **Interrupted run.** Training was stopped after {len(metrics.get('history', []))} epoch(s); this is "
            "the best of those, not the model of a finished run.\n"
        )
    lines.append(
        "A convolutional sentence classifier after Kim (2014), *Convolutional Neural Networks for Sentence "
        f"Classification*, trained on the IMDb movie-review dataset (`{IMDB_HUB_ID}`) to tell a negative from "
        f"a positive review ({labels}).\n"
    )
    lines.append(
        f"Tokens (spaCy, lower-cased) are embedded in {config.get('embedding_dim')} dimensions ({init}); "
        f"{num_filters} convolution filters of each width {widths} slide over the review; each filter keeps its "
        "maximum over the text (max-over-time pooling); dropout and a linear layer give the two class logits. "
        f"Reviews longer than {config.get('max_tokens')} tokens are truncated. The vocabulary holds "
        f"{config.get('vocab_size')} tokens, `<pad>` and `<unk>` included{_expansion_clause(metrics)}.\n"
    )
    lines.append(
        "Because each pooled feature comes from a single n-gram of the review, a prediction decomposes exactly "
        "into per-filter (and per-token) contributions: `SentimentPipeline.explain` returns them, and "
        "`filter_ngrams.json` lists the training-set n-grams each filter responds to most.\n"
    )
    if metrics.get("test_accuracy") is not None:
        lines.append(
            f"**Test accuracy: {_percent(metrics['test_accuracy'])}** on the {metrics.get('examples', {}).get('test', 'n/a')} "
            "reviews of the IMDb test split (evaluated once, with the epoch chosen on validation).\n"
        )
    lines.append(_beyond_imdb(metrics))
    return "\n".join(line for line in lines if line)


def _beyond_imdb(metrics: dict) -> str:
    """The short-sentence and behavioural figures ``benchmarks/behavior.py --record`` adds, if it ran
    (read as the demo reads them: malformed figures are left out)."""
    facts = model_facts(metrics)
    sources = ", ".join(f"{_percent(accuracy)} ({source})" for source, accuracy in
                        (("Amazon", facts.amazon_accuracy), ("Yelp", facts.yelp_accuracy)) if accuracy is not None)
    text = []
    if sources:
        count = f"{facts.short_examples:,}" if facts.short_examples else "n/a"
        text.append(f"On {count} short Yelp and Amazon sentences (not used in training): {sources}.")
    if facts.pass_rates:
        shown = "; ".join(f"{name} {_percent(rate)}" for name, rate in facts.pass_rates)
        text.append(f"Held-out behavioural tests (CheckList-style templates and words not used in training; "
                    f"`benchmarks/behavior.py`), share right: {shown}.")
    return " ".join(text) + "\n" if text else ""


# A complete classifier in torch, safetensors and spaCy alone, for the card: it must give the
# package's probabilities (tests/test_card.py runs it against a saved folder and compares).
# __FOLDER__ is the folder the model was downloaded to.
STANDALONE_SNIPPET = """\
import json
import re

import spacy
import torch
from safetensors.torch import load_file

folder = "__FOLDER__"  # the downloaded model folder
config = json.load(open(f"{folder}/config.json", encoding="utf-8"))
tokens = json.load(open(f"{folder}/vocab.json", encoding="utf-8"))["tokens"]
token_ids = {token: i for i, token in enumerate(tokens)}  # id 0 is <pad>, 1 is <unk>
weights = {name: tensor.float() for name, tensor in load_file(f"{folder}/model.safetensors").items()}
tokenizer = spacy.blank("en").tokenizer  # spaCy's rule-based English tokenizer, no model download
widths = config["filter_widths"]


def predict(text: str) -> dict[str, float]:
    text = re.sub(r"<\\s*br\\s*/?\\s*>", " ", text, flags=re.IGNORECASE).lower()  # HTML line breaks out
    text = re.sub("[\\u2018\\u2019\\u02bc]", "'", text)  # typographic apostrophes ("don’t") as plain ones
    text = re.sub(r"(?<=[a-z][a-z])([.!?]+)(?=[a-z][a-z]|i\\b)", r"\\1 ", text)  # "great.works" as "great. works"
    if text.strip() and not text.rstrip().rstrip("\\"')]").endswith((".", "!", "?")):
        text = text.rstrip() + " ."  # a text typed without a full stop gets one, as in training
    spelled = {"nt": "n't"}  # "dont" is split as "do", "nt": read as "n't"
    words = [spelled.get(t.text, t.text) for t in tokenizer(text) if not t.is_space][: config["max_tokens"]]
    ids = [token_ids.get(word, 1) for word in words]
    ids += [0] * (max(widths) - len(ids))  # pad short texts: every filter needs one full window
    x = weights["embedding.weight"][torch.tensor(ids)].T[None]  # (1, embedding_dim, length)
    pooled = []
    for i, width in enumerate(widths):
        scores = torch.conv1d(x, weights[f"convs.{i}.weight"], weights[f"convs.{i}.bias"])[0]  # (filters, windows)
        windows = max(len(words) - width + 1, 1)  # the windows that start inside the text
        pooled.append(scores[:, :windows].amax(dim=1).relu())  # each filter's maximum over the text
    logits = weights["head.weight"] @ torch.cat(pooled) + weights["head.bias"]
    return dict(zip(config["labels"], torch.softmax(logits, dim=0).tolist()))


print(predict("A moving, beautifully acted film; I loved every minute of it."))
"""


def _usage(repo_id: str, revision: str | None) -> str:
    revision_arg = f', revision="{revision}"' if revision else ""
    revision_flag = f" --revision {revision}" if revision else ""
    folder = repo_id.split("/")[-1]
    standalone = STANDALONE_SNIPPET.replace("__FOLDER__", folder)
    return f"""## How to use

The code that trained this model, serves its demo and wrote this card: {CODE_URL}

### With torch, safetensors and spaCy only

Download the model folder (`hf` comes with `huggingface_hub`), then classify with a few lines of
PyTorch that give the same probabilities as the `textcnn` package:

```bash
pip install torch safetensors spacy huggingface_hub
hf download {repo_id}{revision_flag} --local-dir {folder}
```

```python
{standalone}```

### With the `textcnn` package

```python
from textcnn.pipeline import SentimentPipeline

classifier = SentimentPipeline.from_pretrained("{repo_id}"{revision_arg})
prediction = classifier("A moving, beautifully acted film; I loved every minute of it.")
print(prediction.label, prediction.probabilities)  # pos {{'neg': ..., 'pos': ...}}

explanation = classifier.explain("The plot was a dull, boring mess.")  # exact per-filter evidence
```

The network (a `torch.nn.Module`), its vocabulary and its filter n-grams, checked and loaded together:

```python
from textcnn.hub import load_model

loaded = load_model("{repo_id}"{revision_arg})  # loaded.model, loaded.vocab, loaded.filter_ngrams, loaded.metrics
```

From the command line, one review per line in, one JSON object per line out:

```bash
python -m textcnn predict --model {repo_id}{revision_flag} reviews.txt
```

Pass `revision="<commit hash>"` to pin an exact version. Loading reads only `model.safetensors` (never a
pickle) and checks every file first: a repo whose weights, config and vocabulary disagree is refused.
Downloads go through the usual Hugging Face cache, and with `HF_HUB_OFFLINE=1` the cached copy is used.
"""


def _expansion_clause(metrics: dict) -> str:
    expansion = metrics.get("vocab_expansion")
    if not expansion:
        return ""
    return (f": the {_count(_trained_vocab_size(metrics))} the CNN trained on and {_count(expansion.get('added'))} more "
            f"from GloVe's {_count(expansion.get('glove_words'))} most frequent words, each placed after training "
            f"where its {expansion.get('neighbours', 'n/a')} nearest trained words had moved (vocabulary expansion), "
            "so words the reviews never taught still carry their meaning")


def _trained_vocab_size(metrics: dict) -> int | None:
    total, expansion = metrics.get("vocab_size"), metrics.get("vocab_expansion")
    if total is None or not expansion:
        return total
    return total - expansion.get("added", 0)


def _training(metrics: dict) -> str:
    settings = RunSettings.from_dict(metrics.get("args", {}))
    lines = ["## Training\n"]
    dataset = settings.dataset
    examples = metrics.get("examples", {})
    source = f"`{dataset}`" if dataset == IMDB_HUB_ID else f"a local copy of `{IMDB_HUB_ID}` (`{dataset}`)"
    lines.append(
        f"Data: {source}; {examples.get('train', 'n/a')} training and {examples.get('validation', 'n/a')} "
        f"validation reviews (a stratified split of the train split, seed {settings.seed}), "
        f"{examples.get('test', 'n/a')} test reviews. The epoch with the best validation accuracy is kept.\n"
    )
    teacher = metrics.get("teacher")
    if teacher:
        lines.append(
            f"Distillation: the CNN also trained on {teacher.get('unlabelled_reviews', 'n/a')} of IMDb's unlabelled "
            f"reviews, towards the class probabilities a teacher gave them: {teacher.get('kind', 'n/a')} "
            f"(Wang & Manning 2012), fitted on the training reviews only (validation accuracy "
            f"{_percent(teacher.get('val_accuracy'))}). Only the CNN is published, so every prediction is "
            f"still explained exactly by its filters.\n"
        )
    if teacher and teacher.get("snippets"):
        repeats = settings.snippet_repeats or 1
        centred = " less its corpus's mean" if settings.snippet_centre else ""
        lines.append(
            f"Rated short texts: the CNN also trained on {teacher['snippets'] // repeats:,} short texts that people "
            f"rated for VADER (Hutto & Gilbert 2014: sentences of Amazon product reviews, tweet-like texts, sentences "
            f"of New York Times editorials and of movie reviews; corpora used: "
            f"{', '.join(settings.snippet_corpora or CORPORA)}), each towards the sigmoid of its mean rating{centred}"
            f"{f', {repeats} times per epoch' if repeats > 1 else ''}. Do not measure this model on those texts.\n"
        )
    if metrics.get("command"):
        lines.append(f"Command:\n\n```bash\n{metrics['command']}\n```\n")
    # what the model depends on; where files went, how the run was shown and the push are left out
    config_rows = [f"| `{key}` | `{value}` |" for key, value in sorted(settings.result_settings().items())]
    if config_rows:
        lines.append("| option | value |\n|---|---|\n" + "\n".join(config_rows) + "\n")
    figures = [
        ("test accuracy", _percent(metrics.get("test_accuracy"))),
        ("test loss", _number(metrics.get("test_loss"))),
        ("validation accuracy (best epoch)", _percent(metrics.get("val_accuracy"))),
        *([("validation accuracy before the vocabulary expansion",
            _percent(metrics["vocab_expansion"].get("trained_val_accuracy")))] if metrics.get("vocab_expansion") else []),
        ("best epoch", metrics.get("best_epoch", "n/a")),
        ("parameters", _count(metrics.get("parameters"))),
        ("vocabulary", _count(metrics.get("vocab_size"))),
        ("GloVe coverage", _coverage(metrics)),
        ("training time", _seconds(metrics.get("seconds", {}).get("train"))),
        ("device", metrics.get("device", "n/a")),
        ("torch", metrics.get("torch", "n/a")),
    ]
    lines.append("| figure | value |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in figures) + "\n")
    history = metrics.get("history", [])
    if history:
        rows = [
            f"| {r.get('epoch')} | {_number(r.get('train_loss'))} | {_percent(r.get('train_accuracy'))} | "
            f"{_number(r.get('val_loss'))} | {_percent(r.get('val_accuracy'))} | {_seconds(r.get('seconds'))} |"
            for r in history
        ]
        lines.append(
            "Per epoch (`training_curves.png` plots them):\n\n"
            "| epoch | train loss | train accuracy | val loss | val accuracy | time |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n"
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _coverage(metrics: dict) -> str:
    covered, total = metrics.get("glove_coverage"), _trained_vocab_size(metrics)
    if not covered or not total:
        return "n/a"
    return f"{covered:,} of {total:,} trained tokens ({100 * covered / total:.1f}%)"


def _limitations(config: dict) -> str:
    widest = max(config.get("filter_widths", [1]))
    return f"""## Limitations

- **English movie reviews only.** It was trained on IMDb reviews (long, informal, about films); on other
  languages, other domains (products, tweets, news) or other registers its accuracy is unknown and likely
  lower. Words outside its vocabulary all map to `<unk>`.
- **Two classes, no neutral.** Every text is called `neg` or `pos`; a neutral or mixed text still gets one
  of the two, and the probabilities are not calibrated, so do not read 0.6 as "60% sure".
- **Short texts.** The model sees n-grams of {", ".join(str(w) for w in config.get("filter_widths", []))} tokens.
  A text of a few words gives each filter one or two windows (shorter than {widest} tokens, it is padded),
  so the verdict rests on very little evidence; a single word such as "fine" or "bad" can swing it. It was
  trained on reviews of hundreds of words.
- **Sarcasm, irony and long-range negation.** Each feature is a local phrase: "Oh great, another two hours
  I will never get back" contains "great" and may be read as positive, and a negation further away than a
  filter's width ("I would not, despite the cast and the hype, call it good") is missed. Reviews that
  describe a plot with strong words ("a brutal, horrifying murder") can be misread as negative.
- **Truncation.** Only the first {config.get("max_tokens")} tokens are read; a verdict at the end of a longer
  review is not seen.
- **Biases of the data.** IMDb reviews reflect their authors and the films reviewed; the model can pick up
  associations between names, genres or topics and sentiment.
"""


def _files() -> str:
    return """## Files

| file | contents |
|---|---|
| `model.safetensors` | weights (safetensors only; no pickle) |
| `config.json` | architecture (`TextCNNConfig`) |
| `vocab.json` | the vocabulary, token ids in order |
| `filter_ngrams.json` | per filter, the training-set n-grams that activate it most |
| `metrics.json` | the training run's figures, options and per-epoch history |
| `training_curves.png` | loss and accuracy per epoch |
"""


def _citation() -> str:
    return """## References

- Yoon Kim. 2014. Convolutional Neural Networks for Sentence Classification. EMNLP. https://arxiv.org/abs/1408.5882
- Andrew L. Maas et al. 2011. Learning Word Vectors for Sentiment Analysis. ACL. (the IMDb dataset)
- Jeffrey Pennington, Richard Socher, Christopher D. Manning. 2014. GloVe: Global Vectors for Word Representation. EMNLP.
- Sida Wang, Christopher D. Manning. 2012. Baselines and Bigrams: Simple, Good Sentiment and Topic Classification. ACL.
- Geoffrey Hinton, Oriol Vinyals, Jeff Dean. 2015. Distilling the Knowledge in a Neural Network. https://arxiv.org/abs/1503.02531
"""
