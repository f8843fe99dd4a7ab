"""Read dialogues from JSONL (one dialogue a line), as converted from Schema-Guided Dialogue.

Each line is ``{"dialogue_id": ..., "turns": [{"user": str, "user_acts": [...], "system": str,
"system_acts": ["OFFER(city)", "REQUEST_ALTS", ...]}, ...]}``. A dialogue act is ``TYPE(slot)`` or
a bare ``TYPE``; ``act_type`` and ``act_label`` give the two granularities a model can predict.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import bounded_json
from ..errors import require_utf8

_ACT = re.compile(r"^([A-Z_]+)(\(([^()]*)\))?$")


@dataclass
class Turn:
    """A user utterance and the dialogue acts of the system's reply."""

    user: str
    system_acts: list[str]
    system: str = ""
    user_acts: list[str] | None = None


@dataclass
class Dialogue:
    dialogue_id: str
    turns: list[Turn]


def act_type(act: str) -> str:
    """``"OFFER(city)" -> "OFFER"``; ``"REQUEST_ALTS" -> "REQUEST_ALTS"``."""
    return act.split("(", 1)[0]


def act_label(act: str, granularity: str) -> str:
    """The act at ``granularity`` ``"type"`` (``OFFER``) or ``"act_slot"`` (``OFFER(city)``)."""
    if granularity == "type":
        return act_type(act)
    if granularity == "act_slot":
        return act
    raise ValueError(f"act_label: granularity must be 'type' or 'act_slot', got {granularity!r}.")


def _require(path, lineno, cond, what):
    if not cond:
        raise ValueError(f"{path}:{lineno}: {what}")


def _parse_turn(path, lineno: int, k: int, t) -> Turn:
    _require(path, lineno, isinstance(t, dict), f"turn {k} must be an object, got {type(t).__name__}.")
    _require(path, lineno, isinstance(t.get("user"), str), f"turn {k} has no 'user' utterance (a string).")
    acts = t.get("system_acts")
    _require(path, lineno, isinstance(acts, list) and all(isinstance(a, str) for a in acts),
             f"turn {k} needs 'system_acts', a list of strings like \"OFFER(city)\".")
    for a in acts:
        _require(path, lineno, bool(_ACT.match(a)),
                 f"turn {k}: dialogue act {a!r} is not TYPE or TYPE(slot) (upper-case type).")
    return Turn(user=t["user"], system_acts=list(acts), system=t.get("system", ""), user_acts=t.get("user_acts"))


def read_dialogues(path, limit: int | None = None) -> list[Dialogue]:
    """The dialogues of a JSONL file (the first ``limit`` when given).

    Raises:
        ValueError: a line that is not JSON or lacks the fields, with ``path:line`` and what is wrong.
    """
    path = Path(path)
    out: list[Dialogue] = []
    require_utf8(path)
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if limit is not None and len(out) >= limit:
                break
            if not line.strip():
                continue
            try:
                d = bounded_json.loads(line, f"{path}:{lineno}")
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}); expected one "
                                 f"dialogue object a line.") from None
            _require(path, lineno, isinstance(d, dict) and isinstance(d.get("turns"), list),
                     "expected an object with a 'turns' list.")
            _require(path, lineno, len(d["turns"]) > 0, "the dialogue has no turns.")
            turns = [_parse_turn(path, lineno, k, t) for k, t in enumerate(d["turns"])]
            out.append(Dialogue(str(d.get("dialogue_id", lineno)), turns))
    if not out:
        raise ValueError(f"{path}: no dialogues found.")
    return out


__all__ = ["Dialogue", "Turn", "act_label", "act_type", "read_dialogues"]
