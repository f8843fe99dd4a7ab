"""Read a slot-filling + intent split in the ATIS/SNIPS layout of Goo et al. (2018).

A split is a folder with three files, one utterance a line, aligned by line number:

* ``seq.in``: the tokens, separated by spaces;
* ``seq.out``: one BIO slot tag per token (``O``, ``B-artist``, ``I-artist``, ...);
* ``label``: the utterance's intent (``PlayMusic``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import require_utf8

FILES = ("seq.in", "seq.out", "label")


@dataclass
class SlotExample:
    """One utterance: tokens, one BIO tag per token, and the intent."""

    tokens: list[str]
    tags: list[str]
    intent: str


def _check_tag(path, lineno: int, tag: str) -> None:
    if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
        raise ValueError(f"{path}:{lineno}: slot tag {tag!r} is not BIO; expected O, B-<slot> or I-<slot>.")


def read_snips_split(folder) -> list[SlotExample]:
    """The utterances of one split folder (``train/``, ``valid/`` or ``test/``).

    Raises:
        FileNotFoundError: a file of the three is missing.
        ValueError: the files disagree (line counts, tokens vs tags on a line) or a tag is not BIO,
            with ``path:line``.
    """
    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}; a split folder holds seq.in "
                                f"(tokens), seq.out (BIO tags) and label (intent), one utterance a line.")
    lines = {}
    for name in FILES:
        require_utf8(folder / name)
        with open(folder / name, encoding="utf-8-sig") as f:
            lines[name] = [line.rstrip("\r\n") for line in f]
        while lines[name] and lines[name][-1].strip() == "":  # trailing blank lines
            lines[name].pop()
    n_in, n_out, n_lab = (len(lines[name]) for name in FILES)
    if not n_in == n_out == n_lab:
        raise ValueError(f"{folder}: the files must have one line per utterance each, got seq.in {n_in}, "
                         f"seq.out {n_out}, label {n_lab} lines.")
    out = []
    for i, (src, tgt, lab) in enumerate(zip(lines["seq.in"], lines["seq.out"], lines["label"]), 1):
        tokens, tags, intent = src.split(), tgt.split(), lab.strip()
        if not tokens:
            raise ValueError(f"{folder / 'seq.in'}:{i}: empty utterance.")
        if len(tokens) != len(tags):
            raise ValueError(f"{folder / 'seq.out'}:{i}: {len(tags)} tags for the {len(tokens)} tokens of "
                             f"seq.in line {i}; each token needs exactly one tag.")
        for tag in tags:
            _check_tag(folder / "seq.out", i, tag)
        if not intent or len(intent.split()) != 1:
            raise ValueError(f"{folder / 'label'}:{i}: expected one intent name, got {lab!r}.")
        out.append(SlotExample(tokens, tags, intent))
    return out


def read_snips(folder) -> dict[str, list[SlotExample]]:
    """``{"train": [...], "valid": [...], "test": [...]}`` from a data folder with those subfolders."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder; expected one with train/, valid/ and test/ inside.")
    return {split: read_snips_split(folder / split) for split in ("train", "valid", "test")}


__all__ = ["SlotExample", "read_snips", "read_snips_split"]
