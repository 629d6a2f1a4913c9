"""The training-curves figure saved with each model."""

from __future__ import annotations

import io
from collections.abc import Sequence

from textcnn.training import EpochResult


def training_curves_png(history: Sequence[EpochResult], best_epoch: int) -> bytes:
    """Loss and accuracy per epoch, train against validation, the chosen epoch marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    epochs = [r.epoch for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    ax_loss.plot(epochs, [r.train_loss for r in history], "o-", label="train")
    ax_loss.plot(epochs, [r.val_loss for r in history], "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    ax_acc.plot(epochs, [r.train_accuracy for r in history], "o-", label="train")
    ax_acc.plot(epochs, [r.val_accuracy for r in history], "o-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.axvline(best_epoch, color="grey", linestyle=":", label=f"chosen (epoch {best_epoch})")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
