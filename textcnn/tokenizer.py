"""Tokenisation: spaCy's rule-based English tokenizer, lowercased to match uncased GloVe.

``spacy.blank("en")`` needs no model download. IMDb reviews carry HTML line breaks (``<br />``),
which are replaced by spaces before tokenising so they never become tokens.

What people type is read as the reviews mostly spell it. Typographic apostrophes (phones
and word processors write "don’t") become plain ones, and the token "nt", which spaCy splits off a
contraction typed without an apostrophe ("dont", "didnt", "cant" as "do", "nt"), becomes "n't", so
that a negation stays one. A full stop, "!" or "?" typed without the space after it, between two
words ("great product.works well", "great!!i loved it"; common in IMDb reviews too), gets that
space: spaCy splits "..." there but not a single mark, and "product.works" would be one unknown word.
A text that does not end with a sentence mark ("not bad at all") gets a full stop, as every
sentence the model learns from has one.

spaCy is imported when a :class:`Tokenizer` is made, not with this module: :func:`clean` serves
code that does not tokenise (the TF-IDF baseline, the CLI's empty-line check) without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import spacy

_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
# Python strings can hold lone UTF-16 surrogates (JSON "\ud800", surrogateescape), which no encoder
# accepts and spaCy fails on; they are replaced, as invalid UTF-8 bytes are when decoding
_SURROGATE = re.compile("[\ud800-\udfff]")
# spaCy's prefix/suffix rules take time superlinear in a chunk's length (100,000 "(" take hours),
# so longer whitespace-free chunks are tokenised in pieces this long; no IMDb train chunk is longer
MAX_CHUNK_CHARS = 100
# spaCy keeps every distinct string it has read in its Vocab, for good: a server reading endless new
# text (random letters, say) grew 0.36 MB per 1,000 new tokens without bound; past this many entries
# the tokenizer starts again from a fresh spaCy tokenizer (same rules, so the same tokens)
MAX_SPACY_VOCAB = 100_000
# Half of IMDb's distinct chunks are a word or a number with at most one bracket or quote before
# and one punctuation mark after ("(great", "film!"); spaCy's affix rules split those exactly
# there unless a special case applies, so they skip even the affix rules below
_SIMPLE_CHUNK = re.compile(r"""([("]?)([a-z]+|[0-9]+)([,!?;:)"]?|\.)""")
# right and left single quotation marks and the modifier letter apostrophe, all typed as apostrophes
_APOSTROPHES = re.compile("[\u2018\u2019\u02bc]")  # a regular expression: 10x faster than str.translate
# sentence marks between a word of two letters or more and another or "i" ("film.the", "great!!!i";
# not "e.g.", "u.s.", "sh!t")
_GLUED_SENTENCES = re.compile(r"(?<=[a-z][a-z])([.!?]+)(?=[a-z][a-z]|i\b)")
_GLUED_MARK = re.compile(r"[.!?](?=[a-z])")  # what it needs: looked for first, which is faster on reviews
# every sentence the model learns from ends with one of these, so a text typed without one ("great
# phone") gets a full stop: without it, the last words are read as they never were in training
_SENTENCE_MARKS = (".", "!", "?")
_CLOSING = "\"')]"  # may follow the mark ('he said "great."')
# tokens spaCy splits off contractions typed without an apostrophe, as reviews mostly write them
_UNAPOSTROPHED = {"nt": "n't"}


def spelled(tokens: Iterable[str]) -> tuple[str, ...]:
    """``tokens`` with those of a contraction typed without an apostrophe spelled as reviews mostly spell them."""
    return tuple(_UNAPOSTROPHED.get(token, token) for token in tokens)


def replace_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the replacement character)."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def clean(text: str) -> str:
    """Lowercase ``text``, replace HTML line breaks by spaces, typographic apostrophes by plain ones
    and lone surrogates by U+FFFD, put a space after a sentence mark glued to the next word, and end
    a text that does not end with ".", "!" or "?" (closing quotes and brackets aside) with " ."."""
    text = _HTML_BREAK.sub(" ", text).lower()
    if _GLUED_MARK.search(text):
        text = _GLUED_SENTENCES.sub(r"\1 ", text)
    if not text.isascii():
        text = replace_surrogates(_APOSTROPHES.sub("'", text))
    end = text.rstrip()
    return end + " ." if end and not end.rstrip(_CLOSING).endswith(_SENTENCE_MARKS) else text


class Tokenizer:
    """spaCy's tokenizer applied to each whitespace-separated chunk of the cleaned text.

    spaCy itself splits on whitespace first and then tokenises each chunk (prefixes, suffixes,
    infixes, special cases such as "don't" -> "do", "n't"), so running it chunk by chunk and
    memoising the result gives the same tokens several times faster on real reviews, where most
    chunks repeat. A new chunk is split by :meth:`_affixes`, spaCy's own algorithm over spaCy's own
    rules (its prefix, suffix, infix and URL expressions and special cases) without building spaCy
    objects; the rare chunk where spaCy would then merge tokens back into a special case (":-))")
    goes to spaCy itself. The one known difference from spaCy over a whole text: whole-text spaCy
    occasionally declines an emoticon special case inside a longer chunk (":))." -> ":", ")", ")"
    instead of ":)", ")"); on the IMDb test split 1 review in 5,000 differs.
    ``tests/test_tokenizer.py`` compares the three on real reviews and on adversarial chunks.
    """

    def __init__(self, max_cache: int = 500_000, max_spacy_vocab: int = MAX_SPACY_VOCAB) -> None:
        import spacy
        from spacy.attrs import ORTH

        self._spacy = spacy.blank("en").tokenizer
        self._special: dict[str, tuple[str, ...]] = {
            string: tuple(token[ORTH] for token in substrings) for string, substrings in self._spacy.rules.items()
        }
        self._prefix_search = self._spacy.prefix_search
        self._suffix_search = self._spacy.suffix_search
        self._infix_finditer = self._spacy.infix_finditer
        self._token_match = self._spacy.token_match
        self._url_match = self._spacy.url_match
        # After splitting, spaCy merges token runs back into special cases that hold affixes (":-)" is
        # split as ":", "-", ")" and merged again): the runs it looks for, as in Tokenizer.add_special_case,
        # where merging changes the tokens ("it", "'s" is merged into "it", "'s")
        self._merged: set[tuple[str, ...]] = set()
        for string, tokens in self._special.items():
            if not any(character.isspace() for character in string) and (
                    not self._spacy.faster_heuristics or self._spacy.find_prefix(string)
                    or self._spacy.find_suffix(string) or self._spacy.find_infix(string)):
                run = tuple(self._affixes(string, special_cases=False))
                if run != tokens:
                    self._merged.add(run)
        # the lengths of the runs that start with each token: a chunk is checked only where a run can start
        self._merged_lengths: dict[str, set[int]] = {}
        for run in self._merged:
            self._merged_lengths.setdefault(run[0], set()).add(len(run))
        self._cache: dict[str, tuple[str, ...]] = {}
        self._max_cache = max_cache
        self._max_spacy_vocab = max_spacy_vocab

    def _simple(self, piece: str) -> tuple[str, ...] | None:
        """The tokens of a plain word with simple punctuation around it, or None (ask the affix rules)."""
        match = _SIMPLE_CHUNK.fullmatch(piece)
        if match is None:
            return None
        before, core, after = match.groups()
        special = self._special
        # spaCy looks for a special case after each affix it strips ("(a." -> "(", "a.")
        if piece in special or core in special or core + after in special or before + core in special:
            return None
        return tuple(part for part in (before, core, after) if part)

    def _affixes(self, string: str, special_cases: bool = True) -> list[str]:
        """spaCy's ``Tokenizer._split_affixes`` and ``_attach_tokens`` on one whitespace-free chunk.

        A line-by-line port of spaCy 3's Cython (spacy/tokenizer.pyx), strings in and out: strip
        prefixes and suffixes until none is left or a special case remains, then split what remains
        at its infixes unless it is a special case or a URL.
        """
        special = self._special if special_cases else {}
        prefixes: list[str] = []
        suffixes: list[str] = []
        last_size = 0
        while string and len(string) != last_size:
            if self._token_match and self._token_match(string):
                break
            if string in special:
                break
            last_size = len(string)
            match = self._prefix_search(string)
            pre_len = match.end() - match.start() if match is not None else 0
            if pre_len:
                prefix, minus_pre = string[:pre_len], string[pre_len:]
                if minus_pre and minus_pre in special:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            match = self._suffix_search(string[pre_len:])
            suf_len = match.end() - match.start() if match is not None else 0
            if suf_len:
                suffix, minus_suf = string[-suf_len:], string[:-suf_len]
                if minus_suf and minus_suf in special:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and pre_len + suf_len <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        tokens = prefixes
        if string:
            if string in special:
                tokens.extend(special[string])
            elif (self._token_match and self._token_match(string)) or (self._url_match and self._url_match(string)):
                tokens.append(string)
            else:
                start = 0
                for match in self._infix_finditer(string):
                    infix_start, infix_end = match.start(), match.end()
                    if infix_start == 0:  # an infix at the very start is not split off
                        continue
                    if infix_start != start:
                        tokens.append(string[start:infix_start])
                    if infix_start != infix_end:
                        tokens.append(string[infix_start:infix_end])
                    start = infix_end
                if string[start:]:
                    tokens.append(string[start:])
        tokens.extend(reversed(suffixes))
        return tokens

    def _may_merge(self, tokens: list[str]) -> bool:
        """Whether a run of ``tokens`` is one spaCy would merge back into a special case."""
        merged, lengths_from = self._merged, self._merged_lengths
        for start, token in enumerate(tokens):
            for length in lengths_from.get(token, ()):
                if start + length <= len(tokens) and tuple(tokens[start : start + length]) in merged:
                    return True
        return False

    def _piece(self, piece: str) -> tuple[str, ...]:
        """Tokens of one whitespace-free piece of at most MAX_CHUNK_CHARS characters, memoised."""
        tokens = self._cache.get(piece)
        if tokens is None:
            if len(self._cache) >= self._max_cache:
                self._cache.clear()  # bounded memory for a long-running app
            tokens = self._simple(piece)
            if tokens is None:
                split = self._affixes(piece)
                tokens = tuple(split) if not self._may_merge(split) else self._spacy_tokens(piece)
            tokens = spelled(tokens)
            self._cache[piece] = tokens
        return tokens

    def _spacy_tokens(self, piece: str) -> tuple[str, ...]:
        if len(self._spacy.vocab) >= self._max_spacy_vocab:
            import spacy

            self._spacy = spacy.blank("en").tokenizer  # about 65 ms, once per that many new strings
        return tuple(token.text for token in self._spacy(piece) if not token.is_space)

    def _long_chunk(self, chunk: str, max_tokens: int | None) -> list[str]:
        tokens: list[str] = []
        # checked per piece: one 1 MB chunk is 10,000 pieces, too many to tokenise and then cut
        for start in range(0, len(chunk), MAX_CHUNK_CHARS):
            tokens.extend(self._piece(chunk[start : start + MAX_CHUNK_CHARS]))
            if max_tokens is not None and len(tokens) > max_tokens:
                break
        return tokens

    def chunk_tokens(self, chunk: str, max_tokens: int | None = None) -> tuple[str, ...] | list[str]:
        """Tokens of one whitespace-free chunk of cleaned text; past ``max_tokens``, a long chunk may stop early."""
        return self._piece(chunk) if len(chunk) <= MAX_CHUNK_CHARS else self._long_chunk(chunk, max_tokens)

    def __call__(self, text: str, max_tokens: int | None = None) -> list[str]:
        """Tokens of one raw text (HTML breaks removed, lowercased).

        With ``max_tokens``, stops soon after that many (the result is longer, so callers can
        tell the text was truncated) instead of tokenising a huge text only to cut it.
        """
        if max_tokens is None:
            chunks = clean(text).split()
        else:  # every chunk gives at least one token; maxsplit leaves the rest of a huge text in one piece
            chunks = clean(text).split(maxsplit=max_tokens + 1)[: max_tokens + 1]
        known = list(map(self._cache.get, chunks))  # the hot path: most chunks of a review were seen before
        if None not in known:
            return list(chain.from_iterable(known))
        tokens: list[str] = []
        for chunk, chunk_tokens in zip(chunks, known):
            if chunk_tokens is not None:
                tokens += chunk_tokens
            else:
                tokens += self.chunk_tokens(chunk, max_tokens)
                if max_tokens is not None and len(tokens) > max_tokens:
                    break
        return tokens

    def batch(self, texts: Iterable[str]) -> list[list[str]]:
        return [self(text) for text in texts]


def spacy_reference_tokens(text: str, nlp: spacy.language.Language | None = None) -> list[str]:
    """Plain spaCy over the whole cleaned text, without the chunk cache, its "nt" spelled "n't" as
    :class:`Tokenizer` spells it (the reference for tests)."""
    import spacy

    nlp = nlp or spacy.blank("en")
    return list(spelled(token.text for token in nlp.tokenizer(clean(text)) if not token.is_space))
