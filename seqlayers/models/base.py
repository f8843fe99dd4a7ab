"""What every model (Sequential, functional, subclassed) shares.

A model is a ``Layer`` that holds layers. The Keras-style verbs are thin delegations, so each
concept keeps its own file:

* ``compile / fit / evaluate / predict / *_on_batch`` and the overridable ``train_step`` /
  ``test_step`` / ``predict_step``: inherited from ``seqlayers.training.trainer.Trainer``
* ``topology()`` -> ``seqlayers.models.topology``; ``explain()`` -> ``seqlayers.models.explain``
* ``save()`` -> ``seqlayers.io.saving`` through ``seqlayers.model_files`` (io sits above models: it
  rebuilds them), ``to_json()`` -> ``seqlayers.models.json_model``
* ``summary()`` -> ``seqlayers.models.summary``
"""
from __future__ import annotations

import torch
from torch import nn

from .. import model_files
from ..layers.base import Layer
from ..training.trainer import Trainer
from . import json_model
from .explain import explain, explanation
from .summary import summary_text
from .topology import detect


class BaseModel(Trainer, Layer):
    """Common base of ``Sequential`` and ``Model``."""

    _sets_output_mask = False  # the mask of a model's output is the one its last layer attached

    # ------------------------------------------------------------ layers
    @property
    def layers(self) -> list[nn.Module]:
        """The model's layers in the order they run (Input layers excluded)."""
        raise NotImplementedError

    def get_layer(self, name: str | None = None, index: int | None = None) -> nn.Module:
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if getattr(layer, "name", None) == name:
                return layer
        names = [getattr(layer, "name", None) for layer in layers]
        raise ValueError(f"{type(self).__name__}: no layer named {name!r}. Layers: {', '.join(map(str, names))}.")

    def _register(self, layer: nn.Module, taken: set[str]) -> None:
        """Give an unnamed layer ``snake_case(class)[_k]`` and register it as a child module."""
        if isinstance(layer, Layer):
            if layer.name is None:
                base = layer.default_name
                name, k = base, 0
                while name in taken:
                    k += 1
                    name = f"{base}_{k}"
                layer.name = name
            key = layer.name
        else:
            key = type(layer).__name__.lower()
        attr, k = _safe_attr(key), 0
        while attr in self._modules and self._modules[attr] is not layer \
                or (attr not in self._modules and hasattr(self, attr)):
            k += 1
            attr = f"{_safe_attr(key)}_{k}"
        if attr not in self._modules:
            self.add_module(attr, layer)
        taken.add(key)

    @property
    def weights(self):
        out = []
        for layer in self.layers:
            out.extend(layer.weights if isinstance(layer, Layer) else layer.parameters())
        return out

    def set_weights(self, weights) -> None:
        """Load weights in Keras order: each layer takes its share through its own ``set_weights``
        (a recurrent layer's ``weights`` are Keras-layout views of its own storage, so copying into
        them, as ``Layer.set_weights`` does, would be lost)."""
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            return super().set_weights(weights)  # raises the teaching error on the count
        i = 0
        for layer in self.layers:
            n = len(layer.weights) if isinstance(layer, Layer) else len(list(layer.parameters()))
            if isinstance(layer, Layer):
                if n:
                    layer.set_weights(weights[i:i + n])
            else:
                with torch.no_grad():
                    for p, w in zip(layer.parameters(), weights[i:i + n]):
                        p.copy_(torch.as_tensor(w, dtype=p.dtype))
            i += n

    def count_params(self) -> int:
        return sum(p.numel() for p in self.weights)

    def reset_states(self) -> None:
        """Zero the kept states of every stateful recurrent layer inside."""
        for m in self.modules():
            reset = getattr(m, "reset_states", None)
            if m is not self and callable(reset) and not isinstance(m, BaseModel):
                reset()

    # ------------------------------------------------------------ understanding
    def summary(self, line_length: int | None = None, print_fn=None) -> None:
        """Print each layer's output shape (batch as None) and parameter count, as Keras does.

        Args:
            line_length: the table's width in characters (default 90).
            print_fn: called with the whole table as one string instead of ``print``.

        Returns None, as Keras does; ``summary_text()`` returns the table as a string.
        """
        (print_fn or print)(self.summary_text(line_length))

    def summary_text(self, line_length: int | None = None) -> str:
        """The table that ``summary()`` prints, as a string.

        Examples:
            >>> model = Sequential([Dense(4, input_shape=(5, 3)), TimeDistributed(Dense(1))])
            >>> print(model.summary_text().splitlines()[-4])
            Total params: 21
        """
        return summary_text(self, 90 if line_length is None else line_length)

    def topology(self):
        """Which of the five sequence topologies this model is (see ``seqlayers.models.topology``)."""
        return detect(self)

    def explain(self, path=None, print_fn=None) -> None:
        """Print the shapes at each layer with the time axis named, masks, and the unrolled diagram.

        Args:
            path: also draw the unrolled diagram into this image file (PNG, SVG or PDF by the
                suffix; needs the ``plots`` extra).
            print_fn: called with the whole text as one string instead of ``print``.

        Returns None; ``explain_text()`` returns the text (which Jupyter displays with the picture).
        """
        explain(self, path=path, print_fn=print_fn)

    def explain_text(self):
        """The text that ``explain()`` prints, as a ``str`` (an ``Explanation``: in Jupyter it is
        displayed as the text and the unrolled picture).

        Examples:
            >>> model = Sequential([LSTM(8, input_shape=(4, 2)), Dense(1)])
            >>> print(model.explain_text().splitlines()[0])
            Model "sequential...": many-to-one: 4 input steps -> one output (via LSTM 'lstm...')
        """
        return explanation(self)

    # ------------------------------------------------------------ saving (seqlayers.io)
    def save(self, path, **kwargs):
        """Write the model to ``path`` (see ``seqlayers.io.saving.save_model`` for the formats)."""
        return model_files.save_model(self, path, **kwargs)

    def save_weights(self, filepath, overwrite: bool = True):
        """The weights only, in the format the suffix names: ``.weights.h5`` (Keras's HDF5 layout, which
        Keras's ``load_weights`` reads) or ``.safetensors`` (ours); see ``seqlayers.io.weights_file``."""
        return model_files.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, **kwargs) -> None:
        """Weights from a ``.weights.h5`` (ours or Keras's) or ``.safetensors`` file into this model."""
        model_files.load_weights(self, filepath)

    def to_json(self, **kwargs) -> str:
        """The architecture as a JSON string; ``seqlayers.models.model_from_json`` rebuilds it."""
        return json_model.model_to_json(self, **kwargs)


def _safe_attr(name: str) -> str:
    out = "".join(c if (c.isalnum() or c == "_") else "_" for c in name)
    return out if out and not out[0].isdigit() else f"layer_{out}"
