"""The convolutional sentence classifier of Kim (2014).

Yoon Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014,
https://arxiv.org/abs/1408.5882

    embed tokens -> parallel 1-D convolutions of several widths -> ReLU -> max over time
    -> concatenate -> dropout -> linear layer to class logits

Because every feature is the maximum of one filter over the text, each logit is *exactly*
``bias + sum_f weight_f * max_t relu(conv_f(window_t))`` and each max comes from one n-gram.
:meth:`TextCNN.forward_features` returns those maxima and their positions, which is what the
demo's explanation is built on.

The network does no file I/O: :mod:`textcnn.hub` saves and loads model folders (weights, config,
vocabulary and filter n-grams together) and pushes them to the Hub.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from textcnn.pooling import conv_max_pool
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


@dataclass
class Features:
    """Per-filter max-over-time evidence for a batch (filters ordered width by width)."""

    pooled: torch.Tensor  # (B, F) max-pooled ReLU activation of each filter
    position: torch.Tensor  # (B, F) start token of the n-gram that produced the max
    width: torch.Tensor  # (F,) n-gram width of each filter
    logits: torch.Tensor  # (B, C)


# Where the code lives: the model card links to it and the Hub shows it beside the model.
CODE_URL = "https://github.com/your-name/textcnn"
PAPER_URL = "https://arxiv.org/abs/1408.5882"

# the Hub mixin's methods would save, load or push the network alone, without the vocabulary that
# turns text into ids, the filter n-grams and the checks; these name the calls that do all of that
_USE_HUB = {
    "save_pretrained": "save a model folder with textcnn.hub.save_model_folder(model, folder, vocab=vocab)",
    "push_to_hub": "push a saved model folder with textcnn.hub.push_model_folder(folder, repo_id) "
                   "or `python -m textcnn push FOLDER REPO_ID`",
    "from_pretrained": "load a model folder or Hub repo with textcnn.hub.load_model(source), "
                       "or SentimentPipeline.from_pretrained(source) to use it on text",
    "generate_model_card": "write the card with textcnn.card.model_card(config, metrics)",
}


def _refuse(method: str):
    raise NotImplementedError(
        f"TextCNN.{method} would handle the network without its vocabulary; {_USE_HUB[method]}."
    )


class TextCNN(
    nn.Module,
    PyTorchModelHubMixin,
    # the one declaration of the model's Hub metadata: the model card reads it from here
    library_name="textcnn",
    tags=["text-classification", "sentiment-analysis", "textcnn", "imdb", "pytorch"],
    license="mit",
    language=["en"],
    pipeline_tag="text-classification",
    repo_url=CODE_URL,
    paper_url=PAPER_URL,
):
    """Kim's CNN as a plain ``nn.Module``; the Hub mixin is there for its class metadata only."""

    def __init__(self, config: TextCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=PAD_ID)
        # each width's filters, applied by textcnn.pooling with its cheaper backward; kept as nn.Conv1d
        # so the weights keep conv1d's layout and names in saved model folders
        self.convs = nn.ModuleList(
            nn.Conv1d(config.embedding_dim, config.num_filters, kernel_size=w) for w in config.filter_widths
        )
        self.embedding_dropout = config.embedding_dropout
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.num_features, len(config.labels))

    def _pooled(self, ids: torch.Tensor, positions: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T = ids.shape
        lengths = (ids != PAD_ID).sum(dim=1)  # (B,) real tokens; padding is always on the right
        min_length = self.config.min_length
        if T < min_length:  # every filter needs at least one full window
            ids = F.pad(ids, (0, min_length - T), value=PAD_ID)  # (B, min_length)
        x = self.embedding(ids)  # (B, T, E)
        if self.training and self.embedding_dropout > 0:
            keep = torch.rand(x.shape[:2], device=x.device) >= self.embedding_dropout  # (B, T)
            x = x * keep.unsqueeze(-1) / (1 - self.embedding_dropout)  # (B, T, E)
        values, where = [], []
        for conv in self.convs:
            v, p = conv_max_pool(x, conv.weight, conv.bias, lengths, positions)  # (B, F_w) max over time, and where
            values.append(v)
            where.append(p)
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

    # --- the Hub mixin's file methods: refused, naming the calls that save and load a whole model ---
    def save_pretrained(self, *args, **kwargs):
        _refuse("save_pretrained")

    def _save_pretrained(self, *args, **kwargs):
        _refuse("save_pretrained")

    def push_to_hub(self, *args, **kwargs):
        _refuse("push_to_hub")

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        _refuse("from_pretrained")

    @classmethod
    def _from_pretrained(cls, *args, **kwargs):
        _refuse("from_pretrained")

    def generate_model_card(self, *args, **kwargs):
        _refuse("generate_model_card")
