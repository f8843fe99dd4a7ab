"""Bidirectional: per-sequence reversal, merge modes, state and weight order, errors."""
import pytest
import torch

from seqlayers import GRU, LSTM, Bidirectional, Dense, Input, Model, Sequential, SimpleRNN, get_mask

B, T, F, H = 3, 6, 4, 5


def _x():
    return torch.randn(B, T, F)


def _directions(bi):
    """Plain forward layers carrying the forward and backward weights (the test's reference)."""
    cls = type(bi.forward_layer)
    fwd, bwd = cls(H, return_sequences=True, return_state=True, input_dim=F), \
        cls(H, return_sequences=True, return_state=True, input_dim=F)
    fwd.set_weights(bi.forward_layer.get_weights())
    bwd.set_weights(bi.backward_layer.get_weights())
    return fwd, bwd


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_equals_forward_and_per_sequence_reversed_runs(cls):
    bi = Bidirectional(cls(H, return_sequences=True, return_state=True))
    x = _x()
    lengths = [6, 4, 1]
    mask = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
    out, *states = bi(x, mask=mask)
    fwd, bwd = _directions(bi)
    n = len(fwd.state_sizes)
    for b, L in enumerate(lengths):
        f_out, *f_states = fwd(x[b:b + 1, :L])
        r_out, *r_states = bwd(x[b:b + 1, :L].flip(1))  # reversed within its own length
        torch.testing.assert_close(out[b, :L, :H], f_out[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out[b, :L, H:], r_out[0].flip(0), atol=1e-6, rtol=1e-5)  # back in time order
        assert not out[b, L:].any()  # padded steps are zeros in both halves (Keras)
        for s, r in zip(states[:n] + states[n:], f_states + r_states):
            torch.testing.assert_close(s[b], r[0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("merge_mode,width", [("concat", 2 * H), ("sum", H), ("mul", H), ("ave", H)])
def test_merge_modes(merge_mode, width):
    bi = Bidirectional(LSTM(H, return_sequences=True), merge_mode=merge_mode)
    x = _x()
    out = bi(x)
    assert tuple(out.shape) == (B, T, width)
    assert bi.compute_output_shape((None, T, F)) == (None, T, width)
    fwd, bwd = _directions(bi)
    f, r = fwd(x)[0], bwd(x.flip(1))[0].flip(1)
    expected = {"concat": torch.cat([f, r], -1), "sum": f + r, "mul": f * r, "ave": (f + r) / 2}[merge_mode]
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)


def test_merge_mode_none_and_return_state_order():
    bi = Bidirectional(LSTM(H, return_state=True), merge_mode=None)
    res = bi(_x())
    assert len(res) == 6  # forward output, backward output, h_f, c_f, h_b, c_b
    assert all(tuple(r.shape) == (B, H) for r in res)
    torch.testing.assert_close(res[0], res[2])  # the forward output is its final h
    torch.testing.assert_close(res[1], res[4])  # the backward output is its final h
    assert bi.compute_output_shape((None, T, F)) == [(None, H)] * 6


def test_backward_layer_is_a_fresh_copy_with_go_backwards():
    inner = GRU(H, return_sequences=True, name="enc")
    bi = Bidirectional(inner)
    assert bi.forward_layer is not inner and bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_enc", "backward_enc")
    bi(_x())
    assert len(bi.get_weights()) == 6
    assert [w.shape for w in bi.get_weights()] == [w.shape for w in bi.forward_layer.get_weights()] * 2


def test_weights_round_trip_in_keras_order():
    bi = Bidirectional(SimpleRNN(H), input_shape=(T, F))
    ws = [w + i for i, w in enumerate(bi.get_weights())]
    bi.set_weights(ws)
    got = bi.get_weights()
    assert all((a == b).all() for a, b in zip(got, ws))
    assert (bi.forward_layer.get_weights()[0] == ws[0]).all() and (bi.backward_layer.get_weights()[0] == ws[3]).all()
    with pytest.raises(ValueError, match=r"set_weights expected 6 arrays \(the forward layer's 3, then the backward"):
        bi.set_weights(ws[:3])


def test_output_mask_and_models():
    x = _x()
    mask = torch.arange(T)[None, :] < torch.tensor([6, 3, 2])[:, None]
    out = Bidirectional(LSTM(H, return_sequences=True))(x, mask=mask)
    assert get_mask(out) is mask
    assert get_mask(Bidirectional(LSTM(H))(x, mask=mask)) is None
    model = Sequential([Bidirectional(LSTM(H, return_sequences=True), input_shape=(T, F)),
                        Bidirectional(GRU(H)), Dense(2)])
    assert tuple(model(x).shape) == (B, 2)
    inp = Input(shape=(T, F))
    seq, *states = Bidirectional(LSTM(H, return_sequences=True, return_state=True))(inp)
    assert tuple(seq.shape) == (None, T, 2 * H) and len(states) == 4
    assert [tuple(s.shape) for s in Model(inp, states)(x)] == [(B, H)] * 4


def test_inner_input_shape_is_adopted():
    bi = Bidirectional(LSTM(H, input_shape=(T, F)))
    assert bi.built and bi.declared_input_shape == (None, T, F)


def test_config_round_trip():
    bi = Bidirectional(GRU(H, return_sequences=True, reset_after=False), merge_mode="ave")
    clone = Bidirectional.from_config(bi.get_config())
    assert clone.get_config() == bi.get_config()
    x = _x()
    bi(x), clone(x)
    clone.set_weights(bi.get_weights())
    torch.testing.assert_close(clone(x), bi(x))


def test_stateful_bidirectional_keeps_both_directions():
    bi = Bidirectional(LSTM(H, stateful=True))
    x = _x()
    a = bi(x)
    b = bi(x)
    assert not torch.allclose(a, b)  # the second call starts from the kept states
    bi.reset_states()
    torch.testing.assert_close(bi(x), a)


def test_initial_state_count_is_checked():
    with pytest.raises(ValueError, match=r"initial_state must be a list of 4 tensors \(the forward layer's 2 states"):
        Bidirectional(LSTM(H))(_x(), initial_state=[torch.zeros(B, H)] * 2)


def test_constructor_errors():
    with pytest.raises(TypeError, match=r"Write Bidirectional\(LSTM\(64\)\), not Bidirectional\(64\)"):
        Bidirectional(64)
    with pytest.raises(TypeError, match="expected a recurrent layer"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match="merge_mode must be one of"):
        Bidirectional(LSTM(H), merge_mode="max")
    with pytest.raises(ValueError, match="different go_backwards"):
        Bidirectional(LSTM(H), backward_layer=LSTM(H))
    with pytest.raises(ValueError, match="must agree on return_sequences"):
        Bidirectional(LSTM(H), backward_layer=LSTM(H, go_backwards=True, return_sequences=True))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, time, features\), got \(3, 4\)"):
        Bidirectional(LSTM(H))(torch.zeros(3, 4))


def test_explicit_backward_layer_is_used():
    back = GRU(H, go_backwards=True, return_sequences=True, activation="relu")
    bi = Bidirectional(GRU(H, return_sequences=True), backward_layer=back)
    assert bi.backward_layer is back
    x = _x()
    out = bi(x)
    ref = GRU(H, return_sequences=True, activation="relu", input_dim=F)
    ref.set_weights(back.get_weights())
    torch.testing.assert_close(out[..., H:], ref(x.flip(1)).flip(1), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("where", ["inner", "outer"])
def test_float64_from_the_inner_layer_or_the_wrapper(where):
    inner_kw, outer_kw = ({"dtype": "float64"}, {}) if where == "inner" else ({}, {"dtype": "float64"})
    bi = Bidirectional(GRU(H, return_sequences=True, **inner_kw), **outer_kw)
    x = _x().double()
    mask = torch.arange(T)[None, :] < torch.tensor([6, 3, 2])[:, None]
    assert bi(x).dtype == torch.float64 and bi(x, mask=mask).dtype == torch.float64


@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
@pytest.mark.parametrize("return_state", [False, True])
def test_masked_inference_equals_the_differentiable_path(cls, return_state):
    """Without gradients (SimpleRNN: the native loop) a masked Bidirectional gives what it gives
    with gradients, for a right-padded mask (an empty row included) and an arbitrary one."""
    torch.manual_seed(0)
    layer = Bidirectional(cls(4, return_sequences=True, return_state=return_state))
    x = torch.randn(3, 6, 2)
    right = torch.arange(6)[None, :] < torch.tensor([6, 2, 0])[:, None]
    holes = torch.tensor([[1, 0, 1, 1, 0, 1]] * 3, dtype=torch.bool)
    for mask in (right, holes):
        with_grad = layer(x, mask=mask)
        with torch.no_grad():
            no_grad = layer(x, mask=mask)
        for a, b in zip(no_grad if return_state else [no_grad], with_grad if return_state else [with_grad]):
            torch.testing.assert_close(a, b.detach(), atol=1e-6, rtol=0)  # SimpleRNN: native loop vs _VF
