"""What every training task shares: the output folder, seeding, resumable fitting, saving the
model with what is needed to use it again, and the JSON + Markdown report.

A task's output folder holds:

* ``task.json``: the task name, its hyperparameters and vocabularies (enough to rebuild the model);
* ``weights.safetensors``: the trained weights (no pickle: loading never runs code);
* ``model.seqlayers`` when ``seqlayers.io`` can save whole models;
* ``backup/``: the training state while training runs (``BackupAndRestore``); rerunning the same
  command after an interruption resumes from the last finished epoch;
* ``report.json`` and ``report.md``: the figures.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write
from ..data.batching import BucketSampler, bucketed_loader, pad_stack
from ..training import checkpoint
from ..training.callbacks import BackupAndRestore, Callback, EarlyStopping
from ..training.optimizers import Adam
from ..utils import cpu_model
from ..utils.seed import set_random_seed as set_seed  # the one seed function (Keras: utils.set_random_seed)

TASK_FILE = "task.json"
WEIGHTS_FILE = "weights.safetensors"


# ------------------------------------------------------------------ arguments every task takes
def add_common_arguments(parser, *, epochs: int, batch_size: int, patience: int = 3) -> None:
    """``--out``, ``--epochs``, ``--batch-size``, ``--seed``, ``--patience``, ``--learning-rate``,
    ``--threads``, ``--quiet``."""
    parser.add_argument("--out", required=True, help="output folder (model, report, training backup)")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"most epochs to train (default {epochs})")
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"default {batch_size}")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--patience", type=int, default=patience,
                        help=f"early stopping: epochs without improvement on dev (default {patience})")
    if "--learning-rate" not in parser._option_string_actions:  # a task may define its own
        parser.add_argument("--learning-rate", type=float, default=1e-3,
                            help="Adam's learning rate (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def arguments(args) -> dict:
    """The command's options as a dict (``vars(args)`` without argparse's ``func``), for reports and configs."""
    return {k: v for k, v in vars(args).items() if k != "func"}


def command_line() -> str | None:
    """``seqlayers ...`` as typed, for reports; None when not run as the ``seqlayers`` command."""
    return "seqlayers " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("seqlayers") else None


def optimizer(args):
    """Adam with the ``--learning-rate`` given (Keras's defaults otherwise)."""
    return Adam(learning_rate=args.learning_rate)


def progress(args, message: str) -> None:
    """One line of progress on stderr (tasks are CLI jobs; the library itself does not print)."""
    if not getattr(args, "quiet", False):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def setup(args) -> Path:
    """Create the output folder, seed every generator, set the thread count; returns the folder."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    return out


# ------------------------------------------------------------------ batches of similar length
def _pad_time(a: np.ndarray, T: int) -> np.ndarray:
    """``a`` (time first) padded with 0 on the time axis to ``T`` steps."""
    return np.pad(a, [(0, T - len(a))] + [(0, 0)] * (a.ndim - 1))


def timed_outputs(model, xs: list[list[np.ndarray]], batch_size: int = 64) -> list[bool]:
    """Which outputs of ``model`` have the inputs' time axis as their axis 1 (per-step outputs).

    Found by running the first sample padded to two lengths: a per-step output grows by one step
    with the input, a per-sample output (an intent, a dialogue summary) keeps its shape, even when
    its size happens to equal a batch's padded length."""
    T = len(xs[0][0])
    shapes = []
    for steps in (T, T + 1):
        x = [_pad_time(inp[0], steps)[None] for inp in xs]  # (1, steps, ...)
        y = model.predict(x if len(x) > 1 else x[0], batch_size=batch_size, verbose=0)
        shapes.append([np.shape(o) for o in (y if isinstance(y, (list, tuple)) else [y])])
    return [len(a) >= 2 and a[1] == T and b[1] == T + 1 for a, b in zip(*shapes)]


def predict_grouped(model, xs: list[list[np.ndarray]], batch_size: int = 64, group: int = 512) -> list:
    """``model.predict`` over per-sample arrays (as for ``bucketed_loader``), samples of similar
    length padded together; returns, per model output, one array per sample, cut back to its length
    on the time axis for per-step outputs (``timed_outputs``; per-sample outputs are returned whole).
    A sample's prediction does not depend on the other samples (the model must mask its padding)."""
    n = len(xs[0])
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: len(xs[0][i]))
    was_training = model.training
    model.eval()
    try:
        timed = timed_outputs(model, xs, batch_size)
        results: list[list] = [[None] * n for _ in timed]
        for start in range(0, n, group):
            idx = order[start:start + group]
            x = [pad_stack([inp[i] for i in idx]).numpy() for inp in xs]
            y = model.predict(x if len(x) > 1 else x[0], batch_size=batch_size, verbose=0)
            outs = [np.asarray(o) for o in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]
            for k, o in enumerate(outs):
                for j, i in enumerate(idx):
                    results[k][i] = o[j, :len(xs[0][i])] if timed[k] else o[j]
    finally:
        model.train(was_training)
    return results


# ------------------------------------------------------------------ training
def fit_resumable(model, x, y, *, out, args, validation_data, monitor: str = "val_loss", mode: str = "auto",
                  name: str = "model", **fit_kwargs) -> dict:
    """``model.fit`` with early stopping on dev (best weights restored), resumable.

    While it trains, ``out/backup_<name>`` holds the training state (``BackupAndRestore``): rerunning
    the command after an interruption resumes from the last finished epoch. When it has finished,
    ``out/<name>.safetensors`` and ``out/<name>.history.json`` hold the result and a rerun loads
    them instead of training again (so a task with several models resumes model by model).
    Returns the history as ``{metric: [value per epoch]}``.
    """
    out = Path(out)
    done = load_finished(model, out, name, args)
    if done is not None:
        return done
    backup_dir = out / f"backup_{name}"
    record = _EpochLog(backup_dir / "history.json", x if loader_like(x) else None)
    callbacks = [
        BackupAndRestore(backup_dir=str(backup_dir)),  # restores weights, optimizer and epoch first
        # a task's own callbacks run next, so figures they add to the epoch logs are recorded and
        # can be the early-stopping monitor
        *(fit_kwargs.pop("callbacks", None) or []),
        record,
        EarlyStopping(monitor=monitor, mode=mode, patience=args.patience, restore_best_weights=True),
    ]
    batched = loader_like(x)  # a DataLoader makes its own batches
    model.fit(x, y, batch_size=None if batched else args.batch_size, epochs=args.epochs,
              validation_data=validation_data, callbacks=callbacks, verbose=0 if args.quiet else 1, **fit_kwargs)
    history = record.history
    save_finished(model, out, name, history)
    return history


def load_finished(model, out, name: str, args) -> dict | None:
    """The history of a fit that finished (``save_finished``), its weights loaded into ``model``;
    None when ``out/<name>.safetensors`` or ``out/<name>.history.json`` is missing."""
    done_weights, done_history = Path(out) / f"{name}.safetensors", Path(out) / f"{name}.history.json"
    if not (done_weights.is_file() and done_history.is_file()):
        return None
    progress(args, f"{name}: already trained, loading {done_weights}")
    model.load_state_dict(load_file(str(done_weights)))
    return json.loads(done_history.read_text())


def save_finished(model, out, name: str, history: dict) -> None:
    """``out/<name>.safetensors`` and ``out/<name>.history.json``, which ``load_finished`` reads back."""
    _save_state(model, Path(out) / f"{name}.safetensors")
    (Path(out) / f"{name}.history.json").write_text(json.dumps(history))


def _save_state(model, path: Path) -> None:
    """``model``'s weights as safetensors, written atomically in the umask's mode (not save_file's 0o600)."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(state, tmp))


def loader_like(x) -> bool:
    return isinstance(x, torch.utils.data.DataLoader)


class _EpochLog(Callback):
    """Keeps every epoch's figures in ``path`` so a resumed run reports the whole history, and
    tells a bucketed loader which epoch it is (so resumed epochs shuffle as uninterrupted ones)."""

    def __init__(self, path, loader=None):
        super().__init__()
        self.path, self.loader, self.history = Path(path), loader, {}

    def on_train_begin(self, logs=None):
        if self.path.is_file():  # resuming: the epochs before the interruption
            self.history = json.loads(self.path.read_text())

    def on_epoch_begin(self, epoch, logs=None):
        self.clock = Stopwatch()
        sampler = getattr(self.loader, "batch_sampler", None)
        if isinstance(sampler, BucketSampler):
            sampler.epoch = epoch
        for vals in self.history.values():  # an epoch run again replaces its old figures
            del vals[epoch:]

    def on_epoch_end(self, epoch, logs=None):
        timing = {"epoch_seconds": self.clock(), "epoch_cpu_seconds": self.clock.cpu()}
        for k, v in dict(logs or {}, **timing).items():
            self.history.setdefault(k, []).append(float(v))
        atomic_write(self.path, json.dumps(self.history).encode())  # a kill mid-write keeps the old file


class EpochScores(Callback):
    """Adds the figures of ``score(model) -> dict`` to each epoch's logs (validation figures computed
    as at test time: decoded slot F1, F1 at tuned thresholds, free-running MSE), so that early
    stopping can watch them and the history keeps them."""

    def __init__(self, score):
        super().__init__()
        self.score = score

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.score(self.model))


def training_time(history: dict) -> dict:
    """Wall and CPU seconds of the epochs in ``history`` (interrupted and resumed runs included)."""
    return {"train_seconds": sum(history.get("epoch_seconds", [])),
            "train_cpu_seconds": sum(history.get("epoch_cpu_seconds", []))}


def history_dict(history) -> dict:
    """The per-epoch figures of a fit as plain lists (for the JSON report)."""
    h = getattr(history, "history", history) or {}
    return {k: [float(v) for v in vals] for k, vals in h.items()}


# ------------------------------------------------------------------ saving and loading
def save_task(out, model, task: str, config: dict) -> None:
    """Write ``task.json`` (task name + config with vocabularies) and the weights."""
    out = Path(out)
    with open(out / TASK_FILE, "w", encoding="utf-8") as f:
        json.dump({"task": task, "config": config}, f)
    _save_state(model, out / WEIGHTS_FILE)
    try:
        model.save(str(out / "model.seqlayers"))
    except Exception as e:  # the weights file above is enough for `seqlayers predict`
        print(f"note: model.save failed ({type(e).__name__}: {e}); weights are in {WEIGHTS_FILE}",
              file=sys.stderr)


def load_task(out) -> tuple[str, dict]:
    """``(task name, config)`` from an output folder written by ``save_task``."""
    path = Path(out) / TASK_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; give the --out folder of a finished `seqlayers train` run.")
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    return d["task"], d["config"]


def load_weights(out, model) -> None:
    """A finished run's weights (``out``'s safetensors file) into ``model``, then eval mode."""
    checkpoint.load_weights(model, str(Path(out) / WEIGHTS_FILE))
    model.eval()


# ------------------------------------------------------------------ reports
def machine() -> str:
    """The machine in words, for reports: CPU model, cores usable, torch threads."""
    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def write_report(out, report: dict, title: str, rows: list[tuple[str, object]], notes: str = "") -> None:
    """``report.json`` (everything) and ``report.md`` (a title, a two-column table of the headline
    figures, notes)."""
    out = Path(out)
    report = dict(report, machine=report.get("machine", machine()))
    with open(out / "report.json", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    lines = [f"# {title}", "", "| figure | value |", "| --- | --- |"]
    for name, value in rows:
        lines.append(f"| {name} | {fmt(value)} |")
    lines += ["", f"Machine: {report['machine']}."]
    if notes:
        lines += ["", notes]
    with open(out / "report.md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def fmt(v) -> str:
    """A figure for reports: floats with two decimals."""
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


class Stopwatch:
    """Wall time since creation, in seconds; ``cpu()``: CPU seconds of this process (all threads),
    which says more than wall time on a machine shared with other jobs."""

    def __init__(self):
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()

    def __call__(self) -> float:
        return time.perf_counter() - self.start

    def cpu(self) -> float:
        return time.process_time() - self.cpu_start


__all__ = [
    "Stopwatch", "add_common_arguments", "arguments", "command_line", "optimizer",
    "bucketed_loader", "predict_grouped", "timed_outputs",
    "fit_resumable", "history_dict", "load_finished", "load_task", "load_weights", "save_finished",
    "machine", "progress", "training_time", "save_task", "set_seed", "setup", "write_report",
]


def write_output(text: str, args) -> int:
    """The predictions of ``seqlayers predict``: to ``--output`` (written atomically) or to stdout."""
    if args.output:
        atomic_write(args.output, text.encode("utf-8"))
    else:
        print(text, end="")
    return 0
