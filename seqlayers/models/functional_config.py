"""A functional model's saved config: its layers, each with the calls made on it, and back.

The config lists the layers (unique, in ``model.layers`` order, Inputs first), each with the calls
made on it (``inbound_nodes``, as in Keras's config), every symbolic tensor written as
``{"__tensor__": [layer_name, node_index, tensor_index]}``. ``Model.config_entry`` and
``Model.from_config_entry`` call these; the values inside go through ``seqlayers.serialization``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ModelFileError, layer_label
from ..serialization import (
    TENSOR,
    call_when_ready,
    check_keys,
    is_special_value,
    layer_from_config,
    layer_to_config,
    short,
    value_from_json,
    value_to_json,
)
from ..utils import flatten, map_structure
from .symbolic import Input, InputLayer, SymbolicTensor

_FIELDS = {"name", "layers", "input_layers", "output_layers"}
_LAYER_FIELDS = {"class_name", "config", "name", "inbound_nodes"}


def _is_sym(x) -> bool:
    return isinstance(x, SymbolicTensor)


# ---------------------------------------------------------------- writing
def _calls_by_layer(model) -> tuple[list, dict[int, list], dict[int, tuple[str, int]]]:
    """The layers in saving order, the calls (nodes) made on each, and each node's (layer, call index)."""
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
    return order, calls, node_index


def graph_to_config(model) -> dict:
    """Layers (unique, in ``model.layers`` order, Inputs first) with the calls made on them."""
    order, calls, node_index = _calls_by_layer(model)

    def ref(t: SymbolicTensor):
        name, k = node_index[id(t.node)]
        return {TENSOR: [name, k, t.index]}

    def encode(v, where):
        return map_structure(lambda x: ref(x) if _is_sym(x) else value_to_json(x, where), v, leaf=_is_sym)

    layers = []
    for layer in order:
        where = f"{layer_label(layer)} call"
        nodes = [{"args": encode(list(n.args), where), "kwargs": encode(dict(n.kwargs), where)}
                 for n in calls[id(layer)]]
        layers.append({**layer_to_config(layer), "name": layer.name, "inbound_nodes": nodes})
    return {
        "name": model.name,
        "layers": layers,
        "input_layers": map_structure(ref, model._inputs_struct, leaf=_is_sym),
        "output_layers": map_structure(ref, model._outputs_struct, leaf=_is_sym),
    }


# ---------------------------------------------------------------- reading
class _Graph:
    """The layers read so far, the calls still to make, and the symbolic outputs of those made."""

    def __init__(self, custom_objects, where: str):
        self.custom_objects = custom_objects
        self.where = where
        self.layers: dict[str, nn.Module] = {}
        self.pending: list[tuple[str, int, dict]] = []
        self.produced: dict[tuple[str, int], Any] = {}

    def add_layer(self, i: int, entry) -> None:
        where = self.where
        if not isinstance(entry, dict):
            raise ModelFileError(f"{where}: layer {i} must be a dict, got {short(entry)}.")
        extra = set(entry) - _LAYER_FIELDS - {"build_config"}
        missing = _LAYER_FIELDS - set(entry)
        if extra or missing:
            raise ModelFileError(f"{where}: layer {i} has " + (f"unexpected field(s) {sorted(extra)}" if extra
                                 else f"no field(s) {sorted(missing)}") + ".")
        name = entry["name"]
        if name in self.layers:
            raise ModelFileError(f"{where}: two layers are named {name!r}.")
        if entry["class_name"] == "InputLayer":
            try:
                sym = Input(**entry["config"])
            except (TypeError, ValueError) as e:
                raise ModelFileError(f"{where}: layer {i} (InputLayer {name!r}): {e}") from e
            assert sym.node is not None  # Input always records the node that makes it
            self.layers[name] = sym.node.layer
            self.produced[(name, 0)] = sym
            return
        sub = {k: v for k, v in entry.items() if k in ("class_name", "config", "build_config")}
        self.layers[name] = layer_from_config(sub, self.custom_objects, f"{where} > layer {i}")
        if not isinstance(entry["inbound_nodes"], list):
            raise ModelFileError(f"{where}: layer {i} {name!r}: inbound_nodes must be a list.")
        for k, call in enumerate(entry["inbound_nodes"]):
            if not isinstance(call, dict) or set(call) != {"args", "kwargs"}:
                raise ModelFileError(f"{where}: layer {name!r} call {k} must be {{'args': [...], 'kwargs': {{...}}}}.")
            self.pending.append((name, k, call))

    def lookup(self, r, ctx: str):
        """The symbolic tensor ``[layer_name, node_index, tensor_index]`` names; KeyError if not made yet."""
        if not (isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
                and isinstance(r[1], int) and isinstance(r[2], int)):
            raise ModelFileError(f"{ctx}: a tensor reference must be [layer_name, node_index, tensor_index], "
                                 f"got {r!r}.")
        key = (r[0], r[1])
        if key not in self.produced:
            raise KeyError(key)
        outs = flatten(self.produced[key], leaf=_is_sym)
        if not 0 <= r[2] < len(outs):
            raise ModelFileError(f"{ctx}: tensor {r!r} does not exist (the call has {len(outs)} output(s)).")
        return outs[r[2]]

    def decode(self, v, ctx: str):
        if isinstance(v, dict) and set(v) == {TENSOR}:
            return self.lookup(v[TENSOR], ctx)
        if isinstance(v, list):
            return [self.decode(x, ctx) for x in v]
        if is_special_value(v):
            return value_from_json(v, self.custom_objects, ctx)
        if isinstance(v, dict):
            return {k: self.decode(x, ctx) for k, x in v.items()}
        return v

    def _call(self, name: str, k: int, call: dict) -> bool:
        """Make one saved call if its inputs exist; False when they are not computed yet."""
        ctx = f"{self.where} > layer {name!r} call {k}"
        try:
            args = self.decode(call["args"], ctx)
            kwargs = self.decode(call["kwargs"], ctx)
        except KeyError:
            return False
        if not isinstance(args, list) or not args or not isinstance(kwargs, dict):
            raise ModelFileError(f"{ctx}: args must be a non-empty list and kwargs a dict.")
        try:
            self.produced[(name, k)] = self.layers[name](*args, **kwargs)
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{ctx}: calling the layer on its saved inputs failed: {e}") from e
        return True

    def run_calls(self) -> None:
        """Make the saved calls in an order where every input exists before it is used."""
        stuck = call_when_ready(self.pending, self._call)
        if stuck is not None:
            name, k, _ = stuck
            raise ModelFileError(f"{self.where}: layer {name!r} call {k} refers to a tensor that no layer "
                                 f"produces (or the graph has a cycle).")

    def endpoints(self, struct, what: str):
        """The model's inputs or outputs from their saved references."""
        where = self.where
        if isinstance(struct, dict) and set(struct) == {TENSOR}:
            try:
                return self.lookup(struct[TENSOR], f"{where} {what}")
            except KeyError as e:
                raise ModelFileError(f"{where}: {what} refers to {struct[TENSOR]!r}, which no layer produces.") from e
        if isinstance(struct, list):
            return [self.endpoints(s, what) for s in struct]
        if isinstance(struct, dict):
            return {k: self.endpoints(s, what) for k, s in struct.items()}
        raise ModelFileError(f"{where}: {what} must be tensor references, got {short(struct)}.")


def graph_from_config(cfg: dict, custom_objects=None, where: str = "Model") -> tuple[Any, Any]:
    """The (inputs, outputs) symbolic tensors of a saved functional model, its layers called again."""
    check_keys(cfg, _FIELDS, where)
    if not isinstance(cfg["layers"], list) or not cfg["layers"]:
        raise ModelFileError(f"{where}: 'layers' must be a non-empty list.")
    graph = _Graph(custom_objects, where)
    for i, entry in enumerate(cfg["layers"]):
        graph.add_layer(i, entry)
    graph.run_calls()
    return graph.endpoints(cfg["input_layers"], "input_layers"), graph.endpoints(cfg["output_layers"], "output_layers")


__all__ = ["graph_from_config", "graph_to_config"]
