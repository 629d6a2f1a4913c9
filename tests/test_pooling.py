"""The pooled convolution gives conv1d's maxima, and its gradients are autograd's through conv1d."""

import pytest
import torch
import torch.nn.functional as F

from textcnn import pooling
from textcnn.pooling import conv_max_pool, mask_padded_windows


def reference(x, weight, bias, lengths):
    """Max-over-time of conv1d, the textbook way, differentiated by autograd."""
    scores = F.conv1d(x.transpose(1, 2), weight, bias)  # (B, F, W)
    return mask_padded_windows(scores, lengths, weight.shape[-1]).max(dim=-1)


def inputs(T, width, seed=0, filters=7, E=5, B=4):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, E, generator=g, dtype=torch.float64)
    weight = torch.randn(filters, E, width, generator=g, dtype=torch.float64)
    bias = torch.randn(filters, generator=g, dtype=torch.float64)
    lengths = torch.tensor([T, max(1, T // 2), min(2, T), max(1, T - 3)])[:B]  # right padding, one text shorter than the filter
    for row, n in enumerate(lengths.tolist()):
        x[row, n:] = 0.0  # <pad> embeds to zeros
    return x, weight, bias, lengths


def gradients(fn, x, weight, bias, lengths, upstream):
    leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
    values, positions = fn(*leaves, lengths)
    (values * upstream).sum().backward()
    return values.detach(), positions, [t.grad for t in leaves]


@pytest.mark.parametrize("backward", ["sparse", "dense"])
@pytest.mark.parametrize("T", [5, 9, 40, 150])
@pytest.mark.parametrize("width", [1, 3, 5])
def test_values_positions_and_gradients_match_conv1d(T, width, backward, monkeypatch):
    # each backward at every length, whatever length the threshold would pick it for
    monkeypatch.setattr(pooling, "SPARSE_BACKWARD_MIN_WINDOWS", 1 if backward == "sparse" else 10**9)
    x, weight, bias, lengths = inputs(T, width, seed=T * 10 + width)
    upstream = torch.randn(x.shape[0], weight.shape[0], dtype=torch.float64)
    want_values, want_positions, want_grads = gradients(reference, x, weight, bias, lengths, upstream)
    values, positions, grads = gradients(conv_max_pool, x, weight, bias, lengths, upstream)
    torch.testing.assert_close(values, want_values)
    assert torch.equal(positions, want_positions)
    for got, want in zip(grads, want_grads):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("T", [20, pooling.SPARSE_BACKWARD_MIN_WINDOWS + 10])  # the dense backward, the sparse one
def test_gradients_reach_only_the_inputs_that_ask(T):
    x, weight, bias, lengths = inputs(T, 3)
    weight.requires_grad_()  # frozen embeddings: no gradient for x
    values, _ = conv_max_pool(x, weight, bias, lengths)
    values.sum().backward()
    assert x.grad is None and bias.grad is None
    torch.testing.assert_close(weight.grad, torch.autograd.grad(reference(x, weight, bias, lengths)[0].sum(), weight)[0])


def test_positions_never_point_into_padding():
    x, weight, bias, lengths = inputs(30, 3)
    _, positions = conv_max_pool(x, weight, bias, lengths)
    last_window = (lengths - 3).clamp(min=0)  # a text shorter than the filter keeps window 0
    assert (positions <= last_window[:, None]).all()


def test_without_positions_gives_the_same_values():
    x, weight, bias, lengths = inputs(20, 4)
    values, positions = conv_max_pool(x, weight, bias, lengths, positions=False)
    assert positions is None
    torch.testing.assert_close(values, reference(x, weight, bias, lengths)[0])


@pytest.mark.parametrize("backward", ["sparse", "dense"])
def test_hand_checked_case(backward, monkeypatch):
    monkeypatch.setattr(pooling, "SPARSE_BACKWARD_MIN_WINDOWS", 1 if backward == "sparse" else 10**9)
    # one text "a b c" with 1-d vectors 1, -2, 3 and one filter of width 2 with weights (1, 1), bias 0.5:
    # windows "a b" -> 1 - 2 + 0.5 = -0.5, "b c" -> -2 + 3 + 0.5 = 1.5; the max is 1.5 at window 1
    x = torch.tensor([[[1.0], [-2.0], [3.0]]], requires_grad=True)
    weight = torch.tensor([[[1.0, 1.0]]], requires_grad=True)
    bias = torch.tensor([0.5], requires_grad=True)
    values, positions = conv_max_pool(x, weight, bias, torch.tensor([3]))
    assert values.item() == 1.5 and positions.item() == 1
    (2 * values).sum().backward()
    # d/dx: only tokens b and c, each times its weight; d/dw: the window's vectors; d/db: 1 each, times 2
    assert x.grad.flatten().tolist() == [0.0, 2.0, 2.0]
    assert weight.grad.flatten().tolist() == [-4.0, 6.0]
    assert bias.grad.tolist() == [2.0]


@pytest.mark.parametrize("T", [20, pooling.SPARSE_BACKWARD_MIN_WINDOWS_HALF + 10])  # bf16: dense, sparse
def test_bfloat16_autocast_gives_float32_gradients_close_to_float32_training(T):
    x, weight, bias, lengths = (t.float() if t.is_floating_point() else t for t in inputs(T, 3))
    upstream = torch.randn(x.shape[0], weight.shape[0])
    _, _, want = gradients(conv_max_pool, x, weight, bias, lengths, upstream)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, _, grads = gradients(conv_max_pool, x, weight, bias, lengths, upstream)
    for got, expected in zip(grads, want):
        assert got.dtype == torch.float32
        # bfloat16 rounding may move a maximum to a nearly equal window, so compare directions
        assert F.cosine_similarity(got.flatten(), expected.flatten(), dim=0) > 0.9


def test_the_sparse_backward_starts_later_under_half_precision():
    # the dense backward runs in the forward's precision: in bf16 it stays the faster one for longer
    assert pooling.sparse_backward_min_windows(torch.float32) == pooling.SPARSE_BACKWARD_MIN_WINDOWS
    assert pooling.sparse_backward_min_windows(torch.bfloat16) == pooling.SPARSE_BACKWARD_MIN_WINDOWS_HALF
    assert pooling.SPARSE_BACKWARD_MIN_WINDOWS < pooling.SPARSE_BACKWARD_MIN_WINDOWS_HALF
