"""Keras 3 on one backend (torch, jax or tensorflow): the models as a Keras user writes them.

The backend is fixed when Keras is imported, so each backend runs in its own process:

    KERAS_BACKEND=jax .venv-bench/bin/python -m benchmarks.impl_keras --workload W4 --variant jax

(``--variant`` names the backend; it must match ``KERAS_BACKEND``, which this module sets when unset.)
Training step: ``model.train_on_batch(x, y)`` after ``compile(Adam(1e-3), loss)`` with Keras's default
``jit_compile="auto"`` (XLA for JAX and TensorFlow, eager for torch). Inference: ``predict_on_batch(x)``.
Both return host values, so asynchronous dispatch (JAX) is synchronized inside the timed step.
"""
from __future__ import annotations

import os
import sys

from .timing import Case, Skip, main_for
from .workloads import Workload, make_batch

BACKEND_MODULES = {"torch": "torch", "jax": "jax", "tensorflow": "tensorflow"}


def _import_keras(backend: str):
    current = os.environ.get("KERAS_BACKEND")
    if current and current != backend:
        raise ValueError(f"impl_keras: --variant {backend} but KERAS_BACKEND={current}; run each backend "
                         f"in its own process with a matching KERAS_BACKEND.")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        lib = __import__(BACKEND_MODULES[backend])
        import keras
    except ImportError as e:
        raise Skip(f"Keras {backend} backend not installed here ({e}); `make bench` creates .venv-bench "
                   f"with JAX and TensorFlow") from None
    if keras.backend.backend() != backend:
        raise ValueError(f"impl_keras: Keras was already imported with the {keras.backend.backend()} backend")
    return keras, lib


def build_model(keras, w: Workload):
    """The Keras model of workload ``w`` (Sequential API, as in the Keras examples)."""
    L = keras.layers
    cells = {"lstm": L.LSTM, "gru": L.GRU, "rnn": L.SimpleRNN}
    if w.kind == "regression":
        layers = [keras.Input((w.time, w.features)),
                  cells[w.cell](w.units, return_sequences=True),
                  L.TimeDistributed(L.Dense(1))]
    elif w.kind == "tagging":
        layers = [keras.Input((w.time,), dtype="int32"),
                  L.Embedding(w.vocab, w.embed_dim, mask_zero=w.masked),
                  L.Bidirectional(L.LSTM(w.units, return_sequences=True)),
                  L.TimeDistributed(L.Dense(w.classes, activation="softmax"))]
    else:
        layers = [keras.Input((w.time, w.features)),
                  L.LSTM(w.units),
                  L.RepeatVector(w.out_steps),
                  L.LSTM(w.units, return_sequences=True),
                  L.TimeDistributed(L.Dense(w.features, activation="softmax"))]
    return keras.Sequential(layers)


def build(w: Workload, variant: str = "", threads: int | None = None) -> Case:
    backend = variant or os.environ.get("KERAS_BACKEND") or "torch"
    if backend not in BACKEND_MODULES:
        raise ValueError(f"impl_keras: unknown backend {backend!r} (torch, jax, tensorflow)")
    if threads and backend == "jax":
        # XLA's CPU client reads its thread settings from XLA_FLAGS at import
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" if threads == 1 else \
            f"intra_op_parallelism_threads={threads}"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
    keras, lib = _import_keras(backend)
    if threads:
        if backend == "torch":
            lib.set_num_threads(threads)
        elif backend == "tensorflow":
            lib.config.threading.set_intra_op_parallelism_threads(threads)
            lib.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(0)
    data = make_batch(w)
    x, y = data["x"], data["y"]
    if w.kind == "tagging":
        x = x.astype("int32")
    model = build_model(keras, w)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=w.loss)

    def train_step():
        return model.train_on_batch(x, y)

    def infer_step():
        return model.predict_on_batch(x)

    n_threads = lib.get_num_threads() if backend == "torch" else threads
    return Case(train_step, infer_step,
                versions={"keras": keras.__version__, backend: lib.__version__},
                notes=f"train_on_batch / predict_on_batch, jit_compile={model.jit_compile}",
                threads=n_threads)


if __name__ == "__main__":
    sys.exit(main_for(build))
