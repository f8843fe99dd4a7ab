"""save_model / load_model: round trips give identical outputs; bad files raise ModelFileError."""
import io
import json
import os
import pickle
import zipfile

import pytest
import torch

import seqlayers as sl
from seqlayers.errors import ModelFileError
from seqlayers.io import load_model, read_config, register_function, save_model


def last_two_steps(x):
    return x[:, -2:, :]


register_function(last_two_steps)


def double(x):  # deliberately NOT registered
    return 2 * x


@sl.register_layer
class Scale(sl.Layer):
    """A custom layer with one weight, registered for loading."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = torch.nn.Parameter(torch.full((input_shape[-1],), float(self.factor)))

    def call(self, inputs):
        return inputs * self.w


def _recurrent(name):
    if name == "Bidirectional":
        try:
            from seqlayers.layers.bidirectional import Bidirectional
        except ImportError:
            return None
        return Bidirectional
    return getattr(sl, name, None)


def _same(a, b):
    if isinstance(a, dict):
        assert list(a) == list(b)
        a, b = list(a.values()), list(b.values())
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        return
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def _round_trip(model, tmp_path, inputs, suffix=".seqlayers"):
    path = tmp_path / f"m{suffix}"
    model.save(path) if hasattr(model, "save") else save_model(model, path)
    loaded = load_model(path)
    model.eval()
    loaded.eval()
    with torch.no_grad():
        _same(model(inputs), loaded(inputs))
    return loaded


def _seq_models():
    """(id, builder, input) for Sequential models covering each layer type."""
    x3 = torch.randn(3, 6, 4)
    ids = torch.randint(0, 9, (3, 6))
    ids[0, 3:] = 0
    out = [
        ("dense-activation-dropout", lambda: sl.Sequential([sl.Dense(5, activation="tanh", input_shape=(6, 4)),
                                                            sl.Activation("relu"), sl.Dropout(0.3),
                                                            sl.Dense(2, use_bias=False)]), x3),
        ("flatten-reshape-repeat", lambda: sl.Sequential([sl.Flatten(input_shape=(6, 4)), sl.Dense(6),
                                                          sl.RepeatVector(3), sl.Reshape((9, 2))]), x3),
        ("masking-timedistributed", lambda: sl.Sequential([sl.Masking(0.0, input_shape=(6, 4)),
                                                           sl.TimeDistributed(sl.Dense(3)),
                                                           sl.TimeDistributedDense(2, activation="sigmoid")]), x3),
        ("embedding-lambda-custom", lambda: sl.Sequential([sl.Embedding(9, 4, mask_zero=True),
                                                           sl.Lambda(last_two_steps), Scale(0.5)]), ids),
        ("td-of-sequential", lambda: sl.Sequential([sl.TimeDistributed(sl.Sequential([sl.Dense(3), sl.Dense(2)]),
                                                                       input_shape=(6, 4))]), x3),
    ]
    for name in ("SimpleRNN", "GRU", "LSTM"):
        cls = _recurrent(name)
        if cls is not None:
            out.append((f"{name}-masked", lambda cls=cls: sl.Sequential([
                sl.Embedding(9, 4, mask_zero=True), cls(5, return_sequences=True), cls(3)]), ids))
    if _recurrent("Bidirectional") is not None and _recurrent("LSTM") is not None:
        for mode in ("concat", "sum", "mul", "ave", None):
            out.append((f"bidirectional-{mode}", lambda mode=mode: sl.Sequential([
                _recurrent("Bidirectional")(sl.LSTM(3, return_sequences=True), merge_mode=mode,
                                            input_shape=(6, 4))]), x3))
    return out


@pytest.mark.parametrize("builder,x", [(b, x) for _, b, x in _seq_models()], ids=[n for n, _, _ in _seq_models()])
def test_sequential_round_trip_gives_identical_outputs(tmp_path, builder, x):
    model = builder()
    model.eval()
    model(x)  # builds models without an input shape
    loaded = _round_trip(model, tmp_path, x)
    assert [type(lyr).__name__ for lyr in loaded.layers] == [type(lyr).__name__ for lyr in model.layers]
    assert [lyr.name for lyr in loaded.layers] == [lyr.name for lyr in model.layers]


def test_functional_several_inputs_outputs_and_shared_layer(tmp_path):
    a = sl.Input(shape=(6, 4), name="series")
    b = sl.Input(shape=(None,), dtype="int64", name="tokens")
    shared = sl.Dense(3, name="shared")
    e = sl.Embedding(9, 4, mask_zero=True)(b)
    ya = shared(a)
    ye = shared(e)  # the same weights on two inputs
    merged = sl.Concatenate(axis=1)([ya, ye])
    total = sl.Add()([ya, sl.Dense(3)(a)])
    model = sl.Model([a, b], {"merged": merged, "total": total, "flat": sl.Flatten()(ya)})
    x = [torch.randn(2, 6, 4), torch.randint(0, 9, (2, 5))]
    for suffix in (".seqlayers", ""):  # one zip file, and a folder
        loaded = _round_trip(model, tmp_path, x, suffix)
        assert isinstance(loaded(x), dict) and set(loaded(x)) == {"merged", "total", "flat"}
        assert loaded.input_names == ["series", "tokens"]
        # still shared after loading: one parameter set serves both calls
        assert sum(1 for lyr in loaded.layers if lyr.name == "shared") == 1
        assert len(list(loaded.parameters())) == len(list(model.parameters()))


@pytest.mark.skipif(_recurrent("LSTM") is None, reason="recurrent layers not available")
def test_encoder_decoder_with_initial_state_round_trip(tmp_path):
    enc_in = sl.Input(shape=(None, 4))
    dec_in = sl.Input(shape=(None, 3))
    _, h, c = sl.LSTM(5, return_state=True)(enc_in)
    seq = sl.LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
    gru = sl.GRU(2, reset_after=False, go_backwards=True)(seq)
    model = sl.Model([enc_in, dec_in], [sl.TimeDistributed(sl.Dense(3))(seq), gru])
    _round_trip(model, tmp_path, [torch.randn(2, 6, 4), torch.randn(2, 4, 3)])


def test_generic_rnn_cell_and_attention_round_trip(tmp_path):
    from seqlayers.layers.attention import AdditiveAttention, Attention
    from seqlayers.layers.recurrent import RNN, GRUCell

    q, v = sl.Input(shape=(None, 4)), sl.Input(shape=(None, 4))
    h = RNN(GRUCell(4), return_sequences=True)(q)
    model = sl.Model([q, v], [h, Attention(use_scale=True)([h, v]), AdditiveAttention()([h, v])])
    _round_trip(model, tmp_path, [torch.randn(2, 5, 4), torch.randn(2, 3, 4)])


def test_single_layer_and_nested_model_round_trip(tmp_path):
    layer = sl.Dense(3, activation="softmax")
    x = torch.randn(4, 5)
    layer(x)
    _round_trip(layer, tmp_path, x)
    inner = sl.Sequential([sl.Dense(4, input_shape=(5,)), sl.Activation("tanh")])
    i = sl.Input(shape=(5,))
    outer = sl.Model(i, sl.Dense(2)(inner(i)))
    _round_trip(outer, tmp_path, x)


def test_frozen_layer_stays_frozen(tmp_path):
    model = sl.Sequential([sl.Dense(3, input_shape=(4,)), sl.Dense(1)])
    model.layers[0].trainable = False
    save_model(model, tmp_path / "m.seqlayers")
    loaded = load_model(tmp_path / "m.seqlayers")
    assert [p.requires_grad for p in loaded.parameters()] == [False, False, True, True]


def test_config_is_plain_json_with_graph_references(tmp_path):
    a = sl.Input(shape=(4,), name="x")
    model = sl.Model(a, sl.Dense(2, name="out")(sl.Dense(3, name="hidden")(a)))
    save_model(model, tmp_path / "m.seqlayers")
    cfg = read_config(tmp_path / "m.seqlayers")
    assert cfg["format_version"] == 1 and cfg["model"]["class_name"] == "Model"
    layers = {lyr["name"]: lyr for lyr in cfg["model"]["config"]["layers"]}
    assert layers["out"]["inbound_nodes"][0]["args"] == [{"__tensor__": ["hidden", 0, 0]}]
    assert cfg["model"]["config"]["output_layers"] == {"__tensor__": ["out", 0, 0]}
    with zipfile.ZipFile(tmp_path / "m.seqlayers") as zf:
        assert sorted(zf.namelist()) == ["config.json", "model.safetensors"]


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model = sl.Sequential([sl.Dense(2, input_shape=(3,))])
    save_model(model, tmp_path / "m.seqlayers")

    def refuse(*a, **k):
        raise AssertionError("pickle used while loading")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load_model(tmp_path / "m.seqlayers")


# ---------------------------------------------------------------- functions by reference
def test_anonymous_lambda_is_refused_on_save_with_the_fix(tmp_path):
    model = sl.Sequential([sl.Lambda(lambda x: x * 2, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"anonymous function.*def.*register_function"):
        save_model(model, tmp_path / "m.seqlayers")
    assert not (tmp_path / "m.seqlayers").exists()


def test_unregistered_function_is_refused_on_save_and_never_imported_on_load(tmp_path, monkeypatch):
    from seqlayers.serialization import FUNCTION_REGISTRY

    model = sl.Sequential([sl.Lambda(double, input_shape=(3,))])
    with pytest.raises(ValueError, match=r"function '.*:double', which is not registered, so load_model would "
                                         r"refuse the file.*register_function\(double\)"):
        save_model(model, tmp_path / "m.seqlayers")
    assert not (tmp_path / "m.seqlayers").exists()
    monkeypatch.setitem(FUNCTION_REGISTRY, f"{__name__}:double", double)
    save_model(model, tmp_path / "m.seqlayers")
    monkeypatch.delitem(FUNCTION_REGISTRY, f"{__name__}:double")  # a new process that has not registered it
    with pytest.raises(ModelFileError, match=r"function '.*:double', which is not registered.*custom_objects"):
        load_model(tmp_path / "m.seqlayers")
    loaded = load_model(tmp_path / "m.seqlayers", custom_objects={"double": double})
    x = torch.randn(2, 3)
    torch.testing.assert_close(loaded(x), 2 * x)


def test_unknown_layer_class_is_refused(tmp_path):
    model = sl.Sequential([Scale(2.0, input_shape=(3,))])
    save_model(model, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["model"]["config"]["layers"][0]["class_name"] = "os.system"
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match=r"unknown layer class 'os.system'.*register_layer"):
        load_model(tmp_path / "m")


def test_wrong_suffix_is_explained(tmp_path):
    model = sl.Sequential([sl.Dense(1, input_shape=(2,))])
    with pytest.raises(ValueError, match=r"ending in \.seqlayers.*a folder.*'model\.keras'"):
        save_model(model, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"legacy \.h5 is not written; use \.keras"):
        model.save(tmp_path / "m.h5")


def test_keras_suffix_saves_and_loads_a_keras_file(tmp_path):
    pytest.importorskip("h5py")
    model = sl.Sequential([sl.LSTM(3, input_shape=(None, 2)), sl.Dense(2)])
    path = model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    x = torch.randn(2, 4, 2)
    _same(model.eval()(x), load_model(path)(x))


# ---------------------------------------------------------------- optimizer state
def test_optimizer_state_round_trip(tmp_path):
    model = sl.Sequential([sl.Dense(3, input_shape=(4,)), sl.Dense(1)])
    model.optimizer = torch.optim.Adam(model.parameters(), lr=0.01, eps=1e-7)
    for _ in range(2):
        model.optimizer.zero_grad()
        model(torch.randn(5, 4)).pow(2).mean().backward()
        model.optimizer.step()
    with pytest.raises(ValueError, match="no optimizer"):
        save_model(sl.Sequential([sl.Dense(1, input_shape=(2,))]), tmp_path / "x.seqlayers", include_optimizer=True)
    save_model(model, tmp_path / "m.seqlayers", include_optimizer=True)
    loaded = load_model(tmp_path / "m.seqlayers")
    a, b = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i in a["state"]:
        for k in a["state"][i]:
            torch.testing.assert_close(a["state"][i][k], b["state"][i][k], rtol=0, atol=0)
    # one more identical step on both gives identical weights
    x = torch.randn(5, 4)
    for m in (model, loaded):
        m.optimizer.zero_grad()
        m(x).pow(2).mean().backward()
        m.optimizer.step()
    _same(list(model.parameters()), list(loaded.parameters()))
    assert getattr(load_model(tmp_path / "m.seqlayers", compile=False), "optimizer", None) is None


def test_compiled_model_resumes_training_after_load(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(16, 5, 2), torch.randn(16, 1)
    model = sl.Sequential([sl.LSTM(3, input_shape=(5, 2)), sl.Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    save_model(model, tmp_path / "m.seqlayers", include_optimizer=True)
    loaded = load_model(tmp_path / "m.seqlayers")
    assert read_config(tmp_path / "m.seqlayers")["compile"] == {
        "optimizer": "adam", "loss": "mse", "loss_weights": None, "metrics": ["mae"]}
    for m in (model, loaded):
        m.train()
        m.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    _same(list(model.parameters()), list(loaded.parameters()))
    # without the optimizer state, the named optimizer starts afresh on the next fit
    save_model(model, tmp_path / "w.seqlayers", include_optimizer=False)
    save_model(model, tmp_path / "d.seqlayers")  # the default, as Keras: the optimizer's state goes along
    assert read_config(tmp_path / "d.seqlayers")["optimizer"] is not None
    fresh = load_model(tmp_path / "w.seqlayers")
    assert fresh._compiled.optimizer is None and fresh._compiled.optimizer_spec == "adam"


# ---------------------------------------------------------------- damaged files
@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "m.seqlayers"
    model = sl.Sequential([sl.Dense(8, input_shape=(4,)), sl.Dense(2)])
    save_model(model, path)
    return path.read_bytes()


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.35, 0.5, 0.75, 0.95, 0.999])
def test_truncated_file_raises_model_file_error(tmp_path, saved_bytes, fraction):
    path = tmp_path / "t.seqlayers"
    path.write_bytes(saved_bytes[: int(len(saved_bytes) * fraction)])
    with pytest.raises(ModelFileError):
        load_model(path)


def test_every_flipped_byte_is_detected_or_harmless(tmp_path, saved_bytes):
    """Flip each byte of a file in turn: loading raises ModelFileError, or (for a flip in zip
    bookkeeping that zipfile does not read, such as a timestamp, or in the deflate stream's padding
    bits) gives the very same model. Every flip inside the stored weights is detected."""
    with zipfile.ZipFile(io.BytesIO(saved_bytes)) as zf:
        info = zf.getinfo("model.safetensors")
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        weights = range(start, start + info.compress_size)
    ok = tmp_path / "ok.seqlayers"
    ok.write_bytes(saved_bytes)
    reference = list(load_model(ok).state_dict().values())
    path = tmp_path / "f.seqlayers"
    undetected = []
    for pos in range(len(saved_bytes)):
        data = bytearray(saved_bytes)
        data[pos] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            model = load_model(path)
        except ModelFileError:
            continue
        undetected.append(pos)
        _same(list(model.state_dict().values()), reference)
    assert not [p for p in undetected if p in weights]
    assert len(undetected) < len(saved_bytes) * 0.15


def _edit_config(tmp_path, saved_bytes, edit):
    src = tmp_path / "src.seqlayers"
    src.write_bytes(saved_bytes)
    with zipfile.ZipFile(src) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    cfg = json.loads(files["config.json"])
    edit(cfg)
    files["config.json"] = json.dumps(cfg).encode()
    out = tmp_path / "edited.seqlayers"
    with zipfile.ZipFile(out, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return out


@pytest.mark.parametrize("edit,match", [
    (lambda c: c.update(format_version=2), r"format version 2.*reads version 1.*Upgrade"),
    (lambda c: c.update(format_version="1"), r"format_version' must be an integer"),
    (lambda c: c.update(format="keras"), r"not a seqlayers model file"),
    (lambda c: c.pop("weights"), r"lacks field\(s\) \['weights'\]"),
    (lambda c: c.update(surprise=1), r"unexpected field\(s\) \['surprise'\]"),
    (lambda c: c["weights"].update(sha256="0" * 64), r"does not match the SHA-256"),
    (lambda c: c["model"]["config"]["layers"][1]["config"].update(units=3),
     r"weight .* has shape \(8, 2\) in the file"),
    (lambda c: c["model"]["config"]["layers"][0]["config"].update(units=9),
     r"layer 1: the saved layers do not fit together: Dense 'dense_1'.*with 8 at axis"),
    (lambda c: c["model"]["config"]["layers"][0]["config"].update(unitz=9), r"unexpected keyword argument 'unitz'"),
    (lambda c: c["model"]["config"].pop("layers"), r"lacks field\(s\) \['layers'\]"),
    (lambda c: c["model"].update(extra=1), r"unexpected field\(s\) \['extra'\]"),
])
def test_bad_config_raises_model_file_error(tmp_path, saved_bytes, edit, match):
    with pytest.raises(ModelFileError, match=match):
        load_model(_edit_config(tmp_path, saved_bytes, edit))


def test_folder_with_mismatched_weights_is_refused(tmp_path):
    save_model(sl.Sequential([sl.Dense(2, input_shape=(3,))]), tmp_path / "m")
    other = tmp_path / "o"
    save_model(sl.Sequential([sl.Dense(2, input_shape=(3,))]), other)
    os.replace(other / "model.safetensors", tmp_path / "m" / "model.safetensors")
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_model(tmp_path / "m")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.seqlayers")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    model = sl.Sequential([sl.Dense(2, input_shape=(3,))])
    path = tmp_path / "m.seqlayers"
    save_model(model, path)
    before = path.read_bytes()

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(sl.Sequential([sl.Dense(5, input_shape=(3,))]), path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.seqlayers"]


class TwoStep(sl.Model):
    """A subclassed model: layers made in __init__, built on the first call."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.embed = sl.Embedding(9, 3)
        self.rnn = sl.GRU(units)
        self.head = sl.Dense(2)

    def call(self, inputs):
        return self.head(self.rnn(self.embed(inputs)))


def test_subclassed_model_round_trip(tmp_path):
    model = TwoStep(units=5)
    ids = torch.randint(0, 9, (3, 6))
    model(ids)
    loaded = _round_trip(model, tmp_path, ids)
    assert isinstance(loaded, TwoStep) and loaded.rnn.units == 5
