"""Training and evaluation loops. They take everything they use as arguments and return numbers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from textcnn.data import EncodedSplit, batch_indices, iterate_batches
from textcnn.lookup import LookupTextCNN
from textcnn.model import TextCNN
from textcnn.precision import autocast
from textcnn.vocab import PAD_ID, UNK_ID

PROGRESS_EVERY = 50  # steps between updates of the progress bar's running loss and accuracy


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    learning_rate: float

    def as_dict(self) -> dict:
        return asdict(self)

    def log_line(self) -> str:
        return (
            f"epoch {self.epoch}: train loss {self.train_loss:.4f} acc {self.train_accuracy:.4f} | "
            f"val loss {self.val_loss:.4f} acc {self.val_accuracy:.4f} | {self.seconds:.1f}s"
        )


@dataclass
class Batches:
    """How a run cuts reviews into padded batches: the training ones in a seeded random order.

    ``training`` and ``evaluation`` return (iterator of (ids, targets), number of batches), as
    :func:`fit` wants them.
    """

    train_data: EncodedSplit
    batch_size: int
    bucket: bool  # similar lengths together (little padding)
    steps_per_epoch: int
    min_length: int  # the model's shortest padded length
    multiple: int  # padded lengths are rounded up to a multiple of this
    rng: np.random.Generator  # checkpointed with the model, so a resumed run draws the same batches
    eval_batch_size: int = 256
    unk_dropout: float = 0.0  # chance that a training token is read as <unk> (word dropout)
    unk_rows: np.ndarray | None = None  # which training rows word dropout reads (bool per row); None: all

    def training(self, epoch: int) -> tuple[Iterable, int]:
        order = batch_indices(self.train_data.lengths, self.batch_size, self.rng, bucket=self.bucket)
        batches = order[: self.steps_per_epoch]
        loader = iterate_batches(self.train_data, batches, self.min_length, self.multiple)
        if self.unk_dropout:
            loader = ((as_unknown(ids, self.unk_dropout, self.rng, self.dropout_rows(index)), targets)
                      for index, (ids, targets) in zip(batches, loader))
        return loader, len(batches)

    def dropout_rows(self, index: np.ndarray) -> torch.Tensor | None:
        """Which rows of the batch of training rows ``index`` word dropout reads, (B,); None: all."""
        return None if self.unk_rows is None else torch.from_numpy(self.unk_rows[index])

    def evaluation(self, split: EncodedSplit) -> tuple[Iterable, int]:
        batches = self.evaluation_order(split)
        return iterate_batches(split, batches, self.min_length, self.multiple), len(batches)

    def evaluation_order(self, split: EncodedSplit) -> list[np.ndarray]:
        """The rows of each evaluation batch, in :meth:`evaluation`'s order (not shuffled)."""
        return batch_indices(split.lengths, self.eval_batch_size, None, bucket=self.bucket)


def as_unknown(ids: torch.Tensor, share: float, rng: np.random.Generator,
               rows: torch.Tensor | None = None) -> torch.Tensor:
    """``ids`` with each token (not padding; only in ``rows``, a (B,) mask, when given) replaced by
    ``<unk>`` with probability ``share``: word dropout (Iyyer et al. 2015, "Deep Unordered
    Composition Rivals Syntactic Methods for Text Classification"; Bowman et al. 2016). The
    ``<unk>`` row then learns how an unknown word reads in its context, "not ..." included, from the
    words it stands for, instead of from the few rare words and typos outside the vocabulary."""
    replaced = torch.from_numpy(rng.random(tuple(ids.shape)) < share) & (ids != PAD_ID)  # (B, T)
    if rows is not None:
        replaced &= rows[:, None]  # (B, T)
    return ids.masked_fill(replaced, UNK_ID)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy to ``device``; to a GPU from pinned memory, so the copy overlaps the GPU's work."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    mixed_precision: bool = True,
    max_norm: float | None = None,
    total: int | None = None,
    progress: bool = True,
    desc: str = "train",
) -> tuple[float, float]:
    """One pass over ``batches``; returns (mean loss, accuracy) over the examples seen.

    Targets are class indices (B,) or class probabilities (B, C) (soft labels from a teacher);
    accuracy counts agreement with the most likely target class."""
    model.train()
    # running sums stay on the device: reading them every step would make a GPU wait for the CPU
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    bar = tqdm(batches, total=total, desc=desc, disable=not progress, leave=False)
    for step, (ids, labels) in enumerate(bar, 1):
        ids, labels = to_device(ids, device), to_device(labels, device)
        with autocast(device, mixed_precision):
            logits = model(ids)
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_norm:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = labels.shape[0]
        loss_sum += loss.detach() * n
        hard = labels.argmax(dim=1) if labels.is_floating_point() else labels
        correct += (logits.argmax(dim=1) == hard).sum()
        seen += n
        if progress and step % PROGRESS_EVERY == 0:
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.4f}")
    return loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    device: torch.device,
    mixed_precision: bool = True,
    total: int | None = None,
    progress: bool = True,
    desc: str = "eval",
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``batches``."""
    model.eval()
    loss_sum, correct, seen = 0.0, 0, 0
    for ids, labels in tqdm(batches, total=total, desc=desc, disable=not progress, leave=False):
        ids, labels = to_device(ids, device), to_device(labels, device)
        with autocast(device, mixed_precision):
            logits = model(ids).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(dim=1) == labels).sum().item()
        seen += labels.numel()
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def evaluate_split(model: TextCNN, split: EncodedSplit, batches: Batches, *, device: torch.device,
                   progress: bool = True, desc: str = "eval", lookup: bool | None = None) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on ``split`` in float32, as the model is served.

    With ``lookup`` (the default on the CPU, where its compiled kernel runs) the logits come from the
    lookup table (:mod:`textcnn.lookup`): the convolutions' logits up to float32 rounding, for a
    table of vocabulary x sum(widths) x filters floats that lives for this call (IMDb test took 6 s
    instead of 47 s in train.py here; docs/short-texts.md, finding 19). Otherwise the convolutions
    run on ``batches.evaluation(split)``, with a progress bar unless ``progress`` is off.
    """
    if lookup is None:
        lookup = device.type == "cpu"
    if not lookup:
        loader, count = batches.evaluation(split)
        return evaluate(model, loader, device=device, mixed_precision=False, total=count, progress=progress, desc=desc)
    if not len(split):
        return 0.0, 0.0
    logits = torch.from_numpy(split_logits(model, split, batches, device=device, lookup=True))  # (N, C)
    labels = torch.as_tensor(split.labels, dtype=torch.int64)  # (N,)
    loss = F.cross_entropy(logits, labels).item()
    return loss, (logits.argmax(dim=1) == labels).double().mean().item()


@torch.no_grad()
def split_logits(model: TextCNN, split: EncodedSplit, batches: Batches, *, device: torch.device,
                 lookup: bool | None = None) -> np.ndarray:
    """(N, C) float32 logits of ``model`` in eval mode for every text of ``split``, in the split's order:
    with ``lookup`` (the default on the CPU) through the lookup table, as :func:`evaluate_split`;
    otherwise through the convolutions, in ``batches.evaluation``'s padded batches."""
    if not len(split):
        return np.zeros((0, len(model.config.labels)), dtype=np.float32)
    if lookup is None:
        lookup = device.type == "cpu"
    if lookup:
        return LookupTextCNN(model).logits_of(split.ids).numpy()
    was_training = model.training
    model.eval()
    out = np.zeros((len(split), len(model.config.labels)), dtype=np.float32)
    order = batches.evaluation_order(split)
    for index, (ids, _) in zip(order, iterate_batches(split, order, batches.min_length, batches.multiple)):
        out[index] = model(to_device(ids, device)).float().cpu().numpy()
    model.train(was_training)
    return out


def fit(
    model: nn.Module,
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    train_batches: Callable[[int], tuple[Iterable, int]],
    validate: Callable[[], tuple[float, float]],
    device: torch.device,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    mixed_precision: bool = True,
    max_norm: float | None = None,
    progress: bool = True,
    start_epoch: int = 1,
    history: list[EpochResult] | None = None,
    on_epoch_end: Callable[[EpochResult, bool], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[EpochResult]:
    """Train for epochs ``start_epoch..epochs``; returns the history of every epoch.

    ``train_batches(epoch)`` returns (iterable of batches, number of batches); ``validate()`` the
    model's (loss, accuracy) on the validation split, in float32 as it will be served, so the chosen
    epoch is judged on what ships.
    ``on_epoch_end(result, is_best)`` runs after each epoch (the caller keeps the best weights
    and checkpoints there); best means highest validation accuracy, ties to lower loss.
    """
    history = list(history or [])
    for epoch in range(start_epoch, epochs + 1):
        started = time.perf_counter()
        batches, count = train_batches(epoch)
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = train_epoch(
            model, batches, optimizer=optimizer, device=device, scheduler=scheduler, mixed_precision=mixed_precision,
            max_norm=max_norm, total=count, progress=progress, desc=f"epoch {epoch}",
        )
        val_loss, val_acc = validate()
        result = EpochResult(epoch, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - started, lr)
        best = max(history, key=lambda r: (r.val_accuracy, -r.val_loss), default=None)
        is_best = best is None or (result.val_accuracy, -result.val_loss) > (best.val_accuracy, -best.val_loss)
        history.append(result)
        log(result.log_line() + ("  *best*" if is_best else ""))
        if on_epoch_end is not None:
            on_epoch_end(result, is_best)
    return history
