"""clipnorm / clipvalue / global_clipnorm / gradient accumulation on every optimizer, against hand
computation and against Keras; mixed precision; fit(device=)."""
import copy

import numpy as np
import pytest
import torch

from seqlayers import Dense, Sequential
from seqlayers.training import optimizers

keras = pytest.importorskip("keras")

NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Nadam"]


def _data(n=8, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 3)).astype("float32") * 3
    return x, (x @ np.array([[4.0], [-2.0], [1.5]], "float32") + 5).astype("float32")


def _model(seed=1):
    torch.manual_seed(seed)
    m = Sequential([Dense(2, activation="tanh", input_shape=(3,)), Dense(1)])
    m(torch.zeros(1, 3))
    return m


def _grads(model, x, y):
    model = copy.deepcopy(model)
    loss = ((model(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
    loss.backward()
    return model, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("option,value", [("clipnorm", 0.5), ("clipvalue", 0.1), ("global_clipnorm", 0.7)])
def test_clipping_matches_hand_computation(option, value):
    x, y = _data()
    model = _model()
    ref, grads = _grads(model, x, y)
    if option == "clipnorm":  # each weight on its own
        clipped = [g * value / max(float(g.norm()), value) for g in grads]
    elif option == "clipvalue":
        clipped = [g.clamp(-value, value) for g in grads]
    else:  # all together
        total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))
        clipped = [g * value / max(total, value) for g in grads]
    assert any(not torch.equal(a, b) for a, b in zip(grads, clipped))  # the clipping bites
    model.compile(optimizers.SGD(learning_rate=1.0, **{option: value}), "mse")
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    for p, p0, g in zip(model.parameters(), ref.parameters(), clipped):
        torch.testing.assert_close(p.detach(), (p0 - g).detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("option,value", [("clipnorm", 0.5), ("clipvalue", 0.1), ("global_clipnorm", 0.7)])
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_clipping_matches_keras_on_a_tiny_model(name, option, value):
    x, y = _data()
    ours = _model()
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="tanh"), keras.layers.Dense(1)])
    for layer, klayer in zip(ours.layers, km.layers):
        klayer.set_weights(layer.get_weights())
    lr = 0.1 if name == "SGD" else 0.01
    km.compile(getattr(keras.optimizers, name)(learning_rate=lr, **{option: value}), "mse")
    ours.compile(getattr(optimizers, name)(learning_rate=lr, **{option: value}), "mse")
    km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for layer, klayer in zip(ours.layers, km.layers):
        for a, b in zip(layer.get_weights(), klayer.get_weights()):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_takes_the_gradient_options(name):
    p = [torch.nn.Parameter(torch.tensor([3.0, -4.0]))]
    opt = optimizers.get(getattr(optimizers, name)(clipnorm=1.0, gradient_accumulation_steps=2), p)
    assert isinstance(opt, optimizers.KERAS_DEFAULTS[name.lower()][0])
    assert opt.clipnorm == 1.0 and opt.gradient_accumulation_steps == 2 and opt.iterations == 0


def test_only_one_clipping_option_and_positive_values():
    with pytest.raises(ValueError, match="Adam: only one of clipnorm, clipvalue and global_clipnorm can be set"):
        optimizers.Adam(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="SGD: clipnorm must be a positive number, got -1"):
        optimizers.SGD(clipnorm=-1)
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be an integer >= 2"):
        optimizers.SGD(gradient_accumulation_steps=1)


def test_a_nonfinite_global_norm_makes_the_gradients_nan_as_keras():
    g = [torch.tensor([float("inf"), 1.0]), torch.tensor([2.0])]
    optimizers.clip_gradients(g, global_clipnorm=1.0)
    assert all(torch.isnan(t).all() for t in g)


def test_gradient_accumulation_equals_one_big_batch():
    x, y = _data(n=8)
    acc, big = _model(), _model()
    acc.compile(optimizers.SGD(learning_rate=0.05, gradient_accumulation_steps=2), "mse")
    big.compile(optimizers.SGD(learning_rate=0.05), "mse")
    acc.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    big.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(acc.parameters(), big.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert acc.optimizer.iterations == 3 and big.optimizer.iterations == 3


def test_gradient_accumulation_matches_keras():
    x, y = _data(n=8)
    ours = _model()
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="tanh"), keras.layers.Dense(1)])
    for layer, klayer in zip(ours.layers, km.layers):
        klayer.set_weights(layer.get_weights())
    km.compile(keras.optimizers.SGD(learning_rate=0.05, gradient_accumulation_steps=2), "mse")
    ours.compile(optimizers.SGD(learning_rate=0.05, gradient_accumulation_steps=2), "mse")
    km.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    ours.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0)
    for layer, klayer in zip(ours.layers, km.layers):
        for a, b in zip(layer.get_weights(), klayer.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- mixed precision
def test_bf16_mixed_runs_the_forward_in_bfloat16_and_the_loss_in_float32():
    x, y = _data(n=16)
    model, ref = _model(), _model()
    dtypes = []
    model.layers[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    model.compile(optimizers.SGD(learning_rate=0.01), "mse", precision="bf16-mixed")
    ref.compile(optimizers.SGD(learning_rate=0.01), "mse")
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    hr = ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert set(dtypes[1:]) == {torch.bfloat16}  # the first call built the model (full precision)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    np.testing.assert_allclose(h.history["loss"], hr.history["loss"], rtol=3e-2)
    assert model.predict(x, verbose=0).dtype == np.float32
    # Keras's policy name is an alias
    model.compile("sgd", "mse", precision="mixed_bfloat16")
    assert model._compiled.precision == "bf16-mixed"


def test_precision_errors_teach():
    model = _model()
    with pytest.raises(ValueError, match="compile: precision must be one of .*'bf16-mixed'.*got 'bf16'"):
        model.compile("sgd", "mse", precision="bf16")
    if not torch.cuda.is_available():
        model.compile("sgd", "mse", precision="16-mixed")
        with pytest.raises(ValueError, match=r"fit: precision='16-mixed' \(float16 with loss scaling\) needs a "
                                             r"CUDA device.*use precision='bf16-mixed'"):
            model.fit(*_data(), verbose=0)


# ---------------------------------------------------------------- devices
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_fit_on_a_missing_device_is_a_value_error_with_the_fix():
    model = _model()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"fit: device='cuda', but CUDA is not available .* Use device='auto'"):
        model.fit(*_data(), verbose=0, device="cuda")
    with pytest.raises(ValueError, match=r"predict: device='cuda:1', but CUDA is not available"):
        model.predict(_data()[0], verbose=0, device="cuda:1")
    with pytest.raises(ValueError, match=r"fit: unknown device 'gpu'"):
        model.fit(*_data(), verbose=0, device="gpu")


def test_fit_on_cpu_by_name_and_auto():
    model = _model()
    model.compile("sgd", "mse")
    model.fit(*_data(), verbose=0, device="cpu")
    model.fit(*_data(), verbose=0, device="auto")
    assert next(model.parameters()).device.type == ("cuda" if torch.cuda.is_available() else "cpu")
