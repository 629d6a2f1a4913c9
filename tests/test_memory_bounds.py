"""What a long-running server keeps per new text is bounded: the tokenizer's memo and spaCy's vocabulary
(which on its own keeps every distinct string it ever read). scripts/load_test.py measures the RSS."""

from __future__ import annotations

import random
import string

from app_server import import_app
from textcnn.tokenizer import Tokenizer


def random_texts(count: int, seed: int = 0) -> list[str]:
    """Texts whose words (and punctuation runs) are nearly all new: what an attacker would send."""
    rng = random.Random(seed)
    alphabet = string.ascii_lowercase + "'.,!?()-"
    return [" ".join("".join(rng.choices(alphabet, k=rng.randint(2, 12))) for _ in range(200)) for _ in range(count)]


def test_spacy_vocabulary_and_memo_stay_bounded_and_tokens_do_not_change():
    bounded = Tokenizer(max_cache=1_000, max_spacy_vocab=3_000)
    reference = Tokenizer()  # bounds far away: never resets during this test
    largest_vocab, largest_cache = 0, 0
    # an emoticon glued before each word: chunks the tokenizer hands to spaCy itself, which keeps their strings
    for text in (text.replace(" ", " (:") for text in random_texts(40)):
        assert bounded(text) == reference(text)
        largest_vocab = max(largest_vocab, len(bounded._spacy.vocab))
        largest_cache = max(largest_cache, len(bounded._cache))
    assert len(reference._spacy.vocab) > 2 * 3_000  # without a bound it grows with every new string
    # a chunk adds at most a few dozen strings after the check that resets spaCy
    assert largest_vocab < 3_000 + 100
    assert largest_cache <= 1_000


def test_the_app_serves_with_a_small_memo(tiny_model_dir):
    app = import_app(tiny_model_dir)
    pipeline = app.load_pipeline(str(tiny_model_dir), None)
    assert pipeline.tokenizer._max_cache == app.SERVING_TOKENIZER_CACHE <= 50_000
    assert app.pipeline.tokenizer._max_cache == app.SERVING_TOKENIZER_CACHE
