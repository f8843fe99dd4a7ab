"""Optimizer names give torch optimizers with Keras 3's default hyperparameters (read from Keras itself)."""
import inspect

import pytest
import torch

from seqlayers.training import optimizers

keras = pytest.importorskip("keras")

# our torch argument -> Keras argument
KERAS_ARG = {"lr": "learning_rate", "eps": "epsilon", "alpha": "rho"}


@pytest.mark.parametrize("name,kcls", [
    ("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop"),
    ("adagrad", "Adagrad"), ("adadelta", "Adadelta"), ("nadam", "Nadam"),
])
def test_names_use_keras_defaults(name, kcls):
    kdefaults = {k: v.default for k,
                 v in inspect.signature(getattr(keras.optimizers, kcls).__init__).parameters.items()}
    opt = optimizers.get(name, [torch.zeros(2, requires_grad=True)])
    group = opt.param_groups[0]
    for arg in optimizers.KERAS_DEFAULTS[name][1]:
        if arg == "betas":
            assert group["betas"] == (kdefaults["beta_1"], kdefaults["beta_2"])
        elif arg == "momentum_decay":
            continue  # Keras hard-codes 0.004 in Nadam's schedule
        else:
            assert group[arg] == kdefaults[KERAS_ARG.get(arg, arg)], arg


def test_keras_style_factory_and_instances():
    p = [torch.zeros(2, requires_grad=True)]
    opt = optimizers.get(optimizers.Adam(learning_rate=0.01, beta_1=0.8), p)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["betas"] == (0.8, 0.999)
    assert optimizers.get(optimizers.RMSprop(lr=0.1, rho=0.5), p).param_groups[0]["alpha"] == 0.5
    inst = torch.optim.SGD(p, lr=0.3)
    assert optimizers.get(inst, p) is inst
    assert isinstance(optimizers.get(torch.optim.Adam, p), torch.optim.Adam)


def test_unknown_optimizer_suggests_closest():
    with pytest.raises(ValueError, match="unknown optimizer 'adma'. Did you mean 'adam'"):
        optimizers.get("adma", [torch.zeros(1, requires_grad=True)])


def _sgd_momentum_with_changing_rate(K, nesterov):
    """SGD(momentum) under an exponential-decay schedule and a rate set by hand between fits."""
    import numpy as np

    r = np.random.default_rng(3)
    x, y = r.normal(size=(12, 3)).astype("float32"), r.normal(size=(12, 1)).astype("float32")
    model = K.Sequential([K.Input((3,)), K.layers.Dense(1)])
    model.set_weights([np.full((3, 1), 0.3, "float32"), np.zeros(1, "float32")])
    decay = K.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.7)
    model.compile(K.optimizers.SGD(learning_rate=decay, momentum=0.9, nesterov=nesterov), "mse")
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    plain = K.Sequential([K.Input((3,)), K.layers.Dense(1)])
    plain.set_weights(model.get_weights())
    plain.compile(K.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=nesterov), "mse")
    plain.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    plain.optimizer.learning_rate = 0.01
    plain.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model.get_weights() + plain.get_weights()


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_follows_keras_when_the_rate_changes(nesterov):
    import numpy as np

    import seqlayers

    for ours, ref in zip(_sgd_momentum_with_changing_rate(seqlayers, nesterov),
                         _sgd_momentum_with_changing_rate(keras, nesterov)):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
