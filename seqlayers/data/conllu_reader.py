"""Read words and their tags from a CoNLL-U file (Universal Dependencies), for taggers.

Each sentence is a block of token lines (10 tab-separated columns) ended by a blank line; lines
starting with ``#`` are comments. Parsing of each block is left to the ``conllu`` package; this
module checks the layout line by line first so that a broken file fails with its path, line
number and what is wrong (``conllu`` alone accepts short lines silently).

Multi-word tokens (ids like ``1-2``, e.g. "don't" over "do" + "n't") and empty nodes (decimal ids
like ``8.1``) are skipped: a tagger sees the syntactic words, as the UD evaluation does. A sentence
made only of such lines is refused (it has no words); a block of only comments is not a sentence
and is skipped. A UTF-8 byte-order mark at the start of the file is accepted.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import require_extra, require_utf8

#: the columns a tagger may learn (CoNLL-U names)
TAG_COLUMNS = ("upos", "xpos", "deprel")
_ID = re.compile(r"^(\d+|\d+-\d+|\d+\.\d+)$")


@dataclass
class TaggedSentence:
    """One sentence: its words and one tag per word (same length)."""

    words: list[str]
    tags: list[str]


def _check_line(path, lineno: int, line: str, column: str) -> None:
    fields = line.split("\t")
    if len(fields) != 10:
        raise ValueError(f"{path}:{lineno}: expected 10 tab-separated CoNLL-U columns, got {len(fields)} "
                         f"in {line[:60]!r}. Columns must be separated by tabs, not spaces.")
    if not _ID.match(fields[0]):
        raise ValueError(f"{path}:{lineno}: the ID column must be an integer, a range like 1-2 or a decimal "
                         f"like 8.1, got {fields[0]!r}.")
    if re.fullmatch(r"\d+", fields[0]):
        tag = fields[3] if column == "upos" else fields[4] if column == "xpos" else fields[7]
        if tag in ("", "_"):
            raise ValueError(f"{path}:{lineno}: word {fields[1]!r} has no {column.upper()} tag (column is "
                             f"{tag!r}); a tagger needs a tag on every word.")


def _parse_block(path, start: int, lines: list[tuple[int, str]], column: str) -> TaggedSentence | None:
    tokens = [(n, line) for n, line in lines if not line.startswith("#")]
    if not tokens:
        return None
    for n, line in tokens:
        _check_line(path, n, line, column)
    conllu = require_extra("conllu", "tasks", "read_conllu")
    try:
        parsed = conllu.parse_token_and_metadata("\n".join(line for _, line in lines))
    except conllu.exceptions.ParseException as e:
        raise ValueError(f"{path}:{start}: the sentence starting here could not be parsed: {e}") from e
    words, tags = [], []
    for tok in parsed:
        if not isinstance(tok["id"], int):  # multi-word token range or empty node
            continue
        words.append(tok["form"])
        tags.append(tok[column])
    if not words:
        raise ValueError(f"{path}:{start}: the sentence starting here has no words, only multi-word token or "
                         f"empty-node lines ({', '.join(line.split(chr(9))[0] for _, line in tokens[:3])}); each "
                         f"range like 1-2 must be followed by its words (lines 1 and 2).")
    return TaggedSentence(words, tags)


def read_conllu(path, column: str = "upos") -> list[TaggedSentence]:
    """The sentences of a CoNLL-U file as (words, tags), tags taken from ``column``.

    Args:
        path: the ``.conllu`` file.
        column: ``"upos"`` (universal part of speech, 17 tags), ``"xpos"`` (language-specific) or
            ``"deprel"``.

    Raises:
        ValueError: a malformed line, with ``path:line`` and what is wrong.
    """
    if column not in TAG_COLUMNS:
        raise ValueError(f"read_conllu: column must be one of {', '.join(TAG_COLUMNS)}, got {column!r}.")
    path = Path(path)
    sentences: list[TaggedSentence] = []
    block: list[tuple[int, str]] = []
    start = 1
    require_utf8(path)
    with open(path, encoding="utf-8-sig") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if line.strip() == "":
                if block:
                    sent = _parse_block(path, start, block, column)
                    if sent is not None:
                        sentences.append(sent)
                block = []
                continue
            if not block:
                start = lineno
            block.append((lineno, line))
    if block:
        sent = _parse_block(path, start, block, column)
        if sent is not None:
            sentences.append(sent)
    if not sentences:
        raise ValueError(f"{path}: no sentences found; is this a CoNLL-U file (10 tab-separated columns)?")
    return sentences


def read_tokenized(path) -> list[list[str]]:
    """Pre-tokenized text: one sentence a line, tokens separated by whitespace (blank lines kept)."""
    with open(path, encoding="utf-8-sig") as f:
        return [line.split() for line in f]


__all__ = ["TaggedSentence", "read_conllu", "read_tokenized", "TAG_COLUMNS"]
