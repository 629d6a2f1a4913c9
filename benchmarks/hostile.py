"""Hostile inputs, defined once: the tests of the app and the CLI and scripts/load_test.py send these.

``REVIEWS`` must each get a prediction (quickly, and never rendered as HTML); ``EMPTY`` have no token
and must get the one clear "empty" message; ``FILE_ONLY`` are bytes only a file can carry (invalid
UTF-8, line separators), for the CLI. Every value is the same in every run: the random ones are seeded.
"""

from __future__ import annotations

import random
import string

# name -> text that must get a prediction
REVIEWS: dict[str, str] = {
    "single character": "a",
    "only emoji": "😀🎬🍿👍🏽👨‍👩‍👧",
    "only punctuation": "?!... ;-) ---",
    "1 MB review": "This film was great, I loved it. " * 31_000,
    "one 100,000-character token": "(" * 100_000,
    # no whitespace and no repeats: every 100-character piece is new to the tokenizer's caches
    "1 MB without whitespace": "".join(random.Random(0).choices(string.ascii_letters + string.punctuation, k=10**6)),
    "random 10 KB": "".join(random.Random(0).choices("abcdefghijklmnopqrstuvwxyz .,!?'()-", k=10_000)),
    "NUL and control characters": "good\x00movie\x01\x02 \x1b[31mbad\x7f",
    "only NUL": "\x00",
    "right-to-left and combining": "\u202eevil\u202c هذا الفيلم رائع Z̴͓̈a̶l̷g̸o",
    "zero-width characters": "gr\u200beat fi\u200dlm\ufeff, not\u2060 bad",
    "HTML and script": '<script>alert(1)</script><b>bold</b><img src=x onerror="alert(2)">',
    "non-English": "这部电影非常好看。Ce film est magnifique. Этот фильм ужасен.",
}

# name -> text without a single token: refused with the "empty" message, never classified
EMPTY: dict[str, str] = {
    "empty": "",
    "whitespace only": " \t  \t",
    "HTML line breaks only": "<br /><br />",
}

# name -> one line of a file (without its b"\n") that is not plain UTF-8 text on one line
FILE_ONLY: dict[str, bytes] = {
    "invalid UTF-8": b"great \xff\xfe film \xc3\x28 lone surrogate \xed\xa0\x80 cut \xe2\x82",
    # only b"\n" ends a line: these stay inside their review (str.splitlines would split on each)
    "other line separators": "one\rtwo\u2028three\u2029four\x0bfive\x0csix\x1cseven\x85eight".encode(),
    "CRLF line end": b"a wonderful film\r",
}


def file_lines() -> dict[str, tuple[bytes, bool]]:
    """Every hostile input as one line of a file: name -> (the line without its b"\\n", whether it is empty)."""
    lines = {name: (text.encode(), True) for name, text in EMPTY.items()}
    lines |= {name: (text.encode(), False) for name, text in REVIEWS.items()}
    lines |= {name: (line, False) for name, line in FILE_ONLY.items()}
    return lines
