"""``model.summary()``: each layer's output shape (batch as None) and parameter count, as Keras prints."""
from __future__ import annotations

from torch import nn

from ..errors import fmt_shape
from ..layers.base import Layer
from ..utils import flatten
from .symbolic import InputLayer


def _params(layer: nn.Module) -> tuple[int, int]:
    ws = layer.weights if isinstance(layer, Layer) else list(layer.parameters())
    total = sum(w.numel() for w in ws)
    trainable = sum(w.numel() for w in ws if w.requires_grad)
    return total, trainable


def _label(layer) -> str:
    name = getattr(layer, "name", None) or type(layer).__name__.lower()
    return f"{name} ({type(layer).__name__})"


def _shape_text(shape) -> str:
    if isinstance(shape, list):
        return ", ".join(fmt_shape(s) for s in shape)
    return fmt_shape(shape)


def rows(model) -> list[tuple[str, str, int, str]]:
    """(layer label, output shape, params, connected-to) for each layer, in running order."""
    from .functional import Model
    from .sequential import Sequential

    out = []
    if isinstance(model, Sequential):
        if not model.built:
            raise ValueError(
                f"{type(model).__name__}: summary() needs the model built. Give the first layer "
                f"input_shape=(...), start with Input(shape=...), or call the model on a batch first."
            )
        for layer, shape in zip(model.layers, model.layer_shapes):
            out.append((_label(layer), _shape_text(shape), _params(layer)[0], ""))
        return out
    if isinstance(model, Model) and model._functional:
        seen = set()
        for node in model._nodes:
            layer = node.layer
            shapes = [t.shape for t in flatten(node.outputs)]
            shape = shapes[0] if len(shapes) == 1 else shapes
            src = ", ".join(sorted({t.node.layer.name or "?" for t in node.inbound}))
            params = 0 if (id(layer) in seen or isinstance(layer, InputLayer)) else _params(layer)[0]
            seen.add(id(layer))
            out.append((_label(layer), _shape_text(shape), params, src))
        return out
    for layer in model.layers:
        shape = getattr(layer, "_build_input_shape", None)
        out.append((_label(layer), "?" if shape is None else "?", _params(layer)[0], ""))
    return out


def summary_text(model, line_length: int = 90) -> str:
    table = rows(model)
    functional = any(r[3] for r in table)
    widths = [40, 28, 12] + ([max(line_length - 80, 20)] if functional else [])
    heads = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])

    def fmt(cells):
        parts = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            c = str(c)
            if len(c) > w - 1:
                c = c[: w - 2] + "…"
            parts.append(c.rjust(w - 1) + " " if i == 2 else c.ljust(w))
        return " " + "".join(parts).rstrip()

    total = sum(_params(layer)[0] for layer in _unique_layers(model))
    trainable = sum(_params(layer)[1] for layer in _unique_layers(model))
    width = sum(widths)
    lines = [f'Model: "{model.display_name}"', "_" * width, fmt(heads), "=" * width]
    for r in table:
        lines.append(fmt(r if functional else r[:3]))
    lines += ["=" * width, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * width]
    return "\n".join(lines)


def _unique_layers(model):
    seen, out = set(), []
    for layer in model.layers:
        if id(layer) not in seen and not isinstance(layer, InputLayer):
            seen.add(id(layer))
            out.append(layer)
    return out
