"""Command line: ``textcnn predict`` (batch prediction, JSON lines out), ``push`` (a model folder to the Hub) and ``space`` (a Space that serves a pushed model); ``python -m textcnn`` is the same."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from textcnn.hub import ModelLoadError, PushError
from textcnn.methods import METHODS

if TYPE_CHECKING:  # the pipeline imports torch: only loaded when a command needs it
    from textcnn.pipeline import SentimentPipeline


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, had invalid UTF-8) for each line; bad bytes become U+FFFD, never a crash.

    Lines end at b"\\n" only (a trailing \\r is dropped), so there is one line per line ``wc -l`` counts.
    """
    for number, raw in enumerate(stream, 1):
        raw = raw.rstrip(b"\r\n")
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)  # Windows editors start files with one; not part of the review
        try:
            yield number, raw.decode("utf-8"), False
        except UnicodeDecodeError:
            yield number, raw.decode("utf-8", errors="replace"), True


def positive_int(value: str) -> int:
    number = int(value)  # argparse reports a ValueError as "invalid positive_int value"
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def open_input(path: str) -> BinaryIO:
    """The input as bytes (lines are split on b"\\n" only, so a review may hold \\r, U+2028, ...)."""
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (``| head``), so the exit flush raises nothing."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def predict_command(args: argparse.Namespace) -> int:
    # opened before the (slower) model load, so a mistyped path fails at once
    try:
        stream = open_input(args.file)
    except OSError as error:
        print(f"error: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    try:
        return predict_lines(stream, args)
    except BrokenPipeError:
        silence_stdout()
        return 141  # as a shell reports a writer stopped by SIGPIPE
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def predict_lines(stream: BinaryIO, args: argparse.Namespace) -> int:
    """Load the model and classify ``stream``; the exit status (2: no model, 1: empty lines)."""
    from textcnn.pipeline import SentimentPipeline

    try:
        pipeline = SentimentPipeline.from_pretrained(args.model, revision=args.revision, batch_size=args.batch_size,
                                                     method=args.method, workers=args.workers)
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with pipeline:
        return write_predictions(stream, pipeline, args.chunk_size)


def write_predictions(stream: BinaryIO, pipeline: SentimentPipeline, chunk_size: int) -> int:
    """One JSON record per line of ``stream`` on stdout, ``chunk_size`` lines at a time; 1 if a line was empty."""
    from textcnn.pipeline import is_empty

    out = sys.stdout
    rejected = 0

    def flush(chunk: list[tuple[int, str]]) -> None:
        nonlocal rejected
        valid = [(number, text) for number, text in chunk if not is_empty(text)]
        predictions = iter(pipeline.predict([text for _, text in valid]))
        valid_numbers = {number for number, _ in valid}
        for number, _ in chunk:
            if number in valid_numbers:
                record = next(predictions).as_dict()
            else:
                rejected += 1
                record = {"error": f"line {number} is empty: nothing to classify"}
                print(f"warning: line {number} is empty; wrote an error record for it", file=sys.stderr)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()

    chunk: list[tuple[int, str]] = []
    for number, text, had_invalid_utf8 in read_lines(stream):
        if had_invalid_utf8:
            print(f"warning: line {number} is not valid UTF-8; invalid bytes were replaced by U+FFFD", file=sys.stderr)
        chunk.append((number, text))
        if len(chunk) >= chunk_size:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    return 1 if rejected else 0


def push_command(args: argparse.Namespace) -> int:
    from textcnn.hub import push_model_folder

    try:
        url = push_model_folder(args.folder, args.repo_id, revision=args.revision, private=args.private,
                                commit_message=args.commit_message)
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(url)
    return 0


def space_command(args: argparse.Namespace) -> int:
    from textcnn.space import SpaceError, deploy_space

    try:
        where = deploy_space(args.space_id, args.model, args.revision, out=args.out, private=args.private)
    except SpaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(where)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m textcnn", description="TextCNN IMDb sentiment model.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict",
        help="classify reviews, one per line, writing one JSON object per line",
        description=(
            "Classify reviews, one per line, from FILE or stdin. Writes one JSON object per input line: "
            '{"label": "neg"|"pos", "probabilities": {"neg": p, "pos": q}, "num_tokens": n, "truncated": bool}, '
            'or {"error": "..."} for an empty line (the exit status is then 1). Lines end at "\\n" only. '
            "Exit status 2: the model or the input file cannot be read."
        ),
    )
    predict.add_argument("file", nargs="?", default="-", help="input file, one review per line (default: stdin)")
    predict.add_argument("--model", default=None, help="model folder or Hub repo id (default: the bundled model)")
    predict.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) to pin")
    predict.add_argument("--batch-size", type=positive_int, default=128, help="reviews per forward pass")
    predict.add_argument("--method", choices=list(METHODS), default="lookup",
                         help="how predictions are computed: "
                              + "; ".join(f"{name}: {what}" for name, what in METHODS.items()).replace("%", "%%")
                              + " (default: %(default)s)")
    predict.add_argument("--workers", type=positive_int, default=min(2, os.cpu_count() or 1),
                         help="processes that tokenise (for inputs of 512 lines or more) (default: %(default)s, "
                              "this machine's cores up to 2)")
    predict.add_argument("--chunk-size", type=positive_int, default=4096, help="lines read before predicting and writing")
    predict.set_defaults(func=predict_command)
    push = commands.add_parser(
        "push",
        help="push a saved model folder to a Hub repo, in one commit",
        description=(
            "Push a model folder written by train.py to a Hub model repo in one commit, creating the repo (and "
            "the branch) if needed; the model card is written for REPO_ID. The token comes from HF_TOKEN or "
            "`hf auth login`. The folder is only read, so a failed push can simply be retried."
        ),
    )
    push.add_argument("folder", help="the model folder (model.safetensors, config.json, vocab.json, ...)")
    push.add_argument("repo_id", help="the Hub repo, user/name or org/name")
    push.add_argument("--revision", default=None, help="branch to push to, created if needed (default: main)")
    push.add_argument("--private", action="store_true", help="create the repo private (an existing repo keeps its visibility)")
    push.add_argument("--commit-message", default=None, help="message of the commit")
    push.set_defaults(func=push_command)
    space = commands.add_parser(
        "space",
        help="create or update a Gradio Space that serves a pushed model, in one commit",
        description=(
            "Create or update the Hugging Face Space SPACE_ID in one commit: the demo (app.py), this package, a "
            "requirements.txt with the CPU build of torch, and a README whose front matter links the model and "
            "preloads its files at COMMIT; the Space variables TEXTCNN_MODEL and TEXTCNN_REVISION make the app "
            "serve exactly that commit. No weights are stored in the Space. The token comes from HF_TOKEN or "
            "`hf auth login`."
        ),
    )
    space.add_argument("space_id", help="the Space, user/name or org/name")
    space.add_argument("--model", required=True, help="the Hub model repo to serve, user/name")
    space.add_argument("--revision", required=True, metavar="COMMIT",
                       help="the model's full commit hash (a branch or tag can move, so it is refused)")
    space.add_argument("--out", default=None, metavar="DIR",
                       help="write the Space folder to DIR (new or empty) instead of uploading it")
    space.add_argument("--private", action="store_true", help="create the Space private (an existing one keeps its visibility)")
    space.set_defaults(func=space_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
