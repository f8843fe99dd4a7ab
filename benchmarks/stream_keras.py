"""The streaming workload on Keras 3: LSTM(128), F=8, batch 1, one step per call, the state kept by Keras.

    KERAS_BACKEND=jax .venv-bench/bin/python -m benchmarks.stream_keras --calls 200 --budget-s 10

A ``stateful=True`` LSTM(128) -> Dense(1) model on inputs of shape (1, 1, 8). Two ways a Keras user
steps it: ``model(x_t, training=False)`` and ``model.predict_on_batch(x_t)``. Each is first checked to
carry the state (its first 10 outputs against the same weights run on the whole sequence at once, in
a stateless copy): under JAX ``predict_on_batch`` does not carry it, so it is not timed there. Every
remaining way is timed call by call (inputs converted to the backend's tensors beforehand) until
``--calls`` calls or ``--budget-s`` seconds (at least ``MIN_CALLS``); the faster one is reported.
Prints one ``BENCH_JSON`` line: ``us_per_call`` (median per call), ``method``, ``n`` and the others.

This module imports numpy and Keras only (it runs in the Keras JAX/TensorFlow venv too).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from .timing import JSON_PREFIX

F, H = 8, 128
MIN_CALLS = 10
CHECK_CALLS = 10


def build(keras, stateful: bool = True):
    """The streaming model: (1, 1, F) per call when ``stateful``, (1, T, F) otherwise."""
    return keras.Sequential([keras.Input((1 if stateful else None, F), batch_size=1),
                             keras.layers.LSTM(H, stateful=stateful, return_sequences=True), keras.layers.Dense(1)])


def steppers(model) -> dict:
    """The ways of running one step: name -> fn(x_t)."""
    return {"model(x)": lambda x: model(x, training=False), "predict_on_batch": model.predict_on_batch}


def carries_state(keras, model, step, xs: np.ndarray) -> bool:
    """``step`` over the first calls equals the whole sequence through a stateless copy of ``model``."""
    full = build(keras, stateful=False)
    full.set_weights(model.get_weights())
    n = min(CHECK_CALLS, len(xs))
    want = keras.ops.convert_to_numpy(full(xs[:n, 0, 0][None], training=False)).reshape(-1)  # (1, n, F) -> (n,)
    model.layers[0].reset_state()
    got = np.array([keras.ops.convert_to_numpy(step(x)).reshape(-1)[0] for x in xs[:n]])
    model.layers[0].reset_state()
    return bool(np.allclose(got, want, atol=1e-4))


def time_calls(model, step, xs, budget_s: float) -> list[float]:
    """Wall microseconds of each call, from a reset state, until all of ``xs`` or the budget is spent."""
    model.layers[0].reset_state()
    out: list[float] = []
    start = time.perf_counter()
    for x in xs:
        t0 = time.perf_counter()
        step(x)
        out.append((time.perf_counter() - t0) * 1e6)
        if len(out) >= MIN_CALLS and time.perf_counter() - start > budget_s:
            break
    return out


def run(keras, calls: int, budget_s: float) -> dict:
    """Time each way of stepping that carries the state; the record of the fastest, the others' medians."""
    keras.utils.set_random_seed(0)
    model = build(keras)
    xs = np.random.default_rng(0).standard_normal((calls, 1, 1, F)).astype("float32")  # (calls, B=1, T=1, F)
    tensors = [keras.ops.convert_to_tensor(x) for x in xs]
    times, refused = {}, []
    for name, step in steppers(model).items():
        if not carries_state(keras, model, step, xs):
            refused.append(name)
            continue
        for x in tensors[:3]:  # warm-up: tracing / compilation
            step(x)
        times[name] = time_calls(model, step, tensors, budget_s)
    medians = {k: statistics.median(v) for k, v in times.items()}
    best = min(medians, key=medians.get)
    return {"backend": keras.backend.backend(), "keras": keras.__version__, "us_per_call": medians[best],
            "method": best, "n": len(times[best]), "medians": medians, "not_carrying_state": refused}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stream_keras", description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--budget-s", type=float, default=10.0, help="seconds per way of stepping (at least 10 calls)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    backend = os.environ.setdefault("KERAS_BACKEND", "torch")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if backend == "jax" and args.threads == 1:  # read by XLA at import
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    import keras

    if backend == "torch":
        import torch

        torch.set_num_threads(args.threads)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    sys.stdout.write(JSON_PREFIX + json.dumps(run(keras, args.calls, args.budget_s)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
