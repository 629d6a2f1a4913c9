"""Vocabulary: token <-> id, built from the training split only, saved as JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from textcnn.atomic import atomic_write_text

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocab:
    """Ids 0 and 1 are always ``<pad>`` and ``<unk>``; other tokens follow by falling frequency."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary must not repeat a token")
        self.itos: list[str] = list(tokens)
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}

    @classmethod
    def build(cls, documents: Iterable[Iterable[str]], max_size: int, min_freq: int = 1) -> Vocab:
        """The ``max_size`` (specials included) most frequent tokens seen at least ``min_freq`` times.

        Ties are broken alphabetically so the same corpus always gives the same vocabulary.
        """
        counts: Counter[str] = Counter()
        for tokens in documents:
            counts.update(tokens)
        for special in (PAD, UNK):
            counts.pop(special, None)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *ranked[: max(0, max_size - 2)]])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Iterable[str]) -> list[int]:
        stoi = self.stoi
        return [stoi.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_json(), ensure_ascii=False))

    def to_json(self) -> dict:
        return {"tokens": self.itos}

    @classmethod
    def from_json(cls, data: object) -> Vocab:
        """The vocabulary saved as ``{"tokens": [...]}``; ValueError, in one sentence, for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise ValueError('a vocabulary file must be a JSON object {"tokens": [...]}')
        tokens = data["tokens"]
        if not all(isinstance(token, str) and token for token in tokens):
            raise ValueError("every token of a vocabulary must be a non-empty string")
        return cls(tokens)

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos
