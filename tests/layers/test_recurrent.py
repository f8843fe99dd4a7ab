"""Recurrent layers: shapes, torch references with copied weights, masks, stateful, dropout, errors."""
import numpy as np
import pytest
import torch
from torch import nn

from seqlayers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    Dense,
    Embedding,
    GRUCell,
    Input,
    Layer,
    LSTMCell,
    Model,
    Sequential,
    SimpleRNN,
    SimpleRNNCell,
    get_mask,
)

B, T, F, H = 3, 6, 4, 5


def _x(b=B, t=T, f=F):
    return torch.randn(b, t, f)


def _lengths_mask(lengths, t=T):
    return torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("cls,n_states", [(LSTM, 2), (GRU, 1), (SimpleRNN, 1)])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_output_shapes_and_compute_output_shape(cls, n_states, return_sequences, return_state):
    layer = cls(H, return_sequences=return_sequences, return_state=return_state)
    out = layer(_x())
    expected = (B, T, H) if return_sequences else (B, H)
    shapes = layer.compute_output_shape((None, T, F))
    if return_state:
        assert isinstance(out, list) and len(out) == 1 + n_states
        assert tuple(out[0].shape) == expected
        assert all(tuple(s.shape) == (B, H) for s in out[1:])
        assert shapes == [(None,) + expected[1:]] + [(None, H)] * n_states
    else:
        assert tuple(out.shape) == expected
        assert shapes == (None,) + expected[1:]


@pytest.mark.parametrize("cls,expected", [
    (LSTM, 4 * (F * H + H * H + H)),
    (GRU, 3 * (F * H + H * H) + 2 * 3 * H),
    (SimpleRNN, F * H + H * H + H),
])
def test_parameter_counts_equal_keras(cls, expected):
    layer = cls(H, input_dim=F)
    assert layer.count_params() == expected
    assert sum(p.numel() for p in layer.parameters()) == expected


def test_gru_reset_before_has_one_bias_vector():
    layer = GRU(H, reset_after=False, input_dim=F)
    assert [w.shape for w in layer.get_weights()] == [(F, 3 * H), (H, 3 * H), (3 * H,)]
    assert layer.count_params() == 3 * (F * H + H * H + H)


def test_keras_weight_layout_round_trips():
    for layer in (LSTM(H, input_dim=F), GRU(H, input_dim=F), GRU(H, reset_after=False, input_dim=F),
                  SimpleRNN(H, input_dim=F)):
        ws = [np.random.randn(*w.shape).astype("float32") for w in layer.get_weights()]
        layer.set_weights(ws)
        for a, b in zip(layer.get_weights(), ws):
            np.testing.assert_array_equal(a, b)


def test_lstm_keras_layout_and_unit_forget_bias():
    layer = LSTM(H, input_dim=F)
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (F, 4 * H) and recurrent.shape == (H, 4 * H) and bias.shape == (4 * H,)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(H), atol=1e-5)  # orthogonal rows
    assert not LSTM(H, unit_forget_bias=False, input_dim=F).get_weights()[2].any()


def test_input_dim_means_time_and_features():
    layer = LSTM(H, input_dim=F)
    assert layer.built and layer.declared_input_shape == (None, None, F)
    assert GRU(H, input_dim=F, input_length=T).declared_input_shape == (None, T, F)  # Keras 2


def test_keras_compatibility_arguments_are_accepted():
    x = _x()
    a = LSTM(H, use_cudnn=False, implementation=1, unroll=True)
    out = a(x)
    assert a.last_path == "fused"
    b = LSTM(H, input_dim=F)
    b.set_weights(a.get_weights())
    torch.testing.assert_close(out, b(x), atol=0, rtol=0)


# ------------------------------------------------------------------ references with copied weights
def _torch_rnn_from_keras_weights(layer):
    """An nn.LSTM/GRU/RNN carrying ``layer``'s Keras-layout weights (the test's own mapping)."""
    kernel, recurrent, *bias = [torch.tensor(w) for w in layer.get_weights()]
    if isinstance(layer, LSTM):
        ref = nn.LSTM(F, H, batch_first=True)
        order = [0, 1, 2, 3]  # i f c o in both
    elif isinstance(layer, GRU):
        ref = nn.GRU(F, H, batch_first=True)
        order = [1, 0, 2]  # Keras z r h -> torch r z n
    else:
        ref = nn.RNN(F, H, batch_first=True, nonlinearity=layer.cell._config["activation"])
        order = [0]

    def reorder(w):  # (X, G*H) -> (G*H, X) in torch's gate order
        w = torch.cat([w[..., g * H:(g + 1) * H] for g in order], dim=-1)
        return w.T if w.dim() == 2 else w

    with torch.no_grad():
        ref.weight_ih_l0.copy_(reorder(kernel))
        ref.weight_hh_l0.copy_(reorder(recurrent))
        if isinstance(layer, GRU):
            ref.bias_ih_l0.copy_(reorder(bias[0][0]))
            ref.bias_hh_l0.copy_(reorder(bias[0][1]))
        else:
            ref.bias_ih_l0.copy_(reorder(bias[0]))
            ref.bias_hh_l0.zero_()
    return ref


@pytest.mark.parametrize("make", [lambda: LSTM(H, return_sequences=True, return_state=True),
                                  lambda: GRU(H, return_sequences=True, return_state=True),
                                  lambda: SimpleRNN(H, return_sequences=True, return_state=True),
                                  lambda: SimpleRNN(H, activation="relu", return_sequences=True, return_state=True)])
def test_matches_torch_nn_with_copied_weights(make):
    layer = make()
    x = _x()
    out, *states = layer(x)
    ref = _torch_rnn_from_keras_weights(layer)
    ref_out, ref_h = ref(x)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=1e-5)
    if isinstance(layer, LSTM):
        torch.testing.assert_close(states[0], ref_h[0][0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(states[1], ref_h[1][0], atol=1e-6, rtol=1e-5)
    else:
        torch.testing.assert_close(states[0], ref_h[0], atol=1e-6, rtol=1e-5)
    assert layer.last_path == "fused"


def test_initial_state_is_used():
    layer = LSTM(H, return_state=True)
    x = _x()
    h0, c0 = torch.randn(B, H), torch.randn(B, H)
    _, h, c = layer(x, initial_state=[h0, c0])
    ref = _torch_rnn_from_keras_weights(layer)
    _, (rh, rc) = ref(x, (h0[None], c0[None]))
    torch.testing.assert_close(h, rh[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c, rc[0], atol=1e-6, rtol=1e-5)


# ------------------------------------------------------------------ mask semantics (Keras's rules)
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_masked_steps_keep_state_and_repeat_previous_output(cls):
    layer = cls(H, return_sequences=True, return_state=True)
    x = _x()
    lengths = [6, 3, 0]
    out, *states = layer(x, mask=_lengths_mask(lengths))
    for b, n in enumerate(lengths):
        if n == 0:
            assert not out[b].any()  # zeros before the first valid step
            assert all(not s[b].any() for s in states)  # initial (zero) states kept
            continue
        ref_out, *ref_states = layer(x[b:b + 1, :n])
        torch.testing.assert_close(out[b, :n], ref_out[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(out[b, n:], ref_out[0, -1].expand(T - n, H), atol=1e-6, rtol=1e-5)
        for s, r in zip(states, ref_states):
            torch.testing.assert_close(s[b], r[0], atol=1e-6, rtol=1e-5)


def test_zero_output_for_mask_zeroes_padded_outputs_and_last_output():
    x = _x()
    mask = _lengths_mask([6, 3, 1])
    seq = LSTM(H, return_sequences=True, zero_output_for_mask=True)
    out = seq(x, mask=mask)
    assert not out[~mask].any() and out[mask].abs().min() > 0
    last = LSTM(H, zero_output_for_mask=True)
    y = last(x, mask=mask)
    # Keras: the last output is the output of step T-1, which is zero where that step is masked
    assert y[0].abs().min() > 0 and not y[1:].any()


def test_arbitrary_mask_skips_the_masked_steps():
    layer = GRU(H, return_state=True)
    x = _x()
    mask = torch.tensor([[1, 0, 1, 0, 1, 1], [0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    _, h = layer(x, mask=mask)
    assert layer.last_path == "loop"
    for b in range(B):
        _, ref_h = layer(x[b:b + 1][:, mask[b]])
        torch.testing.assert_close(h[b], ref_h[0], atol=1e-6, rtol=1e-5)


def test_go_backwards_reverses_input_and_returns_reversed_sequence():
    layer = LSTM(H, return_sequences=True, go_backwards=True)
    x = _x()
    out = layer(x)
    layer.go_backwards = False
    torch.testing.assert_close(out, layer(x.flip(1)), atol=0, rtol=0)


def test_go_backwards_with_right_padding_puts_padding_first():
    layer = LSTM(H, return_sequences=True, go_backwards=True)
    x = _x()
    out = layer(x, mask=_lengths_mask([6, 4, 2]))
    forward = LSTM(H, return_sequences=True)
    forward(x)
    forward.set_weights(layer.get_weights())
    for b, n in enumerate([6, 4, 2]):
        assert not out[b, :T - n].any()  # the reversed padding comes first: zero outputs
        ref = forward(x[b:b + 1, :n].flip(1))[0]
        torch.testing.assert_close(out[b, T - n:], ref, atol=1e-6, rtol=1e-5)


def test_output_mask_follows_return_sequences():
    x = _x()
    mask = _lengths_mask([6, 3, 2])
    assert get_mask(LSTM(H, return_sequences=True)(x, mask=mask)) is mask
    assert get_mask(LSTM(H)(x, mask=mask)) is None
    out = LSTM(H, return_sequences=True, return_state=True)(x, mask=mask)
    assert get_mask(out[0]) is mask and get_mask(out[1]) is None


def test_mask_from_embedding_reaches_the_lstm():
    ids = torch.tensor([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    model = Sequential([Embedding(10, F, mask_zero=True), LSTM(H, return_state=True)])
    _, h, _ = model(ids)
    assert model.layers[1].last_path == "fused_padded"
    _, ref_h, _ = model.layers[1](model.layers[0](ids)[:1, :3])
    torch.testing.assert_close(h[0], ref_h[0], atol=1e-6, rtol=1e-5)


# ------------------------------------------------------------------ stateful
def test_stateful_carries_detached_states_and_resets():
    layer = LSTM(H, stateful=True, return_state=True)
    x = _x()
    whole = LSTM(H, return_state=True)
    whole(x)
    layer(x[:, :3])  # builds with batch B
    layer.reset_states()
    whole.set_weights(layer.get_weights())
    layer(x[:, :3])
    _, h, c = layer(x[:, 3:])
    _, rh, rc = whole(x)
    torch.testing.assert_close(h, rh, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c, rc, atol=1e-6, rtol=1e-5)
    assert all(not s.requires_grad for s in layer.states)
    layer.reset_states()
    assert all(not s.any() for s in layer.states)
    _, h2, _ = layer(x[:, :3])
    _, rh2, _ = whole(x[:, :3])
    torch.testing.assert_close(h2, rh2, atol=1e-6, rtol=1e-5)


def test_reset_states_to_given_values_keras2_style():
    layer = GRU(H, stateful=True, return_state=True, batch_input_shape=(B, T, F))
    h0 = torch.randn(B, H)
    layer.reset_states([h0])
    x = _x()
    _, h = layer(x)
    ref = GRU(H, return_state=True, input_dim=F)
    ref.set_weights(layer.get_weights())
    torch.testing.assert_close(h, ref(x, initial_state=[h0])[1])
    with pytest.raises(ValueError, match=r"initial_state\[0\] must have shape \(3, 5\)"):
        layer.reset_states([torch.zeros(2, H)])


def test_stateful_batch_size_is_fixed():
    layer = GRU(H, stateful=True)
    layer(_x(b=4))
    with pytest.raises(ValueError, match=r"stateful layer keeps states for a batch of 4, got a batch of 3.*drop_last"):
        layer(_x(b=3))


def test_stateful_needs_a_known_batch_size():
    with pytest.raises(ValueError, match=r"stateful=True needs a fixed batch size.*\(None, 6, 4\) leaves it "
                                         r"open\. Give batch_input_shape=\(32, T, F\) or batch_size=32"):
        LSTM(H, stateful=True, input_shape=(T, F))
    with pytest.raises(ValueError, match=r"Bidirectional: stateful=True needs a fixed batch size"):
        Bidirectional(LSTM(H, stateful=True), input_shape=(T, F))
    model = Sequential([LSTM(H, stateful=True), Dense(1)])  # Keras 3: the first batch fixes the size
    model(_x())
    assert [tuple(s.shape) for s in model.layers[0].states] == [(B, H), (B, H)]
    with pytest.raises(ValueError, match="keeps states for a batch of 3"):
        model(_x(b=2))
    layer = LSTM(H, stateful=True, batch_input_shape=(2, T, F))
    assert [tuple(s.shape) for s in layer.states] == [(2, H), (2, H)]
    with pytest.raises(ValueError, match="stateful=False"):
        LSTM(H).reset_states()


def test_stateful_backward_pass_works_on_consecutive_batches():
    layer = LSTM(H, stateful=True)
    x = _x()
    for _ in range(2):
        layer(x).sum().backward()  # a second backward would fail if the kept states were not detached


# ------------------------------------------------------------------ dropout
def test_dropout_only_in_training_and_same_mask_every_step():
    torch.manual_seed(1)
    layer = SimpleRNN(H, dropout=0.5, return_sequences=True, activation="linear", use_bias=False,
                      recurrent_initializer="zeros")
    x = torch.ones(2, T, F)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    layer.train()
    out = layer(x)
    assert layer.last_path == "loop"  # linear activation: loop
    # no recurrence and constant input: the same dropout mask at every step gives equal outputs
    torch.testing.assert_close(out, out[:, :1].expand_as(out))
    assert not torch.allclose(out, layer.eval()(x))


def test_recurrent_dropout_forces_the_loop_only_in_training():
    layer = LSTM(H, recurrent_dropout=0.3)
    x = _x()
    layer.train()
    layer(x)
    assert layer.last_path == "loop"
    layer.eval()
    layer(x)
    assert layer.last_path == "fused"


def test_input_dropout_stays_fused():
    layer = GRU(H, dropout=0.3)
    layer.train()
    layer(_x())
    assert layer.last_path == "fused"


# ------------------------------------------------------------------ custom cells
class MinimalCell(nn.Module):
    """A cell written the Keras way: state_size and call(x_t, states)."""

    state_size = H

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(F, H) * 0.3)
        self.u = nn.Parameter(torch.randn(H, H) * 0.3)

    def call(self, x_t, states, training=False):
        h = torch.tanh(x_t @ self.w + states[0] @ self.u)
        return h, [h]


def test_rnn_with_a_custom_cell_matches_simple_rnn():
    cell = MinimalCell()
    layer = RNN(cell, return_sequences=True, return_state=True)
    ref = SimpleRNN(H, use_bias=False, return_sequences=True, return_state=True, input_dim=F)
    ref.set_weights([cell.w.detach(), cell.u.detach()])
    x = _x()
    mask = _lengths_mask([6, 2, 4])
    out, h = layer(x, mask=mask)
    ref_out, ref_h = ref(x, mask=mask)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h, ref_h, atol=1e-6, rtol=1e-5)
    assert layer.last_path == "loop"


@pytest.mark.parametrize("cell_cls", [LSTMCell, GRUCell, SimpleRNNCell])
def test_builtin_cells_in_rnn_equal_the_layers(cell_cls):
    layer_cls = {LSTMCell: LSTM, GRUCell: GRU, SimpleRNNCell: SimpleRNN}[cell_cls]
    rnn = RNN(cell_cls(H), return_sequences=True)
    x = _x()
    out = rnn(x)
    ref = layer_cls(H, return_sequences=True, input_dim=F)
    ref.set_weights(rnn.get_weights())
    torch.testing.assert_close(out, ref(x), atol=1e-6, rtol=1e-5)
    # a cell called on one step
    h0 = [torch.zeros(B, H) for _ in range(2 if cell_cls is LSTMCell else 1)]
    y, _ = rnn.cell(x[:, 0], h0)
    torch.testing.assert_close(y, out[:, 0], atol=1e-6, rtol=1e-5)


class MinimalRNNCell(Layer):
    """The custom cell of Keras's RNN documentation, written as a seqlayers Layer with build()."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = nn.Parameter(torch.randn(input_shape[-1], self.units) * 0.3)
        self.recurrent_kernel = nn.Parameter(torch.randn(self.units, self.units) * 0.3)

    def call(self, inputs, states):
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]


def test_keras_style_layer_cell_is_built_from_the_input_and_saved_in_config():
    layer = RNN(MinimalRNNCell(H), return_sequences=True)
    x = _x()
    out = layer(x)
    ref = SimpleRNN(H, activation="linear", use_bias=False, return_sequences=True, input_dim=F)
    ref.set_weights(layer.get_weights())
    torch.testing.assert_close(out, ref(x), atol=1e-5, rtol=1e-5)
    assert layer.get_config()["cell"]["class_name"] == "MinimalRNNCell"
    clone = RNN.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    torch.testing.assert_close(clone(x), out)


def test_rnn_refuses_a_cell_without_state_size():
    with pytest.raises(TypeError, match="state_size"):
        RNN(nn.Linear(3, 3))


# ------------------------------------------------------------------ models, config
def test_sequential_many_to_one_and_functional_return_state():
    model = Sequential([LSTM(H, input_shape=(T, F), return_sequences=True), GRU(H), Dense(1)])
    assert tuple(model(_x()).shape) == (B, 1)
    inp = Input(shape=(T, F))
    out, h, c = LSTM(H, return_state=True)(inp)
    model = Model(inp, [out, h, c])
    res = model(_x())
    assert [tuple(r.shape) for r in res] == [(B, H)] * 3


@pytest.mark.parametrize("layer", [LSTM(H, return_sequences=True, go_backwards=True, dropout=0.1),
                                   GRU(H, reset_after=False, activation="relu"),
                                   SimpleRNN(H, stateful=False, zero_output_for_mask=True)])
def test_config_round_trip(layer):
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = _x()
    layer(x)
    clone(x)
    clone.set_weights(layer.get_weights())
    layer.eval(), clone.eval()
    torch.testing.assert_close(layer(x), clone(x))


def test_seeded_dropout_is_reproducible():
    x = _x()
    outs = []
    for _ in range(2):
        layer = GRU(H, dropout=0.5, seed=3, kernel_initializer="ones", recurrent_initializer="zeros")
        layer.train()
        outs.append(layer(x))
    torch.testing.assert_close(outs[0], outs[1])


# ------------------------------------------------------------------ errors that teach
def test_2d_input_error_suggests_return_sequences():
    with pytest.raises(ValueError, match=r"LSTM 'lstm': expected input of shape \(batch, time, features\), "
                                         r"got \(32, 8\)\. A 2-D input usually means the previous recurrent "
                                         r"layer needs return_sequences=True \(or add a time axis: x\[:, :, None\]\)"):
        LSTM(4, name="lstm")(torch.zeros(32, 8))


def test_wrong_feature_size_after_build():
    layer = GRU(H)
    layer(_x())
    with pytest.raises(ValueError, match=r"GRU: expected .* with 4 at axis -1, got \(3, 6, 7\)"):
        layer(_x(f=7))


def test_mask_of_wrong_shape():
    with pytest.raises(ValueError, match=r"expected a mask of shape \(batch, time\) = \(3, 6\).*got \(3, 5\)"):
        LSTM(H)(_x(), mask=torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask of shape \(batch, time\) = \(3, 6\).*got \(2, 6\)"):
        SimpleRNN(H)(_x(), mask=torch.ones(2, 6, dtype=torch.bool))


def test_initial_state_of_wrong_count_or_shape():
    with pytest.raises(ValueError, match=r"initial_state must be a list of 2 tensor\(s\) of shapes \(3, 5\), "
                                         r"\(3, 5\), got 1\. An LSTM takes \[h, c\]"):
        LSTM(H)(_x(), initial_state=[torch.zeros(B, H)])
    with pytest.raises(ValueError, match=r"initial_state\[0\] must have shape \(3, 5\) \(batch, units\), got \(3, 4\)"):
        GRU(H)(_x(), initial_state=[torch.zeros(B, 4)])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="units must be a positive integer"):
        LSTM(0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        GRU(3, dropout=1.5)
    with pytest.raises(ValueError, match="unknown activation 'tahn'. Did you mean 'tanh'"):
        SimpleRNN(3, activation="tahn")
    with pytest.raises(TypeError, match="Did you mean 'return_sequences'"):
        LSTM(3, return_sequence=True)
