"""Learning-rate schedules: the same rates as Keras's at every step, and the same training."""
import numpy as np
import pytest

import seqlayers
from seqlayers.training import schedules

keras = pytest.importorskip("keras")

CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5, staircase=True)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=10)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=10, alpha=0.1, warmup_target=0.2, warmup_steps=3)),
    ("PiecewiseConstantDecay", dict(boundaries=[2, 5], values=[1.0, 0.5, 0.1])),
]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_schedule_values_match_keras(name, kwargs):
    ours = getattr(schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    for step in range(20):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-6), step


def test_schedule_config_round_trip_and_bad_arguments():
    s = schedules.CosineDecay(0.1, 10, alpha=0.2)
    assert schedules.CosineDecay.from_config(s.get_config())(7) == s(7)
    with pytest.raises(ValueError, match="PiecewiseConstantDecay: values must have one more element than boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])
    with pytest.raises(ValueError, match="ExponentialDecay: decay_steps must be a positive number, got 0"):
        schedules.ExponentialDecay(0.1, 0, 0.5)


def _program(K, x, y, weights, schedule):
    model = K.Sequential([K.Input((3,)), K.layers.Dense(2, activation="tanh"), K.layers.Dense(1)])
    model.set_weights(weights)
    model.compile(K.optimizers.SGD(learning_rate=schedule), "mse")
    model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    try:
        model.optimizer.learning_rate = 0.5
        settable = True
    except TypeError:
        settable = False
    return model.get_weights(), float(model.optimizer.learning_rate), int(model.optimizer.iterations), settable


@pytest.mark.parametrize("name,kwargs", CASES)
def test_training_with_a_schedule_matches_keras(name, kwargs):
    r = np.random.default_rng(0)
    x = r.normal(size=(12, 3)).astype("float32")
    y = x.sum(-1, keepdims=True).astype("float32")
    weights = [r.normal(size=s).astype("float32") * 0.5 for s in [(3, 2), (2,), (2, 1), (1,)]]
    ours = _program(seqlayers, x, y, weights, getattr(schedules, name)(**kwargs))
    theirs = _program(keras, x, y, weights, getattr(keras.optimizers.schedules, name)(**kwargs))
    for a, b in zip(ours[0], theirs[0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert ours[1] == pytest.approx(theirs[1], rel=1e-6) and ours[2:] == theirs[2:] == (9, False)


def test_iterations_travel_with_the_optimizer_state_so_a_resumed_schedule_continues():
    import torch

    from seqlayers.training import optimizers

    p = [torch.nn.Parameter(torch.ones(2))]
    opt = optimizers.get(optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 1, 0.5)), p)
    for _ in range(3):
        p[0].grad = torch.ones(2)
        opt.step()
    fresh = optimizers.get(optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 1, 0.5)),
                           [torch.nn.Parameter(torch.ones(2))])
    fresh.load_state_dict(opt.state_dict())
    assert fresh.iterations == 3 and fresh.learning_rate == pytest.approx(0.1 * 0.5 ** 3)
    assert "keras_iterations" not in fresh.param_groups[0]


def test_lr_callbacks_cannot_fight_a_schedule():
    x = np.zeros((8, 3), "float32")
    model = seqlayers.Sequential([seqlayers.Input((3,)), seqlayers.layers.Dense(1)])
    model.compile(seqlayers.optimizers.SGD(schedules.ExponentialDecay(0.1, 2, 0.5)), "mse")
    with pytest.raises(TypeError, match="SGD: the learning rate follows the schedule ExponentialDecay"):
        model.fit(x, x[:, :1], epochs=2, verbose=0,
                  callbacks=[seqlayers.callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)])
