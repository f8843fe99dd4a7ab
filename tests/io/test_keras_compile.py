"""compile settings through .keras files, both ways: load_model compiles as the file says."""
import numpy as np
import pytest

import seqlayers

keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

rng = np.random.default_rng(0)
X, Y = rng.random((8, 5, 2)).astype("float32"), rng.random((8, 1)).astype("float32")


def build(K):
    return K.Sequential([K.Input((5, 2)), K.layers.SimpleRNN(4), K.layers.Dense(1)])


def test_our_compile_settings_reach_keras_and_come_back(tmp_path):
    m = build(seqlayers)
    m.compile(optimizer=seqlayers.optimizers.Adam(learning_rate=0.02), loss="mse",
              metrics=["mae", seqlayers.metrics.RootMeanSquaredError()])
    m.fit(X, Y, epochs=1, verbose=0)
    m.save(tmp_path / "m.keras")
    k = keras.models.load_model(tmp_path / "m.keras")
    assert type(k.optimizer).__name__ == "Adam" and float(k.optimizer.learning_rate) == pytest.approx(0.02)
    back = seqlayers.models.load_model(tmp_path / "m.keras")
    ours, ref = back.evaluate(X, Y, verbose=0, return_dict=True), k.evaluate(X, Y, verbose=0, return_dict=True)
    assert set(ours) == set(ref) == {"loss", "mae", "root_mean_squared_error"}
    for key in ours:
        assert ours[key] == pytest.approx(ref[key], rel=1e-5)
    assert back.optimizer.learning_rate == pytest.approx(0.02)


def test_a_keras_written_file_loads_compiled(tmp_path):
    k = build(keras)
    k.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.003), loss="mae",
              metrics=[keras.metrics.MeanSquaredError()])
    k.save(tmp_path / "k.keras")
    ours = seqlayers.load_model(tmp_path / "k.keras")
    assert ours.optimizer.learning_rate == pytest.approx(0.003)
    got, want = ours.evaluate(X, Y, verbose=0, return_dict=True), k.evaluate(X, Y, verbose=0, return_dict=True)
    assert set(got) == set(want) and got["loss"] == pytest.approx(want["loss"], rel=1e-5)
    assert getattr(seqlayers.load_model(tmp_path / "k.keras", compile=False), "_compiled", None) is None


def test_a_custom_loss_leaves_the_loaded_model_uncompiled(tmp_path):
    m = build(seqlayers)
    m.compile(optimizer="sgd", loss=lambda y, p: ((y - p) ** 2).mean(-1))
    m.save(tmp_path / "m.keras")
    assert getattr(seqlayers.load_model(tmp_path / "m.keras"), "_compiled", None) is None
