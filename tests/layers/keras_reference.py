"""Keras 3 (torch backend) as the independent reference for a layer: same weights, same masks.

``against_keras(ours, theirs, inputs, masks)`` builds both layers on the same numpy inputs, gives
Keras's layer random weights and copies them into ours with ``set_weights`` (Keras layout), attaches
the same masks to both sides' input tensors (Keras reads ``_keras_mask`` as we read our mask
attribute) and returns both outputs and output masks as numpy.

``keras_file_roundtrip(tmp_path, kmodel, inputs)`` saves a Keras model as ``.keras`` and ``.h5``, loads
each with ``seqlayers.from_keras`` and checks the outputs equal Keras's within 1e-5; then writes our
model back with ``to_keras`` and checks Keras's loader gives the same outputs again.
"""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import seqlayers as sl  # noqa: E402
from seqlayers.layers.base import get_mask, set_mask  # noqa: E402
from seqlayers.utils import flatten  # noqa: E402

keras = pytest.importorskip("keras")

ATOL = 1e-5


def random_weights(layer, seed=1):
    """Random Keras weights (variances positive) set on a built Keras layer or model."""
    rng = np.random.default_rng(seed)
    ws = []
    for v in layer.weights:
        shape = tuple(v.shape)
        if "variance" in v.name or "stddev" in v.name:
            ws.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            ws.append(rng.uniform(-1.0, 1.0, shape).astype("float32"))
    layer.set_weights(ws)
    return ws


def _numpy(t):
    if t is None:
        return None
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else keras.ops.convert_to_numpy(t)


def against_keras(ours, theirs, inputs, masks=None, training=False, **call):
    """Outputs and output masks of both layers on the same inputs and weights, as numpy lists."""
    listed = isinstance(inputs, (list, tuple))
    arrays = list(inputs) if listed else [inputs]
    if masks is not None and not listed:
        masks = [masks]  # one input: one mask
    masks = list(masks) if masks is not None else [None] * len(arrays)

    def prepare(to_tensor, attach):
        ts = [to_tensor(a) for a in arrays]
        for t, m in zip(ts, masks):
            if m is not None:
                attach(t, to_tensor(np.asarray(m, dtype=bool)))
        return ts if listed else ts[0]

    kin = prepare(keras.ops.convert_to_tensor, keras.src.backend.set_keras_mask)
    theirs(kin, **call)  # build
    if theirs.weights:
        weights = random_weights(theirs)
        ours(prepare(torch.as_tensor, set_mask), **call)  # build
        ours.set_weights(weights)
    tin = prepare(torch.as_tensor, set_mask)
    ours.train(training)
    mine = ours(tin, training=training, **call)
    ref = theirs(prepare(keras.ops.convert_to_tensor, keras.src.backend.set_keras_mask), training=training, **call)
    mine_out = [_numpy(t) for t in flatten(mine)]
    ref_out = [_numpy(t) for t in flatten(list(ref) if isinstance(ref, tuple) else ref)]
    mine_masks = [_numpy(get_mask(t)) for t in flatten(mine)]
    ref_masks = [_numpy(keras.src.backend.get_keras_mask(t)) for t in flatten(list(ref) if isinstance(ref,
                                                                                                      tuple) else ref)]
    return mine_out, ref_out, mine_masks, ref_masks


def assert_same_as_keras(ours, theirs, inputs, masks=None, atol=ATOL, **call):
    mine, ref, mine_masks, ref_masks = against_keras(ours, theirs, inputs, masks, **call)
    assert len(mine) == len(ref)
    for a, b in zip(mine, ref):
        assert a.shape == b.shape, (a.shape, b.shape)
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5)
    for a, b in zip(mine_masks, ref_masks):
        assert (a is None) == (b is None), f"output mask: ours {a}, Keras {b}"
        if a is not None:
            np.testing.assert_array_equal(a, b)
    return mine, mine_masks


def keras_file_roundtrip(tmp_path, kmodel, inputs, atol=ATOL, export=True):
    """Keras-saved .keras and .h5 load in seqlayers with Keras's outputs; to_keras loads back in Keras."""
    random_weights(kmodel, seed=2)
    listed = isinstance(inputs, (list, tuple))
    kin = inputs if listed else [inputs]

    def outputs(model, xs, as_tensor):
        out = model([as_tensor(x) for x in xs] if listed else as_tensor(xs[0]))
        return [_numpy(o) for o in flatten(list(out) if isinstance(out, tuple) else out)]

    expected = outputs(kmodel, kin, keras.ops.convert_to_tensor)
    ours = None
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"model{suffix}"
        kmodel.save(path)
        ours = sl.from_keras(path)
        got = outputs(ours, kin, torch.as_tensor)
        assert len(got) == len(expected), suffix
        for g, e in zip(got, expected):
            assert g.shape == e.shape, (suffix, g.shape, e.shape)
            np.testing.assert_allclose(g, e, atol=atol, rtol=0, err_msg=suffix)
    if export:
        back = keras.saving.load_model(sl.to_keras(ours, tmp_path / "back.keras"))
        for g, e in zip(outputs(back, kin, keras.ops.convert_to_tensor), expected):
            np.testing.assert_allclose(g, e, atol=atol, rtol=0, err_msg="to_keras")
    return ours


def onnx_roundtrip(model, path, inputs, atol=ATOL):
    """``sl.export_onnx`` at fixed length, and onnxruntime gives the model's outputs on ``inputs``."""
    ort = pytest.importorskip("onnxruntime")
    sl.export_onnx(model, path, dynamic_time=False)
    listed = isinstance(inputs, (list, tuple))
    feeds = list(inputs) if listed else [inputs]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: np.asarray(x) for i, x in zip(session.get_inputs(), feeds)})
    with torch.no_grad():
        out = model([torch.as_tensor(x) for x in feeds] if listed else torch.as_tensor(inputs))
    expected = [_numpy(o) for o in flatten(list(out) if isinstance(out, tuple) else out)]
    assert len(got) == len(expected), (len(got), len(expected))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=atol, rtol=0, err_msg="onnxruntime")
