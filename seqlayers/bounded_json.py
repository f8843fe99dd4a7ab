"""JSON from files with a nesting-depth limit, so hostile input gives a teaching error, not a RecursionError.

Python's JSON parser recurses once per nesting level: a line nested 100,000 deep raises a bare
``RecursionError`` in the parser, and a config nested a few hundred deep would overflow the code that
walks it later. ``loads`` refuses both with the caller's error class (``ModelFileError`` for model
files, ``ValueError`` for data files), naming the file and the limit.
"""
from __future__ import annotations

import json

#: the deepest nesting accepted: a model config of nested models and wrappers is ~10-30 deep
MAX_DEPTH = 200


def depth(value) -> int:
    """How deeply lists and dicts nest in ``value`` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        elif not isinstance(v, list):
            continue
        deepest = max(deepest, d)
        stack.extend((x, d + 1) for x in v if isinstance(x, (list, dict)))
    return deepest


def loads(text, where: str, error: type = ValueError, max_depth: int = MAX_DEPTH):
    """``json.loads(text)``, refusing JSON nested deeper than ``max_depth`` with ``error(where: ...)``.

    ``json.JSONDecodeError`` and ``UnicodeDecodeError`` pass through for the caller to word."""
    try:
        value = json.loads(text)
    except RecursionError:  # deeper than the parser can go: certainly deeper than the limit
        value = None
        too_deep = True
    else:
        too_deep = depth(value) > max_depth
    if too_deep:
        raise error(f"{where}: JSON nested more than {max_depth} levels deep (the limit); a model config or a "
                    f"data record is far shallower, so the file is corrupted or hostile.")
    return value


__all__ = ["MAX_DEPTH", "depth", "loads"]
