"""StackedRNNCells / RNN([cell, cell]) against Keras 3 (same weights) and against two stacked RNN layers."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import seqlayers as sl  # noqa: E402
from seqlayers import layers as L  # noqa: E402

keras = pytest.importorskip("keras")


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 6, 5)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[0, 4:] = False  # right padding
    mask[1, 1] = False  # a hole: not right-padded
    return x, mask


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def test_stacked_lstm_gru_matches_keras_outputs_and_states_with_a_mask():
    x, mask = _data()
    theirs = keras.layers.RNN([keras.layers.LSTMCell(4), keras.layers.GRUCell(3)], return_sequences=True,
                              return_state=True)
    k_out = theirs(x, mask=mask)
    rng = np.random.default_rng(1)
    theirs.set_weights([rng.uniform(-1, 1, w.shape).astype("float32") for w in theirs.get_weights()])
    k_out = theirs(x, mask=mask)
    ours = sl.RNN([sl.LSTMCell(4), sl.GRUCell(3)], return_sequences=True, return_state=True)
    ours(torch.from_numpy(x))
    ours.set_weights(theirs.get_weights())
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    o_out = ours(torch.from_numpy(x), mask=torch.from_numpy(mask))
    # Keras's layout: output, then one list of states per cell ([h, c] for the LSTM, [h] for the GRU)
    assert len(o_out) == len(k_out) == 3
    np.testing.assert_allclose(_np(o_out[0]), _np(k_out[0]), atol=1e-5)
    for o_cell, k_cell in zip(o_out[1:], k_out[1:]):
        assert isinstance(o_cell, list) and len(o_cell) == len(k_cell)
        for o, k in zip(o_cell, k_cell):
            np.testing.assert_allclose(_np(o), _np(k), atol=1e-5)
    assert ours.cell.state_size == theirs.cell.state_size == [[4, 4], 3]
    # the symbolic (functional) view nests the states per cell as Keras's: [output, [h1, c1], h2]
    assert ours.compute_output_shape((3, 6, 5)) == list(theirs.compute_output_shape((3, 6, 5))) \
        == [(3, 6, 3), [(3, 4), (3, 4)], (3, 3)]


def test_nested_initial_state_matches_keras():
    x, _ = _data(2)
    rng = np.random.default_rng(3)
    init = [[rng.standard_normal((3, 2)).astype("float32")] * 2, rng.standard_normal((3, 2)).astype("float32")]
    theirs = keras.layers.RNN([keras.layers.LSTMCell(2), keras.layers.SimpleRNNCell(2)])
    theirs(x)
    ours = sl.RNN([sl.LSTMCell(2), sl.SimpleRNNCell(2)])
    ours(torch.from_numpy(x))
    ours.set_weights(theirs.get_weights())
    k = theirs(x, initial_state=init)
    o = ours(torch.from_numpy(x), initial_state=[[torch.from_numpy(t) for t in init[0]], torch.from_numpy(init[1])])
    np.testing.assert_allclose(_np(o), _np(k), atol=1e-5)


def test_stacked_cells_equal_two_stacked_layers_with_return_sequences():
    x, mask = _data(4)
    stacked = sl.RNN(L.StackedRNNCells([sl.LSTMCell(4), sl.GRUCell(3)]), return_sequences=True)
    first, second = sl.LSTM(4, return_sequences=True), sl.GRU(3, return_sequences=True)
    xt, mt = torch.from_numpy(x), torch.from_numpy(mask)
    stacked(xt)
    first(xt)
    second(first(xt))
    ws = stacked.get_weights()
    first.set_weights(ws[:3])
    second.set_weights(ws[3:])
    want = second(first(xt, mask=mt), mask=mt)
    got = stacked(xt, mask=mt)
    valid = mask[..., None].repeat(3, -1)
    np.testing.assert_allclose(_np(got)[valid], _np(want)[valid], atol=1e-5)
    assert stacked.last_path == "loop"


def test_stacked_cells_with_dropout_in_training_equal_two_stacked_layers_with_the_same_masks():
    """Each cell draws its masks from its own seeded generator, so the stack and two layers draw the same ones;
    the first cell's input mask (per gate: recurrent_dropout > 0) is applied in the stack's projection."""
    x = torch.from_numpy(_data(5)[0])

    def cells():
        return [sl.LSTMCell(4, dropout=0.3, recurrent_dropout=0.2, seed=1), sl.GRUCell(3, dropout=0.25, seed=2)]

    a, b = cells()
    stacked, first, second = sl.RNN(cells(), return_sequences=True), sl.RNN(a, return_sequences=True), sl.RNN(b)
    stacked(x)
    second(first(x))
    ws = stacked.get_weights()
    first.set_weights(ws[:3])
    second.set_weights(ws[3:])
    got, want = stacked(x, training=True)[:, -1], second(first(x, training=True), training=True)
    np.testing.assert_allclose(_np(got), _np(want), atol=1e-6, rtol=0)
    assert not np.allclose(_np(got), _np(stacked(x, training=False)[:, -1]), atol=1e-3)  # the masks did apply


class _ProductsOf(TorchDispatchMode):
    """Counts the matrix products that read ``weight``."""

    def __init__(self, weight):
        super().__init__()
        self.ptr, self.count = weight.data_ptr(), 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.bmm) and any(
                isinstance(a, torch.Tensor) and a.data_ptr() == self.ptr for a in args):
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_the_first_cells_input_projection_is_one_product_over_all_steps():
    layer = sl.RNN([sl.LSTMCell(4), sl.GRUCell(3)], return_sequences=True)
    x = torch.randn(2, 7, 5)
    want = layer(x)
    first, second = (_ProductsOf(c.weight_ih) for c in layer.cell.cells)
    with torch.no_grad(), first:
        got = layer(x)
    with torch.no_grad(), second:
        layer(x)
    assert (first.count, second.count) == (1, 7)  # the second cell's input is the first's output: per step
    torch.testing.assert_close(got, want)


def test_config_round_trip_and_save_load(tmp_path):
    layer = sl.RNN([sl.LSTMCell(3), sl.LSTMCell(2, dropout=0.1)], return_state=True, go_backwards=True)
    cfg = layer.get_config()
    assert cfg["cell"]["class_name"] == "StackedRNNCells"
    assert [c["class_name"] for c in cfg["cell"]["config"]["cells"]] == ["LSTMCell", "LSTMCell"]
    again = sl.RNN.from_config(cfg)
    assert isinstance(again.cell, L.StackedRNNCells)
    assert again.cell.cells[1].dropout == 0.1 and again.get_config() == cfg
    model = sl.Sequential([sl.RNN([sl.GRUCell(3), sl.GRUCell(2)], input_shape=(6, 5))])
    x = torch.from_numpy(_data()[0])
    model.eval()
    want = model(x)
    path = tmp_path / "m.seqlayers"  # (to_keras knows no generic RNN yet, one cell or a stack)
    model.save(path)
    loaded = sl.load_model(path)
    loaded.eval()
    np.testing.assert_allclose(_np(loaded(x)), _np(want), atol=1e-6)


def test_stateful_keeps_every_cells_states():
    x = torch.from_numpy(_data()[0])
    layer = sl.RNN([sl.LSTMCell(3), sl.GRUCell(2)], stateful=True, return_state=True)
    _, first_states, second_states = layer(x[:, :3])
    out, *_ = layer(x[:, 3:])
    ref = sl.RNN([sl.LSTMCell(3), sl.GRUCell(2)], return_state=False)
    ref(x)
    ref.set_weights(layer.get_weights())
    np.testing.assert_allclose(_np(out), _np(ref(x[:, 3:], initial_state=[first_states, second_states])),
                               atol=1e-6)
    np.testing.assert_allclose(_np(out), _np(ref(x)), atol=1e-5)
    layer.reset_states()
    assert all(float(s.abs().sum()) == 0 for s in layer.states) and len(layer.states) == 3


def test_set_weights_and_cells_errors():
    layer = sl.RNN([sl.LSTMCell(3), sl.GRUCell(2)])
    layer(torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match=r"StackedRNNCells.*set_weights expected 6 arrays.*\[3, 3\].*got 1"):
        layer.set_weights(layer.get_weights()[:1])
    with pytest.raises(ValueError, match="cells must be a non-empty list"):
        L.StackedRNNCells([])
    with pytest.raises(TypeError, match=r"cells\[1\] needs a call.*state_size.*Dense"):
        L.StackedRNNCells([sl.LSTMCell(2), sl.Dense(2)])


def test_in_a_functional_model_the_states_nest_per_cell_as_keras(tmp_path):
    inp = sl.Input(shape=(4, 5))
    layer = sl.RNN([sl.GRUCell(3), sl.LSTMCell(2)], return_state=True)
    sym = layer(inp)
    k_inp = keras.Input(shape=(4, 5))
    k_sym = keras.layers.RNN([keras.layers.GRUCell(3), keras.layers.LSTMCell(2)], return_state=True)(k_inp)
    shapes = [sym[0].shape, sym[1].shape, [t.shape for t in sym[2]]]
    assert shapes == [k_sym[0].shape, k_sym[1].shape, [t.shape for t in k_sym[2]]] \
        == [(None, 2), (None, 3), [(None, 2), (None, 2)]]
    model = sl.Model(inp, sym)
    x = torch.from_numpy(_data()[0][:, :4])
    out = model(x)
    eager = layer(x)
    assert len(out) == 3 and len(out[2]) == 2
    for a, b in zip([out[0], out[1], *out[2]], [eager[0], *eager[1], *eager[2]]):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-6)
    again = sl.load_model(model.save(tmp_path / "m.seqlayers"))(x)  # the nesting is saved too
    assert len(again) == 3 and len(again[2]) == 2
    for a, b in zip([out[0], out[1], *out[2]], [again[0], again[1], *again[2]]):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-6)


@pytest.mark.parametrize("cells", ["lstm+gru", "lstm+lstm", "gru"])
def test_keras_saved_rnn_of_cells_loads_with_keras_outputs(tmp_path, cells):
    from tests.layers.keras_reference import keras_file_roundtrip

    K = keras.layers
    cell = {"lstm+gru": lambda: [K.LSTMCell(3), K.GRUCell(2)], "lstm+lstm": lambda: [K.LSTMCell(3), K.LSTMCell(2)],
            "gru": lambda: K.GRUCell(3)}[cells]()
    inp = keras.Input((4, 5))
    kmodel = keras.Model(inp, K.RNN(cell, return_sequences=True)(inp))
    ours = keras_file_roundtrip(tmp_path, kmodel, _data()[0][:, :4])
    rnn = ours.layers[-1]
    assert isinstance(rnn, sl.RNN) and isinstance(rnn.cell, L.StackedRNNCells) == (cells != "gru")
