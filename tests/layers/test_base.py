"""The Layer contract's Keras idioms (issue 15): build(shape), numpy masks, dtype casts, masking flags."""
import numpy as np
import pytest
import torch

from seqlayers import (
    LSTM,
    Activation,
    Attention,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Masking,
    Sequential,
    TimeDistributed,
)


def test_build_with_a_shape_builds_once_and_keeps_weights_set_afterwards():
    layer = Dense(3)
    layer.build((None, 4))
    assert layer.built and layer.kernel.shape == (4, 3)
    w = [np.full((4, 3), 0.5, "float32"), np.zeros(3, "float32")]
    layer.set_weights(w)
    out = layer(torch.ones(2, 4))  # the first call must not re-initialise the weights
    torch.testing.assert_close(out, torch.full((2, 3), 2.0))
    layer.build((None, 4))  # a second build is a no-op
    np.testing.assert_array_equal(layer.get_weights()[0], w[0])


def test_build_of_a_recurrent_layer_and_a_wrapper():
    lstm = LSTM(2)
    lstm.build((None, 5, 3))
    assert lstm.built and lstm.count_params() == 4 * 2 * (3 + 2 + 1)
    bi = Bidirectional(LSTM(2))
    bi.build((None, 5, 3))
    assert bi.built and bi.count_params() == 2 * 4 * 2 * (3 + 2 + 1)


def test_stateless_layers_are_built_after_construction_and_a_build_override_is_not():
    assert Activation("relu").built and Dropout(0.5).built and Masking().built
    assert not Dense(2).built

    class Custom(Activation):
        def build(self, input_shape):
            pass

    assert not Custom("relu").built


def test_numpy_masks_are_accepted_like_tensors():
    x = torch.randn(2, 3, 4)
    mask = np.array([[True, True, False], [True, False, False]])
    td = TimeDistributed(Dense(2))
    torch.testing.assert_close(td(x, mask=mask), td(x, mask=torch.from_numpy(mask)))
    att = Attention()
    q, v = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    torch.testing.assert_close(att([q, v], mask=[mask, mask]),
                               att([q, v], mask=[torch.from_numpy(mask), torch.from_numpy(mask)]))
    np_x = np.array([[[0.0, 0.0], [1.0, 2.0]]])
    assert Masking().compute_mask(np_x).tolist() == [[False, True]]


@pytest.mark.parametrize("dtype", [torch.bool, torch.int32, torch.int64])
def test_bool_and_int_inputs_are_cast_to_the_layer_dtype(dtype):
    x = (torch.arange(24).reshape(2, 3, 4) % 2).to(dtype)
    masked = Masking()(x)
    assert masked.dtype == torch.float32
    torch.testing.assert_close(masked, Masking()(x.float()))
    bi = Bidirectional(LSTM(2))
    torch.testing.assert_close(bi(x), bi(x.float()))


def test_embedding_takes_integral_float_ids_and_refuses_fractional_ones():
    layer = Embedding(5, 2)
    torch.testing.assert_close(layer(torch.tensor([[1.0, 4.0]])), layer(torch.tensor([[1, 4]])))
    with pytest.raises(TypeError, match=r"Embedding: expected integer token ids, got torch.float32 with the "
                                        r"non-integral value 0.3.*x.long\(\)"):
        layer(torch.tensor([[1.0, 0.3]]))


def test_supports_masking_as_keras_says():
    assert Embedding(5, 2, mask_zero=True).supports_masking
    assert not Embedding(5, 2).supports_masking
    assert Masking().supports_masking


def test_get_config_carries_keras_base_keys_and_keeps_tuples():
    import keras as K

    import seqlayers as sl

    ours = sl.ZeroPadding1D(padding=(1, 2), dtype="float64", trainable=False).get_config()
    theirs = K.layers.ZeroPadding1D(padding=(1, 2), dtype="float64", trainable=False).get_config()
    assert set(ours) == set(theirs) == {"name", "trainable", "dtype", "padding", "data_format"}
    assert ours["padding"] == theirs["padding"] == (1, 2) and ours["trainable"] is theirs["trainable"] is False
    assert ours["dtype"] == theirs["dtype"]["config"]["name"] == "float64"  # Keras's is a DTypePolicy dict
    again = sl.ZeroPadding1D.from_config(ours)
    assert again.get_config() == ours and not again.trainable and again.dtype_ == torch.float64


def test_train_and_eval_set_every_submodule_mode_like_torch():
    """Layer.train writes the mode into each module directly; the result is nn.Module.train's: every
    submodule (plain torch ones too) in the mode, self returned, a non-bool refused."""
    model = Sequential([LSTM(4, return_sequences=True, input_shape=(3, 2)),
                        TimeDistributed(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5)))])
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        model.train("yes")
