"""torch.export of recurrent models with a dynamic batch AND time axis (``layers/rnn_op.py``).

Under export each fused-kind direction is one ``seqlayers::recurrence`` custom op; the exported
program is run at other (B, T) than the example's and compared with the eager model, and the op
itself with plain torch modules (nn.LSTM/GRU/RNN, a brute-force nn.LSTMCell walk over the valid steps).
"""
import pytest
import torch
from torch import nn
from torch.export import Dim

from seqlayers.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from seqlayers.layers.rnn_op import recurrence
from seqlayers.models import Sequential

SIZES = [(3, 11), (9, 4), (2, 17)]  # (B, T) the exported programs run at; the example is (4, 7)
RNNS = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}


def _ids(B, T, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 30, (B, T), generator=g)
    ids[0, T // 2:] = 0  # right padding
    ids[-1, 1] = 0  # a hole: not right-padded
    return ids


def _export(model, example):
    dims = {0: Dim("B", min=2, max=64), 1: Dim("T", min=2, max=64)}
    return torch.export.export(model, (example,), dynamic_shapes=(dims,))


def _check_other_sizes(model, program, make, min_ops):
    assert str(program.graph_module.code).count("seqlayers.recurrence") >= min_ops
    for i, (B, T) in enumerate(SIZES):
        x = make(B, T, i)
        got = program.module()(x)
        torch.testing.assert_close(got, model(x), atol=1e-5, rtol=1e-5)
        assert got.shape[0] == B


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("kind", sorted(RNNS))
def test_export_with_dynamic_batch_and_time_matches_eager_at_other_sizes(kind, return_sequences, masked):
    torch.manual_seed(0)
    rnn = RNNS[kind](6, return_sequences=return_sequences)
    if masked:
        model, make = Sequential([Embedding(30, 5, mask_zero=True), rnn, Dense(3)]), _ids
    else:
        model = Sequential([rnn, Dense(3)])
        make = lambda B, T, s: torch.randn(B, T, 5, generator=torch.Generator().manual_seed(s))  # noqa: E731
    model.eval()
    example = make(4, 7, 99)
    model(example)
    program = _export(model, example)
    _check_other_sizes(model, program, make, min_ops=1)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_export_of_masked_bidirectional_stack_matches_eager_at_other_sizes(cls, return_sequences):
    torch.manual_seed(1)
    model = Sequential([Embedding(30, 5, mask_zero=True), Bidirectional(cls(4, return_sequences=True)),
                        SimpleRNN(4, go_backwards=True, return_sequences=True),
                        Bidirectional(cls(3, return_sequences=return_sequences), merge_mode="sum"), Dense(2)]).eval()
    example = _ids(4, 7, 99)
    model(example)
    program = _export(model, example)
    _check_other_sizes(model, program, _ids, min_ops=5)


def test_export_of_unmasked_bidirectional_matches_eager_at_other_sizes():
    torch.manual_seed(2)
    model = Sequential([Bidirectional(LSTM(4, return_sequences=True)), Dense(2)]).eval()
    make = lambda B, T, s: torch.randn(B, T, 3, generator=torch.Generator().manual_seed(s))  # noqa: E731
    model(make(4, 7, 0))
    _check_other_sizes(model, _export(model, make(4, 7, 0)), make, min_ops=2)


@pytest.mark.parametrize("cls,kind,n_states", [(nn.LSTM, "lstm", 2), (nn.GRU, "gru", 1), (nn.RNN, "rnn_tanh", 1)])
def test_the_op_without_a_mask_equals_the_torch_module(cls, kind, n_states):
    torch.manual_seed(3)
    module = cls(3, 4, batch_first=True)
    x = torch.randn(2, 6, 3)
    states = [torch.randn(2, 4) for _ in range(n_states)]
    seq, last, *final = recurrence(x, None, states, list(module._flat_weights), kind, False, False, False, True)
    out, hx = module(x, tuple(s[None] for s in states) if n_states == 2 else states[0][None])
    torch.testing.assert_close(seq, out)
    torch.testing.assert_close(last, out[:, -1])
    for a, b in zip(final, hx if n_states == 2 else [hx]):
        torch.testing.assert_close(a, b[0])


@pytest.mark.parametrize("go_backwards", [False, True])
def test_the_op_with_a_holed_mask_equals_a_brute_force_walk_over_the_valid_steps(go_backwards):
    """Keras's masking: a masked step keeps the states; the last output is that of the last valid step."""
    torch.manual_seed(4)
    cell = nn.LSTMCell(3, 4)
    x = torch.randn(3, 6, 3)
    mask = torch.tensor([[1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 0], [0, 1, 0, 1, 1, 1]], dtype=torch.bool)
    weights = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    zeros = torch.zeros(3, 4)
    _, last, h, c = recurrence(x, mask, [zeros, zeros], weights, "lstm", go_backwards, False, False, False)
    for b in range(3):
        hb, cb = torch.zeros(1, 4), torch.zeros(1, 4)
        steps = range(5, -1, -1) if go_backwards else range(6)
        for t in steps:
            if mask[b, t]:
                hb, cb = cell(x[b, t][None], (hb, cb))
        torch.testing.assert_close(h[b], hb[0])
        torch.testing.assert_close(c[b], cb[0])
        torch.testing.assert_close(last[b], hb[0])


@pytest.mark.parametrize("kind,cell", [("gru", lambda: nn.GRUCell(3, 4)),
                                       ("rnn_relu", lambda: nn.RNNCell(3, 4, nonlinearity="relu")),
                                       ("rnn_tanh", lambda: nn.RNNCell(3, 4))])
def test_the_ops_gru_and_rnn_steps_with_a_holed_mask_equal_a_brute_force_walk(kind, cell):
    torch.manual_seed(9)
    cell = cell()
    x = torch.randn(3, 6, 3)
    mask = torch.tensor([[1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 0], [0, 1, 0, 1, 1, 1]], dtype=torch.bool)
    h0 = torch.randn(3, 4)
    _, last, h = recurrence(x, mask, [h0], [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh], kind,
                            False, False, False, False)
    for b in range(3):
        hb, out = h0[b][None], torch.zeros(1, 4)
        for t in range(6):
            if mask[b, t]:
                hb = out = cell(x[b, t][None], hb)
        torch.testing.assert_close(h[b], hb[0])
        torch.testing.assert_close(last[b], out[0])


def test_the_op_passes_torch_library_opcheck_of_schema_fake_shapes_and_autograd():
    torch.manual_seed(5)
    module = nn.GRU(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    for m, need_seq in [(None, True), (mask, True), (mask, False)]:
        args = (x, m, [torch.zeros(2, 4)], list(module._flat_weights), "gru", True, True, True, need_seq)
        torch.library.opcheck(recurrence, args,
                              test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))


def test_a_static_export_works_after_a_failed_dynamic_export_of_the_same_module():
    torch.manual_seed(6)
    model = Sequential([Embedding(30, 5, mask_zero=True), GRU(4, reset_after=False), Dense(2)]).eval()
    example = _ids(4, 7, 0)
    expected = model(example)
    with pytest.raises(Exception, match="specialized"):  # this cell runs the step loop: T unrolls
        _export(model, example)
    program = torch.export.export(model, (example,))
    torch.testing.assert_close(program.module()(example), expected)
    torch.testing.assert_close(program.module()(_ids(4, 7, 1)), model(_ids(4, 7, 1)))  # static: the same shape


def test_torch_jit_script_is_refused_with_the_ways_that_work():
    model = Sequential([Embedding(30, 5, mask_zero=True), LSTM(4), Dense(2)])
    model(_ids(4, 7, 0))
    with pytest.raises(TypeError, match=r"torch.jit.script cannot compile.*torch.export.export.*torch.jit.trace"):
        torch.jit.script(model)
    traced = torch.jit.trace(model.eval(), (_ids(4, 7, 0),))
    torch.testing.assert_close(traced(_ids(4, 7, 0)), model(_ids(4, 7, 0)))


def test_gradients_through_an_exported_masked_bidirectional_program_equal_eager():
    torch.manual_seed(7)
    model = Sequential([Embedding(30, 5, mask_zero=True), Bidirectional(LSTM(4, return_sequences=True)),
                        GRU(3), Dense(2)]).eval()
    example = _ids(4, 7, 0)
    model(example)
    program = _export(model, example).module()
    ids = _ids(5, 9, 1)
    program(ids).square().sum().backward()
    model(ids).square().sum().backward()
    got = dict(program.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(got[name].grad, p.grad, atol=1e-5, rtol=1e-5)


def test_the_ops_gradients_equal_nn_lstm_with_a_right_padded_mask_and_states():
    torch.manual_seed(8)
    module = nn.LSTM(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3, requires_grad=True)
    h0, c0 = (torch.randn(2, 4, requires_grad=True) for _ in range(2))
    lengths = torch.tensor([5, 3])
    mask = torch.arange(5)[None] < lengths[:, None]
    _, last, h, c = recurrence(x, mask, [h0, c0], list(module._flat_weights), "lstm", False, False, False, False)
    (last.sum() + c.square().sum()).backward()
    mine = [t.grad.clone() for t in (x, h0, c0, *module._flat_weights)]
    for t in (x, h0, c0, *module._flat_weights):
        t.grad = None
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True)
    _, (h_ref, c_ref) = module(packed, (h0[None], c0[None]))
    (h_ref[0].sum() + c_ref[0].square().sum()).backward()
    for a, t in zip(mine, (x, h0, c0, *module._flat_weights)):
        torch.testing.assert_close(a, t.grad)
