"""The functional Model: layers called on ``Input`` tensors, several inputs and outputs, shared layers."""
from __future__ import annotations

import torch

from ..errors import ModelFileError, fmt_shape, layer_label
from ..layers.base import Layer
from ..serialization import with_build_config
from ..utils import flatten, map_structure
from .base import BaseModel
from .casting import cast_input, wanted_dtype
from .functional_config import graph_from_config, graph_to_config
from .symbolic import InputLayer, Node, SymbolicTensor


def _is_sym(x) -> bool:
    return isinstance(x, SymbolicTensor)


def topological_nodes(outputs) -> list[Node]:
    """Every node the outputs depend on, each after the nodes it depends on."""
    order: list[Node] = []
    seen: set[int] = set()
    for out in flatten(outputs, leaf=_is_sym):
        stack = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if node is None or (id(node) in seen and not expanded):
                continue
            if expanded:
                if id(node) not in seen:
                    seen.add(id(node))
                    order.append(node)
                continue
            stack.append((node, True))
            for t in reversed(node.inbound):
                if id(t.node) not in seen:
                    stack.append((t.node, False))
    return order


def _check_unique_names(layers, taken: set) -> None:
    """Add the names of the named layers to ``taken``; two layers of one name are refused (as Keras
    does), since a saved model refers to its layers by name and could not be loaded back."""
    for layer in layers:
        if not isinstance(layer, Layer) or layer.name is None:
            continue
        if layer.name in taken:
            raise ValueError(
                f"Model: the name {layer.name!r} is used by two layers of the model ({layer_label(layer)} and "
                f"an earlier one); every layer needs a unique name, since a saved model refers to its layers by "
                f"name. Pass another name=... to one of them."
            )
        taken.add(layer.name)


def keras_order(model) -> list:
    """A functional model's layers in the order Keras 3 lists ``model.layers``, Inputs included, so that
    ``model.layers[i]`` is the same layer as in Keras (its programs index them: the keras-io seq2seq
    example takes the encoder LSTM as ``model.layers[2]``). Keras names the weight groups of a ``.keras`` file
    after this order (``dense``, ``dense_1``...),
    so it is reproduced here (``keras.src.ops.function.map_graph``): a depth-first walk from the
    outputs numbers the layers; layers are sorted by depth (longest path to an output) decreasing,
    then by that number. The mask operations Keras adds to its graph never change this order:
    they read the same tensor as the layer that makes the mask and feed a layer after it.
    """
    finished: set[int] = set()
    nodes: list = []
    op_index: dict[int, int] = {}
    layers: dict[int, object] = {}

    def walk(t):
        node = t.node
        if id(node) in finished:
            return
        if id(node.layer) not in op_index:
            op_index[id(node.layer)] = len(op_index)
            layers[id(node.layer)] = node.layer
        if not isinstance(node.layer, InputLayer):
            for parent in node.inbound:
                walk(parent)
        finished.add(id(node))
        nodes.append(node)

    for out in flatten(model._outputs_struct, leaf=lambda x: hasattr(x, "node")):
        walk(out)
    in_graph = {id(n) for n in nodes}
    node_depth: dict[int, int] = {}
    op_depth: dict[int, int] = {}
    for node in reversed(nodes):
        depth = node_depth.setdefault(id(node), 0)
        depth = max(depth, op_depth.get(id(node.layer), 0))
        op_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for parent in node.inbound:
            if id(parent.node) in in_graph:
                node_depth[id(parent.node)] = max(depth + 1, node_depth.get(id(parent.node), 0))
    for t in model.inputs:  # inputs no output depends on
        if id(t.node.layer) not in op_depth:
            op_depth[id(t.node.layer)] = 0
            op_index[id(t.node.layer)] = -1
            layers[id(t.node.layer)] = t.node.layer
    return [layers[k] for k in sorted(op_depth, key=lambda k: (-op_depth[k], op_index[k]))]


class Model(BaseModel):
    """A model from a graph of layer calls: ``Model(inputs, outputs)``.

    ``inputs`` and ``outputs`` are symbolic tensors (from ``Input`` and layer calls), or lists /
    dicts of them. Calling the model runs the layers in dependency order; call it with one tensor,
    a list in the order of ``inputs``, or a dict keyed by the inputs' names. A layer used twice
    shares its weights. Without ``inputs``/``outputs``, subclass it and define ``call`` (as in Keras).

    Shape:
        inputs: one tensor per ``Input``, e.g. ``(B, T, F)``; outputs: as ``outputs`` is nested.

    Examples:
        >>> x = Input(shape=(None,), dtype="int64")
        >>> e = Embedding(1000, 32, mask_zero=True)(x)
        >>> h = Bidirectional(LSTM(64, return_sequences=True))(e)
        >>> tags = TimeDistributed(Dense(17, activation="softmax"))(h)     # many-to-many
        >>> intent = Dense(7, activation="softmax")(LSTM(64)(h))          # many-to-one
        >>> model = Model(x, [tags, intent])
        >>> [tuple(y.shape) for y in model(torch.randint(1, 1000, (2, 9)))]
        [(2, 9, 17), (2, 7)]
    """

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._functional = inputs is not None or outputs is not None
        if not self._functional:
            return
        if inputs is None or outputs is None:
            raise ValueError("Model: give both inputs and outputs, e.g. Model(inputs=x, outputs=y).")
        for what, struct in (("inputs", inputs), ("outputs", outputs)):
            bad = [t for t in flatten(struct, leaf=_is_sym) if not _is_sym(t)]
            if bad:
                raise TypeError(
                    f"Model: {what} must be symbolic tensors from Input(...) and layer calls, got "
                    f"{type(bad[0]).__name__}. Build the graph with x = Input(shape=...); y = Dense(1)(x)."
                )
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs = flatten(inputs, leaf=_is_sym)
        self.outputs = flatten(outputs, leaf=_is_sym)
        for t in self.inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model: every input must come straight from Input(...); got {t!r}.")
        self._nodes = topological_nodes(outputs)
        given = {id(t.node) for t in self.inputs}
        for node in self._nodes:
            if isinstance(node.layer, InputLayer) and id(node) not in given:
                missing = node.layer.name or fmt_shape(node.layer.batch_shape)
                raise ValueError(
                    f"Model: an output depends on Input {missing}, which is not in inputs. "
                    f"Add it to inputs=[...]."
                )
        taken: set[str] = set()
        self._input_layers = [t.node.layer for t in self.inputs]
        named = {layer.name for layer in self._input_layers if layer.name is not None}
        k = 0
        for layer in self._input_layers:
            while layer.name is None:  # input_layer, input_layer_1, ...: the first free name (Inputs reused
                candidate = "input_layer" if k == 0 else f"input_layer_{k}"  # from a trained model keep theirs)
                k += 1
                if candidate not in named:
                    layer.name = candidate
                    named.add(candidate)
            if layer.name in taken:
                raise ValueError(f"Model: two inputs are named {layer.name!r}; every input needs a unique name "
                                 f"(fit and predict take dicts keyed by input name). Pass another name=... to Input.")
            taken.add(layer.name)
        self._layer_list: list = []
        for node in self._nodes:
            layer = node.layer
            if not isinstance(layer, InputLayer) and not any(layer is known for known in self._layer_list):
                self._layer_list.append(layer)
        _check_unique_names(self._layer_list, taken)  # named layers first, so unnamed ones avoid their names
        for layer in self._layer_list:
            self._register(layer, taken)
        self._layer_order = None
        self._input_dtypes = [wanted_dtype(t.dtype, [n.layer for n in self._nodes if any(i is t for i in n.inbound)])
                              for t in self.inputs]
        self.built = True
        self._build_input_shape = [t.shape for t in self.inputs]

    @property
    def layers(self):
        """The layers in Keras's order, the ``InputLayer``s included (as Keras's functional models list them)."""
        if not self._functional:
            return [m for m in self.children()]
        if self._layer_order is None:
            self._layer_order = keras_order(self)
        return list(self._layer_order)

    @property
    def input(self):
        """The model's ``Input`` tensor(s), nested as given to ``Model(inputs, ...)`` (Keras's ``model.input``)."""
        return self._inputs_struct if self._functional else super().input

    @property
    def output(self):
        """The model's output tensor(s), nested as given to ``Model(..., outputs)`` (Keras's ``model.output``)."""
        return self._outputs_struct if self._functional else super().output

    @property
    def input_names(self) -> list[str]:
        return [layer.name for layer in self._input_layers]

    @property
    def output_names(self) -> list[str]:
        if isinstance(self._outputs_struct, dict):
            return list(self._outputs_struct)
        return [t.node.layer.name for t in self.outputs]

    def compute_output_shape(self, input_shape):
        if self._functional:
            return map_structure(lambda t: t.shape, self._outputs_struct, leaf=_is_sym)
        return super().compute_output_shape(input_shape)

    def _match_inputs(self, inputs) -> list:
        n = len(self.inputs)
        if isinstance(inputs, dict):
            names = self.input_names
            missing = [k for k in names if k not in inputs]
            if missing:
                raise ValueError(f"Model: inputs dict lacks {missing}; expected keys {names}, got {list(inputs)}.")
            return [inputs[k] for k in names]
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != n:
                raise ValueError(
                    f"Model: expected {n} input{'s' if n != 1 else ''} ({', '.join(self.input_names)}), "
                    f"got {len(inputs)}. Pass a list in the order of the model's inputs."
                )
            return list(inputs)
        if n != 1:
            raise ValueError(
                f"Model: expected {n} inputs ({', '.join(self.input_names)}), got one tensor. "
                f"Pass a list [x1, x2, ...] or a dict keyed by input name."
            )
        return [inputs]

    def forward(self, inputs, *args, **kwargs):
        if not self._functional:
            return super().forward(inputs, *args, **kwargs)
        if args:  # model(x1, x2) for a two-input model
            inputs = [inputs, *args]
        return super().forward(inputs, **kwargs)

    def call(self, inputs, training=None):
        if not self._functional:
            raise NotImplementedError("Model: a subclassed Model must define call(self, inputs, ...).")
        values: dict[int, torch.Tensor] = {}
        for sym, value, want in zip(self.inputs, self._match_inputs(inputs), self._input_dtypes):
            values[id(sym)] = cast_input(value, want)  # to the Input's dtype, as Keras casts
        resolve = lambda v: values[id(v)] if _is_sym(v) else v  # noqa: E731
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            if len(node.args) == 1 and not node.kwargs and _is_sym(node.args[0]) and _is_sym(node.outputs):
                # the common node: one tensor in, one tensor out; no nests to walk
                x = values[id(node.args[0])]
                out = node.layer(x, training=training) if isinstance(node.layer, Layer) and training is not None \
                    else node.layer(x)
                if isinstance(out, torch.Tensor):
                    values[id(node.outputs)] = out
                    continue
                for sym, value in zip(flatten(node.outputs, leaf=_is_sym), flatten(out)):
                    values[id(sym)] = value
                continue
            args = map_structure(resolve, node.args, leaf=_is_sym)
            kwargs = map_structure(resolve, node.kwargs, leaf=_is_sym)
            if isinstance(node.layer, Layer) and training is not None:
                kwargs["training"] = training
            out = node.layer(*args, **kwargs)
            for sym, value in zip(flatten(node.outputs, leaf=_is_sym), flatten(out)):
                values[id(sym)] = value
        return map_structure(lambda s: values[id(s)], self._outputs_struct, leaf=_is_sym)


    # -------------------------------------------------------------- saved config
    def config_entry(self) -> dict:
        """A functional model: ``{"class_name": "Model", "config": <its graph>}`` (see
        ``functional_config``); a subclassed model: its constructor arguments, as any layer."""
        if type(self) is not Model:
            return super().config_entry()
        if not self._functional:
            raise ValueError(f"{layer_label(self)}: an empty Model() has nothing to save.")
        return with_build_config(self, {"class_name": "Model", "config": graph_to_config(self)})

    @classmethod
    def from_config_entry(cls, config: dict, custom_objects: dict | None = None, where: str = "Model"):
        """Rebuild a functional model by calling its saved layers again on new ``Input`` tensors."""
        if cls is not Model:
            return super().from_config_entry(config, custom_objects, where)
        inputs, outputs = graph_from_config(config, custom_objects, where)
        try:
            return Model(inputs, outputs, name=config["name"])
        except ModelFileError:
            raise
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{where}: cannot rebuild the model: {e}") from e


__all__ = ["Model", "keras_order", "topological_nodes"]
