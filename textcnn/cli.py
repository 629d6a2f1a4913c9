"""Command line: ``textcnn predict`` (batch prediction, JSON lines out), ``push`` (a model folder to the Hub) and ``space`` (a Space that serves a pushed model); ``python -m textcnn`` is the same."""

from __future__ import annotations

import argparse
import codecs
import contextlib
import gc
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from textcnn.hub import ModelLoadError, PushError
from textcnn.methods import AUTO, LARGE_INPUT_TEXTS, METHODS, auto_method, auto_workers

if TYPE_CHECKING:  # the pipeline imports torch: only loaded when a command needs it
    from textcnn.pipeline import SentimentPipeline

# The longest line read, in bytes (without its "\n"): far more than the 1,000 tokens the bundled model
# reads (an IMDb review is 1.3 KB on average, 14 KB at most). Longer lines are cut there, the rest read
# and dropped in pieces of this size, so no input (``/dev/zero``, a file without newlines) makes the
# CLI hold more than this per line.
MAX_LINE_BYTES = 1 << 20
# the lines of one chunk are held together; past this many bytes a chunk is classified early
MAX_CHUNK_BYTES = 64 << 20


@dataclass
class Line:
    number: int  # 1-based, as ``wc -l`` and editors count
    text: str
    invalid_utf8: bool  # bytes that are not UTF-8 were replaced by U+FFFD
    cut: bool  # longer than MAX_LINE_BYTES: only its first MAX_LINE_BYTES bytes are in ``text``


def decode(raw: bytes, cut: bool) -> tuple[str, bool]:
    """(text, had invalid UTF-8): bad bytes become U+FFFD; a character split by a cut is dropped, not replaced."""
    for errors in ("strict", "replace"):
        decoder = codecs.getincrementaldecoder("utf-8")(errors)
        try:
            return decoder.decode(raw, final=not cut), errors != "strict"
        except UnicodeDecodeError:
            continue
    raise AssertionError("unreachable: errors='replace' never raises")


def read_lines(stream: BinaryIO, max_bytes: int | None = None,
               on_cut: Callable[[int], None] | None = None) -> Iterator[Line]:
    """Each line of ``stream``, read ``max_bytes`` (default MAX_LINE_BYTES) at a time at most and cut
    there: bad bytes become U+FFFD, never a crash. ``on_cut(line number)`` is called as soon as a line
    is known to be cut, before the rest of it is read (which, from ``/dev/zero``, never ends).

    Lines end at b"\\n" only (a trailing \\r is dropped), so there is one line per line ``wc -l`` counts.
    """
    max_bytes = max_bytes or MAX_LINE_BYTES
    for number in itertools.count(1):
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        cut = False
        if len(raw) > max_bytes and not raw.endswith(b"\n"):  # too long: keep the start, read and drop the rest
            raw, tail = raw[:max_bytes], raw[max_bytes:]
            dropped = len(tail)
            while True:
                if not cut and dropped > len(tail) - len(tail.rstrip(b"\r\n")):  # more than a "\r\n" dropped
                    cut = True
                    if on_cut is not None:
                        on_cut(number)
                if tail.endswith(b"\n"):
                    break
                more = stream.readline(max_bytes)
                if not more:
                    break
                tail, dropped = (tail + more)[-2:], dropped + len(more)  # the tail only tells a line end
        raw = raw.rstrip(b"\r\n")
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)  # Windows editors start files with one; not part of the review
        text, invalid = decode(raw, cut)
        yield Line(number, text, invalid, cut)


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
    except OSError as error:  # a read error after opening (a directory on some systems, a vanished device)
        print(f"error: cannot read {args.file}: {error.strerror or error}", file=sys.stderr)
        return 2
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def warn_cut(number: int) -> None:
    print(f"warning: line {number} is longer than {MAX_LINE_BYTES:,} bytes; only its first {MAX_LINE_BYTES:,} "
          "bytes are classified (its record says truncated)", file=sys.stderr, flush=True)


def read_ahead(lines: Iterator[Line], max_lines: int, max_bytes: int) -> tuple[list[Line], bool]:
    """The first lines, up to ``max_lines`` or ``max_bytes`` of text, and whether the input ended there."""
    head: list[Line] = []
    size = 0
    for line in lines:
        head.append(line)
        size += len(line.text)
        if len(head) >= max_lines or size >= max_bytes:
            return head, False
    return head, True


def predict_lines(stream: BinaryIO, args: argparse.Namespace) -> int:
    """Classify ``stream``, computed as fits its size; the exit status (2: no model, 1: empty lines).

    The first LARGE_INPUT_TEXTS lines are read before the model is loaded: an input that ends
    sooner is classified by the convolutions in this process (no lookup table, no worker processes),
    a longer one by the lookup table with tokenising processes, unless ``--method``/``--workers`` say.
    """
    from textcnn.pipeline import SentimentPipeline

    lines = read_lines(stream, on_cut=warn_cut)
    head, ended = read_ahead(lines, LARGE_INPUT_TEXTS, MAX_CHUNK_BYTES)
    size = len(head) if ended else LARGE_INPUT_TEXTS  # stopped early: at least a large input's worth
    method = auto_method(size) if args.method == AUTO else args.method
    workers = args.workers or auto_workers(size)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        pipeline = SentimentPipeline.from_pretrained(args.model, revision=args.revision, batch_size=args.batch_size,
                                                     method=method, workers=workers)
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with pipeline:
        return write_predictions(itertools.chain(head, lines), pipeline, args.chunk_size)


def write_predictions(lines: Iterator[Line], pipeline: SentimentPipeline, chunk_size: int) -> int:
    """One JSON record per line on stdout, ``chunk_size`` lines at a time; 1 if a line was empty."""
    from textcnn.pipeline import is_empty

    out = sys.stdout
    rejected = 0

    def flush(chunk: list[Line]) -> None:
        nonlocal rejected
        valid = [line for line in chunk if not is_empty(line.text)]
        predictions = iter(pipeline.predict([line.text for line in valid]))
        valid_numbers = {line.number for line in valid}
        for line in chunk:
            if line.number in valid_numbers:
                record = next(predictions).as_dict()
                record["truncated"] = record["truncated"] or line.cut
            else:
                rejected += 1
                reason = (f"line {line.number} holds no text in its first {MAX_LINE_BYTES:,} bytes" if line.cut
                          else f"line {line.number} is empty")
                record = {"error": f"{reason}: nothing to classify"}
                print(f"warning: {reason}; wrote an error record for it", file=sys.stderr)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()

    chunk: list[Line] = []
    chunk_bytes = 0
    for line in lines:
        if line.invalid_utf8:
            print(f"warning: line {line.number} is not valid UTF-8; invalid bytes were replaced by U+FFFD",
                  file=sys.stderr)
        chunk.append(line)
        chunk_bytes += len(line.text)
        if len(chunk) >= chunk_size or chunk_bytes >= MAX_CHUNK_BYTES:
            flush(chunk)
            chunk, chunk_bytes = [], 0
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


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict",
        help="classify reviews, one per line, writing one JSON object per line",
        description=(
            "Classify reviews, one per line, from FILE or stdin. Writes one JSON object per input line: "
            '{"label": "neg"|"pos", "probabilities": {"neg": p, "pos": q}, "num_tokens": n, "truncated": bool}, '
            'or {"error": "..."} for an empty line (the exit status is then 1). Lines end at "\\n" only; '
            f"a line longer than {MAX_LINE_BYTES:,} bytes is cut there (a warning, and \"truncated\": true). "
            "Exit status 2: the model or the input file cannot be read."
        ),
    )
    predict.add_argument("file", nargs="?", default="-", help="input file, one review per line (default: stdin)")
    predict.add_argument("--model", default=None, help="model folder or Hub repo id (default: the bundled model)")
    predict.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) to pin")
    predict.add_argument("--batch-size", type=positive_int, default=128, help="reviews per forward pass")
    methods = "; ".join(f"{name}: {what}" for name, what in METHODS.items())
    predict.add_argument("--method", choices=[AUTO, *METHODS], default=AUTO,
                         help=(f"how predictions are computed: {AUTO}: conv for inputs under {LARGE_INPUT_TEXTS:,} "
                               f"lines (a fast, small start), lookup for longer ones; {methods}").replace("%", "%%")
                              + " (default: %(default)s)")
    predict.add_argument("--workers", type=positive_int, default=None,
                         help=f"processes that tokenise (used for batches of 512 lines or more) (default: 1 for inputs "
                              f"under {LARGE_INPUT_TEXTS:,} lines, else this machine's cores up to 2)")
    predict.add_argument("--threads", type=positive_int, default=None,
                         help="torch threads for the model (default: torch's choice, one per core); 1 on a machine "
                              "busy with other work, where threads that wait for each other at every step lose most")
    predict.add_argument("--chunk-size", type=positive_int, default=4096, help="lines read before predicting and writing")
    predict.set_defaults(func=predict_command)


def add_push_command(commands: argparse._SubParsersAction) -> None:
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


def add_space_command(commands: argparse._SubParsersAction) -> None:
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


# each adds one subcommand (its parser and its function); a new command is one more entry
COMMANDS = (add_predict_command, add_push_command, add_space_command)


def build_parser(prog: str = "textcnn") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="TextCNN IMDb sentiment model.")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in COMMANDS:
        add_command(commands)
    return parser


def main(argv: list[str] | None = None, prog: str = "textcnn") -> int:
    """The command line; ``prog`` is how the usage lines name it (``python -m textcnn`` passes its own)."""
    args = build_parser(prog).parse_args(argv)
    return args.func(args)


def run(prog: str = "textcnn") -> None:
    """The process's entry point (the ``textcnn`` command, ``python -m textcnn``): :func:`main`, then exit.

    Everything left is freed by the exit itself; the interpreter's final garbage collection over it
    (torch's and numba's objects) took about a second of a 15-second batch, so it is skipped.
    """
    status = main(prog=prog)
    gc.freeze()  # frozen objects are out of every collection, the one at shutdown included
    sys.exit(status)

