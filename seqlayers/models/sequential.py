"""Sequential: a plain stack of layers, each feeding the next."""
from __future__ import annotations

from torch import nn

from ..dtypes import dtype_name
from ..errors import ModelFileError, layer_label
from ..layers.base import Layer, _shape_by_running, shape_by_running
from ..serialization import (
    check_keys,
    layer_from_config,
    layer_to_config,
    shape_from_json,
    shape_to_json,
    with_build_config,
)
from .base import BaseModel
from .casting import cast_input, wanted_dtype
from .fusion import rnn_then_dense
from .symbolic import Input, InputLayer, SymbolicTensor

_FIELDS = {"name", "layers", "input_shape", "input_dtype"}


class Sequential(BaseModel):
    """A stack of layers: ``Sequential([LSTM(5, input_shape=(5, 1)), Dense(1)])`` or ``.add()``.

    The model builds as soon as the input shape is known (an ``input_shape=`` on the first layer,
    or an ``Input(shape=...)`` first), so ``model.parameters()`` is complete before an optimizer
    sees it; otherwise it builds from the first batch. Masks made by a layer (``Embedding(mask_zero
    =True)``, ``Masking``) flow to the layers after it. Plain ``torch.nn`` modules may be stacked too.

    Shape:
        input: whatever the first layer takes, e.g. ``(B, T, F)``; output: the last layer's.
    """

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._stack: list[nn.Module] = []
        self._names: set[str] = set()
        self._input_dtype = None
        self._symbolic = None  # (Input, output, number of layers) once model.input / model.output is read
        #: output shape of each layer once the model is built (for summary and explain)
        self.layer_shapes: list = []
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._stack)

    def _graph(self):
        """``(Input, output)`` of the model called once on an ``Input`` of its declared shape (made on first
        use): Keras's Sequential has this graph, so ``model.inputs`` / ``model.outputs`` (and ``input`` /
        ``output``, which Keras 3.15's torch backend lacks) and, after those, ``model.layers[i].output`` work
        as there (e.g. ``Model(model.inputs, model.layers[-2].output)``)."""
        if self._symbolic is None or self._symbolic[2] != len(self._stack):
            if self.declared_input_shape is None or not self._stack:
                raise AttributeError(self._no_node_message("input"))
            x = Input(batch_shape=self.declared_input_shape, dtype=self._input_dtype)
            out = x
            for layer in self._stack:
                out = layer(out)
            self._symbolic = (x, out, len(self._stack))
        return self._symbolic[0], self._symbolic[1]

    def _no_node_message(self, what: str) -> str:
        return (f"{layer_label(self)}: the model has no input shape yet, so it has no symbolic {what}. Start it "
                f"with Input(shape=...) or give the first layer input_shape=(...).")

    @property
    def input(self):
        """The ``Input`` tensor the model's graph starts from (Keras's ``model.input``)."""
        return self._graph()[0]

    @property
    def output(self):
        """The model's symbolic output (Keras's ``model.output``)."""
        return self._graph()[1]

    @property
    def inputs(self) -> list:
        """``[model.input]``, as Keras's Sequential lists it."""
        return [self._graph()[0]]

    @property
    def outputs(self) -> list:
        """``[model.output]``, as Keras's Sequential lists it."""
        return [self._graph()[1]]

    def add(self, layer) -> None:
        """Append a layer (or, first, an ``Input(shape=...)``)."""
        if isinstance(layer, SymbolicTensor):
            if self._stack:
                raise ValueError("Sequential: an Input(...) can only come first.")
            src = layer.node.layer if layer.node is not None else None
            if not isinstance(src, InputLayer):
                raise TypeError("Sequential: add() takes layers or an Input(...); got a layer's output tensor. "
                                "Use Model(inputs, outputs) for models built by calling layers.")
            self.declared_input_shape = layer.shape
            self._input_dtype = layer.dtype
            return
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"Sequential: expected a layer (torch.nn.Module), got {type(layer).__name__} {layer!r}. "
                f"Did you mean to call the layer class, e.g. Dense(1) rather than Dense?"
            )
        if isinstance(layer, BaseModel) and layer is self:
            raise ValueError("Sequential: a model cannot contain itself.")
        if not self._stack and self.declared_input_shape is None and isinstance(layer, Layer) \
                and layer.declared_input_shape is not None:
            self.declared_input_shape = layer.declared_input_shape
        if isinstance(layer, Layer) and layer.name is not None and layer.name in self._names:
            raise ValueError(
                f"Sequential: every layer needs a unique name (a saved model refers to its layers by name), "
                f"but {layer.name!r} is already the name of a layer in this model; got another "
                f"{layer_label(layer)}. Pass another name=..., or leave name unset to get a unique one."
            )
        self._register(layer, self._names)
        self._stack.append(layer)
        if self.declared_input_shape is not None:
            self.built = False
            self.build_from_shape(self.declared_input_shape)

    def pop(self) -> nn.Module:
        layer = self._stack.pop()
        self._names.discard(getattr(layer, "name", None) or type(layer).__name__.lower())
        for k, v in list(self._modules.items()):
            if v is layer:
                del self._modules[k]
        self.layer_shapes = self.layer_shapes[: len(self._stack)]
        return layer

    def build(self, input_shape):
        shape = tuple(input_shape)
        shapes = []
        dtype = self._input_dtype
        for layer in self._stack:
            if isinstance(layer, Layer):
                layer._check_shape(shape, built=layer.built)
                layer.build_from_shape(shape)
                if type(layer).compute_output_shape is Layer.compute_output_shape:
                    shape, dtype = _shape_by_running(layer, shape, dtype)
                else:
                    shape = layer.compute_output_shape(shape)
                    dtype = layer.compute_output_dtype(dtype)
            else:
                shape, dtype = shape_by_running(layer, shape, dtype)
            if isinstance(shape, list):  # e.g. return_state=True in the middle of a stack
                if layer is not self._stack[-1]:
                    raise ValueError(
                        f"Sequential: {layer_label(layer)} returns {len(shape)} tensors (return_state=True?), "
                        f"but the next layer takes one. Use the functional Model to route several outputs."
                    )
            shapes.append(shape)
        self.layer_shapes = shapes

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build_from_shape(input_shape)
        return self.layer_shapes[-1] if self.layer_shapes else tuple(input_shape)

    def call(self, inputs, training=None):
        if not self._stack:
            raise ValueError("Sequential: the model has no layers; add some with model.add(...).")
        x = cast_input(inputs, wanted_dtype(self._input_dtype, self._stack[:1]))  # as Keras casts to its Input
        stack, i = self._stack, 0
        infer = not (self.training if training is None else training)
        while i < len(stack):
            layer = stack[i]
            if isinstance(x, (list, tuple)) and layer is not stack[0]:
                raise ValueError(
                    f"Sequential: the layer before {layer_label(layer)} returned {len(x)} tensors "
                    f"(return_state=True?); Sequential passes one tensor between layers."
                )
            # an LSTM/GRU and the per-step Dense after it: one native call in inference (models/fusion.py)
            fused = rnn_then_dense(layer, stack[i + 1], x) if infer and i + 1 < len(stack) else None
            if fused is not None:
                x, i = fused, i + 2
                continue
            x = layer(x, training=training) if isinstance(layer, Layer) else layer(x)
            i += 1
        return x

    # -------------------------------------------------------------- saved config
    def config_entry(self) -> dict:
        """``{"class_name": "Sequential", "config": {name, layers, input_shape, input_dtype}}``."""
        cfg = {"name": self.name,
               "layers": [layer_to_config(layer) for layer in self.layers],
               "input_shape": shape_to_json(self.declared_input_shape),
               "input_dtype": dtype_name(self._input_dtype) if self._input_dtype is not None else None}
        return with_build_config(self, {"class_name": "Sequential", "config": cfg})

    @classmethod
    def from_config_entry(cls, config: dict, custom_objects: dict | None = None, where: str = "Sequential"):
        """Rebuild from ``config_entry()["config"]``: each layer from its own entry, then added."""
        check_keys(config, _FIELDS, where)
        if not isinstance(config["layers"], list):
            raise ModelFileError(f"{where}: 'layers' must be a list.")
        model = cls(name=config["name"])
        shape = shape_from_json(config["input_shape"])
        if config["input_dtype"] is not None:
            model.add(Input(batch_shape=shape, dtype=config["input_dtype"]))
        for i, entry in enumerate(config["layers"]):
            layer = layer_from_config(entry, custom_objects, f"{where} > layer {i}")
            try:
                model.add(layer)
            except (TypeError, ValueError) as e:
                raise ModelFileError(f"{where} > layer {i}: the saved layers do not fit together: {e}") from e
        if shape is not None and not model.built:
            model.build_from_shape(shape)
        return model


__all__ = ["Sequential"]
