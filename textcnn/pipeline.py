"""From raw text to predictions and exact per-filter explanations.

``SentimentPipeline`` bundles the tokenizer, the vocabulary and a :class:`~textcnn.model.TextCNN`
(:meth:`SentimentPipeline.from_pretrained` reads all of a model folder through :mod:`textcnn.hub`).
For two classes the decision score is ``logit_pos - logit_neg`` and, because every feature is one
filter's max over the text,

    score = bias + sum over filters f of (w_pos,f - w_neg,f) * pooled_f

exactly, where each ``pooled_f`` comes from one n-gram of the text. :meth:`explain` returns those
terms; spreading each filter's term evenly over the tokens of its n-gram gives token scores that
also add up exactly to ``score - bias``.
"""

from __future__ import annotations

import multiprocessing
import os
from array import array
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from textcnn.data import pad_batch
from textcnn.hub import ModelLoadError, load_model
from textcnn.lookup import LOOKUP_BATCH_TOKENS, LookupTextCNN
from textcnn.methods import METHODS
from textcnn.model import TextCNN
from textcnn.precision import autocast
from textcnn.tokenizer import MAX_CHUNK_CHARS, Tokenizer, clean
from textcnn.vocab import UNK_ID, Vocab

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODEL = REPO_ROOT / "models" / "textcnn-imdb"


class EmptyTextError(ValueError):
    """The text has no tokens (empty, or whitespace only)."""


def is_empty(text: str) -> bool:
    """True when ``text`` would give no tokens (nothing but whitespace and HTML line breaks)."""
    return not clean(text).strip()


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    num_tokens: int  # tokens the model saw (after truncation)
    truncated: bool  # the text had more than ``max_tokens`` tokens and was cut

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "probabilities": self.probabilities,
            "num_tokens": self.num_tokens,
            "truncated": self.truncated,
        }


@dataclass
class FilterEvidence:
    filter: int  # index into the feature vector (widths in config order, then filter number)
    width: int  # n-gram size of the filter
    activation: float  # max-pooled ReLU activation
    start: int  # token index where the n-gram starts
    ngram: str  # the n-gram's tokens (those inside the text), joined by spaces
    contribution: float  # (w_pos - w_neg) * activation: what it adds to the decision score


@dataclass
class Explanation:
    prediction: Prediction
    tokens: list[str]  # what the model saw
    token_scores: list[float]  # per token, sums (with bias) exactly to the decision score
    filters: list[FilterEvidence]  # every filter, strongest absolute contribution first
    bias: float  # b_pos - b_neg
    score: float  # logit_pos - logit_neg
    labels: tuple[str, ...] = field(default=("neg", "pos"))


class IdEncoder:
    """Raw text to token ids for batch prediction, each chunk's ids memoised.

    Gives ``SentimentPipeline.encode``'s ids and truncation flag, but a chunk seen before costs one
    dictionary lookup instead of one per token plus one per token in the vocabulary: on real reviews,
    where most chunks repeat, this is most of the encoding time. Each chunk's ids are kept as the
    bytes of 32-bit integers, so a text's ids are one ``bytes.join`` away (several times faster than
    building an array from a tuple per chunk).
    """

    def __init__(self, tokenizer: Tokenizer, vocab: Vocab, max_tokens: int, max_cache: int = 500_000) -> None:
        self.tokenizer = tokenizer
        self._stoi = vocab.stoi
        self.max_tokens = max_tokens
        self._cache: dict[str, bytes] = {}
        self._max_cache = max_cache

    def _chunk_ids(self, chunk: str) -> bytes:
        stoi = self._stoi
        tokens = self.tokenizer.chunk_tokens(chunk, self.max_tokens)
        ids = array("i", [stoi.get(token, UNK_ID) for token in tokens]).tobytes()
        if len(chunk) <= MAX_CHUNK_CHARS:  # a longer chunk may have stopped early, at this cap: not memoised
            if len(self._cache) >= self._max_cache:
                self._cache.clear()  # bounded memory for a long-running process
            self._cache[chunk] = ids
        return ids

    def __call__(self, text: str) -> tuple[np.ndarray, bool]:
        """(ids the model sees, read-only int32, whether the text was truncated); raises EmptyTextError."""
        if not isinstance(text, str):
            raise TypeError(f"expected text, got {type(text).__name__}")
        max_tokens = self.max_tokens
        cleaned = clean(text)
        if len(cleaned) <= 2 * max_tokens:  # too short for more than max_tokens + 1 chunks: a plain split is faster
            chunks = cleaned.split()
        else:  # every chunk gives at least one token; maxsplit leaves the rest of a huge text in one piece
            chunks = cleaned.split(maxsplit=max_tokens + 1)[: max_tokens + 1]
        if not chunks:
            raise EmptyTextError("The review is empty: type some text.")
        known = list(map(self._cache.get, chunks))
        if None in known:
            known = [ids if ids is not None else self._chunk_ids(chunk) for chunk, ids in zip(chunks, known)]
        ids = np.frombuffer(b"".join(known), dtype=np.int32)
        return ids[:max_tokens], len(ids) > max_tokens


# below this many texts a batch is tokenised in-process: starting worker processes costs more
MIN_TEXTS_PER_WORKER = 256
# padded tokens per forward pass: 128 reviews of 1,000 tokens would hold every filter's activation
# for 128,000 windows (0.8 GB in fp32 with 1,500 filters); long reviews go in smaller batches instead
MAX_BATCH_TOKENS = 32_768


def length_batches(lengths: np.ndarray, batch_size: int, max_tokens: int, min_length: int = 1) -> list[np.ndarray]:
    """Indices grouped by length (shortest first): at most ``batch_size`` texts, and at most
    ``max_tokens`` padded tokens unless a single text is longer."""
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        # sorted ascending, so the padded size of order[start:end + 1] is its count times its last length
        while (end < len(order) and end - start < batch_size
               and (end - start + 1) * max(int(lengths[order[end]]), min_length) <= max_tokens):
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


class SentimentPipeline:
    def __init__(self, model: TextCNN, vocab: Vocab, *, filter_ngrams: list[list[dict]] | None = None,
                 metrics: dict | None = None, folder: Path | None = None, batch_size: int = 128,
                 method: str = "conv", workers: int = 1) -> None:
        """``vocab`` maps tokens to the model's embedding rows; ``filter_ngrams``, ``metrics`` and
        ``folder`` describe where the model came from (see :class:`~textcnn.hub.LoadedModel`).
        ``method``: how :meth:`predict` computes (one of ``METHODS``; explanations always use
        the float32 convolutions, so their terms add up exactly). ``workers``: processes that tokenise
        large batches (tokenising is pure Python, so threads would not run it in parallel); call
        :meth:`close` when done."""
        if len(vocab) != model.config.vocab_size:
            raise ValueError(f"the vocabulary has {len(vocab)} tokens but the model has {model.config.vocab_size} embedding rows")
        if len(model.config.labels) != 2:
            raise ValueError("the explanation assumes two classes")
        self.model = model.eval()
        self.vocab = vocab
        self.filter_ngrams = filter_ngrams
        self.metrics = metrics
        self.folder = folder
        self._tokenizer: Tokenizer | None = None  # built when first needed (see the property)
        self.batch_size = batch_size
        self.method = method
        self.labels = model.config.labels
        self.max_tokens = model.config.max_tokens
        head = model.head
        self._direction = (head.weight[1] - head.weight[0]).detach()  # (F,) weight difference
        self._bias = float((head.bias[1] - head.bias[0]).detach())
        self._min_width = model.config.min_length
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._ids: IdEncoder | None = None

    @property
    def tokenizer(self) -> Tokenizer:
        """spaCy's tokenizer, made when this process first tokenises: a large batch is tokenised by the
        worker processes alone, so this process need not import spaCy (about a second) before they start."""
        if self._tokenizer is None:
            self._tokenizer = Tokenizer()
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer

    @property
    def method(self) -> str:
        return self._method

    @method.setter
    def method(self, method: str) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self._method = method
        self._lookup: LookupTextCNN | None = None

    @property
    def lookup(self) -> LookupTextCNN | None:
        """The lookup table of a ``lookup`` method (None for the convolutions), built when first needed:
        :meth:`predict` builds it while the tokenising processes read the first batch."""
        if self._lookup is None and self._method.startswith("lookup"):
            self._lookup = LookupTextCNN(self.model, int8=self._method == "lookup-int8")
            if self._lookup.fused:
                self._lookup.logits_of([np.zeros(1, dtype=np.int32)])  # numba's import and compiled code, now
        return self._lookup

    @classmethod
    def from_pretrained(cls, source: str | Path | None = None, revision: str | None = None, *,
                        batch_size: int = 128, method: str = "conv", workers: int = 1, **kwargs) -> SentimentPipeline:
        """Load from a local folder or a Hub repo id (``revision`` pins a commit); default: the bundled model.

        ``kwargs`` go to :func:`~textcnn.hub.load_model` (``cache_dir``, ``token``, ...); every
        failure to load is a :class:`~textcnn.hub.ModelLoadError`.
        """
        if source is None and not BUNDLED_MODEL.is_dir():
            raise ModelLoadError(f"no model was given, and there is no bundled model at {BUNDLED_MODEL} (it comes with "
                                 "a checkout of the repository, not with the installed package): pass a model folder "
                                 "or a Hub repo id (--model on the command line)")
        source = str(source or BUNDLED_MODEL)
        loaded = load_model(source, revision, **kwargs)
        if len(loaded.model.config.labels) != 2:
            raise ModelLoadError(f"The model at {source} has {len(loaded.model.config.labels)} labels; the pipeline "
                                 "explains two-class models only.")
        return cls(loaded.model, loaded.vocab, filter_ngrams=loaded.filter_ngrams, metrics=loaded.metrics,
                   folder=loaded.folder, batch_size=batch_size, method=method, workers=workers)

    def close(self) -> None:
        """Stop the tokenising processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> SentimentPipeline:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def encode(self, text: str) -> tuple[list[str], np.ndarray, bool]:
        """(tokens seen, their ids, whether the text was truncated); raises EmptyTextError."""
        if not isinstance(text, str):
            raise TypeError(f"expected text, got {type(text).__name__}")
        if is_empty(text):
            raise EmptyTextError("The review is empty: type some text.")
        tokens = self.tokenizer(text, max_tokens=self.max_tokens)
        truncated = len(tokens) > self.max_tokens
        tokens = tokens[: self.max_tokens]
        return tokens, np.asarray(self.vocab.encode(tokens), dtype=np.int64), truncated

    def _prediction(self, probs: list[float], num_tokens: int, truncated: bool) -> Prediction:
        label = self.labels[int(np.argmax(probs))]
        return Prediction(label, dict(zip(self.labels, probs)), num_tokens, truncated)

    def id_encoder(self) -> IdEncoder:
        """The batch encoder over the current tokenizer (a new tokenizer, e.g. to drop its caches, gets a new one)."""
        if self._ids is None or self._ids.tokenizer is not self.tokenizer:
            self._ids = IdEncoder(self.tokenizer, self.vocab, self.max_tokens)
        return self._ids

    def encode_ids(self, texts: list[str]) -> list[tuple[np.ndarray, bool]]:
        """(ids, truncated) of each text, split over the worker processes when there are enough texts."""
        return self._encode_ids_later(texts)()

    def _encode_ids_later(self, texts: list[str]) -> Callable[[], list[tuple[np.ndarray, bool]]]:
        """What :meth:`encode_ids` returns, to be collected later: handed to the worker processes now, if
        they take it, so this process is free meanwhile; encoded in this process when collected otherwise."""
        # a small batch is tokenised here, unless the workers are running already (a large input's last chunk):
        # this process may not even have built spaCy's tokenizer (a second or two) yet
        if self.workers == 1 or (self._pool is None and len(texts) < 2 * MIN_TEXTS_PER_WORKER):
            encoder = self.id_encoder()
            return lambda: [encoder(text) for text in texts]
        if self._pool is None:  # started once: the workers' tokenizer caches stay warm between calls
            # fork hands the workers this process's tokenizer, if it has one, with its caches as they are
            # (no new spaCy to build); the workers never touch torch. Otherwise each worker builds its own.
            fork = "fork" in multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if fork else "spawn")
            handed_over = fork and self._tokenizer is not None
            initargs = (self.id_encoder(), None, None) if handed_over else (None, self.vocab.itos, self.max_tokens)
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker,
                                             initargs=initargs)
        size = max(MIN_TEXTS_PER_WORKER // 4, -(-len(texts) // (4 * self.workers)))  # a few blocks per worker
        blocks = [texts[i : i + size] for i in range(0, len(texts), size)]
        encoded = self._pool.map(_encode_in_worker, blocks)  # every block is submitted here
        return lambda: [item for block in encoded for item in block]

    @torch.inference_mode()
    def predict(self, texts: list[str]) -> list[Prediction]:
        """Predictions for many texts, batched by length; raises EmptyTextError on an empty one."""
        collect = self._encode_ids_later(texts)
        lookup = self.lookup  # built (the first time) while the worker processes tokenise
        encoded = collect()
        if lookup is not None and lookup.fused:  # no batches: the kernel reads the texts unpadded
            probs = torch.softmax(lookup.logits_of([ids for ids, _ in encoded]), dim=1).tolist()
            return [self._prediction(p, len(ids), truncated) for p, (ids, truncated) in zip(probs, encoded)]
        lengths = np.array([len(ids) for ids, _ in encoded], dtype=np.int64)
        results: list[Prediction | None] = [None] * len(texts)
        batch_tokens = MAX_BATCH_TOKENS if lookup is None else LOOKUP_BATCH_TOKENS
        for chunk in length_batches(lengths, self.batch_size, batch_tokens, self._min_width):
            ids = pad_batch([encoded[i][0] for i in chunk], self._min_width)
            if lookup is not None:
                logits = lookup(ids)
            else:
                with autocast(ids.device, self.method == "conv-bf16"):
                    logits = self.model(ids)
            probs = torch.softmax(logits.float(), dim=1).tolist()
            for i, p in zip(chunk, probs):
                results[i] = self._prediction(p, len(encoded[i][0]), encoded[i][1])
        return results  # type: ignore[return-value]

    def __call__(self, texts: list[str] | str) -> list[Prediction] | Prediction:
        return self.predict([texts])[0] if isinstance(texts, str) else self.predict(texts)

    @torch.inference_mode()
    def explain(self, text: str) -> Explanation:
        """The prediction and its exact decomposition over filters and tokens."""
        tokens, ids, truncated = self.encode(text)
        features = self.model.forward_features(pad_batch([ids], self._min_width))
        pooled = features.pooled[0]  # (F,)
        starts = features.position[0].tolist()
        widths = features.width.tolist()
        contributions = (self._direction * pooled).tolist()  # (F,)
        activations = pooled.tolist()
        token_scores = [0.0] * len(tokens)
        filters = []
        for f, (start, width, act, contrib) in enumerate(zip(starts, widths, activations, contributions)):
            span = range(start, min(start + width, len(tokens)))  # a short text's window holds padding too
            for t in span:
                token_scores[t] += contrib / len(span)
            filters.append(FilterEvidence(f, width, act, start, " ".join(tokens[t] for t in span), contrib))
        filters.sort(key=lambda e: -abs(e.contribution))
        logits = features.logits[0]
        probs = torch.softmax(logits.float(), dim=0).tolist()
        return Explanation(
            prediction=self._prediction(probs, len(tokens), truncated),
            tokens=tokens,
            token_scores=token_scores,
            filters=filters,
            bias=self._bias,
            score=float(logits[1] - logits[0]),
            labels=self.labels,
        )


_worker_encoder: IdEncoder | None = None


def _start_worker(encoder: IdEncoder | None, vocab_tokens: list[str] | None, max_tokens: int | None) -> None:
    global _worker_encoder
    _worker_encoder = encoder or IdEncoder(Tokenizer(), Vocab(vocab_tokens), max_tokens)


def _encode_in_worker(texts: list[str]) -> list[tuple[np.ndarray, bool]]:
    """Ids and truncation flags only: the tokens themselves would cost more to send back than to make."""
    return [_worker_encoder(text) for text in texts]


def default_model_source() -> tuple[str, str | None]:
    """(source, revision) from ``TEXTCNN_MODEL`` / ``TEXTCNN_REVISION``, else the bundled model."""
    return os.environ.get("TEXTCNN_MODEL") or str(BUNDLED_MODEL), os.environ.get("TEXTCNN_REVISION") or None
