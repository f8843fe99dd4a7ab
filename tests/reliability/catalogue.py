"""The bad-input catalogue's counts by kind: ``python -m tests.reliability.catalogue``.

The catalogue is ``test_bad_inputs.py`` (round one) and ``test_catalogue_*.py`` (round two). A case
is one collected test (a parametrized test counts once per parameter set); it is *pinned* when its
body uses ``raises(...)`` / ``pytest.raises(..., match=...)``, otherwise it asserts a documented
right answer (a call Keras accepts and so do we). A case's kind is the ``# ====`` section it sits in.
"""
from __future__ import annotations

import ast
import collections
import re
from pathlib import Path

HERE = Path(__file__).parent
FILES = ["test_bad_inputs.py", "test_catalogue_arguments.py", "test_catalogue_files.py"]
_SECTION = re.compile(r"^# =+ (.+)$")


def _params(fn: ast.FunctionDef) -> int:
    """How many cases pytest makes of ``fn`` (the product of its literal parametrize lists)."""
    n = 1
    for d in fn.decorator_list:
        if isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize" and len(d.args) >= 2:
            values = d.args[1]
            n *= len(values.elts) if isinstance(values, (ast.List, ast.Tuple)) else 1
    return n


def _pinned(fn: ast.FunctionDef) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name == "raises" and (len(node.args) >= 2 or any(k.arg == "match" for k in node.keywords)):
                return True
    return False


def cases() -> list[tuple[str, str, str, bool]]:
    """``(file, kind, test name, pinned)`` for every case of the catalogue."""
    out = []
    for name in FILES:
        source = (HERE / name).read_text()
        lines = source.splitlines()
        heads = [(i + 1, m.group(1).strip()) for i, line in enumerate(lines) if (m := _SECTION.match(line))]
        for fn in ast.parse(source).body:
            if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                kind = next((t for line, t in reversed(heads) if line < fn.lineno), "other")
                if kind == "the catalogue itself":
                    continue
                out += [(name, kind, fn.name, _pinned(fn))] * _params(fn)
    return out


def main() -> None:
    all_cases = cases()
    by_kind = collections.Counter((f, k, p) for f, k, _, p in all_cases)
    print(f"{'file':32} {'kind':58} {'pinned':>6} {'answer':>6}")
    for f, k in dict.fromkeys((f, k) for f, k, _, _ in all_cases):  # in file order
        print(f"{f:32} {k[:58]:58} {by_kind[(f, k, True)]:6} {by_kind[(f, k, False)]:6}")
    pinned = sum(p for *_, p in all_cases)
    print(f"total: {len(all_cases)} cases, {pinned} pinned with pytest.raises(match=...), "
          f"{len(all_cases) - pinned} documented right answers")


if __name__ == "__main__":
    main()
