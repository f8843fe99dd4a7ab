"""seqlayers.ops against keras.ops (torch backend) on the same inputs, with Keras's argument names."""
import numpy as np
import pytest
import torch

from seqlayers import ops

keras = pytest.importorskip("keras")
K = keras.ops

rng = np.random.default_rng(0)
X = rng.normal(size=(2, 3, 4)).astype("float32")
Y = rng.normal(size=(2, 4, 3)).astype("float32")
POS = np.abs(X) + 0.1
IDS = np.array([[0, 2], [1, 3]])

CASES = [
    ("sum", (X,), {"axis": 1}), ("sum", (X,), {"axis": (0, 2), "keepdims": True}), ("mean", (X,), {}),
    ("max", (X,), {"axis": -1}), ("min", (X,), {"axis": 0, "keepdims": True}), ("exp", (X,), {}),
    ("log", (POS,), {}), ("sqrt", (POS,), {}), ("square", (X,), {}), ("abs", (X,), {}), ("tanh", (X,), {}),
    ("sigmoid", (X,), {}), ("relu", (X,), {}), ("softmax", (X,), {"axis": 1}), ("log_softmax", (X,), {}),
    ("maximum", (X, 0.0), {}), ("minimum", (X, POS), {}), ("clip", (X, -0.5, 0.5), {}), ("matmul", (X, Y), {}),
    ("dot", (X[0], Y[0]), {}), ("concatenate", ([X, X],), {"axis": -1}), ("stack", ([X, X],), {"axis": 1}),
    ("expand_dims", (X,), {"axis": 1}), ("squeeze", (X[:, :1],), {"axis": 1}), ("reshape", (X, (6, 4)), {}),
    ("transpose", (X,), {"axes": (0, 2, 1)}), ("transpose", (X,), {}), ("cast", (X, "int32"), {}),
    ("where", (X > 0, X, 0.0), {}), ("ones_like", (X,), {}), ("zeros_like", (X,), {}),
    ("cumsum", (X,), {"axis": 1}), ("any", (X > 1,), {"axis": 1}), ("all", (X > -3,), {}),
    ("one_hot", (IDS, 4), {}), ("argmax", (X,), {"axis": -1}), ("tile", (X, (1, 2, 1)), {}),
    ("repeat", (X, 2), {"axis": 1}), ("take", (X, np.array([2, 0])), {"axis": 2}), ("arange", (5,), {}),
]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_op_matches_keras(name, args, kwargs):
    ours = getattr(ops, name)(*args, **kwargs)
    ref = getattr(K, name)(*args, **kwargs)
    assert isinstance(ours, torch.Tensor)
    assert tuple(ours.shape) == tuple(ref.shape)
    np.testing.assert_allclose(ops.convert_to_numpy(ours).astype("float64"),
                               K.convert_to_numpy(ref).astype("float64"), rtol=1e-6, atol=1e-6)


def test_top_k_and_shape_match_keras():
    v, i = ops.top_k(X, 2)
    rv, ri = K.top_k(X, 2)
    np.testing.assert_allclose(v.numpy(), K.convert_to_numpy(rv))
    np.testing.assert_array_equal(i.numpy(), K.convert_to_numpy(ri))
    assert ops.shape(X) == tuple(K.shape(X))


def test_every_op_has_keras_argument_names():
    import inspect

    for name in ops.__all__:
        ref = getattr(K, name, None)
        assert ref is not None, f"keras.ops has no {name}"
        ours = list(inspect.signature(getattr(ops, name)).parameters)
        want = list(inspect.signature(ref).parameters)
        assert ours == want, f"ops.{name}{ours} vs keras.ops.{name}{want}"


INT = rng.integers(-5, 6, size=(2, 3, 4))
SQ = rng.normal(size=(3, 3)).astype("float32")
XT = torch.as_tensor(X)  # keras.ops.unstack / stop_gradient on the torch backend take tensors only
MORE = [
    ("add", (X, 1.5), {}), ("subtract", (X, POS), {}), ("multiply", (X, X), {}), ("divide", (X, POS), {}),
    ("divide", (INT, 2), {}), ("power", (POS, 2.5), {}), ("mod", (INT, 3), {}), ("negative", (X,), {}),
    ("reciprocal", (POS,), {}), ("sign", (X,), {}), ("round", (X * 10,), {}), ("round", (X, 1), {}),
    ("floor", (X,), {}), ("ceil", (X,), {}), ("log1p", (POS,), {}), ("expm1", (X,), {}), ("erf", (X,), {}),
    ("equal", (INT, 0), {}), ("not_equal", (INT, 0), {}), ("greater", (X, 0.0), {}), ("greater_equal", (INT, 1), {}),
    ("less", (X, POS), {}), ("less_equal", (INT, 0), {}), ("logical_and", (X > 0, X < 1), {}),
    ("logical_or", (X > 1, X < -1), {}), ("logical_not", (X > 0,), {}), ("isnan", (X,), {}), ("isfinite", (X,), {}),
    ("prod", (X,), {"axis": 1}), ("prod", (X,), {"axis": (0, 2), "keepdims": True}), ("var", (X,), {"axis": -1}),
    ("std", (X,), {}), ("logsumexp", (X,), {"axis": 1}), ("logsumexp", (X,), {}), ("cumprod", (X,), {"axis": 2}),
    ("norm", (X,), {"axis": -1}), ("norm", (X,), {}), ("norm", (X,), {"axis": (1, 2)}), ("normalize", (X,), {}),
    ("normalize", (X,), {"axis": 1, "order": 1}), ("einsum", ("btf,bfu->btu", X, Y), {}),
    ("split", (X, 2), {"axis": -1}), ("split", (X, [1]), {"axis": 1}), ("unstack", (XT,), {"axis": 1}),
    ("pad", (X, [(0, 0), (1, 2), (0, 0)]), {}), ("pad", (X, [(0, 0), (1, 0), (0, 1)]), {"constant_values": 3.0}),
    ("pad", (X, [(0, 0), (1, 1), (0, 0)]), {"mode": "reflect"}), ("flip", (X,), {"axis": 1}), ("flip", (X,), {}),
    ("swapaxes", (X, 1, 2), {}), ("moveaxis", (X, 0, -1), {}), ("broadcast_to", (X[:, :1], (2, 3, 4)), {}),
    ("ravel", (X,), {}), ("sort", (X,), {}), ("argsort", (X,), {"axis": 1}), ("take_along_axis",
    (X, np.argsort(X, axis=-1)), {"axis": -1}), ("full", ((2, 3), 0.5), {}), ("full_like", (X, 2), {}),
    ("eye", (3,), {}), ("eye", (3, 4), {"k": 1}), ("eye", (4, 3), {"k": -2}), ("tril", (SQ,), {}),
    ("triu", (SQ,), {"k": 1}), ("stop_gradient", (XT,), {}), ("softplus", (X,), {}), ("silu", (X,), {}),
    ("swish", (X,), {}), ("gelu", (X,), {}), ("gelu", (X,), {"approximate": False}), ("elu", (X,), {"alpha": 0.5}),
    ("leaky_relu", (X,), {}), ("relu6", (X * 5,), {}), ("hard_sigmoid", (X * 3,), {}), ("selu", (X,), {}),
    ("max", (X,), {"axis": 1, "initial": 0.5}), ("min", (X,), {"initial": -0.1}), ("argmin", (X,), {"axis": 0}),
    ("arange", (1, 7, 2), {}), ("ones", ((2, 3),), {}), ("zeros", ((3,),), {"dtype": "int32"}),
    ("convert_to_tensor", (X,), {}), ("mean", (INT,), {"axis": 0}), ("sum", (INT,), {}),
]


def _numpy(x):
    if isinstance(x, (list, tuple)):
        return [_numpy(v) for v in x]
    return K.convert_to_numpy(x)


@pytest.mark.parametrize("name,args,kwargs", MORE, ids=[f"{c[0]}-{i}" for i, c in enumerate(MORE)])
def test_more_ops_match_keras_values_shapes_and_dtypes(name, args, kwargs):
    ours, ref = _numpy(getattr(ops, name)(*args, **kwargs)), _numpy(getattr(K, name)(*args, **kwargs))
    if isinstance(ref, list):
        assert len(ours) == len(ref)
    for a, b in zip(ours if isinstance(ours, list) else [ours], ref if isinstance(ref, list) else [ref]):
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
        np.testing.assert_allclose(a.astype("float64"), b.astype("float64"), rtol=1e-5, atol=1e-6)


def test_one_hot_sparse_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"ops.one_hot: sparse=True is not supported.*use sparse=False"):
        ops.one_hot(IDS, 4, sparse=True)


@pytest.mark.parametrize("value", [X.astype("float64"), X, [1.5, 2.0], 1.5, np.float64(1.5), [np.float64(1.5)]],
                         ids=["float64_array", "float32_array", "list", "float", "numpy_scalar", "list_of_scalars"])
def test_convert_to_tensor_keeps_a_float64_array_and_makes_python_floats_float32_as_keras(value):
    assert ops.convert_to_tensor(value).dtype == K.convert_to_tensor(value).dtype



def test_a_float64_array_through_an_op_stays_float64_as_in_keras():
    x = X.astype("float64")
    for name, args in (("exp", (x,)), ("sum", (x, 1)), ("softmax", (x,))):
        got, want = getattr(ops, name)(*args), getattr(K, name)(*args)
        assert got.dtype == want.dtype == torch.float64, name
