"""Helpers shared by the app tests: import ``app`` against a test model, serve a demo on a free port."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls from test runs


def import_app(model_dir: Path) -> ModuleType:
    """The ``app`` module; its start-up model is ``model_dir`` unless it was imported already.

    Tests pass their own pipeline to ``app.build_demo``; the start-up model only has to load. The
    app's torch settings (one thread, no oneDNN) are for serving: the rest of the test session keeps its own.
    """
    import torch

    if "app" in sys.modules:
        return sys.modules["app"]
    previous_model, previous_threads = os.environ.get("TEXTCNN_MODEL"), torch.get_num_threads()
    previous_mkldnn = torch.backends.mkldnn.enabled
    os.environ["TEXTCNN_MODEL"] = str(model_dir)
    try:
        return importlib.import_module("app")
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.mkldnn.enabled = previous_mkldnn
        if previous_model is None:
            del os.environ["TEXTCNN_MODEL"]
        else:
            os.environ["TEXTCNN_MODEL"] = previous_model


def with_filter_ngrams(model_dir: Path, destination: Path) -> Path:
    """A copy of a model folder with a ``filter_ngrams.json`` like training writes (made-up n-grams)."""
    shutil.copytree(model_dir, destination)
    config = json.loads((destination / "config.json").read_text())
    num_features = len(config["filter_widths"]) * config["num_filters"]
    ngrams = [
        [{"ngram": f"great film {f}", "activation": 2.0}, {"ngram": "<b>not</b> bad", "activation": 1.5}]
        for f in range(num_features)
    ]
    (destination / "filter_ngrams.json").write_text(json.dumps(ngrams))
    return destination


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(demo) -> Iterator[str]:
    """Launch ``demo`` on 127.0.0.1 (a free port, no SSR) and yield its URL; close it afterwards."""
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, ssr_mode=False
    )
    try:
        yield url
    finally:
        demo.close()


# Fixtures both app test files use; they import them by name.
@pytest.fixture(scope="module")
def app(tiny_model_dir):
    return import_app(tiny_model_dir)


@pytest.fixture(scope="module")
def pipeline(tiny_model_dir, tmp_path_factory):
    """The tiny model, with filter n-grams so the filter view has something to show."""
    from textcnn.pipeline import SentimentPipeline

    folder = with_filter_ngrams(tiny_model_dir, tmp_path_factory.mktemp("model") / "with-ngrams")
    return SentimentPipeline.from_pretrained(folder)
