"""PositionEmbedding: a learned vector per position along one axis (keras_hub's PositionEmbedding).

    pos = PositionEmbedding(4, output_dim=8)(x)            # x (B, 4, F) -> (B, 4, 8): row t is table[t]
    chan = PositionEmbedding(7, axis=1, output_dim=8)(q)   # q (B, 7, 4, F) -> (B, 7, 4, 8): one per channel

The input's values are not read, only its shape: the output is the table broadcast over every other
axis. With the defaults (``axis=-2``, the features of the input) it is keras_hub's layer: position
``t`` of a ``(B, T, F)`` input gets ``table[t]``, and ``x + PositionEmbedding(T)(x)`` adds learned
positions. ``axis`` and ``output_dim`` let it index another axis (a channel id, a segment id) with
vectors of their own size, as the queries of a parallel decoder need.
"""
from __future__ import annotations

from .. import initializers
from ..errors import layer_label
from .base import InputSpec, Layer
from .core import check_positive_int


class PositionEmbedding(Layer):
    """A learned ``(sequence_length, D)`` table, row ``i`` for the ``i``-th entry along ``axis``.

    Args:
        sequence_length: the most positions along ``axis`` (an input may have fewer: the first
            rows of the table are used).
        axis: the axis whose index picks the row (default -2, the time axis of ``(B, T, F)``); not
            the batch axis and not the last axis.
        output_dim: D, the vector size; default ``None``: the input's last axis (keras_hub).
        embeddings_initializer: a Keras initializer name (default ``"glorot_uniform"``, keras_hub's).

    Shape:
        input: ``(B, ..., F)`` with at least 3 axes; only its shape is read.
        output: the input's shape with the last axis ``D``; ``out[..., i, ..., :] = table[i]`` for
        index ``i`` on ``axis``, the same for every other index.
        weights: embeddings ``(sequence_length, D)``.
    """

    def __init__(self, sequence_length, axis=-2, output_dim=None, embeddings_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = check_positive_int("PositionEmbedding", "sequence_length", sequence_length)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"PositionEmbedding: axis must be an integer, got {axis!r}.")
        self.axis = axis
        self.output_dim = None if output_dim is None else check_positive_int("PositionEmbedding", "output_dim",
                                                                             output_dim)
        self.embeddings_initializer = embeddings_initializer
        initializers.get(embeddings_initializer, "PositionEmbedding")
        self.input_spec = InputSpec(min_ndim=3, expected="input of shape (batch, ..., features) with at least 3 axes")

    def _axis(self, ndim: int) -> int:
        a = self.axis % ndim if -ndim <= self.axis < ndim else None
        if a is None or a in (0, ndim - 1):
            raise ValueError(f"{layer_label(self)}: axis {self.axis} must name an axis between the batch axis and "
                             f"the last (features) axis of an input with {ndim} dimensions. Use axis=-2 for the "
                             f"time axis of (batch, time, features).")
        return a

    def build(self, input_shape):
        self._axis(len(input_shape))
        D = self.output_dim or input_shape[-1]
        if D is None:
            raise ValueError(f"{layer_label(self)}: the input's last axis is unknown, got {tuple(input_shape)}; "
                             f"give output_dim.")
        self.embeddings = self.add_weight((self.sequence_length, D), self.embeddings_initializer, name="embeddings")

    def compute_output_shape(self, input_shape):
        a = self._axis(len(input_shape))
        n = input_shape[a]
        if n is not None and n > self.sequence_length:
            raise self._too_long(n, a)
        return tuple(input_shape[:-1]) + (self.output_dim or input_shape[-1],)

    def _too_long(self, n: int, a: int) -> ValueError:
        return ValueError(f"{layer_label(self)}: axis {a} has {n} entries but the table has sequence_length="
                          f"{self.sequence_length} rows. Build the layer with sequence_length >= {n}.")

    def call(self, inputs):
        ndim = inputs.dim()
        a = self._axis(ndim)
        n = inputs.shape[a]
        if n > self.sequence_length:
            raise self._too_long(n, a)
        table = self.embeddings[:n]  # (n, D)
        view = [1] * (ndim - 1) + [table.shape[-1]]
        view[a] = n
        shape = list(inputs.shape[:-1]) + [table.shape[-1]]
        return table.reshape(view).expand(shape)  # (n, D) -> (1, .., n, .., 1, D) -> (B, .., n, .., D)


__all__ = ["PositionEmbedding"]
