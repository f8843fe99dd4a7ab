"""save_weights / load_weights by suffix: .weights.h5 in Keras's layout (read by Keras, and Keras's read
here), .safetensors ours; ModelCheckpoint(save_weights_only=True) writes the format its suffix names."""
import numpy as np
import pytest

import seqlayers

keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

X = np.random.default_rng(0).random((4, 5, 2)).astype("float32")


def build(K):
    i = K.Input(shape=(5, 2))
    h = K.layers.Bidirectional(K.layers.LSTM(4, return_sequences=True))(i)
    return K.Model(i, K.layers.TimeDistributed(K.layers.Dense(3))(K.layers.GRU(3, return_sequences=True)(h)))


def test_keras_reads_our_weights_h5_and_we_read_keras_s(tmp_path):
    ours = build(seqlayers)
    ours.save_weights(tmp_path / "ours.weights.h5")
    ref = build(keras)
    ref.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(ref.predict(X, verbose=0), ours.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    other = build(keras)
    other.save_weights(tmp_path / "keras.weights.h5")
    back = build(seqlayers)
    back.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(back.predict(X, verbose=0), other.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_safetensors_round_trip_and_suffix_rules(tmp_path):
    a, b = build(seqlayers), build(seqlayers)
    a.save_weights(tmp_path / "w.safetensors")
    b.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(a.predict(X, verbose=0), b.predict(X, verbose=0))
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5 .* or \.safetensors"):
        a.save_weights(tmp_path / "w.h5")
    with pytest.raises(FileNotFoundError, match="no such file"):
        a.load_weights(tmp_path / "missing.weights.h5")


def test_weights_of_another_architecture_are_refused(tmp_path):
    small = seqlayers.Sequential([seqlayers.Input((5, 2)), seqlayers.layers.Dense(2)])
    small.save_weights(tmp_path / "small.weights.h5")
    with pytest.raises(seqlayers.ModelFileError, match="small.weights.h5"):
        build(seqlayers).load_weights(tmp_path / "small.weights.h5")


def test_model_checkpoint_weights_only_writes_the_suffix_format(tmp_path):
    import h5py

    model = build(seqlayers)
    model.compile(optimizer="sgd", loss="mse")
    y = np.zeros((4, 5, 3), "float32")
    cbs = [seqlayers.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.weights.h5"), save_weights_only=True,
                                               monitor="loss"),
           seqlayers.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.safetensors"), save_weights_only=True,
                                               monitor="loss")]
    model.fit(X, y, epochs=1, verbose=0, callbacks=cbs)
    assert h5py.is_hdf5(tmp_path / "e1.weights.h5")
    assert not h5py.is_hdf5(tmp_path / "e1.safetensors")
    ref = build(keras)
    ref.load_weights(tmp_path / "e1.weights.h5")
    np.testing.assert_allclose(ref.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
