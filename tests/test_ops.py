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
