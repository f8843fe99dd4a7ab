"""Errors that teach: state the rule, show what was received, suggest the fix.

Every user mistake that seqlayers can detect raises a ``ValueError`` or ``TypeError`` built by the
helpers below, so the messages share one shape::

    LSTM 'lstm': expected input of shape (batch, time, features), got (32, 8).
    A 2-D input usually means the previous recurrent layer needs return_sequences=True.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Iterable


class SeqlayersError(Exception):
    """Base class of the library's own exceptions (those that are not plain Value/TypeErrors)."""


class ModelFileError(SeqlayersError, ValueError):
    """A model file is missing, truncated, corrupted, of another version, or unsupported."""


class MissingExtraError(SeqlayersError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


#: the optional extras of ``pip install seqlayers[...]`` and the packages each brings
EXTRAS = {
    "tasks": ("conllu", "seqeval", "scikit-learn", "matplotlib"),
    "interop": ("h5py", "onnx", "onnxruntime"),
    "plots": ("matplotlib",),
    "tensorboard": ("tensorboard",),
}


def require_extra(module: str, extra: str, feature: str, package: str | None = None):
    """Import and return the optional ``module``, or raise :class:`MissingExtraError` in one line.

    Args:
        module: the module to import, e.g. ``"matplotlib.pyplot"``.
        extra: the ``seqlayers[...]`` extra that installs it (a key of ``EXTRAS``).
        feature: what needs it, e.g. ``"explain(path=...)"``; the message starts with it.
        package: the package's name where it differs from the module's (``"scikit-learn"``).

    A module that is installed but fails inside its own import raises its own error unchanged.

    Examples:
        >>> require_extra("json", "tasks", "reading JSON").__name__
        'json'
        >>> require_extra("not_installed_anywhere", "plots", "a picture")
        Traceback (most recent call last):
        ...
        seqlayers.errors.MissingExtraError: a picture needs not_installed_anywhere, which is not installed: ...
    """
    if extra not in EXTRAS:
        raise ValueError(f"require_extra: unknown extra {extra!r}; expected one of {', '.join(EXTRAS)}.")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name is not None and e.name.split(".")[0] != top:
            raise
        name = package or top
        raise MissingExtraError(f"{feature} needs {name}, which is not installed: "
                                f"pip install 'seqlayers[{extra}]' (or pip install {name})") from None


def layer_label(layer) -> str:
    """``LSTM 'encoder'`` for a layer object, or the string itself."""
    if isinstance(layer, str):
        return layer
    name = getattr(layer, "name", None)
    cls = type(layer).__name__
    return f"{cls} '{name}'" if name else cls


def fmt_shape(shape) -> str:
    """``(None, 8, 3)`` style, with ``None`` for unknown sizes."""
    if shape is None:
        return "None"
    return "(" + ", ".join("None" if d is None else str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def shape_error(layer, expected: str, received, hint: str | None = None) -> ValueError:
    """A ValueError naming the layer, the expected shape, the received one and a fix."""
    got = received if isinstance(received, str) else fmt_shape(tuple(received))
    msg = f"{layer_label(layer)}: expected {expected}, got {got}."
    if hint:
        msg += " " + hint
    return ValueError(msg)


def known_axis(layer, input_shape, axis: int, what: str) -> int:
    """``input_shape[axis]``; a ValueError naming the layer, the axis, the shape and a fix if it is unknown.

    ``what`` names the axis in the message, e.g. ``"last axis (features)"``.
    """
    size = input_shape[axis]
    if size is None:
        example = list(input_shape)
        example[axis] = 16  # this axis fixed, the others as given, without the batch axis
        raise ValueError(f"{layer_label(layer)}: the {what} of the input must be known, got shape "
                         f"{fmt_shape(input_shape)}. Give it a fixed size, e.g. Input(shape={tuple(example[1:])}) "
                         f"for 16 along it.")
    return size


def closest(name: str, valid: Iterable[str], n: int = 3) -> list[str]:
    return difflib.get_close_matches(str(name), list(valid), n=n, cutoff=0.5)


def unknown_name_error(kind: str, name, valid: Iterable[str], where: str | None = None) -> ValueError:
    """``Unknown activation 'rleu'. Did you mean 'relu'? Valid names: ...``"""
    valid = sorted(valid)
    near = closest(name, valid)
    prefix = f"{where}: " if where else ""
    msg = f"{prefix}unknown {kind} {name!r}."
    if near:
        msg += " Did you mean " + " or ".join(repr(v) for v in near) + "?"
    msg += " Valid names: " + ", ".join(valid) + "."
    return ValueError(msg)


def require_utf8(path) -> None:
    """Raise a ValueError naming ``path``, the line and the byte when the file is not UTF-8 text.

    Readers call this before parsing so that a file in another encoding fails with its name and line
    rather than with a bare ``UnicodeDecodeError``.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}: "
                         f"{e.reason}). Save the file as UTF-8, e.g. iconv -f latin1 -t utf-8.") from None
