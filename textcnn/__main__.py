"""``python -m textcnn``: the same command line as the installed ``textcnn`` command."""

import sys

from textcnn.cli import main

sys.exit(main(prog="python -m textcnn"))
