"""Subclassing as in Keras's guide: a custom layer's weights, losses, constraint, mask and config; registered with
``saving.register_keras_serializable`` it saves to ``.keras`` and loads in either library (the corpus program
``custom_layer_with_weights_and_mask`` trains it against Keras)."""
import numpy as np
import pytest
import torch

import seqlayers
from seqlayers.serialization import LAYER_REGISTRY

from ..keras_programs.object_model import _masked_projection_class

keras = pytest.importorskip("keras")

rs = np.random.RandomState(0)
X = rs.randint(1, 12, (6, 5))
X[::2, 3:] = 0


def _model(K):
    cls = _masked_projection_class(K)
    return K.Sequential([K.Input(shape=(5,), dtype="int32"), K.layers.Embedding(12, 4, mask_zero=True), cls(3),
                         K.layers.GRU(2)])


def _describe(K, model):
    layer = model.layers[1]
    mask = layer.compute_mask(None, np.array([[True, False]]))
    return dict(
        shapes=[[tuple(w.shape) for w in ws] for ws in (layer.weights, layer.trainable_weights,
                                                       layer.non_trainable_weights)],
        losses=len(layer.losses), built=layer.built, dtype=layer.dtype, mask=np.asarray(mask).tolist(),
        config=sorted(layer.get_config()), units=layer.get_config()["units"],
        regularizer=type(layer.w.regularizer).__name__, constraint=type(layer.w.constraint).__name__)


def test_custom_layer_attributes_agree_with_keras():
    ours, ref = _model(seqlayers), _model(keras)
    ref.set_weights(ours.get_weights())
    assert _describe(seqlayers, ours) == _describe(keras, ref)
    got = ours.predict(X, verbose=0)
    np.testing.assert_allclose(got, ref.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("writer", ["seqlayers", "keras"])
def test_registered_custom_layer_saves_and_loads_across_libraries(writer, tmp_path):
    ours, ref = _model(seqlayers), _model(keras)
    ref.set_weights(ours.get_weights())
    want = ours.predict(X, verbose=0)
    path = str(tmp_path / "custom.keras")
    (ours if writer == "seqlayers" else ref).save(path)
    for K in (seqlayers, keras):
        loaded = K.models.load_model(path)
        assert type(loaded.layers[1]).__name__ == "MaskedProjection", K.__name__
        np.testing.assert_allclose(loaded.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6, err_msg=K.__name__)


def test_register_keras_serializable_names_the_class_as_keras():
    cls = _masked_projection_class(seqlayers)
    assert seqlayers.saving.get_registered_name(cls) == "corpus>MaskedProjection"
    assert keras.saving.get_registered_name(_masked_projection_class(keras)) == "corpus>MaskedProjection"
    assert LAYER_REGISTRY["corpus>MaskedProjection"] is cls
    assert seqlayers.saving.get_registered_object("corpus>MaskedProjection") is cls


def test_register_keras_serializable_refuses_what_it_cannot_register():
    with pytest.raises(TypeError, match=r"register_keras_serializable: class Plain has no get_config\(\)"):
        seqlayers.saving.register_keras_serializable()(type("Plain", (), {}))
    with pytest.raises(TypeError, match=r"register_keras_serializable: expected a class or a function, got int"):
        seqlayers.saving.register_keras_serializable()(3)


def test_an_unregistered_custom_layer_is_refused_on_save_with_the_fix(tmp_path):
    class Doubler(seqlayers.layers.Layer):
        def call(self, inputs):
            return inputs * 2

    LAYER_REGISTRY.pop("Doubler", None)  # as if never registered (subclasses register their name themselves)
    model = seqlayers.Sequential([seqlayers.Input((3,)), Doubler()])
    with pytest.raises(ValueError, match=r"the custom class Doubler is not registered; decorate it with "
                                         r"@seqlayers.saving.register_keras_serializable\(\)"):
        model.save(str(tmp_path / "d.keras"))


def test_custom_layer_builds_runs_and_trains_eagerly_as_a_torch_module():
    layer = _masked_projection_class(seqlayers)(3)
    x = torch.randn(2, 4, 5, requires_grad=True)
    y = layer(x)
    assert layer.built and tuple(y.shape) == (2, 4, 3)
    y.sum().backward()
    assert layer.w.grad is not None and layer.seen.grad is None
    assert [n for n, _ in layer.named_parameters()] == ["kernel", "bias", "seen"]


def _masked_cell_model(K, init=None):
    from ..keras_programs.object_model import _minimal_rnn_cell_class

    cell = _minimal_rnn_cell_class(K)(4)
    model = K.Sequential([K.Input((5,), dtype="int32"), K.layers.Embedding(12, 3, mask_zero=True),
                          K.layers.RNN(cell, return_sequences=True)])
    if init is not None:
        model.set_weights(init)
    return model


def test_custom_rnn_cell_skips_masked_steps_as_keras():
    ours = _masked_cell_model(seqlayers)
    ref = _masked_cell_model(keras, ours.get_weights())
    got = ours.predict(X, verbose=0)
    np.testing.assert_allclose(got, ref.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[0, 3], got[0, 2])  # a masked step repeats the last valid output
