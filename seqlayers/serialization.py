"""The one config serializer: a layer or a model as a JSON-safe entry, and back.

A layer becomes ``{"class_name": ..., "config": {...}, "build_config": {"input_shape": ...}}``:
the name its class is registered under (``LAYER_REGISTRY``) and its constructor arguments as
JSON. Each class writes and reads its own entry (``config_entry`` / ``from_config_entry``):
``Layer`` gives the generic one (``layer_entry`` / ``decode_arguments`` below), and the models
(``Sequential``, the functional ``Model``) and ``InputLayer`` give theirs in ``seqlayers.models``.
This module never imports a layer or a model class: it sits below all of them.

Callables inside a config (a ``Lambda``'s function, a custom activation) are written by name only:
a built-in activation as ``{"__activation__": "relu"}``, anything else as
``{"__function__": "module:qualname"}``. Reading a config never imports a module: a function name
is resolved only through ``register_function`` or the ``custom_objects`` argument, and a class name
only through ``register_layer`` (``LAYER_REGISTRY``) or ``custom_objects``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import activations, constraints, regularizers
from .dtypes import DTYPES, dtype_name
from .errors import ModelFileError, layer_label

#: Every Layer subclass by class name (and by any name given to ``register_layer``); used by
#: ``from_config`` and the model loaders. Loading a model file only ever looks names up here.
LAYER_REGISTRY: dict[str, type] = {}

#: functions a saved model may refer to, by name (see ``register_function``)
FUNCTION_REGISTRY: dict[str, Callable] = {}

TENSOR = "__tensor__"
_FUNCTION = "__function__"
_ACTIVATION = "__activation__"
_FLOAT = "__float__"
_REGULARIZER = "__regularizer__"  # {"class_name", "config"} of a seqlayers.regularizers object
_CONSTRAINT = "__constraint__"  # the same for seqlayers.constraints
_ARRAY = "__array__"  # {"value": nested lists, "dtype": name} of a constant tensor argument (Lambda's mask)
_ENTRY_FIELDS = {"class_name", "config", "build_config"}


def register_layer(cls=None, *, name: str | None = None):
    """Register a custom layer class under a name, for loading saved models. Usable as decorator."""

    def deco(c):
        LAYER_REGISTRY[name or c.__name__] = c
        return c

    return deco(cls) if cls is not None else deco


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Keras's ``saving.register_keras_serializable``: a decorator registering a custom layer class (or a
    function) so saved models refer to it by name and loading finds it without ``custom_objects``.

    A layer class is registered under its name and under Keras's ``"package>name"`` (replacing an earlier
    class of the same name); a function under ``"package>name"``. Loading looks names up only here."""

    def deco(obj):
        if not callable(obj):
            raise TypeError(f"register_keras_serializable: expected a class or a function, got {type(obj).__name__}.")
        key = name or getattr(obj, "__name__", None)
        if not key:
            raise ValueError(f"register_keras_serializable: {obj!r} has no __name__; give name=...")
        if isinstance(obj, type):
            if not callable(getattr(obj, "get_config", None)):
                raise TypeError(f"register_keras_serializable: class {obj.__name__} has no get_config(); a "
                                f"registered class must describe its constructor arguments (a Layer subclass does).")
            LAYER_REGISTRY[key] = obj
            LAYER_REGISTRY[f"{package}>{key}"] = obj
            return obj
        FUNCTION_REGISTRY[f"{package}>{key}"] = obj
        return obj

    return deco


def get_registered_name(obj) -> str:
    """The name ``obj`` (a class or function) is registered under (Keras's ``"package>name"``), else its name."""
    for key, c in list(LAYER_REGISTRY.items()) + list(FUNCTION_REGISTRY.items()):
        if c is obj and ">" in key:
            return key
    return getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name: str, custom_objects: dict | None = None):
    """The class or function registered under ``name`` (or in ``custom_objects``), else None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return LAYER_REGISTRY.get(name, FUNCTION_REGISTRY.get(name))


def function_reference(fn) -> str | None:
    """``module:qualname`` of a named module-level function, else None (lambdas, closures)."""
    qual = getattr(fn, "__qualname__", "")
    mod = getattr(fn, "__module__", None)
    if not mod or not qual or "<lambda>" in qual or "<locals>" in qual:
        return None
    return f"{mod}:{qual}"


def register_function(fn=None, *, name: str | None = None):
    """Register a function (a ``Lambda``'s, a custom activation) so saved models can refer to it.

    The name defaults to ``module:qualname``. Loading a model resolves function names only here
    or in ``custom_objects``; it never imports the module a file names. Usable as a decorator.
    """

    def deco(f):
        if not callable(f):
            raise TypeError(f"register_function: expected a function, got {type(f).__name__}.")
        key = name or function_reference(f)
        if key is None:
            raise ValueError(
                "register_function: an anonymous lambda or a nested function has no stable name; "
                "give one, e.g. register_function(fn, name='my_fn')."
            )
        FUNCTION_REGISTRY[key] = f
        return f

    return deco(fn) if fn is not None else deco


# ---------------------------------------------------------------- values
def _function_name(fn, where: str) -> str:
    for key, f in FUNCTION_REGISTRY.items():
        if f is fn:
            return key
    ref = function_reference(fn)
    qual, mod = getattr(fn, "__qualname__", ""), getattr(fn, "__module__", None)
    if ref is None and mod and qual and "<lambda>" not in qual:
        # a function defined inside another is saved by name, as Keras saves it: loading finds it in
        # custom_objects (or the registry) under its own name, e.g. custom_objects={'stacker': stacker}
        return f"{mod}:{qual}"
    if ref is None:
        raise ValueError(
            f"{where}: cannot save an anonymous function ({getattr(fn, '__qualname__', fn)!r}). A saved "
            f"model stores functions by name, never their code. Define it with `def` at module level "
            f"(or register it: seqlayers.io.register_function(fn, name='my_fn')), and register it again "
            f"(or pass custom_objects={{'my_fn': fn}}) before loading."
        )
    return ref


def value_to_json(v, where: str):
    """A constructor argument as JSON: layers nested, callables by name, tuples as lists."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return {_FLOAT: repr(v)}
        return v
    if isinstance(v, torch.dtype):
        return dtype_name(v)
    if isinstance(v, nn.Module):
        return layer_to_config(v)
    if isinstance(v, (list, tuple)):
        return [value_to_json(x, where) for x in v]
    if isinstance(v, dict):
        return {str(k): value_to_json(x, f"{where}[{k!r}]") for k, x in v.items()}
    if isinstance(v, regularizers.Regularizer):
        return {_REGULARIZER: regularizers.serialize(v)}
    if isinstance(v, constraints.Constraint):
        return {_CONSTRAINT: constraints.serialize(v)}
    if isinstance(v, (torch.Tensor, np.ndarray)):  # a constant, saved by value (as Keras saves it)
        t = torch.as_tensor(v).detach().cpu()
        return {_ARRAY: {"value": t.tolist(), "dtype": dtype_name(t.dtype)}}
    if callable(v):
        name = activations.name_of(v)
        if name is not None:
            return {_ACTIVATION: name}
        return {_FUNCTION: _function_name(v, where)}
    raise ValueError(f"{where}: cannot save a value of type {type(v).__name__} ({v!r}) in a model config.")


def _array_from_json(v, where: str) -> torch.Tensor:
    if not (isinstance(v, dict) and set(v) == {"value", "dtype"} and v["dtype"] in DTYPES):
        raise ModelFileError(f"{where}: a saved tensor must be {{'value': nested lists, 'dtype': one of "
                             f"{', '.join(DTYPES)}}}, got {v!r:.80}.")
    try:
        return torch.tensor(v["value"], dtype=DTYPES[v["dtype"]])
    except (TypeError, ValueError, RuntimeError) as e:
        raise ModelFileError(f"{where}: the saved tensor's values are not a rectangular array of numbers "
                             f"({e}).") from None


def _short_name(key: str) -> str:
    return key.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


def find_function(keys, name: str | None, custom_objects: dict | None,
                  by_short_name: bool = False) -> Callable | None:
    """The function a file refers to, or None: the first of ``keys`` in ``custom_objects``, else
    ``name`` in ``register_function``'s registry (with ``by_short_name``, also a registered
    ``module:qualname`` whose last part is ``name``). Never by importing a module a file names."""
    custom_objects = custom_objects or {}
    for key in keys:
        if key is not None and key in custom_objects:
            return custom_objects[key]
    if name is None:
        return None
    if name in FUNCTION_REGISTRY:
        return FUNCTION_REGISTRY[name]
    if by_short_name:
        for key, fn in FUNCTION_REGISTRY.items():
            if _short_name(key) == name:
                return fn
    return None


def resolve_function(name: str, custom_objects: dict | None, where: str) -> Callable:
    """The function a seqlayers config names (``find_function`` by full, qualified or short name),
    else a ModelFileError saying how to register it."""
    short = name.split(":", 1)[-1]
    fn = find_function((name, short, short.rsplit(".", 1)[-1]), name, custom_objects)
    if fn is not None:
        return fn
    raise ModelFileError(
        f"{where}: the model refers to function {name!r}, which is not registered. Loading never "
        f"imports code named in a file; register the function first "
        f"(seqlayers.io.register_function(fn) or @register_function) or pass "
        f"custom_objects={{{short.rsplit('.', 1)[-1]!r}: fn}}."
    )


def is_special_value(v) -> bool:
    """A JSON dict that stands for one value (a function, an activation, a float, a layer entry)."""
    return isinstance(v, dict) and (set(v) in ({_FUNCTION}, {_ACTIVATION}, {_FLOAT}, {_REGULARIZER},
                                                {_CONSTRAINT}, {_ARRAY})
                                    or ("class_name" in v and "config" in v))


def value_from_json(v, custom_objects: dict | None, where: str):
    """``value_to_json``'s inverse: layers rebuilt, functions looked up by name."""
    if isinstance(v, list):
        return [value_from_json(x, custom_objects, where) for x in v]
    if isinstance(v, dict):
        if set(v) == {_FUNCTION}:
            return resolve_function(str(v[_FUNCTION]), custom_objects, where)
        if set(v) == {_ACTIVATION}:
            name = v[_ACTIVATION]
            if name not in activations.ACTIVATIONS:
                raise ModelFileError(f"{where}: unknown activation {name!r}.")
            return activations.ACTIVATIONS[name]
        if set(v) == {_FLOAT}:
            return float(v[_FLOAT])
        if set(v) == {_REGULARIZER}:
            return regularizers.deserialize(v[_REGULARIZER], where)
        if set(v) == {_CONSTRAINT}:
            return constraints.deserialize(v[_CONSTRAINT], where)
        if set(v) == {_ARRAY}:
            return _array_from_json(v[_ARRAY], where)
        if "class_name" in v and "config" in v:
            return layer_from_config(v, custom_objects, where)
        return {k: value_from_json(x, custom_objects, f"{where}[{k!r}]") for k, x in v.items()}
    return v


def call_when_ready(pending: list, attempt: Callable[..., bool]):
    """Make a graph's saved calls in an order where every input exists before it is used.

    ``attempt(*item)`` makes one call and returns False when one of its inputs does not exist yet; items
    are retried until all are made. Returns None when all were made, else the first item that never could
    be (an input no call produces, or a cycle), for the caller's error message. ``pending`` is emptied
    of the items made.
    """
    while pending:
        progressed = False
        for item in list(pending):
            if attempt(*item):
                pending.remove(item)
                progressed = True
        if not progressed:
            return pending[0]
    return None


def shape_to_json(shape):
    """A shape (or a list / dict of shapes) as JSON lists, None where unknown."""
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: shape_to_json(s) for k, s in shape.items()}
    if shape and isinstance(shape[0], (list, tuple, dict)):
        return [shape_to_json(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


def shape_from_json(shape):
    """``shape_to_json``'s inverse (tuples)."""
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: shape_from_json(s) for k, s in shape.items()}
    if shape and isinstance(shape[0], (list, dict)):
        return [shape_from_json(s) for s in shape]
    return tuple(shape)


# ---------------------------------------------------------------- nested layers in get_config()
def nested_config(v):
    """``Layer.get_config``'s view of a nested layer: ``{"class_name", "config"}`` (Python values)."""
    if isinstance(v, nn.Module) and callable(getattr(v, "config_entry", None)):
        return {"class_name": type(v).__name__, "config": v.get_config()}
    if isinstance(v, (list, tuple)):
        return type(v)(nested_config(x) for x in v) if type(v) in (list, tuple) else [nested_config(x) for x in v]
    return v


def nested_from_config(v):
    """``Layer.from_config``'s inverse of ``nested_config`` (registered classes only)."""
    if isinstance(v, dict) and set(v) >= {"class_name", "config"} and v["class_name"] in LAYER_REGISTRY:
        return LAYER_REGISTRY[v["class_name"]].from_config(v["config"])
    if isinstance(v, list):
        return [nested_from_config(x) for x in v]
    return v


# ---------------------------------------------------------------- entries
def class_name_of(layer) -> str:
    """The name ``layer``'s class is registered under (its own name first)."""
    cls = type(layer)
    for name, c in LAYER_REGISTRY.items():
        if c is cls and name == cls.__name__:
            return name
    for name, c in LAYER_REGISTRY.items():
        if c is cls:
            return name
    raise ValueError(
        f"{layer_label(layer)}: its class {cls.__name__} is not registered, so a saved model could "
        f"not rebuild it. Decorate it with @seqlayers.register_layer (or subclass seqlayers.Layer)."
    )


def with_build_config(layer, entry: dict) -> dict:
    """``entry`` plus the shape ``layer`` was built from, when it was built from one."""
    if layer.built and layer._build_input_shape is not None:
        entry["build_config"] = {"input_shape": shape_to_json(layer._build_input_shape)}
    return entry


def layer_entry(layer, raw: dict, build: bool = True) -> dict:
    """The generic entry of a layer whose constructor arguments are ``raw`` (``Layer.config_entry``)."""
    where = layer_label(layer)
    raw = dict(raw)
    if not layer.trainable:
        raw["trainable"] = False
    entry = {"class_name": class_name_of(layer),
             "config": {k: value_to_json(v, f"{where}, argument {k!r}") for k, v in raw.items()}}
    return with_build_config(layer, entry) if build else entry


def decode_arguments(config: dict, custom_objects: dict | None, where: str) -> dict:
    """Constructor arguments from a generic entry's ``config`` (``Layer.from_config_entry``)."""
    return {k: value_from_json(v, custom_objects, f"{where}, argument {k!r}") for k, v in config.items()}


def layer_to_config(layer) -> dict:
    """``{"class_name", "config", "build_config"}`` for a layer or a model (recursively)."""
    if not callable(getattr(layer, "config_entry", None)):
        raise ValueError(
            f"{type(layer).__name__}: a plain torch.nn.Module inside a model cannot be saved by config. "
            f"Wrap it in a seqlayers.Layer subclass (register it with @seqlayers.register_layer)."
        )
    return layer.config_entry()


def _layer_class(name: str, custom_objects: dict | None, where: str) -> Any:
    custom_objects = custom_objects or {}
    if name in custom_objects and isinstance(custom_objects[name], type):
        return custom_objects[name]
    if name in LAYER_REGISTRY:
        return LAYER_REGISTRY[name]
    raise ModelFileError(
        f"{where}: unknown layer class {name!r}. A custom layer must be registered before loading "
        f"(@seqlayers.register_layer on its class) or passed as custom_objects={{{name!r}: TheClass}}."
    )


def _check_entry(entry, where: str) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ModelFileError(f"{where}: expected {{'class_name': str, 'config': dict}}, got {short(entry)}.")
    extra = set(entry) - _ENTRY_FIELDS
    if extra:
        raise ModelFileError(f"{where}: unexpected field(s) {sorted(extra)} in a layer entry.")


def layer_from_config(entry: dict, custom_objects: dict | None = None, where: str = "model") -> nn.Module:
    """Rebuild a layer or a model from ``layer_to_config``'s dict (no code is imported)."""
    _check_entry(entry, where)
    name = entry["class_name"]
    cfg = entry["config"]
    label = f"{name} {cfg['name']!r}" if isinstance(cfg.get("name"), str) else name
    where = f"{where} > {label}" if where else label
    cls = _layer_class(name, custom_objects, where)
    try:
        build = getattr(cls, "from_config_entry", None)
        layer = build(cfg, custom_objects, where) if build is not None else \
            cls.from_config(decode_arguments(cfg, custom_objects, where))
        if entry.get("build_config") is not None:
            _build_from_config(layer, entry["build_config"], where)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise ModelFileError(f"{where}: cannot rebuild the layer from its saved config: {e}") from e
    except (RuntimeError, MemoryError) as e:  # e.g. a size so large that torch cannot allocate it
        raise ModelFileError(f"{where}: cannot rebuild the layer from its saved config (sizes too large or "
                             f"corrupted?): {type(e).__name__}: {str(e)[:200]}") from e
    return layer


def _build_from_config(layer, build, where: str) -> None:
    if not isinstance(build, dict) or set(build) != {"input_shape"}:
        raise ModelFileError(f"{where}: build_config must be {{'input_shape': [...]}}, got {short(build)}.")
    if not callable(getattr(layer, "build_from_shape", None)):
        return
    shape = shape_from_json(build["input_shape"])
    if not layer.built:
        layer.build_from_shape(shape)
    if any(getattr(m, "built", True) is False for m in layer.modules() if m is not layer):
        _build_by_running(layer, shape)


def _build_by_running(layer, shape) -> None:
    """Build the layers a subclassed model creates in ``__init__`` but builds on its first call:
    run it once on zeros of the saved input shape (float, else integer ids)."""
    if not isinstance(shape, tuple) or not shape:
        return
    dims = tuple(2 if d is None else d for d in shape)
    was_training = layer.training
    layer.eval()
    try:
        for dtype in (torch.float32, torch.long):
            try:
                with torch.no_grad():
                    layer(torch.zeros(dims, dtype=dtype))
                return
            except TypeError:
                continue
    finally:
        layer.train(was_training)


def check_keys(cfg, expected: set, where: str) -> None:
    """A ModelFileError unless ``cfg`` is a dict with exactly the ``expected`` keys."""
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{where}: config must be a dict, got {short(cfg)}.")
    missing, extra = expected - set(cfg), set(cfg) - expected
    if missing:
        raise ModelFileError(f"{where}: config lacks field(s) {sorted(missing)}.")
    if extra:
        raise ModelFileError(f"{where}: config has unexpected field(s) {sorted(extra)}.")


def short(v: Any) -> str:
    """``repr(v)``, cut to 80 characters for error messages."""
    s = repr(v)
    return s if len(s) < 80 else s[:77] + "..."


__all__ = ["FUNCTION_REGISTRY", "LAYER_REGISTRY", "class_name_of", "decode_arguments", "find_function",
           "function_reference",
           "layer_entry", "layer_from_config", "layer_to_config", "nested_config", "nested_from_config",
           "register_function", "register_layer", "resolve_function", "shape_from_json", "shape_to_json",
           "value_from_json", "value_to_json", "with_build_config"]
