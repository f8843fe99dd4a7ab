"""to_keras: Keras 3 (torch backend) loads the file and gives the same outputs."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

import seqlayers as sl  # noqa: E402
from seqlayers.io.keras_export import keras_layer_order  # noqa: E402
from seqlayers.layers.bidirectional import Bidirectional  # noqa: E402

from ..keras_programs.object_model import _minimal_rnn_cell_class  # noqa: E402


def _np(t):
    return t.detach().cpu().numpy()


def _inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 3, generator=g)
    x[0, 3:] = 0.0  # masked steps (Masking)
    ids = torch.randint(1, 10, (3, 6), generator=g)
    ids[1, 4:] = 0  # padding (Embedding mask_zero)
    return x, ids


def test_functional_model_with_shared_layer_and_masks_loads_in_keras(tmp_path):
    a = sl.Input(shape=(None, 3), name="series")
    b = sl.Input(shape=(6,), dtype="int64", name="ids")
    h = sl.LSTM(4, return_sequences=True)(sl.Masking()(a))
    h = sl.TimeDistributed(sl.Dense(3))(h)
    shared = sl.Dense(3)  # the same shapes as the next Dense: a swapped weight group would show
    g = Bidirectional(sl.GRU(3), merge_mode="ave")(sl.Embedding(10, 3, mask_zero=True)(b))
    y = sl.Add()([shared(sl.SimpleRNN(3)(h)), shared(g), sl.Dense(3)(g)])
    model = sl.Model([a, b], [y, sl.Dense(2, activation="softmax")(y)])
    path = sl.to_keras(model, tmp_path / "m.keras")

    kmodel = keras.saving.load_model(path)
    assert [lyr.name for lyr in kmodel.layers] == [lyr.name for lyr in keras_layer_order(model)]
    x, ids = _inputs()
    model.eval()
    for ours, theirs in zip(model([x, ids]), kmodel([_np(x), _np(ids)])):
        np.testing.assert_allclose(_np(ours), _np(theirs), atol=1e-5, rtol=0)
    # and back: from_keras(to_keras(model)) is the same model
    again = sl.from_keras(path)
    for p, q in zip(model([x, ids]), again([x, ids])):
        np.testing.assert_allclose(_np(p), _np(q), atol=1e-6, rtol=0)


def test_sequential_with_nested_model_loads_in_keras(tmp_path):
    model = sl.Sequential([sl.Embedding(10, 3), Bidirectional(sl.LSTM(3, return_sequences=True), merge_mode="mul"),
                           sl.TimeDistributed(sl.Sequential([sl.Dense(2), sl.Dense(2)])), sl.Flatten(),
                           sl.Dropout(0.2), sl.RepeatVector(2), sl.Reshape((2, 12)),
                           sl.GRU(2, reset_after=False, go_backwards=True)])
    _, ids = _inputs()
    model(ids)
    kmodel = keras.saving.load_model(sl.to_keras(model, tmp_path / "s.keras"))
    model.eval()
    np.testing.assert_allclose(_np(model(ids)), _np(kmodel(_np(ids))), atol=1e-5, rtol=0)


def twice(x):
    return 2 * x


def test_what_keras_cannot_rebuild_is_refused(tmp_path):
    lam = sl.Sequential([sl.Lambda(twice, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"Lambda 'lambda' cannot be written for Keras"):
        sl.to_keras(lam, tmp_path / "l.keras")
    custom = sl.Sequential([sl.Dense(2, activation=twice, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"custom activation function 'twice'"):
        sl.to_keras(custom, tmp_path / "c.keras")
    with pytest.raises(ValueError, match=r"must end in \.keras"):
        sl.to_keras(sl.Sequential([sl.Dense(1, input_shape=(2,))]), tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"not built"):
        sl.to_keras(sl.Sequential([sl.Dense(1)]), tmp_path / "u.keras")
    inp = sl.Input((3, 2))
    state = sl.Input((4,))
    out = sl.GRU(4, return_sequences=True)(inp, initial_state=[state], parallel_steps=True)
    with pytest.raises(ValueError, match=r"parallel_steps=True, which Keras's recurrent layers do not take"):
        sl.to_keras(sl.Model([inp, state], out), tmp_path / "p.keras")
    assert not list(tmp_path.iterdir())


def test_rnn_over_a_registered_custom_cell_and_a_stack_with_it_load_in_keras_and_back(tmp_path):
    """A user's cell class is written as a user's layer (its get_config and registered name); the same class
    definition registered in Keras rebuilds it there."""
    def cell(K):  # Keras's RNN-guide cell under a class name of this test's own, registered in K
        return K.saving.register_keras_serializable("export_test")(
            type("WrittenCell", (_minimal_rnn_cell_class(K),), {}))

    ours, theirs = cell(sl), cell(keras)
    model = sl.Sequential([sl.Input((6, 3)), sl.RNN(ours(4), return_sequences=True),
                           sl.RNN([ours(3), sl.LSTMCell(2)], return_sequences=True)])
    x = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = _np(model(x))
    path = sl.to_keras(model, tmp_path / "cell.keras")
    loaded = keras.saving.load_model(str(path))
    assert type(loaded.layers[0].cell) is theirs and type(loaded.layers[1].cell.cells[0]) is theirs
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), want, atol=1e-6, rtol=0)
    again = sl.from_keras(path)
    assert type(again.layers[0].cell) is ours
    np.testing.assert_allclose(_np(again(x)), want, atol=1e-6, rtol=0)


def test_nested_functional_model_loads_in_keras_and_back(tmp_path):
    i = sl.Input(shape=(None, 3))
    encoder = sl.Model(i, sl.GRU(3)(i), name="encoder")
    x_in = sl.Input(shape=(None, 3))
    model = sl.Model(x_in, [encoder(x_in), sl.Dense(2)(encoder(x_in))])  # output of the nested model, twice
    path = sl.to_keras(model, tmp_path / "nested.keras")
    x, _ = _inputs()
    model.eval()
    kmodel = keras.saving.load_model(path)
    for ours, theirs in zip(model(x), kmodel(_np(x))):
        np.testing.assert_allclose(_np(ours), _np(theirs), atol=1e-5, rtol=0)
    for ours, again in zip(model(x), sl.from_keras(path)(x)):
        np.testing.assert_allclose(_np(ours), _np(again), atol=1e-6, rtol=0)


RNN_ARGS = dict(activation="relu", use_bias=False, dropout=0.25, recurrent_dropout=0.125, seed=3,
                return_sequences=True, return_state=True, go_backwards=True, zero_output_for_mask=True,
                bias_initializer="ones")
RNN_OWN = {"LSTM": dict(recurrent_activation="hard_sigmoid", unit_forget_bias=False, use_cudnn=False),
           "GRU": dict(recurrent_activation="hard_sigmoid", reset_after=False, use_cudnn=False), "SimpleRNN": {}}


@pytest.mark.parametrize("name", ["SimpleRNN", "GRU", "LSTM"])
def test_recurrent_config_travels_both_ways_from_get_config(name, tmp_path):
    """Every argument of the layer (its cell's and RNN's) reaches Keras and comes back, with no hand-kept key list."""
    kw = {**RNN_ARGS, **RNN_OWN[name]}
    ours = getattr(sl, name)(4, **kw)
    model = sl.Sequential([sl.Input((5, 3)), ours])
    path = tmp_path / "m.keras"
    model.save(str(path))
    theirs = keras.saving.load_model(str(path)).layers[0]
    cfg = theirs.get_config()
    for key, value in kw.items():
        if key == "bias_initializer":
            assert cfg[key]["class_name"] == "Ones"
        elif key == "use_cudnn":
            assert theirs.use_cudnn is False
        elif key == "seed":
            assert theirs.cell.seed == value  # (Keras's SimpleRNN config leaves it out; its cell has it)
        else:
            assert cfg[key] == value, key
    back = sl.from_keras(str(path)).layers[-1]
    for key, value in kw.items():
        if key != "bias_initializer":  # initializers stay at our defaults on import: the weights travel
            assert back.get_config()[key] == value, key
