"""seqlayers, written the way a user writes it.

Variants (``--variant``):
    layers  (default) the model's layers + ``torch.optim.Adam(lr=1e-3)`` + our Keras-exact loss
            (``seqlayers.training.losses.get(name)``, which reads the mask attached to the output):
                out = model(x); loss = loss_fn(y, out); loss.backward(); opt.step()
            inference: ``model.eval()`` and ``model(x)`` under ``torch.inference_mode()``;
    fit     the training engine: ``model.compile(optimizer=Adam(1e-3), loss=name)``, then
            ``model.train_on_batch(x, y)`` and ``model.predict_on_batch(x)``.

    python -m benchmarks.impl_seqlayers --workload W2 --variant layers --steps 20 --warmup 3
"""
from __future__ import annotations

import sys

import torch

from .timing import Case, Skip, main_for
from .workloads import Workload, make_batch


def _import_seqlayers():
    try:
        import seqlayers
        from seqlayers import LSTM  # noqa: F401  (the recurrent layers may not exist yet)
    except ImportError as e:
        raise Skip(f"seqlayers recurrent layers not importable ({e})") from None
    return seqlayers


def build_model(sl, w: Workload):
    """The seqlayers model of workload ``w``: the Keras Sequential code, imported from seqlayers."""
    cells = {"lstm": sl.LSTM, "gru": sl.GRU, "rnn": sl.SimpleRNN}
    if w.kind == "regression":
        return sl.Sequential([cells[w.cell](w.units, return_sequences=True, input_shape=(w.time, w.features)),
                              sl.TimeDistributed(sl.Dense(1))])
    if w.kind == "tagging":
        return sl.Sequential([sl.Embedding(w.vocab, w.embed_dim, mask_zero=w.masked, input_shape=(w.time,)),
                              sl.Bidirectional(sl.LSTM(w.units, return_sequences=True)),
                              sl.TimeDistributed(sl.Dense(w.classes, activation="softmax"))])
    return sl.Sequential([sl.LSTM(w.units, input_shape=(w.time, w.features)),
                          sl.RepeatVector(w.out_steps),
                          sl.LSTM(w.units, return_sequences=True),
                          sl.TimeDistributed(sl.Dense(w.features, activation="softmax"))])


def train_step(model, x, y, loss_fn, module=None):
    """One Adam (lr 1e-3) step of ``model`` on (x, y), the forward pass through ``module`` (default: model)."""
    module = model if module is None else module
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(y, module(x))
        loss.backward()
        opt.step()
        return loss
    return step


def infer_step(model, x, module=None):
    """``module(x)`` (default: model) in eval and inference mode."""
    module = model if module is None else module

    def step():
        model.eval()
        with torch.inference_mode():
            return module(x)
    return step


def build(w: Workload, variant: str = "", threads: int | None = None) -> Case:
    variant = variant or "layers"
    if variant not in ("layers", "fit"):
        raise ValueError(f"impl_seqlayers: unknown variant {variant!r} (layers, fit)")
    sl = _import_seqlayers()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = make_batch(w)
    x = torch.from_numpy(data["x"])
    y = torch.from_numpy(data["y"])
    model = build_model(sl, w)
    versions = {"seqlayers": sl.__version__, "torch": torch.__version__}

    if variant == "fit":
        if not hasattr(model, "train_on_batch"):
            raise Skip("the model has no train_on_batch")
        try:
            model.compile(optimizer=torch.optim.Adam(model.parameters(), lr=1e-3), loss=w.loss)
            model.train_on_batch(x, y)  # fails fast when the training engine is not there yet
        except (ImportError, NotImplementedError, AttributeError) as e:
            raise Skip(f"training engine not available ({type(e).__name__}: {e})") from None

        return Case(lambda: model.train_on_batch(x, y), lambda: model.predict_on_batch(x), versions=versions,
                    notes="model.compile + train_on_batch / predict_on_batch", threads=torch.get_num_threads())

    from seqlayers.training.losses import get as get_loss

    return Case(train_step(model, x, y, get_loss(w.loss)), infer_step(model, x), versions=versions,
                notes="layers + torch.optim.Adam + seqlayers loss", threads=torch.get_num_threads())


if __name__ == "__main__":
    sys.exit(main_for(build))
