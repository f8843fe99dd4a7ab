"""The house's shape, checked on the package's own source with ``ast``: the unit graph is acyclic,
imports sit at module top (inside functions only for optional dependencies), no library function is
longer than 80 lines, and ruff (lint + import order; on the tests and benchmarks too) and mypy pass (both from
the dev extras).

A unit is a subpackage of ``seqlayers`` (``layers``, ``models``, ``training``, ``io``...) or a
top-level module (``serialization``, ``topologies``, ``cli``...). The package's ``__init__`` only
re-exports, so it is not a unit.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "seqlayers"
FN_MAX = 80

#: third-party modules a function may import when called: the optional extras (each import goes
#: through errors.require_extra or names the extra), and the C++ toolchain behind the native build
OPTIONAL = {"h5py", "onnx", "onnxruntime", "onnxscript", "matplotlib", "tensorboard", "torch.utils.cpp_extension",
            "importlib"}
#: imports of a sibling module inside a function, where that sibling imports this module at its top
#: (file, imported module): a cycle between two modules of one unit, cut at the call
SIBLING_AT_CALL = {
    ("seqlayers/models/topology.py", "seqlayers.models.base"),
    ("seqlayers/models/topology.py", "seqlayers.models.functional"),
    ("seqlayers/models/topology.py", "seqlayers.models.sequential"),
    ("seqlayers/models/summary.py", "seqlayers.models.functional"),
    ("seqlayers/models/summary.py", "seqlayers.models.sequential"),
    ("seqlayers/io/saving.py", "seqlayers.io.keras_export"),
    ("seqlayers/io/saving.py", "seqlayers.io.keras_import"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str | None:
    """``seqlayers.io.saving`` -> ``io``; ``seqlayers.cli`` -> ``cli``; ``seqlayers`` -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imported_modules(node: ast.AST, package: str) -> list[str]:
    """The absolute module names an import statement reads (``from . import x`` reads ``pkg.x``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        name = ".".join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    if node.module is None or name == "seqlayers" or not name.startswith("seqlayers"):
        return [f"{name}.{a.name}" for a in node.names]  # from . import x / from torch.utils import y
    return [name]


def _imports_in(node: ast.AST, path: Path, module: str, package: str, in_function: bool):
    for child in ast.iter_child_nodes(node):
        inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            for target in imported_modules(child, package):
                yield path, module, target, inner, child.lineno
        yield from _imports_in(child, path, module, package, inner)


def walk_imports():
    """(path, module, imported module, inside a function, line) for every import of the package."""
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        yield from _imports_in(ast.parse(path.read_text(encoding="utf-8")), path, module, package, False)


def is_unit(name: str) -> bool:
    return (PACKAGE / name / "__init__.py").exists() or (PACKAGE / f"{name}.py").exists()


def unit_graph() -> dict[str, set[str]]:
    """Unit -> the units it imports (at module top or inside functions alike)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for _, module, target, _, _ in walk_imports():
        src = unit_of(module)
        dst = unit_of(target) if target.startswith("seqlayers.") else None
        if src and dst and src != dst and is_unit(dst):
            edges[src].add(dst)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of units (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def dfs(v):
        state[v] = 1
        path.append(v)
        for w in sorted(edges.get(v, ())):
            if state.get(w) == 1:
                return path[path.index(w):] + [w]
            if w not in state:
                found = dfs(w)
                if found:
                    return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(edges):
        if v not in state:
            found = dfs(v)
            if found:
                return found
    return None


def test_find_cycle_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"layers": {"errors"}, "models": {"layers"}}) is None
    assert find_cycle({"io": {"models"}, "models": {"training"}, "training": {"io"}}) == \
        ["io", "models", "training", "io"]


def test_the_unit_graph_has_no_cycle():
    edges = unit_graph()
    assert {"layers", "models", "training", "io"} <= set(edges), "the walk found the package's units"
    cycle = find_cycle(edges)
    assert cycle is None, f"import cycle among units: {' -> '.join(cycle)}"


#: the main floors of the house, bottom first (the small bottom modules sit below all of them)
FLOORS = ["layers", "training", "models", "topologies", "generative", "io", "tasks", "cli"]
BOTTOM = ["errors", "keras_objects", "dtypes", "utils", "activations", "initializers", "regularizers", "constraints",
          "serialization", "atomic", "model_files",
          "version"]


def test_the_house_points_one_way():
    """Bottom -> layers -> training -> models -> io -> tasks/cli: no unit imports one above it."""
    edges = unit_graph()
    up = [f"{src} -> {dst}" for src, dsts in edges.items() for dst in dsts
          if src in FLOORS and dst in FLOORS and FLOORS.index(dst) > FLOORS.index(src)]
    up += [f"{src} -> {dst}" for src in BOTTOM for dst in edges.get(src, ()) if dst not in BOTTOM]
    assert not up, "imports pointing up the house: " + ", ".join(sorted(up))


def test_imports_inside_functions_are_only_optional_dependencies():
    bad = []
    for path, module, target, inner, line in walk_imports():
        if not inner:
            continue
        rel = str(path.relative_to(ROOT))
        if target.startswith("seqlayers"):
            same_unit = unit_of(target) == unit_of(module)
            if not (same_unit and (rel, target) in SIBLING_AT_CALL):
                bad.append(f"{rel}:{line} imports {target}")
        elif not any(target == m or target.startswith(m + ".") for m in OPTIONAL):
            bad.append(f"{rel}:{line} imports {target} (not an optional dependency)")
    assert not bad, "imports inside functions:\n" + "\n".join(bad)


def test_no_library_function_is_longer_than_80_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > FN_MAX:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def _tool(name: str) -> list[str]:
    here = Path(sys.executable).parent / name
    if here.exists():
        return [str(here)]
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]' installs it)")
    return [found]


def test_ruff_passes():
    """``ruff check seqlayers benchmarks tests`` with the rules of pyproject.toml ([tool.ruff])."""
    result = subprocess.run(_tool("ruff") + ["check", "--no-cache", "seqlayers", "benchmarks", "tests"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes():
    """``mypy`` on the modules [tool.mypy] lists (the type-checked part of the package)."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    if "No module named mypy" in result.stderr:
        pytest.skip("mypy is not installed (pip install -e '.[dev]' installs it)")
    assert result.returncode == 0, result.stdout + result.stderr
