import copy

import numpy as np
import pytest
import torch

from textcnn.data import EncodedSplit, batch_indices
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.training import Batches, as_unknown, evaluate, evaluate_split, fit, split_logits, train_epoch


def toy_model(seed: int = 0) -> TextCNN:
    torch.manual_seed(seed)
    return TextCNN(TextCNNConfig(vocab_size=20, embedding_dim=4, filter_widths=(2, 3), num_filters=3, dropout=0.0))


def toy_batches(seed: int = 0, batches: int = 4):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randint(2, 20, (5, 7), generator=g), torch.randint(0, 2, (5,), generator=g)) for _ in range(batches)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_hot_soft_targets_train_exactly_like_hard_labels(seed):
    hard_model, soft_model = toy_model(seed), toy_model(seed)
    hard = toy_batches(seed)
    soft = [(ids, torch.nn.functional.one_hot(labels, 2).float()) for ids, labels in hard]
    results = []
    for model, batches in ((hard_model, hard), (soft_model, soft)):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        results.append(train_epoch(model, batches, optimizer=optimizer, device=torch.device("cpu"),
                                   mixed_precision=False, progress=False))
    assert results[0] == pytest.approx(results[1], abs=1e-6)
    for a, b in zip(hard_model.parameters(), soft_model.parameters()):
        torch.testing.assert_close(a, b)


def test_soft_targets_pull_the_model_towards_them():
    model = toy_model()
    ids = toy_batches()[0][0]
    target = torch.tensor([[0.2, 0.8]]).repeat(5, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        train_epoch(model, [(ids, target)], optimizer=optimizer, device=torch.device("cpu"), mixed_precision=False, progress=False)
    with torch.no_grad():
        probs = torch.softmax(model.eval()(ids), dim=1)
    torch.testing.assert_close(probs, target, atol=0.02, rtol=0)  # soft labels are matched, not rounded to 0/1


def test_evaluate_reference_case():
    model = toy_model().eval()
    ids, labels = toy_batches()[0]
    with torch.no_grad():
        logits = model(ids)
    loss, accuracy = evaluate(model, [(ids, labels)], device=torch.device("cpu"), mixed_precision=False, progress=False)
    assert accuracy == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_evaluate_split_on_the_cpu_gives_the_convolutions_figures(seed):
    """The CPU reads the lookup table; texts of every length, some shorter than a filter, some empty."""
    model = toy_model(seed).train()  # as fit leaves it: the evaluation must not depend on the mode
    rng = np.random.default_rng(seed)
    split = EncodedSplit([rng.integers(1, 20, size=n) for n in rng.integers(0, 15, size=60)], rng.integers(0, 2, size=60))
    batches = Batches(split, batch_size=8, bucket=True, steps_per_epoch=8, min_length=3, multiple=1,
                      rng=np.random.default_rng(0))
    loss, accuracy = evaluate_split(model, split, batches, device=torch.device("cpu"), progress=False)
    loader, _ = batches.evaluation(split)
    conv_loss, conv_accuracy = evaluate(model, loader, device=torch.device("cpu"), mixed_precision=False, progress=False)
    assert accuracy == conv_accuracy
    assert loss == pytest.approx(conv_loss, rel=1e-5)
    # without the table (a GPU's path): the convolutions on the same batches, exactly
    assert evaluate_split(model, split, batches, device=torch.device("cpu"), progress=False,
                          lookup=False) == (conv_loss, conv_accuracy)


@pytest.mark.parametrize("seed", range(3))
def test_split_logits_are_each_texts_own_in_the_splits_order(seed):
    """Both paths (the CPU's lookup table, a GPU's padded length-bucketed batches) give each text the
    logits the model gives it alone, unpadded, in eval mode, and leave the model's mode as it was."""
    model = toy_model(seed).train()
    rng = np.random.default_rng(seed)
    split = EncodedSplit([rng.integers(1, 20, size=n) for n in rng.integers(1, 15, size=60)], rng.integers(0, 2, size=60))
    batches = Batches(split, batch_size=8, bucket=True, steps_per_epoch=8, min_length=3, multiple=4,
                      rng=np.random.default_rng(0))
    model.eval()
    with torch.no_grad():
        alone = torch.cat([model(torch.as_tensor(ids)[None]) for ids in split.ids]).numpy()  # (N, C)
    model.train()
    for lookup in (True, False):
        logits = split_logits(model, split, batches, device=torch.device("cpu"), lookup=lookup)
        np.testing.assert_allclose(logits, alone, atol=1e-5)
        assert model.training
    assert split_logits(model, split.subset([]), batches, device=torch.device("cpu")).shape == (0, 2)


def test_fit_marks_the_best_epoch_by_validation_accuracy():
    model = toy_model()
    batches = toy_batches()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    best_states = []

    def on_epoch_end(result, is_best):
        if is_best:
            best_states.append((result.epoch, copy.deepcopy(model.state_dict())))

    history = fit(model, optimizer=optimizer, epochs=3, train_batches=lambda epoch: (batches, len(batches)),
                  validate=lambda: evaluate(model, batches[:2], device=torch.device("cpu"), mixed_precision=False,
                                            progress=False),
                  device=torch.device("cpu"), mixed_precision=False, progress=False, on_epoch_end=on_epoch_end,
                  log=lambda _: None)
    assert [r.epoch for r in history] == [1, 2, 3]
    best = max(history, key=lambda r: (r.val_accuracy, -r.val_loss))
    assert best_states[-1][0] == best.epoch


@pytest.mark.parametrize("seed", range(3))
def test_word_dropout_replaces_tokens_with_unk_at_its_rate_and_never_padding(seed):
    ids = torch.randint(2, 50, (64, 40), generator=torch.Generator().manual_seed(seed))
    ids[:, 30:] = 0  # padding
    rng = np.random.default_rng(seed)
    assert torch.equal(as_unknown(ids, 0.0, rng), ids)
    dropped = as_unknown(ids, 0.25, rng)
    replaced = dropped != ids
    assert (dropped[replaced] == 1).all() and not replaced[:, 30:].any()
    assert replaced[:, :30].float().mean().item() == pytest.approx(0.25, abs=0.03)
    assert torch.equal(as_unknown(ids, 1 - 1e-12, rng)[:, :30], torch.ones(64, 30, dtype=ids.dtype))


def test_word_dropout_reads_only_the_rows_it_is_given():
    ids = torch.arange(2, 2 + 8 * 400).reshape(8, 400)
    rows = torch.tensor([True, False] * 4)
    dropped = as_unknown(ids, 0.5, np.random.default_rng(0), rows)
    assert torch.equal(dropped[~rows], ids[~rows])
    assert (dropped[rows] == 1).float().mean().item() == pytest.approx(0.5, abs=0.05)
    # the same draws as without a mask, so a run's batches do not depend on which rows are read
    assert torch.equal(dropped[rows], as_unknown(ids, 0.5, np.random.default_rng(0))[rows])


def test_training_batches_drop_words_only_in_the_rows_named():
    rng = np.random.default_rng(0)
    split = EncodedSplit([rng.integers(2, 20, size=12) for _ in range(40)], rng.integers(0, 2, size=40))
    reviews = np.arange(40) < 25
    batches = Batches(split, batch_size=8, bucket=False, steps_per_epoch=5, min_length=3, multiple=1,
                      rng=np.random.default_rng(1), unk_dropout=0.5, unk_rows=reviews)
    order = batch_indices(split.lengths, 8, np.random.default_rng(1), bucket=False)
    loader, _ = batches.training(1)
    for index, (ids, _) in zip(order, loader):
        has_unk = (ids == 1).any(dim=1).numpy()
        assert not has_unk[~reviews[index]].any() and has_unk[reviews[index]].all()


def test_training_batches_read_tokens_as_unk_only_with_word_dropout():
    rng = np.random.default_rng(0)
    split = EncodedSplit([rng.integers(2, 20, size=12) for _ in range(40)], rng.integers(0, 2, size=40))

    def first_epoch(share: float) -> list[torch.Tensor]:
        batches = Batches(split, batch_size=8, bucket=False, steps_per_epoch=5, min_length=3, multiple=1,
                          rng=np.random.default_rng(1), unk_dropout=share)
        loader, count = batches.training(1)
        return [ids for ids, _ in loader]

    plain, dropped = first_epoch(0.0), first_epoch(0.3)
    assert len(plain) == len(dropped) == 5
    assert not any((ids == 1).any() for ids in plain)
    for before, after in zip(plain, dropped):  # the same batches, some tokens read as <unk>
        changed = before != after
        assert changed.any() and (after[changed] == 1).all()
