"""Our losses against torch.nn.functional and Keras 3 (torch backend), with masks and sample weights."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqlayers.layers.base import set_mask
from seqlayers.training import losses

keras = pytest.importorskip("keras")

B, T, C = 4, 6, 5
rng = np.random.default_rng(0)


def _probs(*shape):
    p = rng.random(shape).astype("float32") + 0.05
    return p / p.sum(-1, keepdims=True)


def _mask():
    lengths = np.array([6, 3, 1, 4])
    return (np.arange(T)[None, :] < lengths[:, None])


def _keras_loss(obj, y_true, y_pred, mask=None, sw=None):
    yp = torch.tensor(y_pred)
    if mask is not None:
        yp._keras_mask = torch.tensor(mask)
    out = obj(torch.tensor(y_true), yp, sample_weight=None if sw is None else torch.tensor(sw))
    return float(out)


CASES = [
    ("mse", lambda: keras.losses.MeanSquaredError(), "reg"),
    ("mae", lambda: keras.losses.MeanAbsoluteError(), "reg"),
    ("huber", lambda: keras.losses.Huber(), "reg"),
    ("binary_crossentropy", lambda: keras.losses.BinaryCrossentropy(), "bits"),
    ("categorical_crossentropy", lambda: keras.losses.CategoricalCrossentropy(), "onehot"),
    ("sparse_categorical_crossentropy", lambda: keras.losses.SparseCategoricalCrossentropy(), "sparse"),
]


def _data(kind):
    if kind == "reg":
        return rng.normal(size=(B, T, C)).astype("float32") * 2, rng.normal(size=(B, T, C)).astype("float32")
    if kind == "bits":
        return (rng.random((B, T, C)) > 0.5).astype("float32"), rng.random((B, T, C)).astype("float32")
    ids = rng.integers(0, C, size=(B, T))
    if kind == "onehot":
        return np.eye(C, dtype="float32")[ids], _probs(B, T, C)
    return ids, _probs(B, T, C)


@pytest.mark.parametrize("name,make_keras,kind", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("weights", [None, "sample", "step"])
def test_loss_matches_keras_with_masks_and_weights(name, make_keras, kind, with_mask, weights):
    y_true, y_pred = _data(kind)
    mask = _mask() if with_mask else None
    sw = None
    if weights == "sample":
        sw = rng.random(B).astype("float32")
    elif weights == "step":
        sw = rng.random((B, T)).astype("float32")
    pred = torch.tensor(y_pred)
    if mask is not None:
        set_mask(pred, torch.tensor(mask))
    ours = float(losses.get(name)(torch.tensor(y_true), pred, sample_weight=None if sw is None else torch.tensor(sw)))
    # Keras broadcasts a (B,) weight against (B, T) values only when B == T, so spell it out as (B, T)
    ksw = None if sw is None else np.ascontiguousarray(np.broadcast_to(sw[:, None], (B, T)) if sw.ndim == 1 else sw)
    ref = _keras_loss(make_keras(), y_true, y_pred, mask, ksw)
    assert ours == pytest.approx(ref, rel=1e-5, abs=1e-6)


def test_masked_reduction_is_mean_over_valid_steps():
    y_true, y_pred = _data("reg")
    mask = torch.tensor(_mask())
    pred = torch.tensor(y_pred)
    per_step = ((pred - torch.tensor(y_true)) ** 2).mean(-1)
    expected = per_step[mask].mean()
    set_mask(pred, mask)
    assert float(losses.get("mse")(torch.tensor(y_true), pred)) == pytest.approx(float(expected), rel=1e-6)


def test_losses_match_torch_functional():
    y_true, y_pred = _data("reg")
    yt, yp = torch.tensor(y_true), torch.tensor(y_pred)
    assert float(losses.get("mse")(yt, yp)) == pytest.approx(float(F.mse_loss(yp, yt)), rel=1e-6)
    assert float(losses.get("mae")(yt, yp)) == pytest.approx(float(F.l1_loss(yp, yt)), rel=1e-6)
    assert float(losses.get("huber")(yt, yp)) == pytest.approx(float(F.huber_loss(yp, yt, delta=1.0)), rel=1e-6)
    bits, probs = _data("bits")
    assert float(losses.get("binary_crossentropy")(torch.tensor(bits), torch.tensor(probs))) == pytest.approx(
        float(F.binary_cross_entropy(torch.tensor(probs).clamp(1e-7, 1 - 1e-7), torch.tensor(bits))), rel=1e-5)
    logits = torch.randn(B, T, C)
    ids = torch.randint(0, C, (B, T))
    ours = losses.SparseCategoricalCrossentropy(from_logits=True)(ids, logits)
    assert float(ours) == pytest.approx(float(F.cross_entropy(logits.reshape(-1, C), ids.reshape(-1))), rel=1e-6)
    ours = losses.CategoricalCrossentropy(from_logits=True)(F.one_hot(ids, C).float(), logits)
    assert float(ours) == pytest.approx(float(F.cross_entropy(logits.reshape(-1, C), ids.reshape(-1))), rel=1e-6)
    ours = losses.BinaryCrossentropy(from_logits=True)(torch.tensor(bits), logits)
    assert float(ours) == pytest.approx(float(F.binary_cross_entropy_with_logits(logits, torch.tensor(bits))), rel=1e-6)


@pytest.mark.parametrize("cls,kcls", [
    (losses.BinaryCrossentropy, "BinaryCrossentropy"),
    (losses.CategoricalCrossentropy, "CategoricalCrossentropy"),
    (losses.SparseCategoricalCrossentropy, "SparseCategoricalCrossentropy"),
])
def test_from_logits_and_clipping_match_keras(cls, kcls):
    C2 = 3
    logits = rng.normal(size=(B, T, C2)).astype("float32") * 4
    if cls is losses.SparseCategoricalCrossentropy:
        y = rng.integers(0, C2, size=(B, T))
    elif cls is losses.CategoricalCrossentropy:
        y = np.eye(C2, dtype="float32")[rng.integers(0, C2, size=(B, T))]
    else:
        y = (rng.random((B, T, C2)) > 0.5).astype("float32")
    k = getattr(keras.losses, kcls)(from_logits=True)
    ours = float(cls(from_logits=True)(torch.tensor(y), torch.tensor(logits)))
    assert ours == pytest.approx(_keras_loss(k, y, logits), rel=1e-5)
    # saturated probabilities (exact 0 and 1) are clipped to [1e-7, 1 - 1e-7] as Keras does
    probs = np.zeros((B, T, C2), "float32")
    probs[..., 0] = 1.0
    k = getattr(keras.losses, kcls)()
    ours = float(cls()(torch.tensor(y), torch.tensor(probs)))
    assert np.isfinite(ours)
    assert ours == pytest.approx(_keras_loss(k, y, probs), rel=1e-4)


def test_aliases_and_unknown_name():
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get("MSE"), losses.MeanSquaredError)
    assert isinstance(losses.get("mean_absolute_error"), losses.MeanAbsoluteError)
    with pytest.raises(ValueError, match="unknown loss 'sparse_categorical_crosentropy'. Did you mean "
                                         "'sparse_categorical_crossentropy'"):
        losses.get("sparse_categorical_crosentropy")


def test_shape_errors_teach_the_fix():
    probs = torch.tensor(_probs(B, T, C))
    ids = torch.randint(0, C, (B, T))
    with pytest.raises(ValueError, match="looks like integer class ids.*sparse_categorical_crossentropy"):
        losses.get("categorical_crossentropy")(ids, probs)
    with pytest.raises(ValueError, match="looks one-hot.*categorical_crossentropy"):
        losses.get("sparse_categorical_crossentropy")(F.one_hot(ids, C), probs)
    with pytest.raises(ValueError, match="one label per sample: give one label per step"):
        losses.get("sparse_categorical_crossentropy")(ids[:, 0], probs)
    with pytest.raises(ValueError, match="y has no time axis"):
        losses.get("mse")(torch.zeros(B, C), torch.zeros(B, T, C))
    with pytest.raises(ValueError, match="class id 7 is outside 0..4"):
        losses.get("sparse_categorical_crossentropy")(torch.full((B, T), 7), probs)


def test_custom_callable_is_reduced_like_keras():
    def my_loss(y_true, y_pred):
        return (y_true - y_pred).abs().mean(-1)

    y_true, y_pred = _data("reg")
    pred = torch.tensor(y_pred)
    set_mask(pred, torch.tensor(_mask()))
    ours = float(losses.get(my_loss)(torch.tensor(y_true), pred))
    assert ours == pytest.approx(_keras_loss(keras.losses.MeanAbsoluteError(), y_true, y_pred, _mask()), rel=1e-5)


def test_sparse_crossentropy_on_probabilities_equals_keras_formula_values_and_gradients_bit_for_bit():
    """Only the true class's p / sum(p) is computed: the same values and gradients as Keras's formula
    -log(clip(p / sum(p)))[true class] written out over every class, even where the clip bites."""
    ids = torch.tensor(rng.integers(0, C, size=(B, T)))
    raw = torch.tensor(rng.random((B, T, C)).astype("float32") * 2)  # not normalised
    raw[0, 0, ids[0, 0]] = 1e-12  # clipped below
    raw[1, 0] = 0.0
    raw[1, 0, ids[1, 0]] = 3.0  # p == 1 after normalising: clipped above
    got_in, want_in = raw.clone().requires_grad_(True), raw.clone().requires_grad_(True)
    got = losses.sparse_categorical_crossentropy(ids, got_in)
    p = want_in / want_in.sum(-1, keepdim=True)
    want = -torch.log(p.clamp(losses.EPSILON, 1.0 - losses.EPSILON)).gather(-1, ids[..., None])[..., 0]
    assert torch.equal(got, want)
    torch.manual_seed(0)
    g = torch.randn(B, T)
    got.backward(g)
    want.backward(g)
    assert torch.equal(got_in.grad, want_in.grad)
