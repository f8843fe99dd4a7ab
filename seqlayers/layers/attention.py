"""Attention over a sequence: Keras's ``Attention`` (dot-product, Luong) and ``AdditiveAttention`` (Bahdanau).

An encoder-decoder's decoder looks back at every encoder step instead of only the encoder's last
state: for each query step (decoder output) the layer scores every value step (encoder output),
turns the scores into weights with a softmax, and returns the weighted sum of the values.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import initializers
from ..errors import layer_label, shape_error
from ..utils import to_tensor
from .base import Layer


class _BaseAttention(Layer):
    """Shared call: scores -> mask -> softmax -> dropout -> weighted sum of values."""

    supports_masking = True

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"{type(self).__name__}: dropout must be a number in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        self.seed = seed

    def _split(self, inputs):
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            got = type(inputs).__name__ if not isinstance(inputs, (list, tuple)) else f"a list of {len(inputs)}"
            raise ValueError(
                f"{layer_label(self)}: expected a list [query, value] or [query, value, key] of tensors "
                f"shaped (batch, time, features), got {got}. In a decoder: "
                f"{type(self).__name__}()([decoder_outputs, encoder_outputs])."
            )
        q, v = inputs[0], inputs[1]
        return q, v, inputs[2] if len(inputs) == 3 else v

    def _check_mask(self, mask):
        """Keras's rule: ``mask`` is None or a list ``[query_mask, value_mask(, key_mask)]``."""
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)):
            raise ValueError(
                f"{layer_label(self)}: mask must be a list [query_mask, value_mask], got a "
                f"{type(mask).__name__}. Pass mask=[None, value_mask] to mask only the value steps."
            )
        if not 2 <= len(mask) <= 3:
            raise ValueError(
                f"{layer_label(self)}: mask must be a list of 2 or 3 masks [query_mask, value_mask(, "
                f"key_mask)], got a list of {len(mask)}. Use None for an input without mask."
            )
        return [None if m is None else to_tensor(np.asarray(m)) if not isinstance(m, torch.Tensor) else m
                for m in mask]

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape \
                or not isinstance(input_shape[0], (list, tuple)):
            self._split(None)
        for s in input_shape:
            if len(s) < 3:
                raise shape_error(self, "query, value (and key) of shape (batch, time, features) or "
                                        "(batch, ..., time, features)", s,
                                  "A recurrent layer feeding attention needs return_sequences=True.")

    def compute_output_shape(self, input_shape, return_attention_scores=False):
        q, v = input_shape[0], input_shape[1]
        k = input_shape[2] if len(input_shape) > 2 else v
        out = tuple(q[:-1]) + (v[-1],)
        return [out, tuple(q[:-1]) + (k[-2],)] if return_attention_scores else out

    def compute_mask(self, inputs, mask=None):
        mask = self._check_mask(mask)
        return None if mask is None else mask[0]

    def scores(self, query, key):  # (B, Tq, F), (B, Tv, F) -> (B, Tq, Tv)
        raise NotImplementedError

    def call(self, inputs, mask=None, training=None, return_attention_scores=False, use_causal_mask=False):
        q, v, k = self._split(inputs)
        mask = self._check_mask(mask)
        q_mask, v_mask = (mask[0], mask[1]) if mask is not None else (None, None)
        scores = self.scores(q, k)  # (B, ..., Tq, Tv)
        keep = None
        if v_mask is not None:
            keep = v_mask.bool().unsqueeze(-2)  # (B, ..., 1, Tv)
        if use_causal_mask:
            Tq, Tv = scores.shape[-2:]
            causal = torch.ones(Tq, Tv, dtype=torch.bool, device=scores.device).tril()
            keep = causal if keep is None else keep & causal
        if keep is not None:
            big = 65504.0 if scores.dtype == torch.float16 else 1.0e9
            scores = torch.where(keep, scores, scores - big)
        weights = torch.softmax(scores, dim=-1)
        if training and self.dropout > 0:
            weights = nn.functional.dropout(weights, self.dropout, training=True)
        out = weights @ v  # (B, ..., Tq, Tv) @ (B, ..., Tv, F) -> (B, ..., Tq, F)
        if q_mask is not None:
            out = torch.where(q_mask.bool().unsqueeze(-1), out, torch.zeros_like(out))
        return (out, weights) if return_attention_scores else out


class Attention(_BaseAttention):
    """Dot-product (Luong) attention: ``scores = query @ key^T``, as Keras's ``Attention``.

    Args:
        use_scale: learn a scalar that multiplies the scores (initialised to 1).
        score_mode: ``"dot"`` (``q . k``) or ``"concat"`` (``sum(tanh(q + k))``, times a learned scalar).
        dropout: dropout on the attention weights during training.

    Call arguments: ``[query, value]`` or ``[query, value, key]`` (key defaults to value);
    ``return_attention_scores=True`` also returns the weights; ``use_causal_mask=True`` hides later
    value steps from each query step. Masks: the value's mask hides padded steps; the query's
    mask zeroes padded outputs and is the output's mask.

    Shape:
        query ``(B, Tq, F)``, value ``(B, Tv, F)`` (key ``(B, Tv, F)``)
        output ``(B, Tq, F)``; attention weights ``(B, Tq, Tv)``
        weights (Keras order): scale ``()`` when use_scale, concat_score_weight ``()`` for "concat".
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention: score_mode must be 'dot' or 'concat', got {score_mode!r}.")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode

    def build(self, input_shape):
        super().build(input_shape)
        self.scale = nn.Parameter(torch.ones(())) if self.use_scale else None
        self.concat_score_weight = nn.Parameter(torch.ones(())) if self.score_mode == "concat" else None

    @property
    def weights(self):
        return [w for w in (self.scale, self.concat_score_weight) if w is not None]

    def scores(self, query, key):
        if self.score_mode == "dot":
            s = query @ key.transpose(-2, -1)  # (B, Tq, F) @ (B, F, Tv) -> (B, Tq, Tv)
            return s * self.scale if self.scale is not None else s
        pair = query.unsqueeze(-2) + key.unsqueeze(-3)  # (B, ..., Tq, Tv, F)
        if self.scale is not None:
            pair = self.scale * pair
        return self.concat_score_weight * torch.tanh(pair).sum(-1)


class AdditiveAttention(_BaseAttention):
    """Additive (Bahdanau) attention: ``scores = sum(scale * tanh(query + key))``, as Keras's
    ``AdditiveAttention``.

    Args:
        use_scale: learn a per-feature scale vector (Glorot-uniform initialised); else scale is 1.
        dropout: dropout on the attention weights during training.

    Call arguments and masks: as ``Attention``.

    Shape:
        query ``(B, Tq, F)``, value ``(B, Tv, F)`` (key ``(B, Tv, F)``)
        output ``(B, Tq, F)``; attention weights ``(B, Tq, Tv)``
        weights (Keras order): scale ``(F,)`` when use_scale.
    """

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape):
        super().build(input_shape)
        F = input_shape[0][-1]
        self.scale = nn.Parameter(initializers.initialize(torch.empty(F), "glorot_uniform")) \
            if self.use_scale else None

    @property
    def weights(self):
        return [self.scale] if self.scale is not None else []

    def scores(self, query, key):
        pair = torch.tanh(query.unsqueeze(-2) + key.unsqueeze(-3))  # (B, ..., Tq, Tv, F)
        if self.scale is not None:
            pair = pair * self.scale
        return pair.sum(-1)


__all__ = ["Attention", "AdditiveAttention"]
