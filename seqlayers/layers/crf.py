"""A linear-chain conditional random field (CRF) over per-step tag scores.

The kernels (``crf_log_partition``, ``crf_path_score``, ``crf_nll``, ``crf_decode``) are functions of
tensors; the ``CRF`` layer owns the transition weights and calls them. Masks may be right-padded or
arbitrary: a masked step is skipped, and the chain runs over the valid steps only (the transition
goes from the previous *valid* step to the next one). Every kernel is vectorised over the batch; the
forward algorithm and Viterbi loop over time (their recursion), the path score does not loop.
"""
from __future__ import annotations

import torch

from ..errors import fmt_shape, known_axis, layer_label
from .base import InputSpec, Layer, get_mask

#: the score given to a forbidden transition (finite, so gradients and log-sum-exp stay finite)
FORBIDDEN = -1e4
#: the attribute on the decoded tags that carries the scores they were decoded from (for ``CRF.loss``)
SCORES_ATTR = "_seqlayers_crf_scores"


def _valid_mask(mask, B: int, T: int, device) -> torch.Tensor:
    if mask is None:
        return torch.ones(B, T, dtype=torch.bool, device=device)
    return mask.to(device=device).bool().reshape(B, T)


def crf_log_partition(scores, mask, transitions, start, end) -> torch.Tensor:
    """``log Z`` per sequence ``(B,)`` by the forward algorithm; 0 for a sequence with no valid step.

    scores ``(B, T, K)``, mask ``(B, T)`` (None: all valid), transitions ``(K, K)`` [from, to],
    start ``(K,)``, end ``(K,)``.
    """
    B, T, K = scores.shape
    valid = _valid_mask(mask, B, T, scores.device)
    alpha = scores.new_zeros(B, K)
    started = torch.zeros(B, dtype=torch.bool, device=scores.device)
    for t in range(T):
        emit = scores[:, t]  # (B, K)
        first = (valid[:, t] & ~started)[:, None]
        cont = (valid[:, t] & started)[:, None]
        nxt = torch.logsumexp(alpha[:, :, None] + transitions, dim=1) + emit  # (B, K, K) -> (B, K)
        alpha = torch.where(first, start + emit, torch.where(cont, nxt, alpha))
        started = started | valid[:, t]
    log_z = torch.logsumexp(alpha + end, dim=1)
    return torch.where(started, log_z, torch.zeros_like(log_z))


def crf_path_score(scores, tags, mask, transitions, start, end) -> torch.Tensor:
    """The unnormalised score ``(B,)`` of the tag paths ``tags (B, T)`` over the valid steps.

    No loop over time: each valid step's previous valid step is found with a running maximum.
    """
    B, T, K = scores.shape
    valid = _valid_mask(mask, B, T, scores.device)
    tags = tags.long()
    emit = scores.gather(2, tags[:, :, None]).squeeze(2)  # (B, T)
    pos = torch.where(valid, torch.arange(T, device=scores.device).expand(B, T), -1)
    seen = pos.cummax(dim=1).values  # (B, T) the last valid step at or before t; -1: none yet
    prev_pos = torch.cat([seen.new_full((B, 1), -1), seen[:, :-1]], dim=1)  # strictly before t
    prev = tags.gather(1, prev_pos.clamp(min=0))
    zero = scores.new_zeros(())
    step = torch.where(prev_pos >= 0, transitions[prev, tags], start[tags])  # from the previous valid step
    total = torch.where(valid, emit + step, zero).sum(1)
    last = seen[:, -1]  # (B,) the last valid step
    return total + torch.where(last >= 0, end[tags.gather(1, last.clamp(min=0)[:, None]).squeeze(1)], zero)


def crf_nll(scores, tags, mask, transitions, start, end) -> torch.Tensor:
    """The negative log-likelihood ``log Z - score(tags)`` per sequence ``(B,)``."""
    return crf_log_partition(scores, mask, transitions, start, end) - \
        crf_path_score(scores, tags, mask, transitions, start, end)


def crf_decode(scores, mask, transitions, start, end) -> torch.Tensor:
    """The best path by Viterbi: int64 tags ``(B, T)``; masked steps get tag 0."""
    B, T, K = scores.shape
    valid = _valid_mask(mask, B, T, scores.device)
    delta = scores.new_zeros(B, K)
    started = torch.zeros(B, dtype=torch.bool, device=scores.device)
    keep = torch.arange(K, device=scores.device).expand(B, K)  # identity back-pointers
    pointers = []
    for t in range(T):
        emit = scores[:, t]
        first = (valid[:, t] & ~started)[:, None]
        cont = (valid[:, t] & started)[:, None]
        best, arg = (delta[:, :, None] + transitions).max(dim=1)  # (B, K, K) -> (B, K) over the previous tag
        delta = torch.where(first, start + emit, torch.where(cont, best + emit, delta))
        pointers.append(torch.where(cont, arg, keep))
        started = started | valid[:, t]
    cur = (delta + end).argmax(dim=1)  # (B,) the tag of the last valid step
    tags = torch.zeros(B, T, dtype=torch.long, device=scores.device)
    for t in range(T - 1, -1, -1):
        tags[:, t] = torch.where(valid[:, t], cur, torch.zeros_like(cur))
        cur = pointers[t].gather(1, cur[:, None]).squeeze(1)  # the tag at the previous valid step
    return tags


def bio_transitions(tags) -> dict:
    """The BIO constraints for ``tags`` (names such as ``"O"``, ``"B-city"``, ``"I-city"``), as the
    ``allowed_transitions`` / ``allowed_start`` / ``allowed_end`` arguments of ``CRF``:
    ``CRF(**bio_transitions(tags))``. ``I-X`` may only follow ``B-X`` or ``I-X`` and cannot start a
    sequence; every other move is allowed.
    """
    tags = [str(t) for t in tags]
    for t in tags:
        if t != "O" and not (len(t) > 2 and t[:2] in ("B-", "I-")) and t not in ("<pad>", "PAD", "[PAD]"):
            raise ValueError(f"bio_transitions: expected tag names 'O', 'B-X' or 'I-X', got {t!r}. Give the "
                             f"tag vocabulary in BIO form (rename other tags, or build the matrix yourself).")

    def ok(a: str, b: str) -> bool:
        return not b.startswith("I-") or (a[:2] in ("B-", "I-") and a[2:] == b[2:])

    return {"allowed_transitions": [[ok(a, b) for b in tags] for a in tags],
            "allowed_start": [not b.startswith("I-") for b in tags],
            "allowed_end": [True for _ in tags]}


def _bool_matrix(name: str, value, shape: tuple) -> torch.Tensor | None:
    if value is None:
        return None
    try:
        m = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"CRF: {name} must be a nested list of booleans of shape {shape}, got "
                        f"{type(value).__name__}.") from None
    if tuple(m.shape) != shape:
        raise ValueError(f"CRF: {name} must have shape {fmt_shape(shape)} (K = the number of tags, the last "
                         f"axis of the input), got {fmt_shape(m.shape)}. Build it from the tag names with "
                         f"bio_transitions(tags).")
    return m.bool()


class CRF(Layer):
    """A linear-chain CRF on per-step tag scores (e.g. ``Dense(K)`` on a recurrent output).

    The score of a tag path ``y`` over the valid steps ``t_1 < ... < t_n`` is
    ``start[y_1] + sum_i scores[t_i, y_i] + sum_i transitions[y_{i-1}, y_i] + end[y_n]``; the
    probability is ``exp(score) / Z`` over all paths.

    * In training (``model.train()``, inside ``fit``) the layer returns its input scores unchanged;
      ``loss=crf.loss`` in ``compile`` gives the negative log-likelihood per sequence (forward
      algorithm) against integer tags ``(B, T)``.
    * In inference (``model.eval()``: ``predict``, ``evaluate``) it returns the Viterbi path as int64
      tags ``(B, T)`` (0 at masked steps); ``crf.loss`` still works on them (evaluate).

    Masks (``Embedding(mask_zero=True)``, ``Masking``) may be right-padded or arbitrary: masked steps
    are skipped and the chain joins the valid steps around them.

    Args:
        allowed_transitions: optional ``(K, K)`` booleans, ``[from][to]``; forbidden moves get the
            score ``FORBIDDEN`` (-1e4) and are never decoded while any allowed path exists.
        allowed_start, allowed_end: optional ``(K,)`` booleans: the tags a path may start / end with.
            ``CRF(**bio_transitions(tag_names))`` gives the BIO constraints.
        transitions_initializer: initializer of the ``(K, K)`` transitions.
        boundary_initializer: initializer of the start and end transitions.

    Shape:
        input: ``(B, T, K)`` scores of K tags at every step (float).
        output: training ``(B, T, K)`` (the input); inference ``(B, T)`` int64 tags.
        weights: transitions ``(K, K)`` [from, to], start ``(K,)``, end ``(K,)``.
    """

    supports_masking = True
    #: for ``explain()`` / ``topology()``: one output per input step, though the output has no tag axis
    per_step_output = True
    explain_note = ("predict/evaluate: the Viterbi path, int64 tag ids (batch, time); fit: its input scores "
                    "(batch, time, tags) unchanged, for crf.loss (negative log-likelihood)")

    def __init__(self, allowed_transitions=None, allowed_start=None, allowed_end=None,
                 transitions_initializer="glorot_uniform", boundary_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.input_spec = InputSpec(ndim=3, dtype="float", expected="scores of shape (batch, time, tags)",
                                    hint="Put CRF after a per-step Dense(K) on a sequence output "
                                         "(return_sequences=True).")

    def build(self, input_shape):
        K = known_axis(self, input_shape, -1, "last axis (tags)")
        cfg = self._config
        allowed = _bool_matrix("allowed_transitions", cfg["allowed_transitions"], (K, K))
        a_start = _bool_matrix("allowed_start", cfg["allowed_start"], (K,))
        a_end = _bool_matrix("allowed_end", cfg["allowed_end"], (K,))
        self.transitions = self.add_weight((K, K), cfg["transitions_initializer"], name="transitions")
        self.start_transitions = self.add_weight((K,), cfg["boundary_initializer"], name="start_transitions")
        self.end_transitions = self.add_weight((K,), cfg["boundary_initializer"], name="end_transitions")
        ones = torch.ones
        self.register_buffer("_allowed", ones(K, K, dtype=torch.bool) if allowed is None else allowed,
                             persistent=False)
        self.register_buffer("_allowed_start", ones(K, dtype=torch.bool) if a_start is None else a_start,
                             persistent=False)
        self.register_buffer("_allowed_end", ones(K, dtype=torch.bool) if a_end is None else a_end,
                             persistent=False)
        self.input_spec.axes = {-1: K}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def potentials(self):
        """``(transitions, start, end)`` with the forbidden moves set to ``FORBIDDEN``."""
        def constrain(w, allowed):
            return torch.where(allowed, w, torch.full_like(w, FORBIDDEN))
        return (constrain(self.transitions, self._allowed), constrain(self.start_transitions, self._allowed_start),
                constrain(self.end_transitions, self._allowed_end))

    def call(self, inputs, mask=None, training=None):
        if training:
            return inputs
        tags = crf_decode(inputs, mask, *self.potentials())
        setattr(tags, SCORES_ATTR, inputs)
        return tags

    def loss(self, y_true, y_pred):
        """The negative log-likelihood per sequence ``(B,)``: ``compile(loss=crf.loss)``.

        ``y_true``: integer tags ``(B, T)`` (or ``(B, T, 1)``); ``y_pred``: this layer's output (the
        scores in training, the decoded tags carrying them in inference). The mask on ``y_pred`` is used.
        """
        scores = y_pred if y_pred.is_floating_point() else getattr(y_pred, SCORES_ATTR, None)
        if scores is None:
            raise ValueError(f"{layer_label(self)}: loss expected this CRF layer's output (scores (B, T, K) or the "
                             f"decoded tags carrying them), got a {y_pred.dtype} tensor of shape "
                             f"{fmt_shape(y_pred.shape)}. Make the CRF the model's last layer and pass "
                             f"loss=crf.loss for that output.")
        y_true = torch.as_tensor(y_true, device=scores.device)
        if y_true.ndim == 3 and y_true.shape[-1] == 1:
            y_true = y_true.squeeze(-1)
        if tuple(y_true.shape) != tuple(scores.shape[:2]):
            raise ValueError(f"{layer_label(self)}: loss expected integer tags of shape {fmt_shape(scores.shape[:2])} "
                             f"(one tag per step), got y_true of shape {fmt_shape(y_true.shape)}. Give sparse tag "
                             f"ids, not one-hot vectors (y.argmax(-1)).")
        mask = get_mask(y_pred)
        if mask is None:
            mask = get_mask(scores)
        return crf_nll(scores, y_true.long(), mask, *self.potentials())


__all__ = ["CRF", "FORBIDDEN", "bio_transitions", "crf_decode", "crf_log_partition", "crf_nll", "crf_path_score"]
