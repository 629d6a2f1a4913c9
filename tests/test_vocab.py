import pytest

from textcnn.vocab import PAD, PAD_ID, UNK, UNK_ID, Vocab

DOCS = [["a", "b", "a", "c"], ["b", "a", "d"], ["e"]]


def test_build_orders_by_frequency_with_specials_first():
    vocab = Vocab.build(DOCS, max_size=10)
    assert vocab.itos == [PAD, UNK, "a", "b", "c", "d", "e"]  # ties broken alphabetically
    assert (vocab.stoi[PAD], vocab.stoi[UNK]) == (PAD_ID, UNK_ID)


@pytest.mark.parametrize("max_size,min_freq,expected", [(4, 1, ["a", "b"]), (10, 2, ["a", "b"]), (10, 3, ["a"]), (2, 1, [])])
def test_size_cap_and_min_freq(max_size, min_freq, expected):
    assert Vocab.build(DOCS, max_size=max_size, min_freq=min_freq).itos[2:] == expected


def test_unknown_tokens_map_to_unk():
    vocab = Vocab.build(DOCS, max_size=10)
    assert vocab.encode(["a", "zzz"]) == [vocab.stoi["a"], UNK_ID]


@pytest.mark.parametrize("tokens", [[PAD, UNK], [PAD, UNK, "x", "y"], [PAD, UNK, "ünï", "😀", "<br>", '"quoted"']])
def test_save_load_round_trip(tmp_path, tokens):
    Vocab(tokens).save(tmp_path / "vocab.json")
    loaded = Vocab.load(tmp_path / "vocab.json")
    assert loaded == Vocab(tokens)
    assert loaded.decode(loaded.encode(tokens)) == tokens


@pytest.mark.parametrize("tokens", [["x", PAD, UNK], [PAD, UNK, "x", "x"]])
def test_invalid_vocabularies_are_rejected(tokens):
    with pytest.raises(ValueError):
        Vocab(tokens)


@pytest.mark.parametrize("data, message", [
    ([PAD, UNK], "must be a JSON object"),
    ({"itos": [PAD, UNK]}, "must be a JSON object"),
    ({"tokens": "<pad><unk>"}, "must be a JSON object"),
    ({"tokens": [PAD, UNK, 3]}, "non-empty string"),
    ({"tokens": [PAD, UNK, ""]}, "non-empty string"),
    ({"tokens": [UNK, PAD]}, "must start with"),
])
def test_from_json_refuses_what_is_not_a_vocabulary(data, message):
    with pytest.raises(ValueError, match=message):
        Vocab.from_json(data)


def test_json_round_trip():
    vocab = Vocab([PAD, UNK, "a", "b"])
    assert Vocab.from_json(vocab.to_json()) == vocab
