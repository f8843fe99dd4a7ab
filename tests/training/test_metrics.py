"""Streaming metrics against Keras 3 metrics and scikit-learn, with masks, weights and several batches."""
import re

import numpy as np
import pytest
import torch

from seqlayers.layers.base import set_mask
from seqlayers.training import metrics

keras = pytest.importorskip("keras")
sk = pytest.importorskip("sklearn.metrics")

rng = np.random.default_rng(1)
B, T, C = 6, 5, 4


def _mask():
    return np.arange(T)[None, :] < np.array([5, 2, 4, 1, 3, 5])[:, None]


def _keras_metric(m, batches):
    for y, p, mask, sw in batches:
        yp = torch.tensor(p)
        if mask is not None:
            yp._keras_mask = torch.tensor(mask)
        m.update_state(torch.tensor(y), yp, sample_weight=None if sw is None else torch.tensor(sw))
    return float(m.result())


def _ours(m, batches):
    for y, p, mask, sw in batches:
        yp = torch.tensor(p)
        if mask is not None:
            set_mask(yp, torch.tensor(mask))
        m.update_state(torch.tensor(y), yp, sample_weight=None if sw is None else torch.tensor(sw))
    return m.result()


def _batches(kind, masked, weighted, n=3):
    out = []
    for _ in range(n):
        p = rng.random((B, T, C)).astype("float32")
        if kind == "sparse":
            y = rng.integers(0, C, (B, T))
        elif kind == "categorical":
            y = np.eye(C, dtype="float32")[rng.integers(0, C, (B, T))]
        elif kind == "binary":
            p = p[..., :1]
            y = (rng.random((B, T, 1)) > 0.5).astype("float32")
        else:
            y = rng.normal(size=(B, T, C)).astype("float32")
        sw = rng.random((B, T)).astype("float32") if weighted else None
        out.append((y, p, _mask() if masked else None, sw))
    return out


@pytest.mark.parametrize("name,kind,kmake", [
    ("accuracy", "sparse", lambda: keras.metrics.SparseCategoricalAccuracy()),
    ("accuracy", "categorical", lambda: keras.metrics.CategoricalAccuracy()),
    ("accuracy", "binary", lambda: keras.metrics.BinaryAccuracy()),
    ("sparse_categorical_accuracy", "sparse", lambda: keras.metrics.SparseCategoricalAccuracy()),
    ("categorical_accuracy", "categorical", lambda: keras.metrics.CategoricalAccuracy()),
    ("binary_accuracy", "binary", lambda: keras.metrics.BinaryAccuracy()),
    ("mse", "reg", lambda: keras.metrics.MeanSquaredError()),
    ("mae", "reg", lambda: keras.metrics.MeanAbsoluteError()),
])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_mean_metrics_match_keras_over_batches(name, kind, kmake, masked, weighted):
    batches = _batches(kind, masked, weighted)
    assert _ours(metrics.get(name), batches) == pytest.approx(_keras_metric(kmake(), batches), rel=1e-5)


@pytest.mark.parametrize("masked", [False, True])
def test_precision_recall_f1_match_sklearn_on_bit_vectors(masked):
    batches = []
    for _ in range(3):
        y = (rng.random((B, T, C)) > 0.6).astype("float32")
        p = rng.random((B, T, C)).astype("float32")
        batches.append((y, p, _mask() if masked else None, None))
    ys = np.concatenate([b[0][b[2]] if masked else b[0].reshape(-1, C) for b in batches])
    ps = np.concatenate([(b[1][b[2]] if masked else b[1].reshape(-1, C)) > 0.5 for b in batches]).astype(int)
    for name, ref in [
        ("precision", sk.precision_score(ys, ps, average="micro", zero_division=0)),
        ("recall", sk.recall_score(ys, ps, average="micro", zero_division=0)),
        ("f1_micro", sk.f1_score(ys, ps, average="micro", zero_division=0)),
        ("f1_macro", sk.f1_score(ys, ps, average="macro", zero_division=0)),
        ("precision_macro", sk.precision_score(ys, ps, average="macro", zero_division=0)),
        ("recall_macro", sk.recall_score(ys, ps, average="macro", zero_division=0)),
    ]:
        assert _ours(metrics.get(name), batches) == pytest.approx(ref, rel=1e-9), name


def test_f1_macro_counts_a_never_seen_class_as_zero_like_sklearn():
    y = np.array([[1, 0, 0], [1, 0, 0]], "float32")
    p = np.array([[0.9, 0.1, 0.1], [0.8, 0.1, 0.1]], "float32")
    ref = sk.f1_score(y, (p > 0.5).astype(int), average="macro", zero_division=0)
    assert _ours(metrics.get("f1_macro"), [(y, p, None, None)]) == pytest.approx(ref)


def test_unknown_metric_name_suggests():
    with pytest.raises(ValueError, match="unknown metric 'acuracy'. Did you mean 'accuracy'"):
        metrics.get("acuracy")


def test_binary_precision_on_single_unit_sequence_output():
    y = np.array([[1, 0, 1], [0, 0, 1]], "float32")               # (B, T) targets
    p = np.array([[[0.9], [0.6], [0.2]], [[0.1], [0.3], [0.8]]], "float32")  # (B, T, 1) output
    ref = sk.precision_score(y.reshape(-1), (p.reshape(-1) > 0.5).astype(int))
    assert _ours(metrics.get("precision"), [(y, p, None, None)]) == pytest.approx(ref)


# ---------------------------------------------------------------- Keras's metric objects
def _kinds(kind):
    return {"sparse": "sparse", "categorical": "categorical", "binary": "binary", "reg": "reg"}[kind]


@pytest.mark.parametrize("cls,kind,kw", [
    ("MeanSquaredError", "reg", {}), ("MeanAbsoluteError", "reg", {}), ("RootMeanSquaredError", "reg", {}),
    ("BinaryAccuracy", "binary", {}), ("BinaryAccuracy", "binary", {"threshold": 0.3}),
    ("CategoricalAccuracy", "categorical", {}), ("SparseCategoricalAccuracy", "sparse", {}),
    ("TopKCategoricalAccuracy", "categorical", {"k": 2}), ("SparseTopKCategoricalAccuracy", "sparse", {"k": 2}),
    ("BinaryCrossentropy", "binary", {}), ("CategoricalCrossentropy", "categorical", {}),
    ("SparseCategoricalCrossentropy", "sparse", {}), ("Precision", "binary", {}), ("Recall", "binary", {}),
    ("Precision", "binary", {"thresholds": 0.7}), ("AUC", "binary", {}), ("AUC", "binary", {"num_thresholds": 7}),
])
@pytest.mark.parametrize("masked,weighted", [(False, False), (True, True)])
def test_keras_metric_objects_match_keras_with_masks_and_weights(cls, kind, kw, masked, weighted):
    from seqlayers import metrics as public

    batches = _batches(kind, masked, weighted)
    ours = getattr(public, cls)(**kw)
    ref = getattr(keras.metrics, cls)(**kw)
    assert ours.name == re.sub(r"_\d+$", "", ref.name)  # Keras numbers a second object of a class
    kbatches = batches
    if cls in ("RootMeanSquaredError", "Precision", "Recall", "AUC") and masked:
        # Keras reads the mask only in MeanMetricWrapper metrics; ours masks every metric as the string
        # forms do, which is Keras's result with the mask folded into the sample weights
        kbatches = [(y, p, None, sw * m) for y, p, m, sw in batches]
    assert _ours(ours, batches) == pytest.approx(_keras_metric(ref, kbatches), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("kw", [{}, {"average": "macro"}, {"average": "micro", "threshold": 0.5},
                                {"average": "weighted", "threshold": 0.4}])
def test_f1_score_matches_keras_including_per_class_scores(kw):
    from seqlayers.metrics import F1Score

    y = np.eye(C, dtype="float32")[rng.integers(0, C, 40)]
    p = rng.random((40, C)).astype("float32")
    ours, ref = F1Score(**kw), keras.metrics.F1Score(**kw)
    ours.update_state(y, p)
    ref.update_state(y, p)
    assert ours.name == ref.name == "f1_score"
    np.testing.assert_allclose(ours.result(), keras.ops.convert_to_numpy(ref.result()), rtol=1e-5)


def test_exact_accuracy_and_mean_match_keras():
    from seqlayers.metrics import Accuracy, Mean

    y, p = np.array([[1], [2], [3], [4]]), np.array([[0.0], [2.0], [3.0], [1.0]])
    a, ka = Accuracy(), keras.metrics.Accuracy()
    a.update_state(y, p)
    ka.update_state(y, p)
    assert a.result() == pytest.approx(float(ka.result()))
    m, km = Mean(), keras.metrics.Mean()
    m.update_state([1.0, 2.0, 6.0], sample_weight=[1.0, 0.0, 2.0])
    km.update_state([1.0, 2.0, 6.0], sample_weight=[1.0, 0.0, 2.0])
    assert m.result() == pytest.approx(float(km.result()))


def test_metric_objects_log_under_keras_names_in_fit():
    from seqlayers import Dense, Sequential
    from seqlayers import metrics as public

    x = rng.random((16, 3)).astype("float32")
    y = rng.random((16, 1)).astype("float32")
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse",
                  metrics=[public.MeanAbsoluteError(), public.RootMeanSquaredError(), "mae"])
    h = model.fit(x, y, epochs=1, verbose=0, validation_split=0.25)
    assert {"loss", "mean_absolute_error", "root_mean_squared_error", "mae",
            "val_mean_absolute_error"} <= set(h.history)
    assert h.history["mean_absolute_error"] == h.history["mae"]


def test_unsupported_metric_options_are_refused_with_the_fix():
    from seqlayers.metrics import AUC, Precision

    with pytest.raises(ValueError, match="AUC: only curve='ROC'"):
        AUC(curve="PR")
    with pytest.raises(ValueError, match="Precision: top_k is not supported"):
        Precision(top_k=2)
