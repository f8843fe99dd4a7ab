"""A model (or a single layer) as a JSON-safe config, and back.

A layer becomes ``{"class_name": ..., "config": {...}, "build_config": {"input_shape": ...}}``:
the class name it is registered under (``LAYER_REGISTRY``) and its constructor arguments
(``get_config``). A ``Sequential`` lists its layers; a functional ``Model`` lists its layers, each
with the calls made on it (``inbound_nodes``, as in Keras's config), every symbolic tensor written
as ``{"__tensor__": [layer_name, node_index, tensor_index]}``.

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

from .. import activations
from ..errors import ModelFileError, layer_label
from ..layers.base import LAYER_REGISTRY, Layer
from ..models.symbolic import Input, InputLayer, SymbolicTensor, dtype_name
from ..utils import flatten, map_structure

#: functions a saved model may refer to, by name (see ``register_function``)
FUNCTION_REGISTRY: dict[str, Callable] = {}

_TENSOR = "__tensor__"
_FUNCTION = "__function__"
_ACTIVATION = "__activation__"


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
            return {"__float__": repr(v)}
        return v
    if isinstance(v, torch.dtype):
        return dtype_name(v)
    if isinstance(v, nn.Module):
        return layer_to_config(v)
    if isinstance(v, (list, tuple)):
        return [value_to_json(x, where) for x in v]
    if isinstance(v, dict):
        return {str(k): value_to_json(x, f"{where}[{k!r}]") for k, x in v.items()}
    if isinstance(v, (torch.Tensor, np.ndarray)):
        raise ValueError(f"{where}: a tensor argument cannot be saved in a model config; pass a "
                         f"callable that builds it, or make it a layer weight.")
    if callable(v):
        name = activations.name_of(v)
        if name is not None:
            return {_ACTIVATION: name}
        return {_FUNCTION: _function_name(v, where)}
    raise ValueError(f"{where}: cannot save a value of type {type(v).__name__} ({v!r}) in a model config.")


def resolve_function(name: str, custom_objects: dict | None, where: str):
    custom_objects = custom_objects or {}
    short = name.split(":", 1)[-1]
    for key in (name, short, short.rsplit(".", 1)[-1]):
        if key in custom_objects:
            return custom_objects[key]
    if name in FUNCTION_REGISTRY:
        return FUNCTION_REGISTRY[name]
    raise ModelFileError(
        f"{where}: the model refers to function {name!r}, which is not registered. Loading never "
        f"imports code named in a file; register the function first "
        f"(seqlayers.io.register_function(fn) or @register_function) or pass "
        f"custom_objects={{{short.rsplit('.', 1)[-1]!r}: fn}}."
    )


def value_from_json(v, custom_objects: dict | None, where: str):
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
        if set(v) == {"__float__"}:
            return float(v["__float__"])
        if "class_name" in v and "config" in v:
            return layer_from_config(v, custom_objects, where)
        return {k: value_from_json(x, custom_objects, f"{where}[{k!r}]") for k, x in v.items()}
    return v


def _shape_to_json(shape):
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: _shape_to_json(s) for k, s in shape.items()}
    if shape and isinstance(shape[0], (list, tuple, dict)):
        return [_shape_to_json(s) for s in shape]
    return [None if d is None else int(d) for d in shape]


def _shape_from_json(shape):
    if shape is None:
        return None
    if isinstance(shape, dict):
        return {k: _shape_from_json(s) for k, s in shape.items()}
    if shape and isinstance(shape[0], (list, dict)):
        return [_shape_from_json(s) for s in shape]
    return tuple(shape)


# ---------------------------------------------------------------- layers
def _class_name(layer) -> str:
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


def layer_to_config(layer) -> dict:
    """``{"class_name", "config", "build_config"}`` for a layer or a model (recursively)."""
    from ..models.functional import Model
    from ..models.sequential import Sequential

    if not isinstance(layer, Layer):
        raise ValueError(
            f"{type(layer).__name__}: a plain torch.nn.Module inside a model cannot be saved by config. "
            f"Wrap it in a seqlayers.Layer subclass (register it with @seqlayers.register_layer)."
        )
    where = layer_label(layer)
    if isinstance(layer, Sequential):
        cfg = {"name": layer.name,
               "layers": [layer_to_config(l) for l in layer.layers],
               "input_shape": _shape_to_json(layer.declared_input_shape),
               "input_dtype": dtype_name(layer._input_dtype) if layer._input_dtype is not None else None}
        out = {"class_name": "Sequential", "config": cfg}
    elif isinstance(layer, Model) and type(layer) is Model and layer._functional:
        out = {"class_name": "Model", "config": functional_to_config(layer)}
    elif isinstance(layer, Model) and getattr(layer, "_functional", False) is False and type(layer) is Model:
        raise ValueError(f"{where}: an empty Model() has nothing to save.")
    else:
        if type(layer).get_config is Layer.get_config:
            raw = {k: v for k, v in layer._config.items()}
            raw["name"] = layer.name
        else:
            raw = layer.get_config()
        if not layer.trainable:
            raw["trainable"] = False
        cfg = {k: value_to_json(v, f"{where}, argument {k!r}") for k, v in raw.items()}
        out = {"class_name": _class_name(layer), "config": cfg}
    if layer.built and layer._build_input_shape is not None and not isinstance(layer, InputLayer):
        out["build_config"] = {"input_shape": _shape_to_json(layer._build_input_shape)}
    return out


def _layer_class(name, custom_objects, where):
    custom_objects = custom_objects or {}
    if name in custom_objects and isinstance(custom_objects[name], type):
        return custom_objects[name]
    if name in ("Sequential", "Model", "InputLayer"):
        from ..models import Model, Sequential

        return {"Sequential": Sequential, "Model": Model, "InputLayer": InputLayer}[name]
    if name in LAYER_REGISTRY:
        return LAYER_REGISTRY[name]
    raise ModelFileError(
        f"{where}: unknown layer class {name!r}. A custom layer must be registered before loading "
        f"(@seqlayers.register_layer on its class) or passed as custom_objects={{{name!r}: TheClass}}."
    )


def layer_from_config(entry: dict, custom_objects: dict | None = None, where: str = "model") -> nn.Module:
    """Rebuild a layer or a model from ``layer_to_config``'s dict (no code is imported)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ModelFileError(f"{where}: expected {{'class_name': str, 'config': dict}}, got {_short(entry)}.")
    extra = set(entry) - {"class_name", "config", "build_config"}
    if extra:
        raise ModelFileError(f"{where}: unexpected field(s) {sorted(extra)} in a layer entry.")
    name = entry["class_name"]
    cfg = entry["config"]
    label = f"{name} {cfg['name']!r}" if isinstance(cfg.get("name"), str) else name
    where = f"{where} > {label}" if where else label
    cls = _layer_class(name, custom_objects, where)
    try:
        if name == "Sequential" and cls.__name__ == "Sequential":
            layer = _sequential_from_config(cls, cfg, custom_objects, where)
        elif name == "Model" and cls.__name__ == "Model":
            layer = functional_from_config(cfg, custom_objects, where)
        elif cls is InputLayer:
            layer = InputLayer(**cfg)
        else:
            kwargs = {k: value_from_json(v, custom_objects, f"{where}, argument {k!r}") for k, v in cfg.items()}
            layer = cls.from_config(kwargs)
        build = entry.get("build_config")
        if build is not None:
            if not isinstance(build, dict) or set(build) != {"input_shape"}:
                raise ModelFileError(f"{where}: build_config must be {{'input_shape': [...]}}, got {_short(build)}.")
            shape = _shape_from_json(build["input_shape"])
            if isinstance(layer, Layer) and not layer.built:
                layer.build_from_shape(shape)
            if isinstance(layer, Layer) and _unbuilt_sublayers(layer):
                _build_by_running(layer, shape)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise ModelFileError(f"{where}: cannot rebuild the layer from its saved config: {e}") from e
    except (RuntimeError, MemoryError) as e:  # e.g. a size so large that torch cannot allocate it
        raise ModelFileError(f"{where}: cannot rebuild the layer from its saved config (sizes too large or "
                             f"corrupted?): {type(e).__name__}: {str(e)[:200]}") from e
    return layer


def _unbuilt_sublayers(layer) -> bool:
    return any(isinstance(m, Layer) and not m.built for m in layer.modules() if m is not layer)


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


def _sequential_from_config(cls, cfg, custom_objects, where):
    _check_keys(cfg, {"name", "layers", "input_shape", "input_dtype"}, where)
    if not isinstance(cfg["layers"], list):
        raise ModelFileError(f"{where}: 'layers' must be a list.")
    model = cls(name=cfg["name"])
    shape = _shape_from_json(cfg["input_shape"])
    if cfg["input_dtype"] is not None:
        model.add(Input(batch_shape=shape, dtype=cfg["input_dtype"]))
    for i, entry in enumerate(cfg["layers"]):
        layer = layer_from_config(entry, custom_objects, f"{where} > layer {i}")
        try:
            model.add(layer)
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{where} > layer {i}: the saved layers do not fit together: {e}") from e
    if shape is not None and not model.built:
        model.build_from_shape(shape)
    return model


# ---------------------------------------------------------------- functional graph
def functional_to_config(model) -> dict:
    """Layers (unique, in ``model.layers`` order, Inputs first) with the calls made on them."""
    node_index: dict[int, tuple[str, int]] = {}
    calls: dict[int, list] = {}
    order: list = []
    for layer in model._input_layers:
        order.append(layer)
        calls[id(layer)] = []
    for node in model._nodes:
        layer = node.layer
        if id(layer) not in calls:
            calls[id(layer)] = []
            order.append(layer)
        if isinstance(layer, InputLayer):
            node_index[id(node)] = (layer.name, 0)
            continue
        node_index[id(node)] = (layer.name, len(calls[id(layer)]))
        calls[id(layer)].append(node)

    def ref(t: SymbolicTensor):
        name, k = node_index[id(t.node)]
        return {_TENSOR: [name, k, t.index]}

    def encode(v, where):
        return map_structure(lambda x: ref(x) if isinstance(x, SymbolicTensor) else value_to_json(x, where),
                             v, leaf=lambda x: isinstance(x, SymbolicTensor))

    layers = []
    for layer in order:
        entry = layer_to_config(layer)
        entry_nodes = []
        for node in calls[id(layer)]:
            where = f"{layer_label(layer)} call"
            entry_nodes.append({"args": encode(list(node.args), where), "kwargs": encode(dict(node.kwargs), where)})
        layers.append({**entry, "name": layer.name, "inbound_nodes": entry_nodes})
    return {
        "name": model.name,
        "layers": layers,
        "input_layers": map_structure(ref, model._inputs_struct, leaf=lambda x: isinstance(x, SymbolicTensor)),
        "output_layers": map_structure(ref, model._outputs_struct, leaf=lambda x: isinstance(x, SymbolicTensor)),
    }


def functional_from_config(cfg: dict, custom_objects=None, where: str = "Model"):
    from ..models.functional import Model

    _check_keys(cfg, {"name", "layers", "input_layers", "output_layers"}, where)
    if not isinstance(cfg["layers"], list) or not cfg["layers"]:
        raise ModelFileError(f"{where}: 'layers' must be a non-empty list.")
    layers: dict[str, nn.Module] = {}
    pending: list[tuple[str, int, dict]] = []
    produced: dict[tuple[str, int], Any] = {}
    for i, entry in enumerate(cfg["layers"]):
        if not isinstance(entry, dict):
            raise ModelFileError(f"{where}: layer {i} must be a dict, got {_short(entry)}.")
        extra = set(entry) - {"class_name", "config", "build_config", "name", "inbound_nodes"}
        missing = {"class_name", "config", "name", "inbound_nodes"} - set(entry)
        if extra or missing:
            raise ModelFileError(f"{where}: layer {i} has " + (f"unexpected field(s) {sorted(extra)}" if extra
                                 else f"no field(s) {sorted(missing)}") + ".")
        name = entry["name"]
        if name in layers:
            raise ModelFileError(f"{where}: two layers are named {name!r}.")
        if entry["class_name"] == "InputLayer":
            try:
                sym = Input(**entry["config"])
            except (TypeError, ValueError) as e:
                raise ModelFileError(f"{where}: layer {i} (InputLayer {name!r}): {e}") from e
            layers[name] = sym.node.layer
            produced[(name, 0)] = sym
            continue
        sub = {k: v for k, v in entry.items() if k in ("class_name", "config", "build_config")}
        layers[name] = layer_from_config(sub, custom_objects, f"{where} > layer {i}")
        if not isinstance(entry["inbound_nodes"], list):
            raise ModelFileError(f"{where}: layer {i} {name!r}: inbound_nodes must be a list.")
        for k, call in enumerate(entry["inbound_nodes"]):
            if not isinstance(call, dict) or set(call) != {"args", "kwargs"}:
                raise ModelFileError(f"{where}: layer {name!r} call {k} must be {{'args': [...], 'kwargs': {{...}}}}.")
            pending.append((name, k, call))

    def lookup(r, ctx):
        if not (isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
                and isinstance(r[1], int) and isinstance(r[2], int)):
            raise ModelFileError(f"{ctx}: a tensor reference must be [layer_name, node_index, tensor_index], got {r!r}.")
        key = (r[0], r[1])
        if key not in produced:
            raise KeyError(key)
        outs = flatten(produced[key], leaf=lambda x: isinstance(x, SymbolicTensor))
        if not 0 <= r[2] < len(outs):
            raise ModelFileError(f"{ctx}: tensor {r!r} does not exist (the call has {len(outs)} output(s)).")
        return outs[r[2]]

    def decode(v, ctx):
        if isinstance(v, dict) and set(v) == {_TENSOR}:
            return lookup(v[_TENSOR], ctx)
        if isinstance(v, list):
            return [decode(x, ctx) for x in v]
        if isinstance(v, dict):
            if set(v) in ({_FUNCTION}, {_ACTIVATION}, {"__float__"}) or ("class_name" in v and "config" in v):
                return value_from_json(v, custom_objects, ctx)
            return {k: decode(x, ctx) for k, x in v.items()}
        return v

    while pending:
        progressed = False
        for item in list(pending):
            name, k, call = item
            ctx = f"{where} > layer {name!r} call {k}"
            try:
                args = decode(call["args"], ctx)
                kwargs = decode(call["kwargs"], ctx)
            except KeyError:
                continue  # an input is not computed yet
            if not isinstance(args, list) or not args or not isinstance(kwargs, dict):
                raise ModelFileError(f"{ctx}: args must be a non-empty list and kwargs a dict.")
            try:
                produced[(name, k)] = layers[name](*args, **kwargs)
            except (TypeError, ValueError) as e:
                raise ModelFileError(f"{ctx}: calling the layer on its saved inputs failed: {e}") from e
            pending.remove(item)
            progressed = True
        if not progressed:
            name, k, call = pending[0]
            raise ModelFileError(f"{where}: layer {name!r} call {k} refers to a tensor that no layer produces "
                                 f"(or the graph has a cycle).")

    def outputs(struct, what):
        if isinstance(struct, dict) and set(struct) == {_TENSOR}:
            try:
                return lookup(struct[_TENSOR], f"{where} {what}")
            except KeyError as e:
                raise ModelFileError(f"{where}: {what} refers to {struct[_TENSOR]!r}, which no layer produces.") from e
        if isinstance(struct, list):
            return [outputs(s, what) for s in struct]
        if isinstance(struct, dict):
            return {k: outputs(s, what) for k, s in struct.items()}
        raise ModelFileError(f"{where}: {what} must be tensor references, got {_short(struct)}.")

    try:
        return Model(outputs(cfg["input_layers"], "input_layers"), outputs(cfg["output_layers"], "output_layers"),
                     name=cfg["name"])
    except (TypeError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{where}: cannot rebuild the model: {e}") from e


def _check_keys(cfg, expected: set, where: str) -> None:
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{where}: config must be a dict, got {_short(cfg)}.")
    missing, extra = expected - set(cfg), set(cfg) - expected
    if missing:
        raise ModelFileError(f"{where}: config lacks field(s) {sorted(missing)}.")
    if extra:
        raise ModelFileError(f"{where}: config has unexpected field(s) {sorted(extra)}.")


def _short(v) -> str:
    s = repr(v)
    return s if len(s) < 80 else s[:77] + "..."


__all__ = ["FUNCTION_REGISTRY", "function_reference", "functional_from_config", "functional_to_config",
           "layer_from_config", "layer_to_config", "register_function"]
