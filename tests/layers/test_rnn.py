"""rnn.py: each hyperparameter declared once (in its cell or in RNN), taken, documented and exposed by
SimpleRNN/GRU/LSTM as Keras does; Bidirectional leaves its sub-layers as their config says."""
import inspect
import re

import pytest
import torch

from seqlayers import GRU, LSTM, Bidirectional, SimpleRNN, constraints, regularizers
from seqlayers.layers.cells import GRUCell, LSTMCell, SimpleRNNCell

LAYERS = {SimpleRNN: SimpleRNNCell, GRU: GRUCell, LSTM: LSTMCell}
# a value differing from each argument's default, to see it arrive where it belongs
CHANGED = dict(activation="relu", recurrent_activation="hard_sigmoid", use_bias=False, dropout=0.25,
               recurrent_dropout=0.125, seed=3, unit_forget_bias=False, reset_after=False,
               kernel_initializer="he_normal", recurrent_initializer="glorot_normal", bias_initializer="ones",
               return_sequences=True, return_state=True, go_backwards=True, stateful=True, unroll=True,
               zero_output_for_mask=True, use_cudnn=False, implementation=1,
               kernel_regularizer=regularizers.L2(0.5), recurrent_regularizer=regularizers.L1(0.25),
               bias_regularizer=regularizers.L1L2(0.1, 0.2), kernel_constraint=constraints.MaxNorm(2.0),
               recurrent_constraint=constraints.UnitNorm(), bias_constraint=constraints.NonNeg())


def _args(cls):
    return [p for p in inspect.signature(cls).parameters.values() if p.kind is not p.VAR_KEYWORD]


@pytest.mark.parametrize("cls", list(LAYERS))
def test_every_cell_argument_is_taken_by_the_layer_and_readable_on_it(cls):
    cell_args = {p.name for p in _args(LAYERS[cls])}
    layer_args = {p.name for p in _args(cls)}
    assert cell_args <= layer_args  # nothing of the cell is missing from the layer
    given = {k: v for k, v in CHANGED.items() if k in layer_args}
    layer = cls(4, **given)
    for name in layer_args - {"units"}:
        assert name in given, f"CHANGED has no value for {cls.__name__}'s {name}"
    assert layer.units == layer.cell.units == 4
    for name, value in given.items():
        got = getattr(layer, name)
        if name.endswith("activation"):
            assert got is getattr(layer.cell, name) and getattr(got, "__name__", "").endswith(value.split("_")[-1])
        elif name.endswith("initializer"):
            assert callable(got) and got is getattr(layer.cell, name)
        else:
            assert got == value, name
        assert layer.get_config()[name] == value  # one record, the config's


def test_lstm_dropout_and_friends_read_as_keras():
    layer = LSTM(8, dropout=0.2)
    assert layer.dropout == 0.2 and layer.recurrent_dropout == 0.0
    assert layer.recurrent_activation is torch.sigmoid and layer.activation is torch.tanh
    assert layer.use_cudnn == "auto" and layer.unit_forget_bias is True
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = layer.no_such_thing


@pytest.mark.parametrize("cls", list(LAYERS) + list(LAYERS.values()))
def test_docstring_has_args_for_every_argument_and_a_shape_section(cls):
    doc = inspect.getdoc(cls)
    assert "\nArgs:\n" in doc and "\nShape:\n" in doc
    args = doc.split("\nArgs:\n")[1].split("\nShape:\n")[0]
    for p in _args(cls):
        assert re.search(rf"\b{p.name}\b", args), f"{cls.__name__}'s Args: does not document {p.name}"


@pytest.mark.parametrize("cls", list(LAYERS))
def test_config_round_trip_keeps_every_argument(cls):
    names = {p.name for p in _args(cls)}
    layer = cls(3, **{k: v for k, v in CHANGED.items() if k in names and k != "stateful"})
    again = cls.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()


def test_bidirectional_leaves_its_sub_layers_config_alone():
    bi = Bidirectional(LSTM(3, return_sequences=True))
    for sub in (bi.forward_layer, bi.backward_layer):
        assert sub.zero_output_for_mask is False
        assert sub.get_config()["zero_output_for_mask"] is False
    x = torch.randn(2, 4, 5)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    out = bi(x, mask=mask)
    assert torch.all(out[0, 2:] == 0)  # Keras: both halves output zeros at padded steps
    # the forward layer on its own follows its own config: padded steps repeat the last valid output
    fwd = bi.forward_layer(x, mask=mask)
    torch.testing.assert_close(fwd[0, 2], fwd[0, 1])
    torch.testing.assert_close(out[..., :3], torch.where(mask[..., None], fwd, torch.zeros(())))


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merge_mode_none_returns_two_tensors(masked, return_sequences):
    bi = Bidirectional(GRU(3, return_sequences=return_sequences), merge_mode=None)
    x = torch.randn(2, 4, 5)
    mask = torch.tensor([[True, True, True, False], [True] * 4]) if masked else None
    out = bi(x, mask=mask)
    assert isinstance(out, list) and len(out) == 2
    shape = (2, 4, 3) if return_sequences else (2, 3)
    assert all(tuple(o.shape) == shape for o in out)
    with_states = Bidirectional(GRU(3, return_sequences=return_sequences, return_state=True), merge_mode=None)
    assert len(with_states(x, mask=mask)) == 4  # two outputs, then h of each direction


# ------------------------------------------------------------------ parallel_steps (SegRNN's parallel decoding)
@pytest.mark.parametrize("cls,kw", [(GRU, {}), (GRU, {"reset_after": False}), (LSTM, {}), (SimpleRNN, {})])
def test_parallel_steps_equal_one_step_from_the_repeated_state(cls, kw):
    """Every step from initial_state = RepeatVector on the states + one step on (B*T, 1, F), values and
    gradients (the weights' and the inputs')."""
    torch.manual_seed(0)
    B, T, F_, U = 3, 5, 4, 6
    layer = cls(U, return_state=True, **kw)
    x = torch.randn(B, T, F_, requires_grad=True)
    s0 = [torch.randn(B, U, requires_grad=True) for _ in range(2 if cls is LSTM else 1)]
    out = layer(x, initial_state=s0, parallel_steps=True)
    assert layer.last_path == "parallel_steps" and [o.shape for o in out] == [(B, T, U)] * len(out)
    ref = layer(x.reshape(B * T, 1, F_), initial_state=[s[:, None].expand(B, T, U).reshape(B * T, U) for s in s0])
    ref = [r.reshape(B, T, U) for r in ref]
    for o, r in zip(out, ref):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-6)
    g = torch.randn(B, T, U)
    grads = torch.autograd.grad((out[0] * g).sum(), [x, *s0, *layer.parameters()])
    grads_ref = torch.autograd.grad((ref[0] * g).sum(), [x, *s0, *layer.parameters()])
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_parallel_steps_without_return_state_returns_the_sequence():
    layer = GRU(3)  # return_sequences=False: parallel_steps still returns every step
    y = layer(torch.randn(2, 4, 5), initial_state=[torch.zeros(2, 3)], parallel_steps=True)
    assert y.shape == (2, 4, 3)


def test_parallel_steps_errors_name_what_is_needed():
    x, h = torch.randn(2, 4, 5), [torch.zeros(2, 3)]
    with pytest.raises(ValueError, match=r"GRU 'g': parallel_steps=True \(every step from initial_state\) needs an "
                                         r"initial_state \(the state every step starts from\)\. Give it, or call"):
        GRU(3, name="g")(x, parallel_steps=True)
    with pytest.raises(ValueError, match=r"needs go_backwards=False\. Give it"):
        GRU(3, go_backwards=True)(x, initial_state=h, parallel_steps=True)
    with pytest.raises(ValueError, match=r"needs recurrent_dropout=0\. Give it"):
        LSTM(3, recurrent_dropout=0.5)(x, initial_state=[torch.zeros(2, 3)] * 2, parallel_steps=True, training=True)
    with pytest.raises(ValueError, match=r"needs no mask\. Give it"):
        GRU(3)(x, initial_state=h, mask=torch.ones(2, 4, dtype=torch.bool), parallel_steps=True)
