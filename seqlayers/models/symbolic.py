"""Symbolic tensors for the functional API: ``Input(shape=...)`` and layers called on it.

``x = Input(shape=(T, F))`` returns a ``SymbolicTensor`` of shape ``(None, T, F)``. Calling a layer
on symbolic tensors builds the layer from their shapes and returns symbolic outputs that remember
the call (a ``Node``: the layer, its arguments, its outputs). ``Model(inputs, outputs)`` walks these
nodes back from the outputs to run them in order on real tensors.
"""
from __future__ import annotations

import inspect
from typing import Any

import torch

from ..dtypes import dtype_name, parse_dtype
from ..errors import fmt_shape
from ..layers.base import (
    _STANDIN,
    _STANDIN_2,
    Layer,
    SymbolicValue,
    _shape_by_running,
    get_mask,
    unknown_sizes_back,
    zeros_at,
)
from ..serialization import layer_entry
from ..utils import flatten, map_structure


class Node:
    """One call of a layer in a functional graph: ``outputs = layer(*args, **kwargs)``."""

    def __init__(self, layer, args: tuple, kwargs: dict, outputs):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        # the layer remembers its calls (Keras's _inbound_nodes): layer.input / layer.output read the first
        layer.__dict__.setdefault("_inbound_nodes", []).append(self)

    @property
    def inbound(self) -> list["SymbolicTensor"]:
        return [t for t in flatten((self.args, self.kwargs)) if isinstance(t, SymbolicTensor)]

    def __repr__(self):
        return f"Node({type(self.layer).__name__} {self.layer.display_name})"


class SymbolicTensor(SymbolicValue):
    """A placeholder tensor while a functional model is defined.

    Attributes:
        shape: batch axis first, ``None`` where the size is not known (always the batch axis).
        dtype: a ``torch.dtype``.
        node: the ``Node`` that produced it; ``index`` is its position among the node's outputs.
    """

    def __init__(self, shape, dtype=torch.float32, node: Node | None = None, index: int = 0, name: str | None = None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        src = f", from {self.node.layer.display_name}" if self.node is not None else ""
        return f"<SymbolicTensor shape={fmt_shape(self.shape)} dtype={dtype_name(self.dtype)}{src}>"

    def __bool__(self):
        raise TypeError(
            "A symbolic tensor (from Input(...)) has no value to test while the model is being "
            "defined. Use it only as a layer input; put value-dependent logic inside a layer's call."
        )

    __hash__ = object.__hash__

    @staticmethod
    def apply_layer(layer: Layer, args: tuple, kwargs: dict):
        return symbolic_call(layer, args, kwargs)

    def keras_mask(self):
        """The mask this tensor will carry, as a symbolic ``(B, T)`` tensor (a ``MaskOf`` call; usable
        as a model output, as Keras's ``get_keras_mask``), or None when the layers before it give none.
        Whether there is one is found by running those layers on zeros at the stand-in sizes."""
        mask = get_mask(_standin_value(self, {}))
        if not isinstance(mask, torch.Tensor):
            return None
        return symbolic_call(MaskOf(rank=mask.dim()), (self,), {})


def _standin_value(t: SymbolicTensor, memo: dict) -> Any:
    """``t`` computed on zeros (unknown sizes at the stand-in) by the layers before it, masks attached."""
    if id(t) in memo:
        return memo[id(t)]
    node = t.node
    if node is None or isinstance(node.layer, InputLayer):
        value = zeros_at(t.shape, t.dtype, _STANDIN)
    else:
        def real(x):
            return _standin_value(x, memo) if _is_sym(x) else x

        with torch.no_grad():
            out = node.layer(*map_structure(real, node.args, leaf=_is_sym),
                             **map_structure(real, node.kwargs, leaf=_is_sym))
        value = flatten(out)[t.index] if isinstance(node.outputs, list) else out
    memo[id(t)] = value
    return value


class InputLayer(Layer):
    """The source of a functional model's input. Made by ``Input``; has no weights.

    Shape:
        input and output: ``(B, *shape)``.
    """

    def __init__(self, shape=None, batch_size=None, dtype="float32", name=None, batch_shape=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input: give shape=(...) for one sample, e.g. Input(shape=(timesteps, features)).")
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            batch_shape = (batch_size,) + shape
        self.batch_shape = tuple(None if d is None else int(d) for d in batch_shape)
        if any(d is not None and d < 0 for d in self.batch_shape[1:]):  # 0 (an empty axis) is a size, as Keras
            raise ValueError(f"Input: every size in shape must be a positive integer, 0 (an empty axis) or None "
                             f"(unknown), got {fmt_shape(self.batch_shape[1:])}. Use None for a variable length, "
                             f"e.g. Input(shape=(None, features)).")
        self.input_dtype = parse_dtype(dtype, "Input")
        self.built = True
        self._build_input_shape = self.batch_shape

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": dtype_name(self.input_dtype), "name": self.name}

    def config_entry(self) -> dict:
        """``{"class_name": "InputLayer", "config": {batch_shape, dtype, name}}`` (no build_config)."""
        return layer_entry(self, self.get_config(), build=False)

    @classmethod
    def from_config_entry(cls, config: dict, custom_objects: dict | None = None, where: str = "InputLayer"):
        return cls(**config)

    def compute_output_shape(self, input_shape):
        return self.batch_shape

    def call(self, inputs):
        return inputs


class MaskOf(Layer):
    """The mask its input carries, as a boolean tensor: what ``get_mask(x)`` of a symbolic ``x`` adds
    to a functional graph (a model may output it, as Keras's ``get_keras_mask``). All True where
    the input carries no mask.

    Args:
        rank: the mask's rank (2 for a sequence mask).

    Shape:
        input: ``(B, T, ...)``; output: ``(B, T)`` (its first ``rank`` sizes), bool.
    """

    supports_masking = True

    def __init__(self, rank=2, **kwargs):
        super().__init__(**kwargs)
        self.rank = int(rank)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[: self.rank])

    def compute_output_dtype(self, input_dtype):
        return torch.bool

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, mask=None):
        if mask is None:
            return torch.ones(inputs.shape[: self.rank], dtype=torch.bool, device=inputs.device)
        return mask.bool()


def Input(shape=None, batch_size=None, dtype="float32", name=None, batch_shape=None, **kwargs) -> SymbolicTensor:
    """A symbolic input of shape ``(None, *shape)`` for the functional API or a ``Sequential``.

    ``dtype`` is a name (``"float32"``, ``"int64"``...) or a ``torch.dtype``; token ids for an
    ``Embedding`` use an integer dtype.
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape, **kwargs)
    out = SymbolicTensor(layer.batch_shape, layer.input_dtype, name=name)
    out.node = Node(layer, (), {}, out)
    return out


def _is_sym(x) -> bool:
    return isinstance(x, SymbolicTensor)


def _shape_options(layer: Layer, kwargs: dict) -> dict:
    """The call options that ``compute_output_shape`` takes (``return_attention_scores``...)."""
    params = inspect.signature(layer.compute_output_shape).parameters
    return {k: v for k, v in kwargs.items() if k in params and not _is_sym(v)}


def _shape_by_running_call(layer: Layer, args: tuple, kwargs: dict):
    """Output shapes and dtypes of a call with several symbolic tensors (positional or keyword):
    the layer runs on zeros at two stand-in sizes for the unknown sizes; a size that differs
    between the two runs is unknown (None)."""
    symbolic = [t for t in flatten((args, kwargs)) if _is_sym(t)]
    unknown = any(d is None for t in symbolic for d in t.shape[1:])
    batch = symbolic[0].shape[0] if symbolic[0].shape else None

    def run(standin):
        def zeros(t):
            return zeros_at(t.shape, t.dtype, standin) if _is_sym(t) else t

        with torch.no_grad():
            out = layer(*map_structure(zeros, args, leaf=_is_sym), **map_structure(zeros, kwargs, leaf=_is_sym))
        return list(out) if isinstance(out, (list, tuple)) else out

    was_training = layer.training
    layer.eval()
    try:
        out = run(_STANDIN)
        again = run(_STANDIN_2) if unknown else None
    finally:
        layer.train(was_training)
    return unknown_sizes_back(out, again, batch), map_structure(lambda t: t.dtype, out)


def symbolic_call(layer: Layer, args: tuple, kwargs: dict):
    """Build ``layer`` from the symbolic inputs' shapes and return symbolic outputs."""
    if not args and not any(_is_sym(t) for t in flatten(kwargs)):
        raise TypeError(f"{type(layer).__name__}: called with no inputs.")
    if args:
        inputs = args[0]
        if not all(_is_sym(t) for t in flatten(inputs)):
            raise TypeError(
                f"{type(layer).__name__}: mixed symbolic (Input) and real tensors in one call. Every input "
                f"of a layer in a functional model must come from Input(...) or another layer."
            )
        shapes = map_structure(lambda t: t.shape, inputs)
        dtypes = map_structure(lambda t: t.dtype, inputs)
        layer._check_shape(shapes, built=layer.built)
    if not args or any(_is_sym(t) for t in flatten((args[1:], kwargs))):
        # several symbolic tensors, or keyword ones: e.g. MultiHeadAttention(query, value) / (query=, value=)
        out_shapes, out_dtypes = _shape_by_running_call(layer, args, kwargs)
    elif type(layer).compute_output_shape is Layer.compute_output_shape:
        out_shapes, out_dtypes = _shape_by_running(layer, shapes, dtypes)
    else:
        if not layer.built:
            layer.build_from_shape(shapes)
        out_shapes = layer.compute_output_shape(shapes, **_shape_options(layer, kwargs))
        first_dtype = flatten(dtypes)[0] if flatten(dtypes) else torch.float32
        out_dtypes = None
        out_dtype = layer.compute_output_dtype(first_dtype)
    shape_list = _shape_leaves(out_shapes)  # a shape is a tuple; lists nest (RNN(stack)'s per-cell states)
    dtype_list = [out_dtype] * len(shape_list) if out_dtypes is None else flatten(out_dtypes)
    outs = [SymbolicTensor(s, d, index=i) for i, (s, d) in enumerate(zip(shape_list, dtype_list))]
    result: Any = _nest_like(out_shapes, iter(outs))
    node = Node(layer, args, kwargs, result)
    for o in outs:
        o.node = node
    return result


def _shape_leaves(shapes) -> list:
    """The shapes of a (nested) list of output shapes, in order."""
    return [leaf for s in shapes for leaf in _shape_leaves(s)] if isinstance(shapes, list) else [shapes]


def _nest_like(shapes, leaves):
    """``leaves`` (an iterator) arranged as the (nested) list ``shapes`` is."""
    return [_nest_like(s, leaves) for s in shapes] if isinstance(shapes, list) else next(leaves)

