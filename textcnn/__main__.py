"""``python -m textcnn``: the same command line as the installed ``textcnn`` command."""

from textcnn.cli import run

run(prog="python -m textcnn")
