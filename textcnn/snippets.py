"""Short texts rated by people, to train on: the sentence-level data of VADER's paper.

Hutto and Gilbert ("VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social Media
Text", ICWSM 2014) had at least 20 screened raters score each of about 23,700 short texts from
-4 (extremely negative) to +4 (extremely positive). The mean scores ship in the source
distribution of the ``vaderSentiment`` package (MIT licence), in
``additional_resources/hutto_ICWSM_2014.tar.gz``:

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d downloads

Four corpora, each a ``*_GroundTruth.txt`` file of ``id <TAB> mean score <TAB> text`` lines:
sentences of Amazon product reviews (Hu and Liu 2004), tweet-like texts, sentences of New York
Times editorials, and sentences of movie reviews (Pang and Lee 2004). They are the everyday short
texts that IMDb's long reviews lack, labelled by people rather than by a teacher or a lexicon.
"""

from __future__ import annotations

import io
import math
import re
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# corpus name -> its file in the archive
CORPORA = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "movies": "movieReviewSnippets_GroundTruth.txt",
}
INNER_ARCHIVE = "hutto_ICWSM_2014.tar.gz"  # where the package's source distribution keeps them
RATING_RANGE = 4.0  # scores run from -4 to +4
# targets are sigmoid(SNIPPET_SCALE * mean score): a mean of 1 ("slightly positive") is 0.82, of 2 is 0.95
SNIPPET_SCALE = 1.5


class SnippetError(ValueError):
    """The path holds no readable snippet files (one sentence, for the user)."""


@dataclass(frozen=True)
class Snippet:
    corpus: str  # a key of CORPORA
    rating: float  # the raters' mean score, -4 to +4
    text: str


def read_snippets(path: str | Path, corpora: Iterable[str] = tuple(CORPORA)) -> list[Snippet]:
    """The snippets of ``corpora`` at ``path``: the ``vaderSentiment`` source archive (``.tar.gz``),
    the ``hutto_ICWSM_2014.tar.gz`` inside it, or a folder that holds the ``*_GroundTruth.txt``
    files (as either archive unpacks). Raises SnippetError when a corpus is missing or unreadable."""
    corpora = list(corpora)
    unknown = [c for c in corpora if c not in CORPORA]
    if unknown:
        raise SnippetError(f"unknown snippet corpus {unknown[0]!r}: choose from {', '.join(CORPORA)}")
    path = Path(path)
    if path.is_dir():
        files = {p.name: p.read_bytes for p in path.rglob("*_GroundTruth.txt")}
    elif path.is_file():
        try:
            files = _archive_files(path.read_bytes())
        except (tarfile.TarError, OSError, EOFError) as error:
            raise SnippetError(f"{path} is not a readable .tar.gz archive ({error})") from None
    else:
        raise SnippetError(f"{path} does not exist")
    snippets = []
    for corpus in corpora:
        read = files.get(CORPORA[corpus])
        if read is None:
            raise SnippetError(f"{path} holds no {CORPORA[corpus]}: give the vaderSentiment source archive, "
                               f"its {INNER_ARCHIVE}, or a folder they were unpacked into")
        snippets.extend(parse(corpus, read()))
    return snippets


def _archive_files(data: bytes) -> dict:
    """File name -> a reader of its bytes, for the ground-truth files of a tar.gz and of the archive inside it."""
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or not (name.endswith("_GroundTruth.txt") or name == INNER_ARCHIVE):
                continue
            content = archive.extractfile(member).read()
            if name == INNER_ARCHIVE:
                files.update(_archive_files(content))
            else:
                files[name] = (lambda content=content: content)
    return files


def parse(corpus: str, content: bytes) -> list[Snippet]:
    """The snippets of one ground-truth file; raises SnippetError on a line that is not ``id, score, text``."""
    text = content.decode("utf-8", errors="replace")
    snippets = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            rating = float(fields[1])
        except (IndexError, ValueError):
            raise SnippetError(f"{CORPORA[corpus]}, line {number}: expected an id, a score and a text, "
                               "separated by tabs") from None
        if len(fields) != 3 or not -RATING_RANGE <= rating <= RATING_RANGE or not fields[2].strip():
            raise SnippetError(f"{CORPORA[corpus]}, line {number}: expected an id, a score from -4 to 4 and a "
                               "text, separated by tabs")
        snippets.append(Snippet(corpus, rating, fields[2].strip()))
    return snippets


_NOT_WORD = re.compile(r"[^a-z0-9]+")


def comparable(text: str) -> str:
    """``text`` lowercased, with every run of characters other than letters and digits made one space:
    two texts that compare equal so are the same sentence, whatever their punctuation and casing."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def positive_probability(rating: float, scale: float) -> float:
    """The target probability of "positive" for a mean score: ``sigmoid(scale * rating)``, so a neutral
    text (0) is 0.5 and a plainly positive one ("good" alone scores 1.9 in VADER's lexicon) near 1."""
    return 1.0 / (1.0 + math.exp(-scale * rating))


def centred(snippets: Sequence[Snippet]) -> list[Snippet]:
    """``snippets`` with each corpus's mean score taken off its scores, so that no corpus leans to a side
    (the tweets and the Amazon sentences lean positive, and a model that learns their lean reads plain
    short texts as praise). The differences between texts of a corpus stay as the raters gave them."""
    totals: dict[str, list[float]] = {}
    for s in snippets:
        totals.setdefault(s.corpus, []).append(s.rating)
    means = {corpus: math.fsum(ratings) / len(ratings) for corpus, ratings in totals.items()}
    return [Snippet(s.corpus, s.rating - means[s.corpus], s.text) for s in snippets]


def targets(snippets: Sequence[Snippet], scale: float):
    """(N, 2) float32 targets (negative, positive) of ``snippets``."""
    import numpy as np

    positive = np.array([positive_probability(s.rating, scale) for s in snippets], dtype=np.float32)
    return np.stack([1 - positive, positive], axis=1)
