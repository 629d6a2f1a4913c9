import io
import math
import tarfile

import numpy as np
import pytest
from textcnn.snippets import (
    CORPORA,
    INNER_ARCHIVE,
    Snippet,
    SnippetError,
    centred,
    comparable,
    parse,
    positive_probability,
    read_snippets,
    targets,
)

FILES = {
    "amazon": "1_1\t2.5\tgreat phone...  great features...\n1_2\t-1.9\tthe battery died in a week.\n",
    "tweets": "1\t1.387096774\tAlso, thank goodness for walkthroughs. :D\n",
    "nyt": "1_1\t-0.2\tA real 007 pokes around Manhattan in a Dodge.\n\n",
    "movies": "1_1\t-3.1\tThe plot is a mess, and the ending is worse.\n1_2\t0\tIt runs two hours.\n",
}
EXPECTED = {
    "amazon": [Snippet("amazon", 2.5, "great phone...  great features..."),
               Snippet("amazon", -1.9, "the battery died in a week.")],
    "tweets": [Snippet("tweets", 1.387096774, "Also, thank goodness for walkthroughs. :D")],
    "nyt": [Snippet("nyt", -0.2, "A real 007 pokes around Manhattan in a Dodge.")],
    "movies": [Snippet("movies", -3.1, "The plot is a mess, and the ending is worse."),
               Snippet("movies", 0.0, "It runs two hours.")],
}


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _ground_truth(prefix: str) -> dict[str, bytes]:
    return {f"{prefix}{CORPORA[c]}": text.encode() for c, text in FILES.items()}


@pytest.fixture(params=["folder", "inner archive", "source archive"])
def snippet_path(request, tmp_path):
    """The snippets as they come: unpacked, the paper's archive, the package's source archive holding it."""
    if request.param == "folder":
        for name, content in _ground_truth("").items():
            (tmp_path / "hutto_ICWSM_2014" / name).parent.mkdir(exist_ok=True)
            (tmp_path / "hutto_ICWSM_2014" / name).write_bytes(content)
        return tmp_path
    inner = _tar_gz({"hutto_ICWSM_2014/_README_.txt": b"readme", **_ground_truth("hutto_ICWSM_2014/")})
    path = tmp_path / "snippets.tar.gz"
    if request.param == "inner archive":
        path.write_bytes(inner)
    else:
        path.write_bytes(_tar_gz({"vaderSentiment-3.3.2/setup.py": b"",
                                  f"vaderSentiment-3.3.2/additional_resources/{INNER_ARCHIVE}": inner}))
    return path


@pytest.mark.parametrize("corpora", [tuple(CORPORA), ("amazon",), ("tweets", "movies")])
def test_every_layout_gives_the_chosen_corpora_line_by_line(snippet_path, corpora):
    assert read_snippets(snippet_path, corpora) == [s for c in corpora for s in EXPECTED[c]]


def test_a_missing_corpus_or_path_is_refused_in_one_sentence(tmp_path):
    (tmp_path / CORPORA["amazon"]).write_text(FILES["amazon"])
    assert len(read_snippets(tmp_path, ["amazon"])) == 2
    with pytest.raises(SnippetError, match="holds no tweets_GroundTruth.txt"):
        read_snippets(tmp_path, ["amazon", "tweets"])
    with pytest.raises(SnippetError, match="does not exist"):
        read_snippets(tmp_path / "absent.tar.gz")
    with pytest.raises(SnippetError, match="unknown snippet corpus 'reddit'"):
        read_snippets(tmp_path, ["reddit"])
    (tmp_path / "broken.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(SnippetError, match="not a readable .tar.gz archive"):
        read_snippets(tmp_path / "broken.tar.gz")


@pytest.mark.parametrize("line", ["1_1\tgood\tA text.", "1_1\t2.0", "1_1\t5\tToo high.", "1_1\t1\t  ", "1_1\t1\ta\tb"])
def test_a_line_that_is_not_id_score_text_is_refused_with_its_number(line):
    with pytest.raises(SnippetError, match="amazonReviewSnippets_GroundTruth.txt, line 2"):
        parse("amazon", f"1_0\t1\tFine.\n{line}\n".encode())


@pytest.mark.parametrize("rating", [0.0, 0.4, 1.0, 2.5, 4.0])
@pytest.mark.parametrize("scale", [0.5, 1.5, 3.0])
def test_targets_are_symmetric_and_grow_with_the_score(rating, scale):
    up, down = positive_probability(rating, scale), positive_probability(-rating, scale)
    assert up + down == pytest.approx(1.0)
    assert positive_probability(rating + 0.1, scale) > up >= 0.5


def test_targets_are_probability_pairs_of_the_hand_checked_sigmoid():
    pairs = targets([Snippet("amazon", 1.0, "ok"), Snippet("amazon", -2.0, "bad"), Snippet("nyt", 0.0, "news")], 1.5)
    assert pairs.dtype == np.float32 and pairs.shape == (3, 2)
    assert pairs[:, 1] == pytest.approx([1 / (1 + math.exp(-1.5)), 1 / (1 + math.exp(3.0)), 0.5])
    assert pairs.sum(axis=1) == pytest.approx(np.ones(3))


def test_centring_takes_each_corpus_mean_off_and_keeps_the_differences():
    snippets = [Snippet("tweets", 2.0, "yay"), Snippet("amazon", 1.0, "ok"), Snippet("tweets", -1.0, "meh"),
                Snippet("amazon", -2.0, "bad"), Snippet("tweets", 0.5, "fine")]
    shifted = centred(snippets)
    assert [s.rating for s in shifted] == pytest.approx([1.5, 1.5, -1.5, -1.5, 0.0])  # tweets' mean 0.5, amazon's -0.5
    assert [(s.corpus, s.text) for s in shifted] == [(s.corpus, s.text) for s in snippets]
    assert centred(shifted) == shifted  # centred already: nothing moves


@pytest.mark.parametrize(("a", "b"), [("Great phone!", "great phone ."), ("Don't buy it.", "don t buy it"),
                                      ("  Worth every penny...", "WORTH EVERY PENNY")])
def test_comparable_texts_ignore_casing_and_punctuation(a, b):
    assert comparable(a) == comparable(b)
    assert comparable(a) != comparable(a + " not")
