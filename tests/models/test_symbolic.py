"""models/symbolic.py: symbolic shapes found by running a layer at two stand-in sizes (issue 14.6):
a real size equal to a stand-in is kept, a size that follows an unknown one is None."""
import torch


# ---------------------------------------------------------------- shapes without a sentinel size (issue 14.6)
def _seven(x):
    return torch.cat([x, x[..., :3]], dim=-1)  # 4 features -> 7


def test_a_real_size_equal_to_the_first_stand_in_is_kept():
    import torch.nn as tnn

    from seqlayers import LSTM, Input, Lambda, Model, TimeDistributed

    x = Input((None, 4))
    y = TimeDistributed(tnn.Linear(4, 7))(x)
    assert y.shape == (None, None, 7)
    z = LSTM(3)(y)  # a following LSTM needs the known feature size
    assert z.shape == (None, 3)
    w = Lambda(_seven)(x)
    assert w.shape == (None, None, 7)
    assert LSTM(2)(w).shape == (None, 2)
    m = Model(x, z)
    assert tuple(m(torch.zeros(2, 5, 4)).shape) == (2, 3)


def test_sizes_that_follow_an_unknown_size_stay_unknown():
    from seqlayers import Input, Lambda

    x = Input((None, 10))  # 10: the second stand-in size, a real size here
    assert Lambda(lambda t: t[:, :, :7])(x).shape == (None, None, 7)
    assert Lambda(lambda t: t.reshape(t.shape[0], -1))(Input((None, 2))).shape == (None, None)
    assert Lambda(lambda t: t.sum(dim=1))(x).shape == (None, 10)


def test_an_empty_axis_is_a_size_and_flows_through_a_layer_as_in_keras():
    import numpy as np
    import pytest

    from seqlayers import Input, LayerNormalization, Model

    keras = pytest.importorskip("keras")
    x = Input(batch_shape=(1, 0, 10))  # an empty sequence (Keras accepts a 0-sized axis)
    y = LayerNormalization()(x)
    assert x.shape == y.shape == (1, 0, 10)
    out = Model(x, y)(torch.zeros(1, 0, 10))
    ref = keras.layers.LayerNormalization()(np.zeros((1, 0, 10), "float32"))
    assert tuple(out.shape) == tuple(ref.shape) == (1, 0, 10)
    with pytest.raises(ValueError, match=r"Input: every size in shape must be a positive integer, 0 \(an "
                                         r"empty axis\) or None \(unknown\), got \(-1, 3\)"):
        Input(shape=(-1, 3))


def test_the_mask_of_a_symbolic_tensor_is_a_model_output_equal_to_keras(tmp_path):
    import numpy as np
    import pytest

    import seqlayers as sl
    from seqlayers.layers.base import get_mask

    keras = pytest.importorskip("keras")
    x1 = np.array([[[0, 0], [1, 2], [0, 0], [3, 4]]], "float32")
    x2 = np.array([[[0, 0], [0, 0], [1, 2], [3, 4]]], "float32")
    outs = {}
    for K, mask_of in ((sl, get_mask), (keras, keras.src.backend.get_keras_mask)):
        a, b = K.Input((4, 2)), K.Input((4, 2))
        y = K.layers.Concatenate(axis=1)([K.layers.Masking()(a), b])
        assert mask_of(b) is None and mask_of(K.layers.Concatenate(axis=1)([a, b])) is None
        outs[K.__name__] = (K.Model([a, b], mask_of(y)), K.Model([a, b], [y, mask_of(y)]))
    ours, theirs = outs["seqlayers"], outs["keras"]
    np.testing.assert_array_equal(np.asarray(ours[0]([x1, x2])), np.asarray(theirs[0]([x1, x2])))
    assert ours[0].outputs[0].shape == (None, 8) and ours[0].outputs[0].dtype == torch.bool
    path = ours[1].save(tmp_path / "m.seqlayers")
    y, m = sl.load_model(path)([torch.as_tensor(x1), torch.as_tensor(x2)])
    np.testing.assert_array_equal(m.numpy(), [[0, 1, 0, 1, 1, 1, 1, 1]])
    np.testing.assert_allclose(y.numpy(), np.asarray(theirs[1]([x1, x2])[0]))
