import numpy as np
import pytest
import torch

from textcnn import lookup as lookup_module
from textcnn.lookup import LookupTextCNN
from textcnn.model import TextCNN, TextCNNConfig
from textcnn.vocab import PAD_ID


def small_model(widths=(3, 4, 5), filters=6, vocab=50, dim=8, seed=0, pad_row_zero=True) -> TextCNN:
    torch.manual_seed(seed)
    model = TextCNN(TextCNNConfig(vocab_size=vocab, embedding_dim=dim, filter_widths=widths, num_filters=filters)).eval()
    if not pad_row_zero:  # loaded weights need not keep <pad> at zero; the lookup must not assume it
        model.embedding.weight.data[PAD_ID] = torch.randn(dim)
    return model


def padded(texts: list[list[int]], length: int | None = None) -> torch.Tensor:
    ids = torch.full((len(texts), length or max(map(len, texts))), PAD_ID)
    for row, tokens in enumerate(texts):
        ids[row, : len(tokens)] = torch.tensor(tokens)
    return ids


def test_hand_checked_reference():
    # vocabulary <pad>, <unk>, "a", "b" with 1-d embeddings 0, 0, 1, 2; one filter of width 2,
    # weights (offset 0: 3, offset 1: -1), bias 0.5; head: neg = 0, pos = 2 * feature + 1
    model = TextCNN(TextCNNConfig(vocab_size=4, embedding_dim=1, filter_widths=(2,), num_filters=1)).eval()
    with torch.no_grad():
        model.embedding.weight.copy_(torch.tensor([[0.0], [0.0], [1.0], [2.0]]))
        model.convs[0].weight.copy_(torch.tensor([[[3.0, -1.0]]]))
        model.convs[0].bias.fill_(0.5)
        model.head.weight.copy_(torch.tensor([[0.0], [2.0]]))
        model.head.bias.copy_(torch.tensor([0.0, 1.0]))
    lookup = LookupTextCNN(model)
    # "a b a": windows "a b" = 3*1 - 2 + 0.5 = 1.5 and "b a" = 3*2 - 1 + 0.5 = 5.5; max 5.5 -> pos 12
    # "b b": the one window = 3*2 - 2 + 0.5 = 4.5 -> pos 10 (the padding after it never counts)
    logits = lookup(padded([[2, 3, 2], [3, 3]]))
    torch.testing.assert_close(logits, torch.tensor([[0.0, 12.0], [0.0, 10.0]]))
    # the compiled kernel, on the same texts unpadded
    fused = lookup.logits_of([np.array([2, 3, 2], dtype=np.int32), np.array([3, 3], dtype=np.int32)])
    torch.testing.assert_close(fused, torch.tensor([[0.0, 12.0], [0.0, 10.0]]))
    # the table: row v * 2 + offset holds weight[offset] * e(v)
    assert lookup.table.flatten().tolist() == [0.0, 0.0, 0.0, 0.0, 3.0, -1.0, 6.0, -2.0]


@pytest.mark.parametrize("widths", [(3, 4, 5), (1,), (2, 7), (5, 3)])
@pytest.mark.parametrize("pad_row_zero", [True, False])
@pytest.mark.parametrize("lengths", [[1], [2, 9], [30, 4, 17, 1], [12, 12]])
def test_equals_the_convolutions(widths, pad_row_zero, lengths):
    model = small_model(widths, pad_row_zero=pad_row_zero)
    generator = torch.Generator().manual_seed(sum(lengths))
    texts = [torch.randint(1, 50, (n,), generator=generator).tolist() for n in lengths]
    ids = padded(texts)
    lookup = LookupTextCNN(model)
    torch.testing.assert_close(lookup(ids), model(ids), rtol=1e-5, atol=1e-5)
    # the compiled kernel reads the texts unpadded (a text shorter than a filter: its one window, padded)
    fused = lookup.logits_of([np.array(t, dtype=np.int32) for t in texts])
    torch.testing.assert_close(fused, model(ids), rtol=1e-5, atol=1e-5)


def test_padding_never_changes_the_answer():
    model = small_model()
    lookup = LookupTextCNN(model)
    texts = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]
    alone = torch.cat([lookup(padded([t])) for t in texts])
    torch.testing.assert_close(lookup(padded(texts, length=12)), alone)


def test_table_size():
    lookup = LookupTextCNN(small_model((3, 4, 5), filters=6, vocab=50))
    assert lookup.table.shape == (50 * 12, 6)
    assert lookup.nbytes == 50 * 12 * 6 * 4


@pytest.mark.parametrize("widths", [(3, 4, 5), (2, 7)])
def test_int8_table_stays_close(widths):
    model = small_model(widths, filters=16)
    generator = torch.Generator().manual_seed(1)
    ids = padded([torch.randint(1, 50, (n,), generator=generator).tolist() for n in (3, 25, 60)])
    exact, int8 = model(ids), LookupTextCNN(model, int8=True)(ids)
    # each row keeps 8 bits over its own range: a window's sum moves by well under 1% of the logits' scale
    assert (int8 - exact).abs().max() <= 0.01 * exact.abs().max() + 1e-3


def test_int8_table_is_a_quarter_of_the_memory():
    model = small_model((3, 4, 5), filters=300, vocab=50)
    exact, int8 = LookupTextCNN(model), LookupTextCNN(model, int8=True)
    assert int8.nbytes == 50 * 12 * (300 + 8)  # one byte per number, plus a float32 scale and offset per row
    assert int8.nbytes < exact.nbytes / 3.8


def test_int8_table_built_in_blocks_matches_one_pass(monkeypatch):
    import textcnn.lookup

    model = small_model((3, 4, 5), filters=6, vocab=50)
    ids = padded([list(range(2, 50)), [7, 8, 9]])
    monkeypatch.setattr(textcnn.lookup, "INT8_BUILD_WORDS", 50)
    one_pass = LookupTextCNN(model, int8=True)
    monkeypatch.setattr(textcnn.lookup, "INT8_BUILD_WORDS", 7)  # 7 blocks, the last one short
    blocks = LookupTextCNN(model, int8=True)
    assert blocks.table.shape == one_pass.table.shape
    # the blocks' matrix products round differently in the last bit, which can move a code by one step
    torch.testing.assert_close(blocks(ids), one_pass(ids), rtol=0, atol=1e-2)


def test_the_kernel_goes_through_texts_in_blocks_and_takes_none(monkeypatch):
    model = small_model()
    lookup = LookupTextCNN(model)
    generator = torch.Generator().manual_seed(7)
    texts = [torch.randint(1, 50, (n,), generator=generator).numpy() for n in (9, 1, 4, 20, 3)]
    whole = lookup.logits_of(texts)
    monkeypatch.setattr(lookup_module, "KERNEL_TEXTS", 2)
    torch.testing.assert_close(lookup.logits_of(texts), whole)  # the head's matmul may round by batch size
    torch.testing.assert_close(whole, model(padded([t.tolist() for t in texts])), rtol=1e-5, atol=1e-5)
    assert lookup.logits_of([]).shape == (0, 2)


def test_only_the_float32_table_goes_through_the_kernel():
    assert LookupTextCNN(small_model()).fused
    int8 = LookupTextCNN(small_model(), int8=True)
    assert not int8.fused
    with pytest.raises(ValueError, match="float32 table"):
        int8.logits_of([np.array([2, 3])])


def test_a_table_past_a_huge_page_is_the_same_table_in_page_aligned_memory():
    import mmap

    model = small_model((3, 4, 5), filters=32, vocab=2_000)  # 2,000 x 12 x 32 float32: 3 MB
    lookup = LookupTextCNN(model)
    assert lookup.nbytes >= lookup_module.HUGE_PAGE_BYTES
    if hasattr(mmap, "MADV_HUGEPAGE"):
        assert lookup.table.data_ptr() % lookup_module.HUGE_PAGE_BYTES == 0
    with torch.no_grad():
        kernels = torch.cat([conv.weight[:, :, k] for conv in model.convs for k in range(conv.kernel_size[0])])
        expected = (model.embedding.weight @ kernels.T).reshape(-1, 32)
    torch.testing.assert_close(lookup.table, expected)
    texts = [[5, 60, 700, 1999, 3], [8, 9]]
    torch.testing.assert_close(lookup(padded(texts)), model(padded(texts)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lookup.logits_of([np.array(t, dtype=np.int32) for t in texts]), model(padded(texts)),
                               rtol=1e-5, atol=1e-5)


def test_a_small_table_is_ordinary_memory():
    table = lookup_module._huge_page_tensor((10, 6))
    assert table.shape == (10, 6) and table.dtype == torch.float32
