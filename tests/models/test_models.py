"""Sequential and functional models: building, several inputs/outputs, shared layers, summary vs Keras."""
import numpy as np
import pytest
import torch

from seqlayers import (
    Add,
    Concatenate,
    Dense,
    Embedding,
    Flatten,
    Input,
    Model,
    RepeatVector,
    Sequential,
    TimeDistributed,
    get_mask,
)


def test_sequential_add_and_list_forms_are_the_same_model():
    a = Sequential([Dense(4, input_shape=(3,)), Dense(1)])
    b = Sequential()
    b.add(Dense(4, input_shape=(3,)))
    b.add(Dense(1))
    b.set_weights(a.get_weights())
    x = torch.randn(5, 3)
    torch.testing.assert_close(a(x), b(x))
    assert [lyr.name for lyr in a.layers] == ["dense", "dense_1"]


def test_sequential_with_input_first_builds_eagerly():
    m = Sequential([Input(shape=(5, 2)), TimeDistributed(Dense(3)), Flatten(), Dense(1)])
    assert m.built
    assert m.layer_shapes == [(None, 5, 3), (None, 15), (None, 1)]
    assert m.count_params() == (2 * 3 + 3) + (15 + 1)


def test_sequential_without_shape_builds_on_first_batch():
    m = Sequential([Dense(3), Dense(1)])
    assert not m.built
    y = m(torch.randn(4, 2))
    assert y.shape == (4, 1) and m.built and m.layer_shapes == [(None, 3), (None, 1)]


def test_functional_model_with_two_inputs_two_outputs_and_a_shared_layer():
    a = Input(shape=(4,), name="a")
    b = Input(shape=(4,), name="b")
    shared = Dense(3, name="shared")
    ha, hb = shared(a), shared(b)
    out1 = Dense(1, name="sum")(Add()([ha, hb]))
    out2 = Concatenate(name="cat")([ha, hb])
    m = Model([a, b], [out1, out2])
    xa, xb = torch.randn(2, 4), torch.randn(2, 4)
    y1, y2 = m([xa, xb])
    ref_h = shared(xa), shared(xb)
    torch.testing.assert_close(y2, torch.cat(ref_h, -1))
    torch.testing.assert_close(y1, m.get_layer("sum")(ref_h[0] + ref_h[1]))
    y1d, _ = m({"a": xa, "b": xb})
    torch.testing.assert_close(y1d, y1)
    assert m.count_params() == (4 * 3 + 3) + (3 + 1)  # the shared layer counts once
    assert len([lyr for lyr in m.layers if lyr is shared]) == 1


def test_functional_model_dict_outputs_and_mask_propagation():
    x = Input(shape=(None,), dtype="int64")
    e = Embedding(20, 4, mask_zero=True)(x)
    tags = TimeDistributed(Dense(3))(e)
    m = Model(x, {"tags": tags})
    ids = torch.tensor([[1, 2, 0]])
    out = m(ids)
    assert out["tags"].shape == (1, 3, 3)
    torch.testing.assert_close(get_mask(out["tags"]), ids != 0)


def test_numpy_inputs_are_accepted_and_float64_is_cast():
    m = Sequential([Dense(2, input_shape=(3,))])
    y = m(np.ones((4, 3)))
    assert y.dtype == torch.float32 and y.shape == (4, 2)


def test_models_are_torch_modules_with_all_parameters_before_training():
    m = Sequential([Dense(8, input_shape=(5, 3)), TimeDistributed(Dense(1))])
    names = [n for n, _ in m.named_parameters()]
    assert names == ["dense.kernel", "dense.bias", "time_distributed.layer.kernel", "time_distributed.layer.bias"]
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    loss = m(torch.randn(2, 5, 3)).pow(2).mean()
    loss.backward()
    opt.step()


def test_one_to_many_with_repeat_vector_shapes():
    m = Sequential([RepeatVector(4, input_shape=(3,)), TimeDistributed(Dense(2))])
    assert m.layer_shapes == [(None, 4, 3), (None, 4, 2)]


keras = pytest.importorskip("keras")


def _keras_count(build):
    return build().count_params()


@pytest.mark.parametrize("ours,theirs", [
    (lambda: Sequential([Dense(16, input_shape=(10,)), Dense(3)]),
     lambda: keras.Sequential([keras.Input((10,)), keras.layers.Dense(16), keras.layers.Dense(3)])),
    (lambda: Sequential([Input(shape=(7,), dtype="int64"), Embedding(100, 8), TimeDistributed(Dense(5)), Flatten(),
                         Dense(2)]),
     lambda: keras.Sequential([keras.Input((7,), dtype="int32"), keras.layers.Embedding(100, 8),
                               keras.layers.TimeDistributed(keras.layers.Dense(5)), keras.layers.Flatten(),
                               keras.layers.Dense(2)])),
    (lambda: Sequential([RepeatVector(5, input_shape=(4,)), Dense(3)]),
     lambda: keras.Sequential([keras.Input((4,)), keras.layers.RepeatVector(5), keras.layers.Dense(3)])),
])
def test_parameter_counts_equal_keras(ours, theirs):
    assert ours().count_params() == theirs().count_params()


def test_dense_and_time_distributed_agree_with_keras_given_the_same_weights():
    km = keras.Sequential([keras.Input((5, 3)), keras.layers.TimeDistributed(keras.layers.Dense(4, activation="tanh")),
                           keras.layers.Dense(2, activation="softmax")])
    ours = Sequential([TimeDistributed(Dense(4, activation="tanh"), input_shape=(5, 3)),
                       Dense(2, activation="softmax")])
    ours.set_weights(km.get_weights())
    x = np.random.RandomState(0).randn(2, 5, 3).astype("float32")
    np.testing.assert_allclose(ours(x).detach().numpy(), np.asarray(km(x).detach().cpu()), atol=1e-6)


def test_summary_prints_keras_shapes_and_counts():
    m = Sequential([Dense(4, input_shape=(5, 3)), TimeDistributed(Dense(1))])
    text = m.summary_text()
    assert "(None, 5, 4)" in text and "(None, 5, 1)" in text
    assert "Total params: 21" in text


def test_summary_prints_and_returns_none_as_keras(capsys):
    m = Sequential([Dense(4, input_shape=(5, 3)), TimeDistributed(Dense(1))])
    assert m.summary() is None
    assert capsys.readouterr().out == m.summary_text() + "\n"
    seen = []
    assert m.summary(print_fn=seen.append) is None and seen == [m.summary_text()]
    assert capsys.readouterr().out == ""
