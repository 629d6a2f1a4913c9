"""Tokenisation: spaCy's rule-based English tokenizer, lowercased to match uncased GloVe.

``spacy.blank("en")`` needs no model download. IMDb reviews carry HTML line breaks (``<br />``),
which are replaced by spaces before tokenising so they never become tokens.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import spacy

_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
# spaCy's prefix/suffix rules take time superlinear in a chunk's length (100,000 "(" take hours),
# so longer whitespace-free chunks are tokenised in pieces this long; no IMDb train chunk is longer
MAX_CHUNK_CHARS = 100
# spaCy keeps every distinct string it has read in its Vocab, for good: a server reading endless new
# text (random letters, say) grew 0.36 MB per 1,000 new tokens without bound; past this many entries
# the tokenizer starts again from a fresh spaCy tokenizer (same rules, so the same tokens)
MAX_SPACY_VOCAB = 100_000
# Half of IMDb's distinct chunks are a word or a number with at most one bracket or quote before
# and one punctuation mark after ("(great", "film!"); spaCy's affix rules split those exactly
# there unless a special case applies, so they skip spaCy (checked on all 575k distinct IMDb chunks)
_SIMPLE_CHUNK = re.compile(r"""([("]?)([a-z]+|[0-9]+)([,!?;:)"]?|\.)""")


def clean(text: str) -> str:
    """Lowercase ``text`` and replace HTML line breaks by spaces."""
    return _HTML_BREAK.sub(" ", text).lower()


class Tokenizer:
    """spaCy's tokenizer applied to each whitespace-separated chunk of the cleaned text.

    spaCy itself splits on whitespace first and then tokenises each chunk (prefixes, suffixes,
    infixes, special cases such as "don't" -> "do", "n't"), so running it chunk by chunk and
    memoising the result gives the same tokens several times faster on real reviews, where most
    chunks repeat. The one known difference: whole-text spaCy occasionally declines an emoticon
    special case inside a longer chunk (":))." -> ":", ")", ")" instead of ":)", ")"); on the IMDb
    test split 1 review in 5,000 differs. ``tests/test_tokenizer.py`` compares the two.
    """

    def __init__(self, max_cache: int = 500_000, max_spacy_vocab: int = MAX_SPACY_VOCAB) -> None:
        self._spacy = spacy.blank("en").tokenizer
        self._special_cases = frozenset(self._spacy.rules)
        self._cache: dict[str, tuple[str, ...]] = {}
        self._max_cache = max_cache
        self._max_spacy_vocab = max_spacy_vocab

    def _simple(self, piece: str) -> tuple[str, ...] | None:
        """The tokens of a plain word with simple punctuation around it, or None (ask spaCy)."""
        match = _SIMPLE_CHUNK.fullmatch(piece)
        if match is None:
            return None
        before, core, after = match.groups()
        special = self._special_cases
        # spaCy looks for a special case after each affix it strips ("(a." -> "(", "a.")
        if piece in special or core in special or core + after in special or before + core in special:
            return None
        return tuple(part for part in (before, core, after) if part)

    def _piece(self, piece: str) -> tuple[str, ...]:
        """Tokens of one whitespace-free piece of at most MAX_CHUNK_CHARS characters, memoised."""
        tokens = self._cache.get(piece)
        if tokens is None:
            if len(self._cache) >= self._max_cache:
                self._cache.clear()  # bounded memory for a long-running app
            tokens = self._simple(piece)
            if tokens is None:
                if len(self._spacy.vocab) >= self._max_spacy_vocab:
                    self._spacy = spacy.blank("en").tokenizer  # about 65 ms, once per that many new strings
                tokens = tuple(token.text for token in self._spacy(piece) if not token.is_space)
            self._cache[piece] = tokens
        return tokens

    def _long_chunk(self, chunk: str, max_tokens: int | None) -> list[str]:
        tokens: list[str] = []
        # checked per piece: one 1 MB chunk is 10,000 pieces, too many to tokenise and then cut
        for start in range(0, len(chunk), MAX_CHUNK_CHARS):
            tokens.extend(self._piece(chunk[start : start + MAX_CHUNK_CHARS]))
            if max_tokens is not None and len(tokens) > max_tokens:
                break
        return tokens

    def __call__(self, text: str, max_tokens: int | None = None) -> list[str]:
        """Tokens of one raw text (HTML breaks removed, lowercased).

        With ``max_tokens``, stops soon after that many (the result is longer, so callers can
        tell the text was truncated) instead of tokenising a huge text only to cut it.
        """
        if max_tokens is None:
            chunks = clean(text).split()
        else:  # every chunk gives at least one token; maxsplit leaves the rest of a huge text in one piece
            chunks = clean(text).split(maxsplit=max_tokens + 1)[: max_tokens + 1]
        cache = self._cache
        tokens: list[str] = []
        for chunk in chunks:
            known = cache.get(chunk)  # the hot path: most chunks of a review were seen before
            if known is not None:
                tokens += known
                continue
            tokens += self._piece(chunk) if len(chunk) <= MAX_CHUNK_CHARS else self._long_chunk(chunk, max_tokens)
            if max_tokens is not None and len(tokens) > max_tokens:
                break
        return tokens

    def batch(self, texts: Iterable[str]) -> list[list[str]]:
        return [self(text) for text in texts]


def spacy_reference_tokens(text: str, nlp: spacy.language.Language | None = None) -> list[str]:
    """Plain spaCy over the whole cleaned text, without the chunk cache (the reference for tests)."""
    nlp = nlp or spacy.blank("en")
    return [token.text for token in nlp.tokenizer(clean(text)) if not token.is_space]
