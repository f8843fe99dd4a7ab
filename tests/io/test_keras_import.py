"""from_keras: Keras 3 models (torch backend) saved as .keras and legacy .h5 give the same outputs."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

from keras import layers as K  # noqa: E402

import seqlayers as sl  # noqa: E402
from seqlayers.serialization import LAYER_REGISTRY  # noqa: E402

from ..keras_programs.object_model import _minimal_rnn_cell_class  # noqa: E402

ATOL = 1e-5


def _randomize(model, seed=0):
    """Non-zero weights everywhere (biases too), so a misplaced array shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0, 0.4, w.shape).astype(w.dtype) for w in ws])


def _outputs(model, inputs):
    out = model(inputs)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [o.detach().cpu().numpy() if hasattr(o, "detach") else np.asarray(o) for o in out]


def _save_both(model, tmp_path, name):
    paths = [tmp_path / f"{name}.keras", tmp_path / f"{name}.h5"]
    for p in paths:
        model.save(p)
    return paths


def _compare(kmodel, paths, inputs, custom_objects=None):
    expected = _outputs(kmodel, [np.asarray(x) for x in inputs] if len(inputs) > 1 else np.asarray(inputs[0]))
    for p in paths:
        ours = sl.from_keras(p, custom_objects=custom_objects)
        tin = [torch.as_tensor(x) for x in inputs]
        got = _outputs(ours, tin if len(tin) > 1 else tin[0])
        assert len(got) == len(expected), p.name
        for g, e in zip(got, expected):
            assert g.shape == e.shape, p.name
            np.testing.assert_allclose(g, e, atol=ATOL, rtol=0, err_msg=p.name)
    return ours


@pytest.fixture(scope="module")
def functional_files(tmp_path_factory):
    """Two inputs (a masked float series, padded token ids), two outputs, most layer types."""
    tmp = tmp_path_factory.mktemp("keras_functional")
    series = keras.Input((6, 3), name="series")
    ids = keras.Input((7,), dtype="int32", name="ids")
    m = K.Masking(0.0)(series)
    h = K.LSTM(4, return_sequences=True)(m)
    h = K.TimeDistributed(K.Dense(3, activation="tanh"))(h)
    h = K.SimpleRNN(3)(h)
    e = K.Embedding(11, 4, mask_zero=True)(ids)
    g = K.Bidirectional(K.GRU(3, return_sequences=True, reset_after=False), merge_mode="sum")(e)
    g = K.GRU(3)(g)
    both = K.Concatenate()([h, g])
    both = K.Dropout(0.5)(K.Activation("relu")(K.Dense(4)(both)))
    seq = K.RepeatVector(2)(both)
    flat = K.Flatten()(seq)
    out2 = K.Reshape((2, 4))(K.Add()([flat, K.Dense(8)(both)]))
    model = keras.Model([series, ids], [both, out2])
    _randomize(model)
    return model, _save_both(model, tmp, "functional")


def _inputs(masked: bool, batch=3):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(batch, 6, 3)).astype("float32")
    ids = rng.integers(1, 11, size=(batch, 7)).astype("int32")
    if masked:
        x[0, 4:] = 0.0  # Masking: padded steps at the end
        x[1, 2] = 0.0  # and one in the middle
        ids[0, 3:] = 0
        ids[2, 6:] = 0
    return [x, ids]


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "masked"])
def test_functional_model_matches_keras(functional_files, masked):
    kmodel, paths = functional_files
    ours = _compare(kmodel, paths, _inputs(masked))
    assert [type(lyr).__name__ for lyr in ours.layers if type(lyr).__name__ == "Bidirectional"] == ["Bidirectional"]
    assert ours.input_names == ["series", "ids"]


def test_sequential_and_every_bidirectional_merge_mode(tmp_path):
    inp = keras.Input((5, 3))
    outs = [K.Bidirectional(K.LSTM(2, return_sequences=True), merge_mode=mode)(inp)
            for mode in ("concat", "sum", "mul", "ave")]
    outs += K.Bidirectional(K.GRU(2), merge_mode=None)(inp)  # a list of two
    multi = keras.Model(inp, outs)
    _randomize(multi, 1)
    x = np.random.default_rng(2).normal(size=(2, 5, 3)).astype("float32")
    _compare(multi, _save_both(multi, tmp_path, "bidi"), [x])

    seq = keras.Sequential([keras.Input((5, 3)), K.GRU(4, return_sequences=True, reset_after=True),
                            K.LSTM(3, go_backwards=True), K.Dense(2, activation="softmax")])
    _randomize(seq, 3)
    ours = _compare(seq, _save_both(seq, tmp_path, "seq"), [x[:, :4]])  # another length than built
    assert isinstance(ours, sl.Sequential)


def keep_last(x):
    return x[:, -1, :]


def test_lambda_is_refused_unless_registered(tmp_path):
    inp = keras.Input((4, 2))
    model = keras.Model(inp, K.Dense(1)(K.Lambda(keep_last, output_shape=(2,), name="last")(inp)))
    path = tmp_path / "lam.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"Lambda 'last'.*function 'keep_last'.*never runs code.*custom_objects"):
        sl.from_keras(path)
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype("float32")
    ours = sl.from_keras(path, custom_objects={"keep_last": keep_last})
    np.testing.assert_allclose(ours(torch.as_tensor(x)).detach().numpy(), model(x).detach().numpy(), atol=ATOL)

    anon = keras.Sequential([keras.Input((3,)), K.Lambda(lambda t: t * 2, name="times_two")])
    anon.save(tmp_path / "anon.keras")
    with pytest.raises(ValueError, match=r"anonymous lambda.*custom_objects=\{'times_two': fn\}"):
        sl.from_keras(tmp_path / "anon.keras")


def half_tanh(x):
    return 0.5 * torch.tanh(x)


def _cell_class(K, name):
    """Keras's RNN-guide cell (tests/keras_programs/object_model.py) under a class name of the test's own."""
    return type(name, (_minimal_rnn_cell_class(K),), {})


SEQ = np.random.default_rng(3).normal(size=(2, 6, 3)).astype("float32")


def test_rnn_over_a_registered_custom_cell_loads(tmp_path):
    theirs = keras.saving.register_keras_serializable("import_test")(_cell_class(keras, "RegisteredCell"))
    ours = sl.saving.register_keras_serializable("import_test")(_cell_class(sl, "RegisteredCell"))
    model = keras.Sequential([keras.Input((6, 3)), K.RNN(theirs(4), return_sequences=True)])
    _randomize(model)
    loaded = _compare(model, _save_both(model, tmp_path, "cell"), [SEQ])
    assert type(loaded.layers[0].cell) is ours


def test_custom_cell_and_a_cells_custom_activation_come_from_custom_objects(tmp_path):
    model = keras.Sequential([keras.Input((6, 3)), K.RNN([_cell_class(keras, "UnlistedCell")(4),
                                                          K.LSTMCell(3, activation=half_tanh)], return_sequences=True,
                                                          name="stack")])
    _randomize(model)
    paths = _save_both(model, tmp_path, "stack")
    ours = _cell_class(sl, "UnlistedCell")
    LAYER_REGISTRY.pop("UnlistedCell", None)  # as if never registered (a seqlayers Layer registers its name)
    with pytest.raises(ValueError, match=r"RNN 'stack'.* holds a cell of class 'UnlistedCell', which is neither built "
                                         r"in .* nor registered\. .*custom_objects=\{'UnlistedCell': YourCell\}"):
        sl.from_keras(paths[0])
    with pytest.raises(ValueError, match=r"RNN 'stack'.*: an activation refers to function 'half_tanh'.*"
                                         r"custom_objects"):
        sl.from_keras(paths[0], custom_objects={"UnlistedCell": ours})
    loaded = _compare(model, paths, [SEQ], custom_objects={"UnlistedCell": ours, "half_tanh": half_tanh})
    assert type(loaded.layers[0].cell.cells[0]) is ours


def test_unsupported_layer_names_class_name_and_position(tmp_path):
    model = keras.Sequential([keras.Input((8, 2)), K.Dense(3), K.Conv1DTranspose(2, 3, name="conv")])
    model.save(tmp_path / "conv.keras")
    with pytest.raises(ValueError, match=r"unsupported layer Conv1DTranspose 'conv' at model layer 2 of 2"):
        sl.from_keras(tmp_path / "conv.keras")


def test_a_functional_layers_position_counts_the_layers_keras_lists(tmp_path):
    """"layer k of N": the k-th (from 1) of the N layers in Keras's model.layers; a functional model lists its
    InputLayer there, and not the NotEqual operation its config holds for the mask (config: 5 entries)."""
    ids = keras.Input((6,), dtype="int32")
    h = K.LSTM(4, return_sequences=True)(K.Embedding(10, 3)(ids), mask=keras.ops.not_equal(ids, 0))
    model = keras.Model(ids, K.Conv1DTranspose(2, 3, name="conv")(h))
    assert [layer.name for layer in model.layers].index("conv") == 3 and len(model.layers) == 4
    assert len(model.get_config()["layers"]) == 5
    model.save(tmp_path / "conv.keras")
    with pytest.raises(ValueError, match=r"unsupported layer Conv1DTranspose 'conv' at model layer 4 of 4\. "):
        sl.from_keras(tmp_path / "conv.keras")


def test_missing_file_and_non_keras_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        sl.from_keras(tmp_path / "nope.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a keras file")
    with pytest.raises(sl.ModelFileError, match="neither a .keras zip nor an HDF5 file"):
        sl.from_keras(bad)


def _as_keras2_config(config):
    """Rewrite a Keras 3 functional config the way Keras 2 (tf.keras) wrote it in .h5 files."""
    layers = []
    for entry in config["config"]["layers"]:
        if entry["class_name"] == "NotEqual":  # Keras 2 recorded no mask operations
            continue
        cfg = dict(entry["config"])
        if entry["class_name"] == "InputLayer":
            cfg["batch_input_shape"] = cfg.pop("batch_shape")
        elif "dtype" in cfg:
            cfg["dtype"] = "float32"
        nodes = []
        for node in entry["inbound_nodes"]:
            refs = []
            for arg in node["args"]:
                for t in arg if isinstance(arg, list) else [arg]:
                    refs.append(t["config"]["keras_history"] + [{}])
            nodes.append(refs)
        layers.append({"class_name": entry["class_name"], "name": entry["name"], "config": cfg,
                       "inbound_nodes": nodes})
    return {"class_name": "Functional", "config": {**config["config"], "layers": layers},
            "keras_version": "2.15.0", "backend": "tensorflow"}


def test_keras2_style_legacy_h5_config(functional_files, tmp_path):
    import json
    import shutil

    import h5py

    kmodel, paths = functional_files
    legacy = tmp_path / "keras2.h5"
    shutil.copy(paths[1], legacy)
    with h5py.File(legacy, "r+") as f:
        f.attrs["model_config"] = json.dumps(_as_keras2_config(json.loads(f.attrs["model_config"])))
    _compare(kmodel, [legacy], _inputs(masked=True))


def test_encoder_decoder_with_states_both_ways(tmp_path):
    enc_in, dec_in = keras.Input((None, 3)), keras.Input((None, 2))
    _, h, c = K.LSTM(4, return_state=True)(enc_in)
    seq = K.LSTM(4, return_sequences=True)(dec_in, initial_state=[h, c])
    out, fwd_h, bwd_h = K.Bidirectional(K.GRU(2, return_state=True))(seq)
    kmodel = keras.Model([enc_in, dec_in], [K.Dense(2)(seq), out, fwd_h, bwd_h])
    _randomize(kmodel, 4)
    rng = np.random.default_rng(5)
    inputs = [rng.normal(size=(2, 5, 3)).astype("float32"), rng.normal(size=(2, 4, 2)).astype("float32")]
    ours = _compare(kmodel, _save_both(kmodel, tmp_path, "encdec"), inputs)
    # and back to Keras: initial_state travels as a call argument in the written graph
    again = keras.saving.load_model(sl.to_keras(ours, tmp_path / "back.keras"))
    for a, b in zip(_outputs(again, inputs), _outputs(kmodel, inputs)):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)


def test_missing_h5py_is_explained(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "h5py", None)  # as if h5py were not installed
    with pytest.raises(ImportError, match=r"from_keras needs h5py.*pip install h5py"):
        sl.from_keras(tmp_path / "any.keras")


def test_nested_models_and_model_set_weights(tmp_path):
    inner = keras.Sequential([keras.Input((3,)), K.Dense(4, activation="tanh"), K.Dense(2)], name="inner")
    enc_in = keras.Input((5, 3))
    encoder = keras.Model(enc_in, K.GRU(3)(enc_in), name="encoder")  # a functional model used as a layer
    x_in = keras.Input((5, 3))
    kmodel = keras.Model(x_in, [K.TimeDistributed(inner)(x_in), K.Dense(2)(encoder(x_in))])
    _randomize(kmodel, 6)
    x = np.random.default_rng(7).normal(size=(2, 5, 3)).astype("float32")
    ours = _compare(kmodel, _save_both(kmodel, tmp_path, "nested"), [x])
    # a model's set_weights hands each layer its share (recurrent layers store their own layout)
    enc = ours.get_layer("encoder")
    arrays = [np.full(w.shape, 0.1 * (i + 1), dtype="float32") for i, w in enumerate(enc.get_weights())]
    enc.set_weights(arrays)
    for got, want in zip(enc.get_weights(), arrays):
        np.testing.assert_array_equal(got, want)
