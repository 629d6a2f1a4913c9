"""What a model folder's metrics.json says about the model's accuracy, read defensively.

A model folder may be anyone's, so its figures are untrusted: a value of the wrong type, a fraction
outside 0 to 1 or a capability this module cannot name reads as absent. The demo's facts line
(:mod:`textcnn.presentation`) and the model card (:mod:`textcnn.card`) both read the figures here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# capabilities of the held-out behavioural suite (benchmarks/behavior_suite.py) that a visitor
# meets, in the visitor's words: metrics.json names them, the page and the card say them
CAPABILITY_WORDS = {
    "negation: positive adjectives": ("negated praise", "not great"),
    "negation: negative adjectives": ("negated criticism", "not bad"),
    "negation: positive verbs": ("negated liking", "didn't enjoy"),
    "negation: negative verbs": ("negated dislike", "wouldn't hate"),
    "contrast": ("contrasts", "slow at first, but worth it"),
}


@dataclass(frozen=True)
class ModelFacts:
    """Accuracies from the model folder's metrics.json, each None (or empty) when absent or malformed."""

    test_accuracy: float | None
    test_examples: int | None
    yelp_accuracy: float | None
    amazon_accuracy: float | None
    short_examples: int | None
    pass_rates: tuple[tuple[str, float], ...] = ()  # (capability, share right) on held-out sentences


def _fraction(value: object) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok and 0 <= value <= 1 else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def model_facts(metrics: object) -> ModelFacts:
    """What metrics.json says about accuracy (wrong types read as absent, and only the capabilities
    of ``CAPABILITY_WORDS`` are kept, in its order)."""
    metrics = _dict(metrics)
    short_sentences = _dict(metrics.get("short_sentences"))
    rates = _dict(_dict(metrics.get("behavior")).get("pass_rates"))
    return ModelFacts(
        test_accuracy=_fraction(metrics.get("test_accuracy")),
        test_examples=_count(_dict(metrics.get("examples")).get("test")),
        yelp_accuracy=_fraction(short_sentences.get("yelp")),
        amazon_accuracy=_fraction(short_sentences.get("amazon")),
        short_examples=_count(short_sentences.get("examples")),
        pass_rates=tuple((name, rate) for name in CAPABILITY_WORDS
                         if (rate := _fraction(rates.get(name))) is not None),
    )
