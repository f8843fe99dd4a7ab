"""Vocabularies (strings to ids), padding, and character ids for words.

Id 0 is always padding (so ``Embedding(len(vocab), D, mask_zero=True)`` masks it); with
``unknown=True`` id 1 stands for any string not seen when the vocabulary was made.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np

from ..utils.sequence import pad_sequences

PAD = "<pad>"
UNK = "<unk>"


class Vocabulary:
    """A fixed mapping from strings to ids ``0 .. len(self) - 1``; 0 is padding.

    Args:
        items: the strings, most frequent first (their ids follow the reserved ones).
        unknown: reserve id 1 for strings not in ``items`` (words); without it (tag sets) an
            unseen string is an error.
    """

    def __init__(self, items: Iterable[str], unknown: bool = True):
        self.unknown = bool(unknown)
        self.itos: list[str] = [PAD] + ([UNK] if self.unknown else [])
        for s in items:
            if s not in (PAD, UNK):
                self.itos.append(s)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("Vocabulary: items must be distinct.")

    @classmethod
    def build(cls, sequences: Iterable[Iterable[str]], min_count: int = 1, unknown: bool = True,
              max_size: int | None = None) -> "Vocabulary":
        """From data: every string seen at least ``min_count`` times, most frequent first."""
        counts = Counter(s for seq in sequences for s in seq)
        items = [s for s, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
        return cls(items[:max_size] if max_size else items, unknown=unknown)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, s) -> bool:
        return s in self.stoi

    @property
    def labels(self) -> list[str]:
        """The real entries (padding and unknown left out), in id order."""
        return self.itos[2 if self.unknown else 1:]

    def id(self, s: str) -> int:
        i = self.stoi.get(s)
        if i is None:
            if self.unknown:
                return 1
            raise ValueError(f"Vocabulary: {s!r} is not one of the {len(self) - 1} known labels "
                             f"({', '.join(self.labels[:8])}{', ...' if len(self.labels) > 8 else ''}).")
        return i

    def encode(self, seq: Iterable[str]) -> list[int]:
        return [self.id(s) for s in seq]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def to_dict(self) -> dict:
        return {"itos": self.itos, "unknown": self.unknown}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        unknown = bool(d["unknown"])
        return cls(d["itos"][2 if unknown else 1:], unknown=unknown)


def pad_right(seqs: list[list[int]], maxlen: int | None = None, value: int = 0, dtype=np.int64) -> np.ndarray:
    """Pad (at the end) or cut (keeping the first steps) to a common length: ``(B, T)``,
    ``T = maxlen or longest`` (at least 1). Keras's ``pad_sequences`` with ``padding="post"`` and
    ``truncating="post"`` (what our right-padded fused kernels want); that helper does the work."""
    T = maxlen or max((len(s) for s in seqs), default=1) or 1
    return pad_sequences(seqs, maxlen=T, dtype=dtype, padding="post", truncating="post", value=value)


def char_ids(sentences: list[list[str]], chars: Vocabulary, max_word_len: int = 16,
             maxlen: int | None = None) -> np.ndarray:
    """Character ids of every word: ``(B, T, W)``, 0 for padding (words longer than W are cut,
    keeping the first W-W//2 and last W//2 characters, where prefixes and suffixes live)."""
    T = maxlen or max((len(s) for s in sentences), default=1) or 1
    W = max_word_len
    out = np.zeros((len(sentences), T, W), dtype=np.int64)
    for b, words in enumerate(sentences):
        for t, w in enumerate(words[:T]):
            if len(w) > W:
                w = w[:W - W // 2] + w[len(w) - W // 2:]
            out[b, t, :len(w)] = chars.encode(w)
    return out


def multi_hot(label_sets: list[list[str]], vocab: Vocabulary) -> np.ndarray:
    """``(N, V)`` 0/1 vectors, one column per real label (padding/unknown columns left out)."""
    offset = 2 if vocab.unknown else 1
    out = np.zeros((len(label_sets), len(vocab) - offset), dtype=np.float32)
    for i, labels in enumerate(label_sets):
        for s in labels:
            j = vocab.stoi.get(s)
            if j is not None and j >= offset:
                out[i, j - offset] = 1.0
    return out


__all__ = ["PAD", "UNK", "Vocabulary", "char_ids", "multi_hot", "pad_right"]
