"""segment_rnn (SegRNN): shapes, the channel fold, parallel and recurrent decoding against a plain-torch
loop over samples, channels and segments (Keras-layout GRU equations written out), save/load, explain."""
import pytest
import torch

import seqlayers
from seqlayers.topologies import segment_rnn

L, H, C, W, D = 12, 8, 3, 4, 6  # look-back, horizon, channels, segment length, units


def _weights(model):
    """The layers' Keras-layout weights by name (random, so a mix-up cannot hide behind zeros)."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.4)
    by = {layer.name: [torch.as_tensor(w) for w in layer.get_weights()] for layer in model.layers}
    by["segment_embedding"] = [torch.as_tensor(w) for w in model.get_layer("segment_embedding").layer.get_weights()]
    return by


def _gru_step(w, x, h):
    """Keras's GRU (reset_after=True) step: gates z, r, candidate in that order in the kernels."""
    kernel, rec, bias = w
    n = h.shape[-1]
    xi = x @ kernel + bias[0]
    hi = h @ rec + bias[1]
    z = torch.sigmoid(xi[:n] + hi[:n])
    r = torch.sigmoid(xi[n:2 * n] + hi[n:2 * n])
    cand = torch.tanh(xi[2 * n:] + r * hi[2 * n:])
    return z * h + (1 - z) * cand


def _reference(w, x, decoder: str, channel_embedding: bool):
    """SegRNN by its definition, one sample, one channel, one segment at a time (subtract-last norm)."""
    (ek, eb), gru, (ok, ob) = w["segment_embedding"], w["segment_rnn"], w["segment_values"]
    B, m = x.shape[0], H // W
    y = torch.zeros(B, H, C)
    for b in range(B):
        for c in range(C):
            series = x[b, :, c]
            last = series[-1]
            h = torch.zeros(D)
            for s in range(L // W):  # segment-wise iterations
                h = _gru_step(gru, torch.relu((series[s * W:(s + 1) * W] - last) @ ek + eb), h)
            out = []
            if decoder == "parallel":  # every segment from the same state, none reading another's output
                for j in range(m):
                    if channel_embedding:
                        q = torch.cat([w["segment_position"][0][j], w["channel_embedding"][0][c]])
                    else:
                        q = w["segment_position"][0][j]
                    out.append(_gru_step(gru, q, h) @ ok + ob)
            else:  # each segment predicted, embedded and read back
                for _ in range(m):
                    seg = h @ ok + ob
                    out.append(seg)
                    h = _gru_step(gru, torch.relu(seg @ ek + eb), h)
            y[b, :, c] = torch.cat(out) + last
    return y


@pytest.mark.parametrize("decoder,channel_embedding", [("parallel", True), ("parallel", False), ("recurrent", True)])
def test_decoding_equals_its_step_by_step_definition(decoder, channel_embedding):
    model = segment_rnn(L, H, C, seg_len=W, units=D, decoder=decoder, normalization="last",
                        channel_embedding=channel_embedding)
    model.eval()  # no dropout
    w = _weights(model)
    x = torch.randn(2, L, C)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference(w, x, decoder, channel_embedding), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("norm", ["revin", "last", "none"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_shapes(norm, cell):
    model = segment_rnn(L, H, C, seg_len=W, units=D, normalization=norm, cell=cell)
    assert tuple(model.outputs[0].shape) == (None, H, C)
    assert model(torch.randn(5, L, C)).shape == (5, H, C)
    uni = segment_rnn(L, H, 1, seg_len=W, units=D, normalization=norm, cell=cell)
    assert uni(torch.randn(5, L, 1)).shape == (5, H, 1)


def test_channels_are_independent_samples():
    """The fold: changing channel 1 of the input changes channel 1 of the forecast only, and every
    channel goes through the same weights (only the decoder's channel embedding tells them apart)."""
    model = segment_rnn(L, H, C, seg_len=W, units=D, channel_embedding=False, normalization="revin")
    model.eval()
    x = torch.randn(4, L, C)
    x2 = x.clone()
    x2[:, :, 1] += torch.randn(4, L)
    with torch.no_grad():
        y, y2 = model(x), model(x2)
        assert torch.equal(y[:, :, [0, 2]], y2[:, :, [0, 2]]) and not torch.allclose(y[:, :, 1], y2[:, :, 1])
        swapped = model(x[:, :, [2, 0, 1]])  # no channel embedding: a channel's forecast follows it
    torch.testing.assert_close(swapped, y[:, :, [2, 0, 1]])


def test_revin_makes_the_forecast_follow_the_level_and_scale_of_the_window():
    model = segment_rnn(L, H, C, seg_len=W, units=D, normalization="revin")
    model.eval()
    x = torch.randn(3, L, C)
    with torch.no_grad():
        torch.testing.assert_close(model(x * 5 + 7), model(x) * 5 + 7, rtol=1e-3, atol=1e-3)


def test_save_and_load_give_the_same_forecast(tmp_path):
    model = segment_rnn(L, H, C, seg_len=W, units=D, normalization="revin")
    model.eval()
    _weights(model)
    x = torch.randn(2, L, C)
    path = tmp_path / "segrnn.seqlayers"
    model.save(path)
    loaded = seqlayers.load_model(path)
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_explain_shows_the_segments_and_the_parallel_decoder():
    text = segment_rnn(96, 96, 7, seg_len=24, units=16).explain_text()
    for line in ["Reshape 'segments'", "out  (batch, time=7, 4, features=24)",  # 7 channels of 4 segments
                 "FoldIntoBatch 'channels_into_batch'", "out  (batch*7, time=4, features=24)",
                 "in   (batch*7, time=4, features=16)", "initial_state  (batch*7, features=16)",
                 "parallel_steps=True: one step per entry of the time axis, none reading another's output",
                 "the same layer object as above: its weights are shared with that call",
                 "folds axis 1 (7 entries) into the batch", "PositionEmbedding 'channel_embedding'"]:
        assert line in text, line


def test_errors_teach():
    with pytest.raises(ValueError, match=r"segment_rnn: horizon 10 is not a multiple of seg_len 4; the window is "
                                         r"cut into whole segments\. Pick a seg_len that divides both"):
        segment_rnn(12, 10, 3, seg_len=4)
    with pytest.raises(ValueError, match=r"segment_rnn: decoder must be 'parallel' or 'recurrent', got 'pmf'"):
        segment_rnn(12, 8, 3, seg_len=4, decoder="pmf")
    with pytest.raises(ValueError, match=r"normalization must be one of 'revin', 'last', 'none', got 'RevIN'"):
        segment_rnn(12, 8, 3, seg_len=4, normalization="RevIN")
    with pytest.raises(ValueError, match=r"units must be even, got 5"):
        segment_rnn(12, 8, 3, seg_len=4, units=5)
    with pytest.raises(ValueError, match=r"units must be a positive integer, got 0"):
        segment_rnn(12, 8, 3, seg_len=4, units=0)
