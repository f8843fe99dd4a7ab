"""SegRNN (Lin et al. 2023): a recurrent forecaster over segments of the look-back window, decoding
every output segment at once.

    model = segment_rnn(lookback=96, horizon=96, n_channels=7, seg_len=24, units=512)
    model.explain()           # the segment axis, the fold of channels and segments into the batch

Five ideas, each one public layer (``B`` batch, ``L`` look-back, ``C`` channels, ``w`` segment
length, ``n = L / w`` input segments, ``m = H / w`` output segments, ``d`` units):

1. **Instance normalisation** (``InstanceNormalization`` / ``InverseInstanceNormalization``): each
   window is normalised with its own statistics and the forecast mapped back with them.
2. **Channel independence**: ``Permute`` + ``Reshape`` cut each channel into ``n`` segments,
   ``(B, L, C) -> (B, C, n, w)``, and ``FoldIntoBatch`` makes every channel a sample of its own,
   ``(B*C, n, w)``: one set of weights for all channels.
3. **Segment-wise iterations**: ``TimeDistributed(Dense(d, relu))`` embeds each segment, and the
   ``GRU`` runs ``n`` steps (not ``L``): ``(B*C, n, d) -> h (B*C, d)`` (``return_state``).
4. **Parallel multi-step decoding** (``decoder="parallel"``, SegRNN's PMF): each of the ``m`` output
   segments takes one GRU step from the encoder's state (``initial_state``), its input a query that
   says which segment and which channel it is, ``Concatenate`` of a ``PositionEmbedding`` over the
   segments and one over the channels (``d/2`` each), ``(B*C, m, d)``. ``parallel_steps=True``
   starts every one of the ``m`` steps from that state, none reading another's output: the same as
   SegRNN's copy of the state per segment (``RepeatVector(m)``, one step on ``(B*C*m, 1, d)``), with
   the state's recurrent product computed once, not ``m`` times. ``Dropout`` + ``Dense(w)`` turn
   each into ``w`` values.
   ``decoder="recurrent"`` (RMF) instead feeds each predicted segment back, ``m`` steps in turn.
5. The decoder step is the **same GRU** as the encoder (one layer object, shared weights).

The output is ``(B, H, C)``, in the input's units (before instance normalisation).
"""
from __future__ import annotations

from ..layers.batch_folding import FoldIntoBatch, UnfoldFromBatch
from ..layers.core import Dense, Dropout
from ..layers.instance_normalization import InstanceNormalization, InverseInstanceNormalization
from ..layers.merging import Concatenate
from ..layers.position_embedding import PositionEmbedding
from ..layers.reshaping import Permute, RepeatVector, Reshape
from ..layers.wrappers import TimeDistributed
from ..models.functional import Model
from ..models.symbolic import Input
from . import _rnn

DECODERS = ("parallel", "recurrent")
#: ``normalization``: InstanceNormalization arguments (RevIN; SegRNN's subtract-last; none)
NORMALIZATIONS = {"revin": {"location": "mean", "scale": True}, "last": {"location": "last", "scale": False},
                  "none": None}


def _check(lookback: int, horizon: int, n_channels: int, seg_len: int, units: int, decoder: str,
           normalization: str, channel_embedding: bool) -> None:
    for arg, v in (("lookback", lookback), ("horizon", horizon), ("n_channels", n_channels), ("seg_len", seg_len),
                   ("units", units)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"segment_rnn: {arg} must be a positive integer, got {v!r}.")
    for arg, v in (("lookback", lookback), ("horizon", horizon)):
        if v % seg_len:
            raise ValueError(f"segment_rnn: {arg} {v} is not a multiple of seg_len {seg_len}; the window is cut into "
                             f"whole segments. Pick a seg_len that divides both lookback and horizon.")
    if decoder not in DECODERS:
        raise ValueError(f"segment_rnn: decoder must be 'parallel' or 'recurrent', got {decoder!r}.")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"segment_rnn: normalization must be one of {', '.join(map(repr, NORMALIZATIONS))}, "
                         f"got {normalization!r}.")
    if channel_embedding and units % 2:
        raise ValueError(f"segment_rnn: with channel_embedding the query is half position, half channel, so units "
                         f"must be even, got {units}.")


def _parallel_decoder(rnn, head, states, C: int, m: int, units: int, channel_embedding: bool):
    """Every output segment from the encoder states in one GRU call: ``(B*C, d) -> (B*C, m, w)``."""
    grid = RepeatVector(m, name="state_per_segment")(states[0])  # (B*C, m, d): the queries' shape only
    if channel_embedding:  # queries [position of the segment | channel], built at (B, C, m, .)
        grid = UnfoldFromBatch(C, name="channels_out_of_batch")(grid)  # (B, C, m, d)
        pos = PositionEmbedding(m, axis=2, output_dim=units // 2, name="segment_position")(grid)  # (B, C, m, d/2)
        chan = PositionEmbedding(C, axis=1, output_dim=units // 2, name="channel_embedding")(grid)  # (B, C, m, d/2)
        query = Concatenate(name="decoder_queries")([pos, chan])  # (B, C, m, d)
        query = FoldIntoBatch(name="query_channels_into_batch")(query)  # (B*C, m, d)
    else:
        query = PositionEmbedding(m, axis=1, output_dim=units, name="segment_position")(grid)  # (B*C, m, d)
    # one GRU step per query, every one from the encoder's state (none reads another's output)
    y = rnn(query, initial_state=list(states), parallel_steps=True)[0]  # (B*C, m, d)
    return head(y)  # (B*C, m, w)


def _recurrent_decoder(rnn, head, embed, states, m: int, seg_len: int):
    """Each output segment from the previous one, ``m`` GRU steps in turn: ``(B*C, d) -> (B*C, m, w)``."""
    h, segs = states, []
    for j in range(m):
        seg = head(h[0])  # (B*C, w)
        segs.append(Reshape((1, seg_len), name=f"output_segment_{j}")(seg))  # (B*C, 1, w)
        if j + 1 < m:
            h = rnn(embed(segs[-1]), initial_state=list(h))[1:]  # the predicted segment, read back
    return segs[0] if m == 1 else Concatenate(axis=1, name="output_segments")(segs)  # (B*C, m, w)


def segment_rnn(lookback: int, horizon: int, n_channels: int, seg_len: int = 24, units: int = 512,
                dropout: float = 0.5, cell: str = "gru", decoder: str = "parallel", normalization: str = "revin",
                channel_embedding: bool = True, name: str = "segrnn") -> Model:
    """SegRNN as a functional ``Model``: ``(B, lookback, n_channels) -> (B, horizon, n_channels)``.

    Args:
        lookback: L, input steps; a multiple of ``seg_len``.
        horizon: H, steps to forecast; a multiple of ``seg_len``.
        n_channels: C, series per sample (7 for ETT ``M``, 1 for ``S``).
        seg_len: w, steps per segment (SegRNN: 24 at look-back 96, 48 at 336 and 720); 1 makes it a
            step-wise RNN.
        units: d, the segment embedding and GRU size (SegRNN: 512).
        dropout: before the output ``Dense`` (SegRNN: 0.5).
        cell: ``"gru"`` (SegRNN), ``"lstm"`` or ``"simple_rnn"``.
        decoder: ``"parallel"`` (PMF, one step per output segment, all at once) or ``"recurrent"``
            (RMF, each segment predicted from the previous one).
        normalization: ``"revin"`` (each window's mean and std), ``"last"`` (subtract the last value,
            SegRNN's default), ``"none"``.
        channel_embedding: the parallel decoder's query is ``[segment position (d/2) | channel (d/2)]``
            (SegRNN's ``channel_id``); ``False``: a segment position of ``d`` only.

    Shape:
        input ``(B, L, C)``; output ``(B, H, C)``.
    """
    _check(lookback, horizon, n_channels, seg_len, units, decoder, normalization, channel_embedding)
    C, n, m, w = n_channels, lookback // seg_len, horizon // seg_len, seg_len
    x = Input(shape=(lookback, C), name="series")
    norm = NORMALIZATIONS[normalization]
    if norm is not None:
        z, loc, scale = InstanceNormalization(**norm, return_statistics=True, name="instance_norm")(x)
    else:
        z = x
    z = Permute((2, 1), name="channels_first")(z)  # (B, C, L)
    z = Reshape((C, n, w), name="segments")(z)  # (B, C, n, w): n segments of w steps
    z = FoldIntoBatch(name="channels_into_batch")(z)  # (B*C, n, w): each channel its own sample
    embed = TimeDistributed(Dense(units, activation="relu"), name="segment_embedding")  # w -> d per segment
    rnn = _rnn(cell)(units, return_state=True, name="segment_rnn")
    states = rnn(embed(z))[1:]  # h (B*C, d) (and c for an LSTM): n steps, one per segment
    head = _Head(dropout, w)
    if decoder == "parallel":
        y = _parallel_decoder(rnn, head, states, C, m, units, channel_embedding and C > 1)
    else:
        y = _recurrent_decoder(rnn, head, embed, states, m, w)
    y = Reshape((horizon,), name="series_out")(y)  # (B*C, m, w) -> (B*C, H)
    y = UnfoldFromBatch(C, name="channels_out_of_batch_y")(y)  # (B, C, H)
    y = Permute((2, 1), name="time_first")(y)  # (B, H, C)
    if norm is not None:
        y = InverseInstanceNormalization(name="instance_denorm")([y, loc, scale])
    return Model(x, y, name=name)


class _Head:
    """``Dropout`` then ``Dense(w)``: one decoder state to one segment of ``w`` values (two layers,
    called together wherever a segment is predicted)."""

    def __init__(self, dropout: float, seg_len: int):
        self.dropout = Dropout(dropout, name="head_dropout")
        self.dense = Dense(seg_len, name="segment_values")

    def __call__(self, h):
        return self.dense(self.dropout(h))


__all__ = ["segment_rnn", "DECODERS", "NORMALIZATIONS"]
