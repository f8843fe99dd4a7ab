"""``compile``'s settings in a ``.keras`` file's ``compile_config``, both ways, as Keras 3 writes it.

``model.save("m.keras")`` records the optimizer (class and hyperparameters; of the torch optimizer
``fit`` built, so a learning rate changed by a callback is the one saved), the losses, loss weights
and metrics; ``load_model("m.keras")`` compiles the model again from them, so ``evaluate`` works on
a loaded model, also on files Keras wrote. Names are looked up only among seqlayers's own optimizers,
losses and metrics: no code from the file runs. Settings outside those (a custom loss function) are
not written, and a file holding one loads uncompiled. The optimizer's *state* (Adam's moments) is not
carried by ``.keras`` files here; ``.seqlayers`` files carry it (``include_optimizer``).
"""
from __future__ import annotations

import torch

from ..training import losses as losses_mod
from ..training import metrics as metrics_mod
from ..training import optimizers as optimizers_mod

#: torch optimizer class -> (Keras class name, {torch hyperparameter: Keras name})
_OPTIMIZERS = {  # AdamW before Adam: isinstance decides, and the built optimizers subclass these
    torch.optim.AdamW: ("AdamW", {"lr": "learning_rate", "eps": "epsilon", "weight_decay": "weight_decay",
                                  "amsgrad": "amsgrad"}),
    torch.optim.SGD: ("SGD", {"lr": "learning_rate", "momentum": "momentum", "nesterov": "nesterov"}),
    torch.optim.Adam: ("Adam", {"lr": "learning_rate", "eps": "epsilon", "amsgrad": "amsgrad"}),
    torch.optim.RMSprop: ("RMSprop", {"lr": "learning_rate", "alpha": "rho", "eps": "epsilon",
                                      "momentum": "momentum", "centered": "centered"}),
    torch.optim.Adagrad: ("Adagrad", {"lr": "learning_rate", "eps": "epsilon",
                                      "initial_accumulator_value": "initial_accumulator_value"}),
    torch.optim.Adadelta: ("Adadelta", {"lr": "learning_rate", "rho": "rho", "eps": "epsilon"}),
    torch.optim.NAdam: ("Nadam", {"lr": "learning_rate", "eps": "epsilon"}),
}
_KERAS_OPTIMIZERS = {"SGD": optimizers_mod.SGD, "Adam": optimizers_mod.Adam, "AdamW": optimizers_mod.AdamW,
                     "RMSprop": optimizers_mod.RMSprop, "Adagrad": optimizers_mod.Adagrad,
                     "Adadelta": optimizers_mod.Adadelta, "Nadam": optimizers_mod.Nadam}
_OPTIMIZER_ARGS = {"learning_rate", "beta_1", "beta_2", "epsilon", "momentum", "nesterov", "rho", "amsgrad",
                   "weight_decay", "centered", "initial_accumulator_value"}


def _entry(module, class_name, config):
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def _optimizer_to_keras(st):
    opt, spec = st.optimizer, st.optimizer_spec
    if opt is not None:  # fit built it: its current hyperparameters (a rate a callback changed included)
        cls, group = type(opt), opt.param_groups[0]
    elif isinstance(spec, str):
        return spec
    elif isinstance(spec, optimizers_mod.KerasOptimizer):  # compiled, not fitted: the description
        cls, defaults = optimizers_mod.KERAS_DEFAULTS[spec.key]
        group = {**defaults, **spec.kwargs}
    else:
        return None
    known = next(((name, keys) for c, (name, keys) in _OPTIMIZERS.items() if issubclass(cls, c)), None)
    if known is None:
        return None
    name, keys = known
    config = {keras: group[torch_key] for torch_key, keras in keys.items() if torch_key in group}
    if "betas" in group:
        config["beta_1"], config["beta_2"] = (float(b) for b in group["betas"])
    config["learning_rate"] = float(config["learning_rate"])
    return _entry("keras.optimizers", name, config)


def _named_to_keras(v, module, classes):
    if v is None or isinstance(v, str):
        return v
    cls_name = type(v).__name__
    if cls_name not in classes:
        raise LookupError(cls_name)
    config = {"name": v.name}
    config.update({k: x for k, x in getattr(v, "kwargs", {}).items() if isinstance(x, (int, float, bool, str))})
    return _entry(module, cls_name, config)


def _nest(v, fn):
    """``fn`` on each entry of a per-output dict or list (a serialized object, a dict with a class_name, is
    one entry)."""
    if isinstance(v, dict) and "class_name" not in v:
        return {k: _nest(x, fn) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_nest(x, fn) for x in v]
    return fn(v)


def compile_to_keras(model) -> dict | None:
    """The ``compile_config`` Keras writes, for a compiled model whose settings are all known here; else None."""
    st = getattr(model, "_compiled", None)
    if st is None:
        return None
    optimizer = _optimizer_to_keras(st)
    if optimizer is None:
        return None
    loss_classes = set(losses_mod._CLASSES)
    metric_classes = set(metrics_mod.__all__)
    try:
        loss = _nest(st.loss_spec, lambda v: _named_to_keras(v, "keras.losses", loss_classes))
        metrics = _nest(st.metrics_spec, lambda v: _named_to_keras(v, "keras.metrics", metric_classes))
    except LookupError:
        return None
    return {"optimizer": optimizer, "loss": loss, "loss_weights": st.loss_weights, "metrics": metrics,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _optimizer_from_keras(v):
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and v.get("class_name") in _KERAS_OPTIMIZERS:
        config = {k: x for k, x in (v.get("config") or {}).items() if k in _OPTIMIZER_ARGS and x is not None}
        return _KERAS_OPTIMIZERS[v["class_name"]](**config)
    raise LookupError(f"optimizer {v!r}")


def _named_from_keras(v, lookup, what):
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("class_name"), str):
        cls = lookup(v["class_name"])
        if cls is not None:
            config = {k: x for k, x in (v.get("config") or {}).items() if k not in ("dtype", "reduction")}
            return cls(**config)
    raise LookupError(f"{what} {v!r}")


def compile_from_keras(model, cc: dict) -> bool:
    """Compile ``model`` from a ``.keras`` file's ``compile_config``; False (left uncompiled) when it names
    something seqlayers does not have (a custom loss)."""
    loss_class = losses_mod._CLASSES.get
    metric_class = lambda n: getattr(metrics_mod, n, None) if n in metrics_mod.__all__ else None  # noqa: E731
    try:
        optimizer = _optimizer_from_keras(cc.get("optimizer"))
        loss = _nest(cc.get("loss"), lambda v: _named_from_keras(v, loss_class, "loss"))
        metrics = _nest(cc.get("metrics"), lambda v: _named_from_keras(v, metric_class, "metric"))
        weighted = _nest(cc.get("weighted_metrics"), lambda v: _named_from_keras(v, metric_class, "metric"))
    except (LookupError, TypeError, ValueError):
        return False
    model.compile(optimizer=optimizer, loss=loss, loss_weights=cc.get("loss_weights"), metrics=metrics,
                  weighted_metrics=weighted)
    return True


__all__ = ["compile_from_keras", "compile_to_keras"]
