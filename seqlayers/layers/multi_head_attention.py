"""MultiHeadAttention, as Keras's: projections per head, scaled dot-product attention, output projection.

``query (B, T, Fq)``, ``value (B, S, Fv)`` and ``key (B, S, Fk)`` (key defaults to value) are
projected to N heads: ``q (B, T, N, Hk)``, ``k (B, S, N, Hk)``, ``v (B, S, N, Hv)``. Each head
attends with ``softmax(q k^T / sqrt(Hk))`` and the heads' results are projected back to ``Fq``
(or ``output_shape``). Without dropout and without returned scores the heads run in torch's fused
``scaled_dot_product_attention`` (as Keras does on torch); otherwise the scores are formed
explicitly.

Masks, as in Keras: the query's mask (always the query tensor's own: Keras ignores a ``query_mask=``
argument), the value's and key's masks (from the tensors, or ``value_mask=`` / ``key_mask=``),
``attention_mask (B, T, S)``, the causal mask
(``use_causal_mask=True``: step t sees keys <= t) and ``sliding_window`` are combined with AND.
The output carries the query's mask.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import initializers
from ..errors import fmt_shape, layer_label
from ..utils import to_tensor
from .base import InputSpec, Layer, get_mask, set_mask
from .core import check_positive_int

_LARGE_NEGATIVE = -0.7 * 3.38953e38  # Keras's bias for masked positions in the fused path


def _mask_tensor(m):
    if m is None:
        return None
    return (to_tensor(m) if not isinstance(m, torch.Tensor) else m).bool()


class MultiHeadAttention(Layer):
    """Multi-head scaled dot-product attention (Vaswani et al.), with Keras's weights and masks.

    Args:
        num_heads: N, the number of heads.
        key_dim: Hk, the size of each head's query and key.
        value_dim: Hv, the size of each head's value (default: key_dim).
        dropout: dropout on the attention weights during training.
        use_bias: biases in the four projections.
        output_shape: the output's last axes (default: the query's feature size).
        attention_axes: the axes attended over (default: every axis between batch and features); the
            other axes between them act as batch axes.
        sliding_window: each query step sees keys within ``sliding_window - 1`` steps of it.
        use_gate: multiply each head's result by ``sigmoid(query @ gate_kernel + gate_bias)``.
        kernel_initializer, bias_initializer: Keras initializer names.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: for every projection.
        flash_attention: True refuses what the fused kernel cannot do (dropout, returned scores), as
            Keras; the kernel itself is torch's choice either way.
        seed: accepted for Keras compatibility (torch's global generator is used).

    Call arguments:
        query, value, key (optional); value_mask / key_mask ``(B, S)`` (query_mask: accepted, and
        ignored as by Keras, which uses the query tensor's mask);
        attention_mask ``(B, T, S)`` (True attends); return_attention_scores (also return the
        weights ``(B, N, T, S)``); use_causal_mask; training.

    Shape:
        query ``(B, T, Fq)``, value ``(B, S, Fv)``, key ``(B, S, Fk)``; output ``(B, T, Fq)``
        (or ``(B, T, *output_shape)``); scores ``(B, N, T, S)``. Inputs of higher rank
        ``(B, d1, ..., dk, F)`` attend over ``attention_axes`` (default all of ``d1 .. dk``), the other
        axes acting as batch axes (scores ``(B, *other axes, N, *query's attended, *value's attended)``).
        weights (Keras order): query kernel ``(Fq, N, Hk)`` and bias ``(N, Hk)``, key kernel
        ``(Fk, N, Hk)`` and bias, [gate kernel ``(Fq, N, Hv)`` and bias,] value kernel ``(Fv, N, Hv)``
        and bias ``(N, Hv)``, output kernel ``(N, Hv, Fq)`` and bias ``(Fq,)``.
    """

    supports_masking = True
    _sets_output_mask = True

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, use_gate=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("MultiHeadAttention", "num_heads", num_heads)
        self.key_dim = check_positive_int("MultiHeadAttention", "key_dim", key_dim)
        self.value_dim = check_positive_int("MultiHeadAttention", "value_dim", value_dim) \
            if value_dim is not None else self.key_dim
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiHeadAttention: dropout must be a number in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        self.use_bias, self.use_gate = bool(use_bias), bool(use_gate)
        if output_shape:
            output_shape = (output_shape,) if isinstance(output_shape, int) else output_shape
            if not isinstance(output_shape, (list, tuple)) or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in output_shape):
                raise ValueError(f"MultiHeadAttention: output_shape must be a positive integer or a tuple of them "
                                 f"(the output's last axes), got {output_shape!r}.")
            output_shape = tuple(output_shape)
        self.output_shape_ = output_shape or None
        self.flash_attention = flash_attention
        if flash_attention and self.dropout > 0:
            raise ValueError(f"MultiHeadAttention: dropout (here {dropout}) is not supported with "
                             f"flash_attention=True: the fused kernel has no dropout on the weights. Use dropout=0.0 "
                             f"or flash_attention=None.")
        if attention_axes is not None:
            attention_axes = (attention_axes,) if isinstance(attention_axes, int) else tuple(attention_axes)
        self.attention_axes = attention_axes
        if sliding_window is not None:
            check_positive_int("MultiHeadAttention", "sliding_window", sliding_window)
        self.sliding_window = sliding_window
        initializers.get(kernel_initializer, "MultiHeadAttention")
        initializers.get(bias_initializer, "MultiHeadAttention")
        self.input_spec = InputSpec(min_ndim=3, dtype="float", expected="query, value (and key) of shape "
                                                                       "(batch, time, features)")

    # -------------------------------------------------------------- weights
    def build(self, input_shape=None, value_shape=None, key_shape=None, query_shape=None):
        """From ``[query_shape, value_shape(, key_shape)]``, or Keras's ``build(query_shape, value_shape)``."""
        if query_shape is not None or value_shape is not None:  # Keras's form: build(query_shape, value_shape)
            shapes = [query_shape if query_shape is not None else input_shape, value_shape]
            self.build_from_shape(shapes + ([key_shape] if key_shape is not None else []))
            return
        q_shape, v_shape = tuple(input_shape[0]), tuple(input_shape[1])
        k_shape = tuple(input_shape[2]) if len(input_shape) > 2 and input_shape[2] is not None else v_shape
        self._check_value_and_key(v_shape, k_shape)
        rank = len(q_shape)
        if rank < 3 or len(v_shape) != rank:
            raise ValueError(f"{layer_label(self)}: expected query and value of the same rank >= 3, "
                             f"(batch, time, features), got query {fmt_shape(q_shape)} and value {fmt_shape(v_shape)}.")
        self._axes = self._attention_axes_for(rank)
        cfg, N, Hk, Hv = self._config, self.num_heads, self.key_dim, self.value_dim
        out = self.output_shape_ or (q_shape[-1],)

        def projection(name, kernel_shape, bias_shape):
            kernel = self.add_weight(kernel_shape, cfg["kernel_initializer"], regularizer=cfg["kernel_regularizer"],
                                     constraint=cfg["kernel_constraint"], name=f"{name}_kernel")
            bias = self.add_weight(bias_shape, cfg["bias_initializer"], regularizer=cfg["bias_regularizer"],
                                   constraint=cfg["bias_constraint"], name=f"{name}_bias") if self.use_bias else None
            return kernel, bias

        self.query_kernel, self.query_bias = projection("query", (q_shape[-1], N, Hk), (N, Hk))
        self.key_kernel, self.key_bias = projection("key", (k_shape[-1], N, Hk), (N, Hk))
        self.gate_kernel, self.gate_bias = projection("gate", (q_shape[-1], N, Hv), (N, Hv)) if self.use_gate \
            else (None, None)
        self.value_kernel, self.value_bias = projection("value", (v_shape[-1], N, Hv), (N, Hv))
        self.output_kernel, self.output_bias = projection("output", (N, Hv) + tuple(out), tuple(out))

    def _check_value_and_key(self, v_shape, k_shape):
        if tuple(v_shape[1:-1]) != tuple(k_shape[1:-1]):
            raise ValueError(f"{layer_label(self)}: value and key shapes must be equal except the last axis, got "
                             f"value {fmt_shape(v_shape)} and key {fmt_shape(k_shape)}.")

    def _attention_axes_for(self, rank: int) -> tuple[int, ...]:
        """The attended axes of an input of ``rank`` (default: all between batch and features)."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        axes = tuple(a if a >= 0 else rank + a for a in self.attention_axes)
        if not all(1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"{layer_label(self)}: attention_axes={self.attention_axes} must be distinct axes between "
                             f"the batch and the feature axis of an input of rank {rank} (1 .. {rank - 2}).")
        return axes

    @property
    def weights(self):
        order = (self.query_kernel, self.query_bias, self.key_kernel, self.key_bias, self.gate_kernel,
                 self.gate_bias, self.value_kernel, self.value_bias, self.output_kernel, self.output_bias)
        return [w for w in order if w is not None]

    def sublayer_weights(self) -> dict:
        """``{Keras inner layer: [kernel, bias]}`` as numpy (how a ``.keras`` file groups them)."""
        self._require_built("sublayer_weights")
        out = {}
        for name in ("query", "key", "gate", "value", "output"):
            kernel, bias = getattr(self, f"{name}_kernel"), getattr(self, f"{name}_bias")
            if kernel is not None:
                group = "_gate_dense" if name == "gate" else f"{name}_dense"  # Keras's own group names
                out[group] = [w.detach().cpu().numpy() for w in (kernel, bias) if w is not None]
        return out

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        if value_shape is not None and key_shape is not None:
            self._check_value_and_key(value_shape, key_shape)
        out = self.output_shape_ or (query_shape[-1],)
        return tuple(query_shape[:-1]) + tuple(out)

    # -------------------------------------------------------------- calling
    def forward(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
                return_attention_scores=False, training=None, use_causal_mask=False):
        query, value = self._prepare_input(query), self._prepare_input(value)
        key_given = key is not None
        key = self._prepare_input(key) if key_given else value
        query_mask = _mask_tensor(get_mask(query))  # Keras reads the query's own mask (the argument is ignored)
        value_mask = _mask_tensor(value_mask if value_mask is not None else get_mask(value))
        key_mask = _mask_tensor(key_mask if key_mask is not None else (get_mask(key) if key_given else None))
        if not self.built:
            shapes = [(None,) + tuple(t.shape[1:]) for t in ((query, value, key) if key_given else (query, value))]
            self.build_from_shape(shapes)
            self._move_to(query)
        training = self.training if training is None else bool(training)
        if self.flash_attention and return_attention_scores:
            raise ValueError(f"{layer_label(self)}: return_attention_scores=True is not supported with "
                             f"flash_attention=True (the fused kernel does not form the scores); disable flash "
                             f"attention to get them.")
        out, scores = self._attend(query, value, key, query_mask, value_mask, key_mask, _mask_tensor(attention_mask),
                                   return_attention_scores, training, bool(use_causal_mask))
        set_mask(out, query_mask)
        return (out, scores) if return_attention_scores else out

    def _combined_mask(self, T, S, device, query_mask, value_mask, key_mask, attention_mask, causal):
        """The (B | 1, T, S) boolean mask of the attention (True attends), or None."""
        mask = None

        def both(a, b):
            return b if a is None else a & b

        if query_mask is not None:
            mask = query_mask[:, :, None]  # (B, T, 1)
        for m in (value_mask, key_mask):
            if m is not None:
                mask = both(mask, m[:, None, :])  # (B, 1, S)
        if causal:
            mask = both(mask, torch.ones(T, S, dtype=torch.bool, device=device).tril()[None])  # (1, T, S)
        if self.sliding_window is not None:
            steps = torch.arange(T, device=device)[:, None] - torch.arange(S, device=device)[None, :]
            mask = both(mask, (steps.abs() < self.sliding_window)[None])
        if attention_mask is not None:
            mask = both(mask, attention_mask)
        return mask

    def _to_sequences(self, x, keep_features=True):
        """(B, d1, ..., dk[, F]) -> (B * prod(other axes), prod(attended axes)[, F]), attended axes
        last in their given order; returns the tensor and the sizes needed to undo it."""
        k = x.dim() - (2 if keep_features else 1)
        others = [a for a in range(1, k + 1) if a not in self._axes]
        order = [0] + others + list(self._axes) + ([k + 1] if keep_features else [])
        x = x.permute(order)  # (B, others..., attended..., [F])
        B, other_sizes = x.shape[0], tuple(x.shape[1:1 + len(others)])
        seq_sizes = tuple(x.shape[1 + len(others):1 + len(others) + len(self._axes)])
        tail = (x.shape[-1],) if keep_features else ()
        return x.reshape((B * math.prod(other_sizes), math.prod(seq_sizes)) + tail), (B, other_sizes, seq_sizes, order)

    def _attention_mask_as_sequences(self, mask, B, others, dq, dv):
        """An attention mask broadcastable to (B, others..., [N,] Tq..., Tv...) as (B', 1 | N, T, S)."""
        n_seq = 2 * len(self._axes)
        while mask.dim() < 2 + n_seq:  # Keras adds the batch and heads axes in front of the (T..., S...) block
            mask = mask.unsqueeze(-n_seq - 1)
        heads = mask.shape[-n_seq - 1]
        lead = mask.shape[:-n_seq - 1]
        full = (B,) + tuple(others) if len(lead) == 1 + len(others) else None
        if full is None:
            raise ValueError(f"{layer_label(self)}: attention_mask of shape {fmt_shape(mask.shape)} does not fit the "
                             f"attention over axes {self._axes}; give (batch, [other axes,] query steps, key steps).")
        mask = mask.expand(full + (heads,) + tuple(dq) + tuple(dv))
        return mask.reshape(math.prod(full), heads, math.prod(dq), math.prod(dv))

    def _attend(self, query, value, key, query_mask, value_mask, key_mask, attention_mask, return_scores, training,
                causal):
        query_seq, (B, others, dq, order) = self._to_sequences(query)
        value, (_, _, dv, _) = self._to_sequences(value)
        key, _ = self._to_sequences(key)
        Bq, T = query_seq.shape[:2]
        S = value.shape[1]
        flat = [None if m is None else self._to_sequences(m, keep_features=False)[0]
                for m in (query_mask, value_mask, key_mask)]
        if attention_mask is not None:
            attention_mask = self._attention_mask_as_sequences(attention_mask, B, others, dq, dv)
        q = torch.einsum("btf,fnh->btnh", query_seq, self.query_kernel)  # (B', T, N, Hk)
        k = torch.einsum("bsf,fnh->bsnh", key, self.key_kernel)  # (B', S, N, Hk)
        v = torch.einsum("bsf,fnh->bsnh", value, self.value_kernel)  # (B', S, N, Hv)
        if self.use_bias:
            q, k, v = q + self.query_bias, k + self.key_bias, v + self.value_bias
        only_causal = causal and all(m is None for m in flat) and attention_mask is None and self.sliding_window is None
        mask = None if only_causal else self._combined_mask(T, S, query.device, *flat, None, causal)
        if mask is not None:
            mask = mask[:, None]  # (B' | 1, 1, T, S)
        if attention_mask is not None:
            mask = attention_mask if mask is None else mask & attention_mask
        scale = 1.0 / math.sqrt(self.key_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # heads first: (B', N, T|S, H)
        scores = None
        if self.dropout == 0.0 and not return_scores:  # torch's fused kernel, as Keras's default path
            bias = None if mask is None else torch.where(mask, 0.0, _LARGE_NEGATIVE).to(q.dtype)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=only_causal, scale=scale)
        else:
            if only_causal:
                mask = self._combined_mask(T, S, query.device, None, None, None, None, True)[:, None]
            logits = (q * scale) @ k.transpose(-2, -1)  # (B', N, T, S)
            if mask is not None:
                logits = torch.where(mask, logits, torch.full((), -1e9, dtype=logits.dtype, device=logits.device))
            scores = torch.softmax(logits, dim=-1)
            if mask is not None:
                scores = torch.where(mask, scores, torch.zeros((), dtype=scores.dtype, device=scores.device))
            weights = F.dropout(scores, self.dropout, training=True) if training and self.dropout > 0 else scores
            ctx = weights @ v  # (B', N, T, Hv)
        ctx = ctx.transpose(1, 2)  # (B', T, N, Hv)
        if self.use_gate:
            gate = torch.einsum("btf,fnh->btnh", query_seq, self.gate_kernel)
            ctx = ctx * torch.sigmoid(gate + self.gate_bias if self.gate_bias is not None else gate)
        out = torch.einsum("btnh,nh...->bt...", ctx, self.output_kernel)  # (B', T, *output_shape)
        if self.output_bias is not None:
            out = out + self.output_bias
        tail = tuple(out.shape[2:])
        out = out.reshape((B,) + tuple(others) + tuple(dq) + tail)  # (B, others..., attended..., *out)
        inverse = [order.index(i) for i in range(len(order) - 1)] + list(range(len(order) - 1, out.dim()))
        out = out.permute(inverse)  # back to the query's axis order
        if scores is not None:  # Keras's layout: (B, other axes..., N, query steps..., key steps...)
            scores = scores.reshape((B,) + tuple(others) + (self.num_heads,) + tuple(dq) + tuple(dv))
        return out, scores


__all__ = ["MultiHeadAttention"]
