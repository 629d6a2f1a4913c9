"""The convolutional sentence classifier of Kim (2014).

Yoon Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014,
https://arxiv.org/abs/1408.5882

    embed tokens -> parallel 1-D convolutions of several widths -> ReLU -> max over time
    -> concatenate -> dropout -> linear layer to class logits

Because every feature is the maximum of one filter over the text, each logit is *exactly*
``bias + sum_f weight_f * max_t relu(conv_f(window_t))`` and each max comes from one n-gram.
:meth:`TextCNN.forward_features` returns those maxima and their positions, which is what the
demo's explanation is built on.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from textcnn.vocab import PAD_ID


@dataclass
class TextCNNConfig:
    vocab_size: int = 20_000  # rows of the embedding table, <pad> (0) and <unk> (1) included
    embedding_dim: int = 50  # must match the pretrained vectors (GloVe 6B.50d by default)
    filter_widths: tuple[int, ...] = (3, 4, 5)  # n-gram sizes, one convolution per width
    num_filters: int = 100  # filters per width; the feature vector has len(widths) * this
    dropout: float = 0.5  # on the pooled features during training (Kim: 0.5)
    embedding_dropout: float = 0.0  # drops whole token vectors during training
    labels: tuple[str, ...] = ("neg", "pos")  # class names, in logit order
    max_tokens: int = 1_000  # longer inputs are truncated to this many tokens (train and serve)

    def __post_init__(self) -> None:
        # JSON gives lists back; keep the dataclass hashable and comparable
        self.filter_widths = tuple(int(w) for w in self.filter_widths)
        self.labels = tuple(self.labels)
        if not self.filter_widths or min(self.filter_widths) < 1:
            raise ValueError(f"filter widths must be positive, got {self.filter_widths}")
        if self.vocab_size < 2 or self.num_filters < 1 or len(self.labels) < 2:
            raise ValueError("vocab_size >= 2, num_filters >= 1 and at least two labels are required")

    @property
    def num_features(self) -> int:
        return len(self.filter_widths) * self.num_filters

    @property
    def min_length(self) -> int:
        """The shortest padded length: every filter needs one full window."""
        return max(self.filter_widths)


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


@dataclass
class Features:
    """Per-filter max-over-time evidence for a batch (filters ordered width by width)."""

    pooled: torch.Tensor  # (B, F) max-pooled ReLU activation of each filter
    position: torch.Tensor  # (B, F) start token of the n-gram that produced the max
    width: torch.Tensor  # (F,) n-gram width of each filter
    logits: torch.Tensor  # (B, C)


class TextCNN(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="textcnn",
    tags=["text-classification", "sentiment-analysis", "textcnn", "imdb"],
    license="mit",
    pipeline_tag="text-classification",
):
    def __init__(self, config: TextCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=PAD_ID)
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.num_filters, kernel_size=w) for w in config.filter_widths
        )
        self.embedding_dropout = config.embedding_dropout
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.num_features, len(config.labels))
        # filled by save/load: the vocabulary and the training-set n-grams each filter likes best
        self.vocab_tokens: list[str] | None = None
        self.filter_ngrams: list[list[dict]] | None = None

    def _pooled(self, ids: torch.Tensor, positions: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = ids.shape
        lengths = (ids != PAD_ID).sum(dim=1)  # (B,) real tokens; padding is always on the right
        max_width = max(self.config.filter_widths)
        if T < max_width:  # every filter needs at least one full window
            ids = F.pad(ids, (0, max_width - T), value=PAD_ID)  # (B, max_width)
        x = self.embedding(ids)  # (B, T, E)
        if self.training and self.embedding_dropout > 0:
            keep = torch.rand(x.shape[:2], device=x.device) >= self.embedding_dropout  # (B, T)
            x = x * keep.unsqueeze(-1) / (1 - self.embedding_dropout)  # (B, T, E)
        x = x.transpose(1, 2)  # (B, E, T) channels first for conv1d
        values, where = [], []
        for width, conv in zip(self.config.filter_widths, self.convs):
            a = mask_padded_windows(conv(x), lengths, width)  # (B, F_w, T - width + 1) one pre-activation per window
            if positions or a.requires_grad:  # training: max's backward is cheaper than amax's
                v, p = a.max(dim=-1)  # (B, F_w) max over time, and where it was
                where.append(p)
            else:
                v = a.amax(dim=-1)  # (B, F_w) the same maxima, faster when the positions are not needed
            values.append(v)
        # relu(max(x)) == max(relu(x)), and is F times cheaper than a ReLU over every window
        pooled = F.relu(torch.cat(values, dim=1))  # (B, F)
        return pooled, torch.cat(where, dim=1) if positions else None  # (B, F), (B, F)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Class logits (B, C) for right-padded token ids (B, T)."""
        pooled, _ = self._pooled(ids, positions=False)  # (B, F)
        return self.head(self.dropout(pooled))  # (B, C)

    @torch.no_grad()
    def forward_features(self, ids: torch.Tensor) -> Features:
        """Logits plus, for each filter, its max-pooled activation and where it came from."""
        pooled, position = self._pooled(ids)  # (B, F), (B, F)
        width = torch.tensor(self.config.filter_widths, device=ids.device).repeat_interleave(
            self.config.num_filters
        )  # (F,)
        return Features(pooled=pooled, position=position, width=width, logits=self.head(pooled))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # --- Hub conventions: model.safetensors + config.json, plus vocab.json and filter n-grams ----
    def _save_pretrained(self, save_directory: Path) -> None:
        from textcnn.hub import save_model_files

        save_model_files(self, save_directory)

    def generate_model_card(self, *args, **kwargs):
        """The card ``save_pretrained`` and ``push_to_hub`` write: ours, without a run's metrics."""
        from textcnn.card import model_card

        return model_card(self.config)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, force_download: bool = False,
                        token: str | bool | None = None, cache_dir: str | Path | None = None,
                        local_files_only: bool = False, revision: str | None = None,
                        map_location: str = "cpu", strict: bool = True) -> "TextCNN":
        """Load from a local folder or a Hub repo id (``revision``: branch, tag or commit to pin).

        Replaces the mixin's version, which fetches config.json on its own before the weights: a
        second request that can see another commit of a moving branch, whose failures (offline,
        invalid id) escape as raw huggingface_hub errors, and which drops unknown config keys.
        Here everything comes from one snapshot and every failure is a ``ModelLoadError``.
        """
        from textcnn.hub import load_model_files

        if not strict:
            raise ValueError("textcnn always loads strictly: a missing or extra weight is an error")
        return load_model_files(
            cls,
            model_id=str(pretrained_model_name_or_path),
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
            map_location=map_location,
        )
