"""Train a Kim (2014) TextCNN on IMDb and write a model folder (optionally push it to the Hub).

    python train.py --dataset ../shared/data/imdb --output-dir models/textcnn-imdb
    python train.py --dry-run          # a few batches on a small slice, in seconds

Run ``python train.py --help`` for every option.
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
import time
from pathlib import Path

import numpy as np
import torch

from textcnn.data import (
    IMDB_HUB_ID,
    EncodedSplit,
    encode,
    batch_indices,
    concatenate,
    iterate_batches,
    load_imdb,
    stratified_split,
    tokenize_dataset,
)
from textcnn.glove import embedding_matrix, load_glove
from textcnn.card import model_card
from textcnn.hub import CARD, CURVES, METRICS, PushError, check_push_prerequisites, push_model_folder, save_model_folder
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.ngrams import top_filter_ngrams
from textcnn.plots import training_curves_png
from textcnn.checkpoint import load_checkpoint, save_checkpoint
from textcnn.precision import native_bf16
from textcnn.prepared import Prepared, SettingsMismatch, is_prepared, load_prepared, save_prepared
from textcnn.teacher import NgramTeacher
from textcnn.training import EpochResult, evaluate, fit
from textcnn.vocab import Vocab
from textcnn.word2vec import train_word2vec

log = logging.getLogger("train")
# arguments that may differ between a run and its --resume without changing the result
RUNTIME_ONLY_ARGS = {"resume", "no_progress", "device", "threads", "num_proc", "checkpoint_dir", "push_to_hub", "private",
                     "revision", "prepared"}
# the arguments that decide what is prepared before the CNN trains (data, vocabulary, teacher, vectors)
DATA_ARGS = {"dataset", "val_fraction", "max_tokens", "vocab_size", "min_freq", "glove", "adapt_embeddings",
             "embedding_dim", "distill", "distill_reviews", "teacher_c", "seed", "dry_run"}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults, and keep the description's line breaks."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    # data
    p.add_argument("--dataset", default=IMDB_HUB_ID, help="Hub dataset id, or a local folder laid out like it (plain_text/*.parquet)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of train held out (stratified) to pick the best epoch")
    p.add_argument("--max-tokens", type=int, default=1000, help="reviews are truncated to this many tokens (train and serve)")
    p.add_argument("--num-proc", type=int, default=2, help="processes for tokenising (cached by datasets afterwards)")
    p.add_argument("--prepared", metavar="DIR", default=None,
                   help="keep what is prepared before the CNN trains (encoded splits, vocabulary, the teacher's soft "
                        "labels, word vectors) in DIR: the first run writes it, later runs with the same data settings "
                        "read it and skip about 2.5 minutes (and need neither spaCy, gensim, scikit-learn nor the dataset)")
    # vocabulary and embeddings
    p.add_argument("--vocab-size", type=int, default=30_000, help="vocabulary size cap, <pad> and <unk> included")
    p.add_argument("--min-freq", type=int, default=2, help="a token must occur this often in train to enter the vocabulary")
    p.add_argument("--glove", default="6B.50d", help="6B.50d (PyPI package), 6B.100d (downloaded from the Hub), a GloVe text file, "
                   "'word2vec' (trained here on the unlabelled and training reviews), or 'none' (random)")
    p.add_argument("--adapt-embeddings", action=argparse.BooleanOptionalAction, default=None,
                   help="before training the CNN, continue the GloVe vectors as word2vec (CBOW) on the unlabelled "
                        "and training reviews, so they follow how reviews use words (about 2 min; needs the "
                        "unsupervised split). On by default with GloVe")
    p.add_argument("--embedding-dim", type=int, default=None, help="with --glove word2vec (default 100) or none (default 50): the embedding size")
    # distillation
    p.add_argument("--distill", action=argparse.BooleanOptionalAction, default=True,
                   help="also train on the unlabelled reviews, towards the class probabilities a teacher gives them: "
                        "NB-weighted logistic regression on word 1-3 grams, fitted on the training reviews (under "
                        "a minute; needs the unsupervised split). Only the CNN is saved")
    p.add_argument("--distill-reviews", type=int, default=None, help="with --distill: use the first N unlabelled reviews (default: all)")
    p.add_argument("--teacher-c", type=float, default=1.0, help="with --distill: the teacher's inverse regularisation strength")
    p.add_argument("--freeze-embeddings", action="store_true",
                   help="keep the embeddings as initialised (Kim's CNN-static): training steps about 30%% faster")
    # model
    p.add_argument("--filter-widths", type=int, nargs="+", default=[3, 4, 5], help="convolution widths (n-gram sizes)")
    p.add_argument("--num-filters", type=int, default=300, help="filters per width (Kim: 100; more detectors help on long reviews)")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout on the pooled features (Kim: 0.5; distillation's soft labels regularise too)")
    p.add_argument("--embedding-dropout", type=float, default=0.05, help="probability of dropping a whole token vector during training (regularises the fine-tuned embeddings)")
    # optimisation
    p.add_argument("--epochs", type=int, default=3, help="training epochs; the best one on validation is kept")
    p.add_argument("--batch-size", type=int, default=50, help="reviews per batch")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (not applied to embeddings or biases)")
    p.add_argument("--schedule", choices=["constant", "linear"], default="linear", help="learning-rate schedule over all steps")
    p.add_argument("--max-norm", type=float, default=None, help="clip gradient norm to this (off when unset)")
    p.add_argument("--no-bucket", action="store_true", help="plain random batches instead of length-bucketed ones")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, initialisation and batch order")
    # runtime and output
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--no-mixed-precision", action="store_true", help="train in fp32 (default: bf16 autocast on CUDA and on CPUs with native bf16)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--output-dir", default="runs/textcnn-imdb", help="where the model folder is written")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars (log lines only)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint of the last finished epoch (same arguments)")
    p.add_argument("--checkpoint-dir", default=None, help="where the per-epoch checkpoint lives (default: OUTPUT_DIR.checkpoint; removed after success)")
    p.add_argument("--no-test", action="store_true", help="skip the test-split evaluation (for tuning runs: decide on validation only)")
    p.add_argument("--dry-run", action="store_true", help="tiny slice, 1 epoch, a few batches: checks the whole script in seconds")
    # publishing
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None, help="push the finished model folder to this Hub repo, in one commit (token: HF_TOKEN or `hf auth login`)")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private (an existing repo keeps its visibility)")
    p.add_argument("--revision", default=None, help="with --push-to-hub: the branch to push to, created if needed (default: main)")
    return p.parse_args(argv)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def prepare(args: argparse.Namespace) -> Prepared:
    """Load and tokenise IMDb, carve validation from train, build the vocabulary, give the
    unlabelled reviews the teacher's soft labels and make the initial word vectors."""
    in_domain = args.glove == "word2vec" or args.adapt_embeddings
    unlabelled_needed = in_domain or args.distill
    raw = load_imdb(args.dataset, splits=("train", "test", "unsupervised") if unlabelled_needed else ("train", "test"))
    if args.dry_run:  # rows are sorted by class: sample, don't slice
        raw = {s: d.shuffle(seed=args.seed).select(range(min(len(d), 200))) for s, d in raw.items()}
    tokenized = {split: tokenize_dataset(ds, args.num_proc) for split, ds in raw.items()}
    # plain lists once: indexing a datasets column decodes the row again on every access
    train_tokens = tokenized["train"].data.column("tokens").to_pylist()
    train_labels = tokenized["train"]["label"]
    train_idx, val_idx = stratified_split(train_labels, args.val_fraction, args.seed)
    labelled_tokens = [train_tokens[i] for i in train_idx]  # what the model, teacher and word2vec learn from
    vocab = Vocab.build(labelled_tokens, args.vocab_size, args.min_freq)
    all_train = encode(train_tokens, train_labels, vocab, args.max_tokens)
    labelled, validation = all_train.subset(train_idx), all_train.subset(val_idx)
    test = encode(tokenized["test"]["tokens"], tokenized["test"]["label"], vocab, args.max_tokens)
    unlabelled_tokens = tokenized["unsupervised"].data.column("tokens").to_pylist() if unlabelled_needed else []

    # distillation: the teacher's soft labels on unlabelled reviews join the training set
    unlabelled, teacher_report = EncodedSplit([], np.zeros(0, dtype=np.int64)), None
    if args.distill:
        teacher_started = time.perf_counter()
        teacher = NgramTeacher(c=args.teacher_c).fit(labelled_tokens, labelled.labels)
        val_probs = teacher.predict_proba([train_tokens[i] for i in val_idx])
        teacher_val = float((val_probs.argmax(axis=1) == validation.labels).mean())
        chosen = unlabelled_tokens if args.distill_reviews is None else unlabelled_tokens[: args.distill_reviews]
        unlabelled = encode(chosen, None, vocab, args.max_tokens, targets=teacher.predict_proba(chosen))
        teacher_report = {"kind": "NB-weighted logistic regression, binary word 1-3 grams", "C": args.teacher_c,
                          "val_accuracy": teacher_val, "unlabelled_reviews": len(unlabelled),
                          "seconds": round(time.perf_counter() - teacher_started, 2)}
        log.info("teacher: val acc %.4f; soft labels for %d unlabelled reviews (%.0fs)", teacher_val, len(unlabelled),
                 teacher_report["seconds"])

    # initial embeddings: GloVe, adapted to the reviews by word2vec, or learned here
    if args.glove == "none":
        vectors, coverage, dim = None, 0, args.embedding_dim or 50
    else:
        glove = None if args.glove == "word2vec" else load_glove(args.glove)
        if in_domain:  # unlabelled reviews plus the training reviews: no validation or test text
            documents = labelled_tokens + unlabelled_tokens
            glove = train_word2vec(documents, dim=None if glove else args.embedding_dim or 100, init=glove,
                                   seed=args.seed, workers=max(1, args.num_proc))
        vectors, coverage = embedding_matrix(vocab, glove, seed=args.seed)
        dim = glove.dim
        log.info("vectors %s: %d of %d vocabulary words have one (%.1f%%)", args.glove, coverage, len(vocab), 100 * coverage / len(vocab))
    return Prepared(labelled, unlabelled, validation, test, vocab, vectors, coverage, dim, teacher_report)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if (args.private or args.revision) and not args.push_to_hub:
        sys.exit("error: --private and --revision only apply with --push-to-hub")
    if args.push_to_hub:  # a missing or rejected token must show now, not after training
        try:
            check_push_prerequisites(args.push_to_hub)
        except PushError as error:
            sys.exit(f"error: {error}")
    if args.dry_run:
        args.epochs = 1
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    mixed = native_bf16(device) and not args.no_mixed_precision
    log.info("device %s%s", device, " (bf16 mixed precision)" if mixed else "")

    # --- data, teacher and vectors: prepared here, or read from --prepared --------------------
    pretrained = args.glove not in ("word2vec", "none")
    if args.adapt_embeddings and not pretrained:
        sys.exit("error: --adapt-embeddings continues pretrained vectors: use it with GloVe")
    args.adapt_embeddings = pretrained if args.adapt_embeddings is None else args.adapt_embeddings
    settings = {k: v for k, v in vars(args).items() if k in DATA_ARGS}
    if args.prepared and is_prepared(args.prepared):
        try:
            data = load_prepared(args.prepared, settings)
        except SettingsMismatch as error:
            sys.exit(f"error: {error}; name another --prepared folder, or delete this one")
        log.info("prepared data read from %s", args.prepared)
    else:
        data = prepare(args)
        if args.prepared:
            save_prepared(args.prepared, data, settings)
            log.info("prepared data saved to %s", args.prepared)
    vocab, labelled_train, val_data, test_data = data.vocab, data.labelled, data.validation, data.test
    train_data = concatenate(labelled_train, data.unlabelled) if len(data.unlabelled) else labelled_train
    log.info("train %d (+%d soft-labelled), validation %d, test %d reviews; vocabulary %d tokens",
             len(labelled_train), len(data.unlabelled), len(val_data), len(test_data), len(vocab))
    prepared_at = time.perf_counter()

    # --- model: pretrained or in-domain embeddings ----------------------------------------
    config = TextCNNConfig(
        vocab_size=len(vocab),
        embedding_dim=data.dim,
        filter_widths=tuple(args.filter_widths),
        num_filters=args.num_filters,
        dropout=args.dropout,
        embedding_dropout=args.embedding_dropout,
        max_tokens=args.max_tokens,
    )
    model = TextCNN(config)
    if data.vectors is not None:
        model.embedding.weight.data.copy_(torch.from_numpy(data.vectors))
    model.embedding.weight.requires_grad_(not args.freeze_embeddings)
    model.to(device)
    # weight decay on convolution and head weights only, not on embeddings or biases
    decayed = {n for n, _ in model.named_parameters() if n.endswith("weight") and not n.startswith("embedding")}
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trainable if n in decayed]
    no_decay = [p for n, p in trainable if n not in decayed]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    steps_per_epoch = math.ceil(len(train_data) / args.batch_size)
    if args.dry_run:
        steps_per_epoch = min(steps_per_epoch, 3)
    total_steps = steps_per_epoch * args.epochs
    scheduler = (
        torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total_steps))
        if args.schedule == "linear"
        else None
    )
    min_width = max(config.filter_widths)
    # cuDNN picks (and with benchmark on, times) its kernels per input shape: lengths rounded up to a
    # multiple of 64 leave a few dozen shapes instead of hundreds; the padding is masked, so results hold
    length_multiple = 64 if device.type == "cuda" else 1
    torch.backends.cudnn.benchmark = device.type == "cuda"
    rng = np.random.default_rng(args.seed)

    def train_batches(epoch: int):
        batches = batch_indices(train_data.lengths, args.batch_size, rng, bucket=not args.no_bucket)[:steps_per_epoch]
        return iterate_batches(train_data, batches, min_width, length_multiple), len(batches)

    def eval_batches(split):
        batches = batch_indices(split.lengths, 256, None, bucket=not args.no_bucket)
        return iterate_batches(split, batches, min_width, length_multiple), len(batches)

    checkpoint_dir = Path(args.checkpoint_dir or f"{str(args.output_dir).rstrip('/')}.checkpoint")
    run_args = {k: v for k, v in vars(args).items() if k not in RUNTIME_ONLY_ARGS}
    best_state: dict[str, torch.Tensor] = {}
    completed: list[EpochResult] = []
    if args.resume:
        if not (checkpoint_dir / "state.json").is_file():
            raise SystemExit(f"--resume: no checkpoint in {checkpoint_dir}; start without --resume")
        checkpoint = load_checkpoint(checkpoint_dir, model=model, optimizer=optimizer, scheduler=scheduler, rng=rng)
        changed = {k: (checkpoint.args.get(k), v) for k, v in run_args.items() if checkpoint.args.get(k) != v}
        if changed:
            raise SystemExit(f"--resume: arguments differ from the checkpoint's (saved, now): {changed}")
        best_state.update(checkpoint.best_state)
        completed.extend(checkpoint.history)
        log.info("resuming after epoch %d from %s", checkpoint.epoch, checkpoint_dir)

    def end_of_epoch(result: EpochResult, is_best: bool) -> None:
        completed.append(result)
        if is_best:
            best_state.update(copy.deepcopy(model.state_dict()))
        save_checkpoint(checkpoint_dir, model=model, optimizer=optimizer, scheduler=scheduler, rng=rng,
                        epoch=result.epoch, history=completed, best_state=best_state, args=run_args)

    interrupted = False
    try:
        fit(
            model, optimizer, args.epochs, train_batches, lambda: eval_batches(val_data), device, scheduler,
            mixed, args.max_norm, not args.no_progress, start_epoch=len(completed) + 1, history=list(completed),
            on_epoch_end=end_of_epoch, log=log.info,
        )
    except KeyboardInterrupt:
        # Ctrl-C: finish with the best finished epoch; the checkpoint stays for --resume
        if not completed:
            raise SystemExit("interrupted before the first epoch finished: nothing to save")
        interrupted = True
        log.warning("interrupted: writing the best of %d finished epoch(s); --resume continues the run", len(completed))
    history = completed
    best = max(history, key=lambda r: (r.val_accuracy, -r.val_loss))
    model.load_state_dict(best_state)
    trained = time.perf_counter()

    # --- the one look at test, then what each filter learned ------------------------------
    test_loss = test_acc = None
    if not args.no_test:
        batches, count = eval_batches(test_data)
        test_loss, test_acc = evaluate(model, batches, device, False, count, not args.no_progress, "test")
        log.info("best epoch %d: val acc %.4f | test loss %.4f acc %.4f", best.epoch, best.val_accuracy, test_loss, test_acc)
    else:
        log.info("best epoch %d: val acc %.4f (test not evaluated: --no-test)", best.epoch, best.val_accuracy)
    filter_ngrams = top_filter_ngrams(model, labelled_train, vocab, device, mixed_precision=mixed)

    metrics = {
        "val_accuracy": best.val_accuracy,
        "val_loss": best.val_loss,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "best_epoch": best.epoch,
        "interrupted": interrupted,
        "history": [r.as_dict() for r in history],
        "seconds_per_epoch": [round(r.seconds, 2) for r in history],
        "seconds": {
            "prepare_data": round(prepared_at - started, 2),
            "train": round(trained - prepared_at, 2),
            "total": round(time.perf_counter() - started, 2),
        },
        "examples": {"train": len(labelled_train), "unlabelled": len(train_data) - len(labelled_train),
                     "validation": len(val_data), "test": len(test_data)},
        "teacher": data.teacher,
        "vocab_size": len(vocab),
        "glove": args.glove,
        "glove_coverage": data.coverage,
        "parameters": model.num_parameters(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "torch": torch.__version__,
        "dry_run": args.dry_run,
        "args": vars(args),
        "command": "python train.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    model.cpu()
    out = save_model_folder(
        model,
        args.output_dir,
        vocab=vocab,
        filter_ngrams=filter_ngrams,
        extra_files={
            METRICS: json.dumps(metrics, indent=2).encode(),
            CURVES: training_curves_png(history, best.epoch),
            CARD: model_card(config, metrics, args.push_to_hub, args.revision).content.encode(),
        },
    )
    log.info("model folder written to %s", out)
    if not interrupted:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    if args.push_to_hub and interrupted:
        log.warning("not pushing an interrupted run; finish it with --resume, or push this folder with: python -m textcnn push %s %s", out, args.push_to_hub)
    elif args.push_to_hub:
        try:
            url = push_model_folder(out, args.push_to_hub, revision=args.revision, private=args.private)
        except PushError as error:
            log.error("%s", error)
            sys.exit(1)
        log.info("pushed to the Hub: %s", url)
    return metrics


if __name__ == "__main__":
    main()
