"""Resumable training state, saved after every epoch as safetensors plus JSON (never pickle).

A checkpoint folder holds ``tensors.safetensors`` (model weights, the best weights so far, the
optimizer's moment estimates and torch's RNG state) and ``state.json`` (epoch, history, optimizer
hyperparameters, scheduler position, numpy's RNG state, the training arguments). It is written
atomically, so a process killed mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from textcnn.atomic import atomic_directory
from textcnn.training import EpochResult

TENSORS = "tensors.safetensors"
STATE = "state.json"


@dataclass
class Checkpoint:
    epoch: int  # last finished epoch
    history: list[EpochResult]
    best_state: dict[str, torch.Tensor]
    args: dict


def save_checkpoint(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler, rng: np.random.Generator, epoch: int, history: list[EpochResult],
                    best_state: dict[str, torch.Tensor], args: dict) -> None:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in best_state.items()})
    optim = optimizer.state_dict()
    scalars: dict[str, dict[str, float]] = {}
    for param_id, state in optim["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value) and value.dim() > 0:
                tensors[f"optimizer.{param_id}.{name}"] = value
            else:
                scalars.setdefault(str(param_id), {})[name] = float(value)
    tensors["torch_rng"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["cuda_rng"] = torch.cuda.get_rng_state()
    state = {
        "epoch": epoch,
        "history": [r.as_dict() for r in history],
        "optimizer_param_groups": optim["param_groups"],
        "optimizer_scalars": scalars,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "numpy_rng": rng.bit_generator.state,
        "args": args,
    }
    with atomic_directory(path) as staging:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(staging / TENSORS))
        (staging / STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")


def checkpoint_args(path: str | Path) -> dict | None:
    """The settings a checkpoint was saved with (cheap: no tensor is read), or None if there is none."""
    state = Path(path) / STATE
    return json.loads(state.read_text())["args"] if state.is_file() else None


def load_checkpoint(path: str | Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler, rng: np.random.Generator) -> Checkpoint:
    """Restore everything saved by :func:`save_checkpoint` in place; returns what the loop needs."""
    path = Path(path)
    state = json.loads((path / STATE).read_text(encoding="utf-8"))
    tensors = load_file(str(path / TENSORS))
    device = next(model.parameters()).device
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    optim_state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, param_id, name = key.split(".", 2)
            optim_state.setdefault(int(param_id), {})[name] = value.to(device)
    for param_id, scalars in state["optimizer_scalars"].items():
        for name, value in scalars.items():
            optim_state.setdefault(int(param_id), {})[name] = torch.tensor(value)
    optimizer.load_state_dict({"state": optim_state, "param_groups": state["optimizer_param_groups"]})
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(tensors["torch_rng"])
    if "cuda_rng" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["cuda_rng"])
    return Checkpoint(
        epoch=state["epoch"],
        history=[EpochResult(**r) for r in state["history"]],
        best_state={k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")},
        args=state["args"],
    )
