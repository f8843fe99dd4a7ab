"""seqlayers.backend: Keras 2's backend tensor functions (K.sum, K.exp...) with the argument names and defaults
of Keras's tf.keras compatibility backend (signatures read from the installed Keras; its bodies need
TensorFlow, so values are compared with the equivalent keras.ops expression on the same inputs)."""
import inspect

import numpy as np
import pytest
import torch

from seqlayers import backend as B

keras = pytest.importorskip("keras")
legacy = pytest.importorskip("keras._tf_keras.keras.backend")
KO = keras.ops

rng = np.random.default_rng(1)
X = rng.normal(size=(2, 3, 4)).astype("float32")
Y = rng.normal(size=(2, 4, 5)).astype("float32")
V = rng.normal(size=(2, 4)).astype("float32")
POS = np.abs(X) + 0.1
P = KO.convert_to_numpy(KO.softmax(X))
IDS = np.array([[0, 2, 1], [3, 1, 0]])
T = (P > 0.3).astype("float32")


def test_every_function_has_the_keras_2_signature():
    names = [n for n in B.__all__ if n not in ("backend", "image_data_format")]
    for name in names:
        ours = inspect.signature(getattr(B, name))
        ref = inspect.signature(getattr(legacy, name))
        got = [(p.name, p.default) for p in ours.parameters.values()]
        want = [(p.name, p.default) for p in ref.parameters.values()]
        assert got == want, f"backend.{name}{ours} vs Keras's {name}{ref}"


# (our call, the keras.ops expression with Keras 2's meaning)
CASES = {
    "sum": (lambda: B.sum(X, axis=1), lambda: KO.sum(X, axis=1)),
    "sum_all": (lambda: B.sum(X), lambda: KO.sum(X)),
    "mean": (lambda: B.mean(X, axis=-1, keepdims=True), lambda: KO.mean(X, axis=-1, keepdims=True)),
    "max": (lambda: B.max(X, axis=0), lambda: KO.max(X, axis=0)),
    "min": (lambda: B.min(X), lambda: KO.min(X)),
    "prod": (lambda: B.prod(X, axis=2), lambda: KO.prod(X, axis=2)),
    "std": (lambda: B.std(X, axis=1), lambda: KO.std(X, axis=1)),
    "var": (lambda: B.var(X), lambda: KO.var(X)),
    "any": (lambda: B.any(X > 1, axis=1), lambda: KO.any(X > 1, axis=1)),
    "all": (lambda: B.all(X > -2), lambda: KO.all(X > -2)),
    "argmax": (lambda: B.argmax(X), lambda: KO.argmax(X, axis=-1)),
    "argmin": (lambda: B.argmin(X), lambda: KO.argmin(X, axis=-1)),
    "cumsum": (lambda: B.cumsum(X), lambda: KO.cumsum(X, axis=0)),
    "cumprod": (lambda: B.cumprod(X, axis=2), lambda: KO.cumprod(X, axis=2)),
    "abs": (lambda: B.abs(X), lambda: KO.abs(X)),
    "exp": (lambda: B.exp(X), lambda: KO.exp(X)),
    "log": (lambda: B.log(POS), lambda: KO.log(POS)),
    "sqrt": (lambda: B.sqrt(POS), lambda: KO.sqrt(POS)),
    "square": (lambda: B.square(X), lambda: KO.square(X)),
    "pow": (lambda: B.pow(POS, 1.5), lambda: KO.power(POS, 1.5)),
    "sign": (lambda: B.sign(X), lambda: KO.sign(X)),
    "round": (lambda: B.round(X * 3), lambda: KO.round(X * 3)),
    "sin": (lambda: B.sin(X), lambda: KO.sin(X)),
    "cos": (lambda: B.cos(X), lambda: KO.cos(X)),
    "sigmoid": (lambda: B.sigmoid(X), lambda: KO.sigmoid(X)),
    "hard_sigmoid": (lambda: B.hard_sigmoid(X * 3), lambda: KO.clip(0.2 * X * 3 + 0.5, 0.0, 1.0)),  # Keras 2's
    "tanh": (lambda: B.tanh(X), lambda: KO.tanh(X)),
    "softplus": (lambda: B.softplus(X), lambda: KO.softplus(X)),
    "softsign": (lambda: B.softsign(X), lambda: KO.softsign(X)),
    "elu": (lambda: B.elu(X, 0.5), lambda: KO.elu(X, 0.5)),
    "relu": (lambda: B.relu(X), lambda: KO.relu(X)),
    "relu_leaky_capped": (lambda: B.relu(X, alpha=0.1, max_value=0.5),
                          lambda: KO.clip(KO.leaky_relu(X, 0.1), -1e9, 0.5)),
    "relu_threshold": (lambda: B.relu(X, threshold=0.3), lambda: KO.where(X > 0.3, X, 0.0)),
    "softmax": (lambda: B.softmax(X, axis=1), lambda: KO.softmax(X, axis=1)),
    "maximum": (lambda: B.maximum(X, 0.2), lambda: KO.maximum(X, 0.2)),
    "minimum": (lambda: B.minimum(X, POS), lambda: KO.minimum(X, POS)),
    "equal": (lambda: B.equal(IDS, 1), lambda: KO.equal(IDS, 1)),
    "not_equal": (lambda: B.not_equal(IDS, 1), lambda: KO.not_equal(IDS, 1)),
    "greater": (lambda: B.greater(X, 0.0), lambda: KO.greater(X, 0.0)),
    "greater_equal": (lambda: B.greater_equal(IDS, 1), lambda: KO.greater_equal(IDS, 1)),
    "less": (lambda: B.less(X, 0.0), lambda: KO.less(X, 0.0)),
    "less_equal": (lambda: B.less_equal(IDS, 1), lambda: KO.less_equal(IDS, 1)),
    "clip": (lambda: B.clip(X, -0.5, 0.5), lambda: KO.clip(X, -0.5, 0.5)),
    "switch": (lambda: B.switch(X > 0, X, -X), lambda: KO.where(X > 0, X, -X)),
    "dot": (lambda: B.dot(X, Y[0]), lambda: KO.dot(X, Y[0])),
    "batch_dot": (lambda: B.batch_dot(X, Y), lambda: KO.einsum("btf,bfu->btu", X, Y)),
    "batch_dot_axes": (lambda: B.batch_dot(X, X, axes=(2, 2)), lambda: KO.einsum("btf,bsf->bts", X, X)),
    "batch_dot_vectors": (lambda: B.batch_dot(V, V, axes=1), lambda: KO.sum(V * V, axis=1, keepdims=True)),
    "concatenate": (lambda: B.concatenate([X, X]), lambda: KO.concatenate([X, X], axis=-1)),
    "stack": (lambda: B.stack([X, X], axis=1), lambda: KO.stack([X, X], axis=1)),
    "expand_dims": (lambda: B.expand_dims(X), lambda: KO.expand_dims(X, -1)),
    "squeeze": (lambda: B.squeeze(X[:, :1], 1), lambda: KO.squeeze(X[:, :1], axis=1)),
    "reshape": (lambda: B.reshape(X, (2, 12)), lambda: KO.reshape(X, (2, 12))),
    "permute_dimensions": (lambda: B.permute_dimensions(X, (0, 2, 1)), lambda: KO.transpose(X, (0, 2, 1))),
    "transpose": (lambda: B.transpose(X[0]), lambda: KO.transpose(X[0])),
    "flatten": (lambda: B.flatten(X), lambda: KO.ravel(X)),
    "batch_flatten": (lambda: B.batch_flatten(X), lambda: KO.reshape(X, (2, 12))),
    "repeat": (lambda: B.repeat(V, 3), lambda: KO.repeat(KO.expand_dims(V, 1), 3, axis=1)),
    "repeat_elements": (lambda: B.repeat_elements(X, 2, axis=1), lambda: KO.repeat(X, 2, axis=1)),
    "tile": (lambda: B.tile(X, (1, 2, 1)), lambda: KO.tile(X, (1, 2, 1))),
    "reverse": (lambda: B.reverse(X, 1), lambda: KO.flip(X, axis=1)),
    "temporal_padding": (lambda: B.temporal_padding(X, (1, 2)), lambda: KO.pad(X, [(0, 0), (1, 2), (0, 0)])),
    "l2_normalize": (lambda: B.l2_normalize(X, axis=-1), lambda: KO.normalize(X, axis=-1)),
    "one_hot": (lambda: B.one_hot(IDS, 4), lambda: KO.one_hot(IDS, 4)),
    "gather": (lambda: B.gather(X, np.array([1, 0, 1])), lambda: KO.take(X, np.array([1, 0, 1]), axis=0)),
    "cast": (lambda: B.cast(X, "int32"), lambda: KO.cast(X, "int32")),
    "zeros": (lambda: B.zeros((2, 3)), lambda: KO.zeros((2, 3))),
    "ones": (lambda: B.ones((3,), dtype="int32"), lambda: KO.ones((3,), dtype="int32")),
    "zeros_like": (lambda: B.zeros_like(X), lambda: KO.zeros_like(X)),
    "ones_like": (lambda: B.ones_like(IDS), lambda: KO.ones_like(IDS)),
    "arange": (lambda: B.arange(5), lambda: KO.arange(5, dtype="int32")),
    "constant": (lambda: B.constant(1.5, shape=(2, 2)), lambda: KO.full((2, 2), 1.5)),
    "stop_gradient": (lambda: B.stop_gradient(torch.as_tensor(X)), lambda: KO.stop_gradient(torch.as_tensor(X))),
    "binary_crossentropy": (lambda: B.binary_crossentropy(T, P),
                            lambda: KO.binary_crossentropy(T, P)),
    "binary_crossentropy_logits": (lambda: B.binary_crossentropy(T, X, from_logits=True),
                                   lambda: KO.binary_crossentropy(T, X, from_logits=True)),
    "categorical_crossentropy": (lambda: B.categorical_crossentropy(KO.one_hot(np.argmax(X, -1), 4), P),
                                 lambda: KO.categorical_crossentropy(KO.one_hot(np.argmax(X, -1), 4), P)),
    "sparse_categorical_crossentropy": (lambda: B.sparse_categorical_crossentropy(IDS, X[:, :, :4] * 2,
                                                                                  from_logits=True),
                                        lambda: KO.sparse_categorical_crossentropy(IDS, X[:, :, :4] * 2,
                                                                                  from_logits=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_backend_function_matches_keras(case):
    ours, ref = CASES[case]
    got, want = ours(), KO.convert_to_numpy(ref())
    assert isinstance(got, torch.Tensor)
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.detach().numpy().astype("float64"), want.astype("float64"), rtol=1e-5, atol=1e-6)


NO_FLOAT_INPUT = ("arange", "constant", "one_hot", "ones", "ones_like", "zeros")  # (ids, shapes or a Python float)


@pytest.mark.parametrize("case", sorted(CASES))
def test_backend_function_keeps_a_float64_input_float64(case, monkeypatch):
    """Keras 2's backend functions are TensorFlow ops, which keep a float64 input float64. Every case on float64
    tensors (X, Y, V, POS, P, T): a float result is float64, and equals the keras.ops expression (to 1e-6: Keras 3
    itself computes var, prod, dot, cumsum, cumprod... of float64 in float32; float64 values: the next test)."""
    for name in ("X", "Y", "V", "POS", "P", "T"):
        monkeypatch.setitem(globals(), name, torch.as_tensor(globals()[name]).double())
    ours, ref = CASES[case]
    got, want = ours(), KO.convert_to_numpy(ref())
    if got.is_floating_point() and case not in NO_FLOAT_INPUT:
        assert got.dtype == torch.float64
    np.testing.assert_allclose(got.detach().numpy().astype("float64"), want.astype("float64"), rtol=1e-6, atol=1e-7)


def _np_bce(t, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


# the functions that computed in float32 before, against their formulas in float64 numpy
FLOAT64_FORMULAS = {
    "sin": (lambda x: B.sin(x), np.sin),
    "cos": (lambda x: B.cos(x), np.cos),
    "softsign": (lambda x: B.softsign(x), lambda x: x / (1 + np.abs(x))),
    "relu": (lambda x: B.relu(x), lambda x: np.maximum(x, 0)),
    "relu_leaky_capped_threshold": (lambda x: B.relu(x, alpha=0.1, max_value=0.5, threshold=0.2),
                                    lambda x: np.minimum(np.where(x > 0.2, x, 0.1 * (x - 0.2)), 0.5)),
    "hard_sigmoid": (lambda x: B.hard_sigmoid(x * 3), lambda x: np.clip(0.6 * x + 0.5, 0, 1)),
    "l2_normalize": (lambda x: B.l2_normalize(x, axis=-1),
                     lambda x: x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True))),
    "binary_crossentropy": (lambda x: B.binary_crossentropy((x > 0).double(), torch.sigmoid(x)),
                            lambda x: _np_bce((x > 0) * 1.0, 1 / (1 + np.exp(-x)))),
    "binary_crossentropy_logits": (lambda x: B.binary_crossentropy((x > 0).double(), x, from_logits=True),
                                   lambda x: _np_bce((x > 0) * 1.0, 1 / (1 + np.exp(-x)))),
    "categorical_crossentropy": (lambda x: B.categorical_crossentropy(torch.eye(4, dtype=torch.float64)[[2]],
                                                                      torch.softmax(x, -1)),
                                 lambda x: -np.log(np.exp(x[..., 2]) / np.exp(x).sum(-1))),
    "sparse_categorical_crossentropy": (lambda x: B.sparse_categorical_crossentropy(torch.full(x.shape[:-1], 2), x,
                                                                                    from_logits=True),
                                        lambda x: -np.log(np.exp(x[..., 2]) / np.exp(x).sum(-1))),
}


@pytest.mark.parametrize("case", sorted(FLOAT64_FORMULAS))
def test_backend_function_computes_a_float64_input_in_float64(case):
    ours, formula = FLOAT64_FORMULAS[case]
    x = torch.as_tensor(X).double()  # (2, 3, 4)
    got = ours(x)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), formula(x.numpy()), rtol=1e-12, atol=1e-14)


def test_a_float64_numpy_array_stays_float64_as_under_keras_2():
    x = X.astype("float64")
    for got in (B.sin(x), B.exp(x), B.relu(x), B.sum(x, axis=1), B.batch_dot(x, Y.astype("float64"))):
        assert got.dtype == torch.float64
    np.testing.assert_allclose(B.sin(x).numpy(), np.sin(x), rtol=1e-14)


def test_constant_and_variable_default_to_floatx_whatever_the_value():
    """Keras 2's K.constant / K.variable: dtype None means floatx() (keras/src/legacy/backend.py, which needs
    TensorFlow to run), so a float64 tensor or an int becomes float32 unless a dtype is given."""
    x64 = torch.as_tensor(X).double()
    for value in (x64, 3, np.arange(4), X.astype("float64")):
        assert B.constant(value).dtype == torch.float32 and B.variable(value).dtype == torch.float32
    assert B.constant(x64, dtype="float64").dtype == B.variable(x64, dtype="float64").dtype == torch.float64
    assert B.constant(3, dtype="int32").dtype == torch.int32
    np.testing.assert_array_equal(B.constant(x64).numpy(), X)  # X is float32: the cast back is exact


def test_hard_sigmoid_is_keras_2s_formula_not_keras_3s():
    """K.hard_sigmoid(x) = clip(0.2 x + 0.5, 0, 1) (Keras 2's backend); keras.ops.hard_sigmoid = relu6(x + 3) / 6."""
    x = torch.tensor([-3.0, -2.5, -2.0, 0.0, 1.0, 2.0, 2.5, 3.0])
    want = torch.tensor([0.0, 0.0, 0.1, 0.5, 0.7, 0.9, 1.0, 1.0])  # worked by hand from the formula
    torch.testing.assert_close(B.hard_sigmoid(x), want)
    assert not np.allclose(B.hard_sigmoid(x).numpy(), KO.convert_to_numpy(KO.hard_sigmoid(x)))


def test_shape_helpers_values_and_session_functions():
    t = torch.as_tensor(X)
    assert B.int_shape(t) == B.shape(t) == (2, 3, 4) and B.ndim(t) == 3 and B.dtype(t) == "float32"
    assert B.count_params(t) == 24
    w = B.variable(np.zeros((2, 2), "float32"))
    B.set_value(w, np.ones((2, 2)))
    np.testing.assert_array_equal(B.get_value(w), np.ones((2, 2), "float32"))
    assert [a.shape for a in B.batch_get_value([w, t])] == [(2, 2), (2, 3, 4)]
    assert B.epsilon() == keras.backend.epsilon() and B.floatx() == keras.backend.floatx() == "float32"
    B.clear_session()
