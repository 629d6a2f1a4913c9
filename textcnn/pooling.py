"""One filter bank of Kim's CNN: a 1-D convolution over token vectors, then max-over-time pooling.

The forward pass unfolds each window of ``width`` token vectors into one row and multiplies all
rows by the filters in a single matrix product, which a CPU runs faster than ``conv1d`` on batches.

Max-over-time pooling keeps a single window per filter and text, so the gradient of the pooled
features reaches the convolution at ``B x F`` windows and nowhere else. Autograd's generic path
scatters it into a dense (B, F, windows) tensor of zeros and runs the convolution's whole backward
over that. :class:`ConvMaxPool` does the same for short texts, in the forward's precision, and for
long ones gathers the winning windows and computes the gradients of the weights, the bias and the
token vectors from them alone: the same gradients up to float rounding, at a cost that barely
grows with the length. A training step on a batch of 400-token reviews is about twice as fast on a
CPU (``python benchmarks/train_step.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# The sparse backward costs about the same whatever the length (it gathers and scatters F x width
# token vectors per text); the dense one grows with the number of windows, in the forward's
# precision. On 2-core CPUs (``python benchmarks/train_step.py``, docs/benchmarks.md) they broke even
# near 160 windows under bfloat16 autocast, and between 48 and 96 tokens in float32, where from 96
# tokens on the sparse one was 1.15 to 2x faster.
SPARSE_BACKWARD_MIN_WINDOWS = 80  # float32 (and float64)
SPARSE_BACKWARD_MIN_WINDOWS_HALF = 160  # a bfloat16 or float16 forward


def sparse_backward_min_windows(dtype: torch.dtype) -> int:
    """From how many windows on the sparse backward is the faster, for a forward computed in ``dtype``."""
    return SPARSE_BACKWARD_MIN_WINDOWS_HALF if dtype in (torch.bfloat16, torch.float16) else SPARSE_BACKWARD_MIN_WINDOWS


def mask_padded_windows(scores: torch.Tensor, lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``scores`` (B, F, windows) with -inf for the windows that start past each text's last full n-gram.

    Those windows see only padding; masking them makes a padded batch give the same answer as each
    text alone (a text shorter than the filter keeps its first window, which holds all of it). On
    the CPU only the tail that can hold padding is masked, in place; on a GPU every window is, out
    of place, since finding the tail would make the CPU wait for the GPU.
    """
    valid = (lengths - width + 1).clamp(min=1)  # (B,)
    if scores.is_cuda:
        t = torch.arange(scores.shape[-1], device=scores.device)  # (windows,)
        return scores.masked_fill(t >= valid[:, None, None], float("-inf"))
    first_invalid = int(valid.min())  # every window before this one is valid in every row
    if first_invalid < scores.shape[-1]:
        t = torch.arange(first_invalid, scores.shape[-1], device=scores.device)  # (tail,)
        scores[..., first_invalid:].masked_fill_(t >= valid[:, None, None], float("-inf"))
    return scores


def unfold_windows(x: torch.Tensor, width: int) -> torch.Tensor:
    """(B*W, width*E): every window of ``width`` consecutive token vectors of ``x`` (B, T, E) as one row."""
    B, T, E = x.shape
    return x.unfold(1, width, 1).transpose(2, 3).reshape(B * (T - width + 1), width * E)


def flat_kernel(weight: torch.Tensor) -> torch.Tensor:
    """(F, width*E): ``nn.Conv1d``'s (F, E, width) weight in the token-by-token order of :func:`unfold_windows`."""
    filters, E, width = weight.shape
    return weight.transpose(1, 2).reshape(filters, width * E)


def window_scores(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Every window's pre-activation (B, F, windows), padding-only windows at -inf.

    ``x`` (B, T, E) token vectors, T >= width; ``weight`` (F, E, width) and ``bias`` (F,) as
    ``nn.Conv1d`` holds them; ``lengths`` (B,) real tokens per text.
    """
    B, T, _ = x.shape
    filters, _, width = weight.shape
    if torch.is_autocast_enabled(x.device.type):  # cast once, before unfolding makes x width times larger
        x = x.to(torch.get_autocast_dtype(x.device.type))  # (B, T, E)
    windows = unfold_windows(x, width)  # (B*W, width*E)
    scores = torch.addmm(bias, windows, flat_kernel(weight).t()).view(B, T - width + 1, filters)  # (B, W, F)
    return mask_padded_windows(scores.transpose(1, 2), lengths, width)  # (B, F, W)


def max_over_time(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, positions), each (B, F): the maximum of ``scores`` (B, F, W) over its windows, and where.

    ``max_pool1d`` over all the windows at once: on the filters-last layout :func:`window_scores`
    gives, faster on a CPU than ``max(dim=-1)``, with the same positions.
    """
    values, positions = F.max_pool1d(scores, scores.shape[-1], return_indices=True)  # (B, F, 1), (B, F, 1)
    return values.squeeze(-1), positions.squeeze(-1)


class ConvMaxPool(torch.autograd.Function):
    """(values, positions): each filter's maximum over the windows of each text, and where it is.

    Takes ``x`` (B, T, E), ``weight`` (F, E, width), ``bias`` (F,), ``lengths`` (B,); returns
    values (B, F) and positions (B, F), the start token of each maximum's window.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, lengths):
        scores = window_scores(x, weight, bias, lengths)  # (B, F, W)
        values, positions = max_over_time(scores)  # (B, F), (B, F)
        ctx.save_for_backward(x, weight, positions)
        ctx.mark_non_differentiable(positions)
        ctx.compute_dtype = scores.dtype  # bfloat16 under autocast
        return values, positions

    @staticmethod
    def backward(ctx, grad_values, _grad_positions):
        x, weight, positions = ctx.saved_tensors
        width = weight.shape[-1]
        if x.shape[1] - width + 1 >= sparse_backward_min_windows(ctx.compute_dtype):
            grad_x, grad_weight = _sparse_backward(x, weight, positions, grad_values, ctx.needs_input_grad)
        else:
            grad_x, grad_weight = _dense_backward(x, weight, positions, grad_values, ctx.needs_input_grad,
                                                  ctx.compute_dtype)
        grad_bias = grad_values.sum(dim=0).to(weight.dtype) if ctx.needs_input_grad[2] else None  # (F,)
        return grad_x, grad_weight, grad_bias, None


def _sparse_backward(x, weight, positions, grad_values, needs):
    """Gradients of x and weight from the B x F winning windows alone, in float32 at least."""
    B, T, E = x.shape
    filters, _, width = weight.shape
    dtype = torch.promote_types(x.dtype, torch.float32)
    grad = grad_values.to(dtype).t().contiguous()  # (F, B)
    first_row = positions.t() + torch.arange(B, device=x.device) * T  # (F, B) window start in x as (B*T, E)
    rows = (first_row.unsqueeze(-1) + torch.arange(width, device=x.device)).reshape(-1)  # (F*B*width,)
    grad_x = grad_weight = None
    if needs[0]:
        per_window = grad.unsqueeze(-1) * flat_kernel(weight.to(dtype)).unsqueeze(1)  # (F, B, width*E) what each winning window receives
        grad_x = torch.zeros(B * T, E, dtype=dtype, device=x.device)  # (B*T, E)
        grad_x.index_add_(0, rows, per_window.reshape(-1, E))  # overlapping windows add up
        grad_x = grad_x.view(B, T, E).to(x.dtype)  # (B, T, E)
    if needs[1]:
        winners = x.to(dtype).reshape(B * T, E).index_select(0, rows).view(filters, B, width * E)  # (F, B, width*E)
        grad_kernel = torch.bmm(grad.unsqueeze(1), winners)  # (F, 1, width*E)
        grad_weight = grad_kernel.view(filters, width, E).transpose(1, 2).to(weight.dtype)  # (F, E, width)
    return grad_x, grad_weight


def _dense_backward(x, weight, positions, grad_values, needs, dtype):
    """Gradients of x and weight through every window (zero but at the winners), in the forward's precision."""
    B, T, E = x.shape
    filters, _, width = weight.shape
    windows = T - width + 1
    grad_scores = torch.zeros(B, windows, filters, dtype=dtype, device=x.device)  # (B, W, F)
    grad_scores.scatter_(1, positions.unsqueeze(1), grad_values.to(dtype).unsqueeze(1))  # each max's window
    grad_scores = grad_scores.view(B * windows, filters)  # (B*W, F)
    grad_x = grad_weight = None
    if needs[0]:
        grad_windows = (grad_scores @ flat_kernel(weight.to(dtype))).view(B, windows, width, E)  # (B, W, width, E)
        grad_x = torch.zeros(B, T, E, dtype=x.dtype, device=x.device)  # (B, T, E)
        for offset in range(width):  # the token at t + offset of window t
            grad_x[:, offset : offset + windows] += grad_windows[:, :, offset]
    if needs[1]:
        grad_kernel = grad_scores.t() @ unfold_windows(x.to(dtype), width)  # (F, width*E)
        grad_weight = grad_kernel.view(filters, width, E).transpose(1, 2).to(weight.dtype)  # (F, E, width)
    return grad_x, grad_weight


def conv_max_pool(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, lengths: torch.Tensor, positions: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Max-over-time pooled convolution: values (B, F) and, if asked for or training, positions (B, F).

    Arguments as :func:`window_scores`; under autograd it is :class:`ConvMaxPool`.
    """
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or bias.requires_grad):
        return ConvMaxPool.apply(x, weight, bias, lengths)
    scores = window_scores(x, weight, bias, lengths)  # (B, F, W)
    if positions:
        return max_over_time(scores)  # (B, F), (B, F)
    return scores.amax(dim=-1), None  # (B, F) the same maxima, faster when the positions are not needed
