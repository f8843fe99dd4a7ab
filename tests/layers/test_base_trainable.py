"""Freezing (``Layer.trainable``): the constructor argument on every layer, the setter's propagation to
sublayers, the weight lists and their order, frozen BatchNormalization, summary counts; against Keras 3."""
import numpy as np
import pytest
import torch

import seqlayers
import seqlayers.layers as L
from seqlayers.layers import LAYER_REGISTRY
from seqlayers.layers.base import trainable_parameters

from .checker import make_input
from .test_contract import CASES

keras = pytest.importorskip("keras")


def _case(name):
    kwargs, input_shape, _, extra = CASES[name]
    kwargs = kwargs() if callable(kwargs) else dict(kwargs)
    return kwargs, input_shape, extra


def _call(layer, input_shape, extra):
    if "cell" in extra:
        return None
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    xs = [make_input(s, extra.get("int_vocab")) for s in shapes]
    if extra.get("unpack"):
        return layer(*xs)
    return layer(xs if isinstance(input_shape, list) else xs[0])


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_layer_takes_trainable_false_and_then_has_no_trainable_weights(name):
    kwargs, input_shape, extra = _case(name)
    layer = LAYER_REGISTRY[name](**kwargs, trainable=False)
    assert layer.trainable is False
    if "cell" in extra:
        layer.build(input_shape)
    else:
        _call(layer, input_shape, extra)
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == len(layer.weights)
    assert all(not p.requires_grad for p in layer.parameters())
    assert trainable_parameters(layer) == []
    # trainable again: every parameter trains (BatchNormalization's statistics are buffers, never trained)
    layer.trainable = True
    params = list(layer.parameters())
    assert trainable_parameters(layer) == params and all(p.requires_grad for p in params)
    assert (params == []) == (layer.trainable_weights == [])


def test_trainable_must_be_a_bool():
    with pytest.raises(TypeError, match=r"Dense: trainable must be True or False, got 'no'"):
        L.Dense(2, trainable="no")
    layer = L.Dense(2)
    with pytest.raises(TypeError, match=r"trainable must be True or False, got None"):
        layer.trainable = None


def _custom_layer_class(K):
    class Counter(K.layers.Layer):
        """A non-trainable weight made first, a trainable one second (Keras lists trainable first)."""

        def build(self, input_shape):
            self.count = self.add_weight(shape=(2,), initializer="zeros", trainable=False, name="count")
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

        def call(self, inputs):
            return inputs * self.scale

    return Counter


def _weight_lists(K):
    layer = _custom_layer_class(K)()
    layer.build((None, 3))
    rows = []

    def record():
        rows.append([[tuple(w.shape) for w in ws] for ws in (layer.weights, layer.trainable_weights,
                                                              layer.non_trainable_weights)])

    record()
    layer.trainable = False
    record()
    layer.trainable = True  # the weight made with trainable=False stays non-trainable
    record()
    return rows


def test_weight_lists_and_order_follow_keras_through_freeze_and_unfreeze():
    assert _weight_lists(seqlayers) == _weight_lists(keras)


def _nested_flags(K):
    model = K.Sequential([K.Input((4,)), K.layers.Dense(3), K.layers.BatchNormalization(), K.layers.Dense(2)])
    model.trainable = False
    flags = [layer.trainable for layer in model.layers]
    model.layers[0].trainable = True  # a sublayer unfrozen inside a frozen model
    return dict(flags=flags, model=model.trainable, tw=len(model.trainable_weights),
                ntw=len(model.non_trainable_weights), layer_tw=len(model.layers[0].trainable_weights),
                counts=[model.count_params(), sum(int(np.prod(w.shape)) for w in model.trainable_weights)])


def test_setting_a_models_trainable_sets_its_layers_as_keras():
    ours = _nested_flags(seqlayers)
    assert ours == _nested_flags(keras)
    assert ours["flags"] == [False, False, False]


def test_frozen_batch_normalization_uses_its_moving_statistics_in_training_mode():
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 5, 3)).astype("float32")
    ours, ref = L.BatchNormalization(), keras.layers.BatchNormalization()
    ours.build((None, 5, 3))
    ref.build((None, 5, 3))
    w = [np.array([1.5, 0.5, 2.0], "float32"), np.array([0.1, -0.2, 0.3], "float32"),
         np.array([1.0, 2.0, 3.0], "float32"), np.array([4.0, 0.5, 2.0], "float32")]
    ours.set_weights(w)
    ref.set_weights(w)
    for layer in (ours, ref):
        layer.trainable = False
    got = ours(torch.as_tensor(x), training=True).detach().numpy()
    want = keras.ops.convert_to_numpy(ref(x, training=True))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.get_weights(), w):  # the statistics did not move
        np.testing.assert_array_equal(a, b)
    ours.trainable = True  # trainable again: batch statistics in training mode
    assert not np.allclose(ours(torch.as_tensor(x), training=True).detach().numpy(), want, atol=1e-3)


def _summary_counts(K):
    model = K.Sequential([K.Input((5,)), K.layers.Embedding(10, 4), K.layers.LSTM(3),
                          K.layers.BatchNormalization(), K.layers.Dense(2)])
    out = []
    for freeze in (None, 1, 0):
        if freeze is not None:
            model.layers[freeze].trainable = False
        lines: list = []
        model.summary(print_fn=lambda line, *a, lines=lines, **k: lines.append(line))
        text = "\n".join(lines)
        out.append([int(text.split(label)[1].split()[0].replace(",", ""))
                    for label in ("Total params:", "Trainable params:", "Non-trainable params:")])
    return out


def test_summary_counts_follow_freezing_as_keras():
    ours = _summary_counts(seqlayers)
    assert ours == _summary_counts(keras)
    assert ours[2][1] < ours[1][1] < ours[0][1]


def _frozen_embedding(K, matrix):
    layer = K.layers.Embedding(6, 3, weights=[matrix], trainable=False)
    layer.build((None, 4))
    return [w.shape for w in layer.trainable_weights], [np.array(w) for w in layer.get_weights()]


def test_frozen_pretrained_embedding_as_keras():
    matrix = np.arange(18, dtype="float32").reshape(6, 3)
    ours, ref = _frozen_embedding(seqlayers, matrix), _frozen_embedding(keras, matrix)
    assert ours[0] == ref[0] == []
    np.testing.assert_array_equal(ours[1][0], ref[1][0])
