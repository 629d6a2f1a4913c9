import pytest
import torch

from textcnn.model import TextCNN, TextCNNConfig
from textcnn.vocab import PAD_ID


def small_model(widths=(3, 4, 5), filters=6, vocab=50, dim=8, seed=0) -> TextCNN:
    torch.manual_seed(seed)
    return TextCNN(TextCNNConfig(vocab_size=vocab, embedding_dim=dim, filter_widths=widths, num_filters=filters)).eval()


@pytest.mark.parametrize("widths", [(3, 4, 5), (1,), (2, 7), (5, 3)])
@pytest.mark.parametrize("batch,length", [(1, 1), (4, 2), (3, 30)])
def test_output_and_feature_shapes(widths, batch, length):
    model = small_model(widths)
    ids = torch.randint(2, 50, (batch, length))
    assert model(ids).shape == (batch, 2)
    features = model.forward_features(ids)
    n = len(widths) * 6
    assert features.pooled.shape == features.position.shape == (batch, n)
    assert features.width.tolist() == [w for w in widths for _ in range(6)]
    assert (features.pooled >= 0).all()


@pytest.mark.parametrize("tokens", [[7], [7, 9]])
def test_inputs_shorter_than_the_widest_filter_work(tokens):
    model = small_model((3, 4, 5))
    logits = model(torch.tensor([tokens]))
    assert torch.isfinite(logits).all()
    features = model.forward_features(torch.tensor([tokens]))
    assert (features.position == 0).all()  # the only window is the one holding the whole text


def test_padding_never_changes_the_answer():
    model = small_model()
    texts = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]
    alone = torch.cat([model(torch.tensor([t])) for t in texts])
    padded = torch.full((3, 12), PAD_ID)
    for row, t in enumerate(texts):
        padded[row, : len(t)] = torch.tensor(t)
    torch.testing.assert_close(model(padded), alone)


def test_logits_are_exactly_bias_plus_weighted_pooled_features():
    model = small_model()
    ids = torch.randint(2, 50, (2, 20))
    features = model.forward_features(ids)
    manual = features.pooled @ model.head.weight.T + model.head.bias
    torch.testing.assert_close(features.logits, manual)
    torch.testing.assert_close(model(ids), manual)


def test_each_max_comes_from_its_reported_ngram():
    model = small_model((2, 3), filters=4)
    ids = torch.randint(2, 50, (1, 15))
    features = model.forward_features(ids)
    x = model.embedding(ids).transpose(1, 2)
    for f in range(8):
        width, start = int(features.width[f]), int(features.position[0, f])
        conv = model.convs[0 if f < 4 else 1]
        window = x[:, :, start : start + width]
        value = torch.relu(conv(window))[0, f % 4, 0]
        torch.testing.assert_close(value, features.pooled[0, f])


def test_padding_row_of_the_embedding_is_zero():
    model = small_model()
    assert model.embedding.weight[PAD_ID].abs().sum() == 0


@pytest.mark.parametrize("bad", [dict(filter_widths=()), dict(filter_widths=(0,)), dict(num_filters=0), dict(labels=("x",))])
def test_invalid_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        TextCNNConfig(**bad)


def test_config_accepts_json_lists():
    assert TextCNNConfig(filter_widths=[3, 4], labels=["neg", "pos"]) == TextCNNConfig(filter_widths=(3, 4))


@pytest.mark.parametrize("widths, shortest", [((3, 4, 5), 5), ((5, 3), 5), ((1,), 1)])
def test_min_length_is_the_widest_filter(widths, shortest):
    config = TextCNNConfig(filter_widths=widths)
    assert config.min_length == shortest
    model = TextCNN(config).eval()
    # a text padded to min_length gives the same answer as the bare text: padding below it is implied
    ids = torch.tensor([[7, 9]])
    padded = torch.cat([ids, torch.full((1, max(0, shortest - 2)), PAD_ID)], dim=1)
    torch.testing.assert_close(model(ids), model(padded))


def test_the_network_holds_only_its_weights_and_config():
    """Vocabulary, n-grams and where the model came from live beside it (textcnn.hub.LoadedModel), not on it."""
    model = small_model()
    for name in ("vocab_tokens", "filter_ngrams", "source_folder"):
        assert not hasattr(model, name)
