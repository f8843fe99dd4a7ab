"""``seqlayers train TASK ...``, ``seqlayers predict DIR INPUT`` and ``seqlayers explain MODEL_PATH``.

Each task is a module in ``TASK_MODULES`` with

* ``NAME`` (the sub-command) and ``HELP`` (one line);
* ``add_arguments(parser)`` and ``run(args) -> int`` (train, evaluate, write the report);
* optionally ``predict(out_dir, config, input_path, args) -> int`` for ``seqlayers predict``.

Add one line to ``TASK_MODULES`` for a new task.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from .. import topologies  # noqa: F401  (registers the builders' functions, e.g. last_steps, for loading)
from ..errors import EXTRAS, require_extra
from ..io.saving import load_model
from ..models.explain import explain as explain_model
from .common import load_task

#: modules that provide a ``seqlayers train`` task; add one line per task
TASK_MODULES = [
    "seqlayers.tasks.tagger",
    "seqlayers.tasks.slots",
    "seqlayers.tasks.dialogue",
    "seqlayers.tasks.forecast",
    "seqlayers.tasks.addition",
    "seqlayers.tasks.gan",
]


def task_modules():
    """The task modules of ``TASK_MODULES``, imported (which registers their models' functions)."""
    return [importlib.import_module(name) for name in TASK_MODULES]


_modules = task_modules


def _require_tasks_extra(command: str) -> None:
    """Fail before any work (reading, training) when a package of the ``tasks`` extra is missing."""
    modules = {"scikit-learn": "sklearn"}
    for package in EXTRAS["tasks"]:
        require_extra(modules.get(package, package), "tasks", command, package=package)


def _train(args) -> int:
    _require_tasks_extra(f"seqlayers train {args.task}")
    return next(mod for mod in _modules() if mod.NAME == args.task).run(args)


def _predict(args) -> int:
    _require_tasks_extra("seqlayers predict")
    task, config = load_task(args.dir)
    for mod in _modules():
        if mod.NAME == task:
            return mod.predict(args.dir, config, args.input, args)
    raise ValueError(f"{args.dir} holds a model of task {task!r}, which this version does not know "
                     f"(known: {', '.join(m.NAME for m in _modules())}).")


def _explain(args) -> int:
    """``seqlayers explain MODEL_PATH``: ``model.explain()`` of a saved model (or of a training run's)."""
    path = Path(args.model_path)
    if (path / "task.json").is_file():  # the --out folder of `seqlayers train`, as `seqlayers predict` takes
        task_modules()  # importing the tasks registers the functions of their Lambda layers
        if not (path / "model.seqlayers").is_file():
            raise FileNotFoundError(f"{path}: this training run folder has no model.seqlayers (saving the whole "
                                    f"model failed at the end of training; see the run's log).")
        path = path / "model.seqlayers"
    model = load_model(path)
    explain_model(model, path=args.png)
    if args.png:
        print(f"diagram written to {args.png}")
    return 0


def register(sub) -> None:
    train = sub.add_parser("train", help="train a model on real files (addition: on generated questions) and write a "
                                          "report")
    tasks = train.add_subparsers(dest="task", metavar="TASK")
    tasks.required = True
    for mod in _modules():
        p = tasks.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__.split("\n\n")[0] if mod.__doc__ else None)
        mod.add_arguments(p)
        p.set_defaults(func=_train)

    pred = sub.add_parser("predict", help="apply a model trained by `seqlayers train` to a file")
    pred.add_argument("dir", help="the --out folder of the training run")
    pred.add_argument("input", help="input file. tagger, slots: pre-tokenized text, one sentence a line; "
                                    "dialogue: dialogues as the training JSONL; forecast: a CSV with the training "
                                    "columns (its last --lookback rows are read); gan: a CSV with the target "
                                    "column (its last T1 rows are continued); addition: one question a+b a line")
    pred.add_argument("--output", default=None, help="write here instead of stdout (default: stdout)")
    pred.add_argument("--batch-size", type=int, default=64, help="inputs per batch (default 64)")
    pred.add_argument("--samples", type=int, default=50, help="gan: continuations sampled per input (default 50)")
    pred.add_argument("--seed", type=int, default=0, help="gan: seed of the sampling noise (default 0)")
    pred.set_defaults(func=_predict)

    x = sub.add_parser("explain", help="shapes at each layer, time axes, masks and the unrolled diagram "
                                       "of a saved model")
    x.add_argument("model_path", metavar="MODEL_PATH",
                   help="a model saved with model.save(...) (a .seqlayers file or folder), or the --out folder "
                        "of a `seqlayers train` run")
    x.add_argument("--png", metavar="PATH", default=None, help="also draw the unrolled diagram into PATH")
    x.set_defaults(func=_explain)
