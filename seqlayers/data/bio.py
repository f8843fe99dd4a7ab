"""BIO tag sequences: which transitions are valid, and the best valid path (Viterbi).

A per-token softmax chooses each tag on its own, so it can emit ``O I-city`` or ``B-artist I-album``,
which conlleval reads as extra (wrong) slots. Decoding the per-token log-probabilities with
Viterbi under the BIO rules gives the most probable sequence in which every ``I-x`` continues a
``B-x`` or ``I-x``; no training is involved.
"""
from __future__ import annotations

import numpy as np

NEG = -1e9  # the score of a forbidden tag or transition (finite: no inf - inf = nan)


def bio_transitions(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The valid BIO moves between ``labels`` (a tag vocabulary in id order).

    Returns ``(allowed, start)``: ``allowed[i, j]`` is True when tag ``j`` may follow tag ``i``
    (``I-x`` only after ``B-x`` or ``I-x``), ``start[j]`` when a sequence may begin with ``j`` (not
    with ``I-x``). Labels that are neither ``O`` nor ``B-``/``I-`` tags (padding, ``<pad>``) are
    never allowed.

    Shape:
        ``allowed``: ``(N, N)``; ``start``: ``(N,)``, ``N = len(labels)``.
    """
    real = np.array([t == "O" or (t[:2] in ("B-", "I-") and len(t) > 2) for t in labels], dtype=bool)
    inside = np.array([t.startswith("I-") and real[j] for j, t in enumerate(labels)], dtype=bool)
    slot = np.array([t[2:] if t != "O" and real[j] else None for j, t in enumerate(labels)], dtype=object)
    same_slot = (slot[:, None] == slot[None, :]) & (slot[:, None] != None)  # noqa: E711 (elementwise)
    allowed = real[:, None] & real[None, :] & (~inside[None, :] | same_slot)
    start = real & ~inside
    return allowed, start


def viterbi(emissions: np.ndarray, allowed: np.ndarray, start: np.ndarray, transitions=None, start_scores=None,
            end_scores=None) -> tuple[np.ndarray, np.ndarray]:
    """The highest-scoring tag path under hard transition constraints.

    A path's score is the sum of its tags' emission scores (e.g. per-token log-probabilities),
    plus, when given, learnt transition scores (a CRF's ``transitions[from, to]``, ``start_scores``
    of the first tag, ``end_scores`` of the last); forbidden starts and transitions are excluded.
    Any leading axes are a batch of independent sequences of the same length, decoded at once.

    Shape:
        ``emissions``: ``(..., T, N)``; ``allowed``, ``transitions``: ``(N, N)``; ``start``,
        ``start_scores``, ``end_scores``: ``(N,)``.
        Returns ``paths`` ``(..., T)`` (tag ids) and ``scores`` ``(...)``.
    """
    emissions = np.asarray(emissions, dtype=np.float64)
    N = len(start)
    if emissions.ndim < 2 or emissions.shape[-2] == 0 or emissions.shape[-1] != N or allowed.shape != (N, N):
        raise ValueError(f"viterbi: expected emissions of shape (..., T, N) with N = {N} tags "
                         f"(the size of start and allowed {allowed.shape}) and T >= 1, got {emissions.shape}.")
    *lead, T, _ = emissions.shape

    def learnt(w, shape):
        return np.zeros(shape) if w is None else np.asarray(w, dtype=np.float64).reshape(shape)

    trans = np.where(allowed, learnt(transitions, (N, N)), NEG)  # (N, N): previous tag x next tag
    score = emissions[..., 0, :] + np.where(start, learnt(start_scores, (N,)), NEG)  # (..., N): best path to each tag
    back = np.zeros((*lead, T, N), dtype=np.int64)
    for t in range(1, T):  # a recurrence over time: each step needs the previous one
        cand = score[..., :, None] + trans  # (..., N, N): via previous tag i to tag j
        back[..., t, :] = cand.argmax(-2)
        score = cand.max(-2) + emissions[..., t, :]
    score = score + learnt(end_scores, (N,))
    paths = np.zeros((*lead, T), dtype=np.int64)
    paths[..., T - 1] = score.argmax(-1)
    for t in range(T - 1, 0, -1):  # follow the back-pointers
        paths[..., t - 1] = np.take_along_axis(back[..., t, :], paths[..., t:t + 1], -1)[..., 0]
    return paths, score.max(-1)
