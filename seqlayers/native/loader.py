"""Find, build and load the native kernels (see ``seqlayers/native/__init__.py`` for the policy)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

import torch

NAME = "seqlayers_native"
HERE = Path(__file__).parent
#: SimpleRNN inference; LSTM and GRU inference; LSTM, GRU and SimpleRNN training (forward and backward)
SOURCES = [HERE / "rnn_loop.cpp", HERE / "gated_loop.cpp", HERE / "rnn_train.cpp"]
HEADERS = [HERE / "loop_math.h", HERE / "head.h"]  # what they include
CFLAGS = ["-O3"]
# at::parallel_for (a call's directions and batch chunks at once, loop_math.h) is an OpenMP pragma in a
# header: compiled with OpenMP, the library uses the runtime torch has already loaded (same soname); a
# compiler without it builds the same kernels without (they then run the chunks one after another)
OPENMP = ["-fopenmp"]

BLAS_ONLY = [False]  # True: the recurrence through MKL's sgemm even on AVX-512 machines (blas_only() sets it)
_state: dict[str, Any] = {"loaded": False, "tried": False, "reason": "not loaded yet", "enabled": True}


def _policy() -> str:
    value = os.environ.get("SEQLAYERS_NATIVE", "auto").strip().lower()
    if value in ("0", "off", "false", "no", "never"):
        return "off"
    if value in ("build", "1", "on", "true", "yes"):
        return "build"
    return "auto"


def build_directory() -> Path:
    """``<cache>/native/<key>``: the key hashes the sources and header, the flags, torch and the Python ABI."""
    key = hashlib.sha256()
    for source in SOURCES + HEADERS:
        key.update(source.read_bytes())
    key.update(" ".join(CFLAGS + OPENMP).encode())
    key.update(torch.__version__.encode())
    key.update((sysconfig.get_config_var("SOABI") or sys.version).encode())
    root = Path(os.environ.get("SEQLAYERS_CACHE") or Path.home() / ".cache" / "seqlayers")
    return root / "native" / key.hexdigest()[:16]


def _library_path() -> Path:
    return build_directory() / f"{NAME}.so"


def _register(path: Path) -> None:
    torch.ops.load_library(str(path))
    _state.update(loaded=True, reason=f"loaded from {path}")


def build(verbose: bool = False) -> Path:
    """Compile the kernels (if not already built) and load them; returns the library's path.

    Raises ``RuntimeError`` saying what is missing when it cannot be built here.
    """
    path = _library_path()
    if _state["loaded"]:
        return path
    if path.exists():
        try:
            _register(path)
            return path
        except Exception:  # a truncated or stale library (an interrupted build): build it again
            path.unlink()
    from torch.utils import cpp_extension

    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    def compile_with(openmp: list[str]) -> None:
        cpp_extension.load(NAME, sources=[str(s) for s in SOURCES], extra_cflags=CFLAGS + openmp,
                           extra_ldflags=openmp, build_directory=str(directory), is_python_module=False,
                           verbose=verbose)

    try:
        try:
            compile_with(OPENMP)
        except Exception:  # a compiler without OpenMP: the same kernels, each call's chunks on one thread
            compile_with([])
    except Exception as exc:  # compiler/ninja missing, or the BLAS symbols are absent in this torch
        _state.update(tried=True, reason=f"build failed: {type(exc).__name__}: {str(exc).strip()[-400:]}")
        names = " + ".join(s.name for s in SOURCES)
        raise RuntimeError(f"seqlayers.native: could not build {names} in {directory}: {exc}. "
                           "A C++ compiler (g++) and ninja are needed; seqlayers works without it "
                           "(the TorchScript loop and torch's fused kernels run instead).") from exc
    _state.update(loaded=True, reason=f"built and loaded from {path}")
    return path


def use_native() -> bool:
    """True when the native SimpleRNN loop may be called now (loads it on first use, per the policy)."""
    if _state["loaded"]:
        return _state["enabled"]
    if _state["tried"]:
        return False
    _state["tried"] = True
    policy = _policy()
    if policy == "off":
        _state["reason"] = "disabled by SEQLAYERS_NATIVE=0"
        return False
    path = _library_path()
    try:
        if path.exists():
            _register(path)
        elif policy == "build":
            build()
        else:
            _state["reason"] = (f"not built (no {path}); run `python -m seqlayers.native` to build it, "
                                "or set SEQLAYERS_NATIVE=build")
            return False
    except Exception as exc:  # a stale or broken library: fall back, and say why in status()
        _state["reason"] = f"could not load {path}: {type(exc).__name__}: {exc}"
        return False
    return _state["enabled"]


def status() -> str:
    """One line: whether the native kernels are in use, and if not, why."""
    use_native()
    if _state["loaded"] and not _state["enabled"]:
        return "native kernels: loaded but switched off (seqlayers.native.disabled())"
    return f"native kernels: {'in use' if _state['loaded'] else 'not in use'} ({_state['reason']})"


@contextlib.contextmanager
def disabled():
    """Within this block the native kernels are not used (the TorchScript loop runs): for tests."""
    previous = _state["enabled"]
    _state["enabled"] = False
    try:
        yield
    finally:
        _state["enabled"] = previous


def last_loop() -> str:
    """Which loop the last native LSTM/GRU inference call ran: ``"lstm_fused"`` / ``"gru_fused"`` (the
    AVX-512 steps with the product and the cell update in one pass), ``"gate_pass"`` (a product, then
    the gate pass), or ``"none"`` (no call yet, a call that ran no steps, or the library not in use).
    For tests and benchmarks: a kernel not chosen gives the same values through another path, so only
    this can tell."""
    return torch.ops.seqlayers_native.last_loop() if use_native() else "none"


@contextlib.contextmanager
def blas_only():
    """Within this block the native loops compute the recurrence through MKL's sgemm, even on
    AVX-512 machines (``BLAS_ONLY``): for tests."""
    BLAS_ONLY[0] = True
    try:
        yield
    finally:
        BLAS_ONLY[0] = False
