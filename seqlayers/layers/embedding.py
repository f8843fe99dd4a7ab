"""Embedding (token ids to vectors, optional padding mask) and Masking (skip padded steps)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import layer_label
from .base import InputSpec, Layer
from .core import check_positive_int


class Embedding(Layer):
    """Turn integer ids into dense vectors: ``embeddings[ids]``.

    Args:
        input_dim: V, the vocabulary size (ids are ``0 .. V-1``).
        output_dim: D, the vector size.
        embeddings_initializer: Keras initializer name (default ``"uniform"``, U(-0.05, 0.05)).
        mask_zero: id 0 is padding: the output carries a mask ``ids != 0`` that recurrent layers,
            losses and metrics respect. (So real ids start at 1 and V counts the padding id.)
        input_length: accepted for Keras 2 compatibility; the length is taken from the data.
        weights: initial embeddings, a ``(V, D)`` matrix or ``[matrix]`` (Keras's form, e.g. pretrained
            word vectors); not part of the config (the saved weights carry them).
        embeddings_regularizer: a penalty on the embeddings, listed in ``layer.losses``.
        embeddings_constraint: a projection applied after each optimizer step.

    Ids may be integers, or floats with whole values (cast to int64, as Keras casts them); a
    fractional id such as 0.3 is an error.

    Shape:
        input: ``(B, T)`` integer ids (any rank: ``(B, ...)``)
        output: ``(B, T, D)``; mask ``(B, T)`` when ``mask_zero``
        weights: embeddings ``(V, D)``.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 input_length=None, weights=None, embeddings_regularizer=None, embeddings_constraint=None,
                 **kwargs):
        self._config.pop("weights", None)  # arrays: given once, saved with the weights, not the config
        super().__init__(**kwargs)
        self.input_dim = check_positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = check_positive_int("Embedding", "output_dim", output_dim)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.embeddings = self.add_weight((input_dim, output_dim), embeddings_initializer,
                                          regularizer=embeddings_regularizer, constraint=embeddings_constraint,
                                          name="embeddings")
        self.input_spec = InputSpec(min_ndim=1, dtype="int", expected="integer ids of shape (batch, time)")
        if weights is not None:
            self.set_weights(weights if isinstance(weights, list) and len(weights) == 1 else [weights])

    def _require_built(self, what):  # the weights depend on the arguments only
        pass

    def _check_ids(self, ids: torch.Tensor) -> None:
        if ids.device.type != "cpu" or ids.numel() == 0 or torch.compiler.is_compiling():
            return  # (under torch.compile the check would need the ids' values: a graph break)
        lo, hi = (int(v) for v in torch.aminmax(ids))  # one pass over the ids, not two
        if lo < 0 or hi >= self.input_dim:
            bad = hi if hi >= self.input_dim else lo
            raise ValueError(
                f"{layer_label(self)}: expected ids in [0, {self.input_dim - 1}] (input_dim={self.input_dim}), "
                f"got id {bad}. Make input_dim the vocabulary size + 1 when id 0 is padding, or map "
                f"unknown words to a reserved id."
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return inputs != 0

    def call(self, inputs):
        self._check_ids(inputs)
        return F.embedding(inputs.long() if inputs.dtype != torch.long else inputs, self.embeddings)


class Masking(Layer):
    """Mark time steps whose features all equal ``mask_value`` as padding, and zero them.

    Recurrent layers after it skip those steps (state carried over), and losses ignore them.

    Shape:
        input and output: ``(B, T, F)``; output mask ``(B, T)`` = ``any(x != mask_value, axis=-1)``.
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)
        self.input_spec = InputSpec(min_ndim=3, dtype="float", expected="input of shape (batch, time, features)",
                                    hint="Masking looks for padded time steps; add a feature axis, "
                                         "e.g. x[..., None] for a univariate series.")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return (inputs != self.mask_value).any(dim=-1)

    def call(self, inputs):
        keep = (inputs != self.mask_value).any(dim=-1, keepdim=True)  # (B, T, 1)
        return inputs * keep.to(inputs.dtype)


__all__ = ["Embedding", "Masking"]
