"""seqlayers.errors.require_extra: each optional import fails in one line that names its extra.

Each test hides one optional package (``sys.modules[name] = None``, which makes ``import name``
raise ``ModuleNotFoundError`` as if it were not installed) and calls a real feature that needs it.
"""
import sys

import numpy as np
import pytest

import seqlayers as sl
from seqlayers.errors import EXTRAS, MissingExtraError, require_extra


def hide(monkeypatch, top):
    """Make ``import top`` (and every ``top.x`` already imported) fail as if ``top`` were not installed."""
    for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, top, None)


def one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def tiny_model():
    return sl.Sequential([sl.LSTM(3, input_shape=(4, 2)), sl.Dense(1)])


def test_require_extra_returns_the_module_when_installed():
    import json

    assert require_extra("json", "tasks", "anything") is json


def test_require_extra_rejects_an_unknown_extra():
    with pytest.raises(ValueError, match=r"require_extra: unknown extra 'plot'; expected one of tasks, interop"):
        require_extra("json", "plot", "anything")


def test_an_import_error_inside_an_installed_package_is_not_disguised(monkeypatch, tmp_path):
    (tmp_path / "brokenpkg").mkdir()
    (tmp_path / "brokenpkg" / "__init__.py").write_text("import not_a_module_anywhere_123\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="not_a_module_anywhere_123"):
        require_extra("brokenpkg", "tasks", "x")


def test_missing_extra_error_is_an_import_error():
    assert issubclass(MissingExtraError, ImportError)
    assert set(EXTRAS) == {"tasks", "interop", "plots", "tensorboard"}


# ---------------------------------------------------------------- tasks
def test_read_conllu_without_conllu_names_the_tasks_extra(monkeypatch, tmp_path):
    from seqlayers.data.conllu_reader import read_conllu

    path = tmp_path / "a.conllu"
    path.write_text("1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n")
    assert read_conllu(path)[0].words == ["Hi"]
    hide(monkeypatch, "conllu")
    with pytest.raises(MissingExtraError, match=r"^read_conllu needs conllu, which is not installed: "
                                                r"pip install 'seqlayers\[tasks\]' \(or pip install conllu\)$") as e:
        read_conllu(path)
    one_line(e)


def test_slot_scores_without_seqeval_names_the_tasks_extra(monkeypatch):
    from seqlayers.tasks.slots import scores

    hide(monkeypatch, "seqeval")
    with pytest.raises(MissingExtraError, match=r"slot F1 .* needs seqeval.*seqlayers\[tasks\]") as e:
        scores([["B-a"]], ["x"], [["B-a"]], ["x"])
    one_line(e)


def test_dialogue_f1_without_scikit_learn_names_the_package_and_the_tasks_extra(monkeypatch):
    from seqlayers.tasks.dialogue import f1_scores

    hide(monkeypatch, "sklearn")
    with pytest.raises(MissingExtraError, match=r"needs scikit-learn.*seqlayers\[tasks\].*pip install scikit-learn"):
        f1_scores([np.ones((1, 2))], [np.ones((1, 2))])


def test_the_confusion_heatmap_without_matplotlib_names_the_tasks_extra(monkeypatch, tmp_path):
    from seqlayers.tasks.tagger import plot_confusion

    hide(monkeypatch, "matplotlib")
    with pytest.raises(MissingExtraError, match=r"confusion heatmap needs matplotlib.*seqlayers\[tasks\]"):
        plot_confusion(np.eye(2, dtype=int), ["A", "B"], tmp_path / "c.png", "t")


# ---------------------------------------------------------------- plots
def test_explain_path_without_matplotlib_names_the_plots_extra(monkeypatch, tmp_path):
    model = tiny_model()
    hide(monkeypatch, "matplotlib")
    with pytest.raises(MissingExtraError, match=r"^explain\(path=\.\.\.\) needs matplotlib.*seqlayers\[plots\]") as e:
        model.explain(path=tmp_path / "m.png", print_fn=lambda text: None)
    one_line(e)
    assert not (tmp_path / "m.png").exists()


def test_the_demo_figure_without_matplotlib_names_the_plots_extra(monkeypatch, tmp_path):
    from seqlayers.demo import figure

    hide(monkeypatch, "matplotlib")
    with pytest.raises(MissingExtraError, match=r"demo's figure .* needs matplotlib.*seqlayers\[plots\]"):
        figure([], tmp_path / "d.png")


# ---------------------------------------------------------------- interop
def test_to_keras_without_h5py_names_the_interop_extra(monkeypatch, tmp_path):
    model = tiny_model()
    hide(monkeypatch, "h5py")
    with pytest.raises(MissingExtraError, match=r"^to_keras needs h5py.*seqlayers\[interop\]") as e:
        sl.to_keras(model, tmp_path / "m.keras")
    one_line(e)


def test_from_keras_without_h5py_names_the_interop_extra(monkeypatch):
    from seqlayers.io.keras_import import _require_h5py

    hide(monkeypatch, "h5py")
    with pytest.raises(MissingExtraError, match=r"^from_keras needs h5py.*seqlayers\[interop\]"):
        _require_h5py()


def test_export_onnx_without_onnx_names_the_interop_extra(monkeypatch, tmp_path):
    model = tiny_model()
    hide(monkeypatch, "onnx")
    with pytest.raises(MissingExtraError, match=r"^export_onnx needs onnx.*seqlayers\[interop\]"):
        sl.export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


# ---------------------------------------------------------------- the command line
def test_the_cli_reports_a_missing_extra_in_one_line(monkeypatch, tmp_path, capsys):
    from seqlayers.cli import main

    tiny_model().save(tmp_path / "m.seqlayers")
    hide(monkeypatch, "matplotlib")
    assert main(["explain", str(tmp_path / "m.seqlayers"), "--png", str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqlayers explain: error: explain(path=...) needs matplotlib")
    assert "seqlayers[plots]" in err and "\n" not in err and "Traceback" not in err


def test_a_training_task_without_the_tasks_extra_fails_before_reading_anything(monkeypatch, tmp_path, capsys):
    from seqlayers.cli import main

    hide(monkeypatch, "seqeval")
    assert main(["train", "slots", "--data", str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("seqlayers train: error: seqlayers train slots needs seqeval, which is not installed: "
                   "pip install 'seqlayers[tasks]' (or pip install seqeval)")
    assert not (tmp_path / "o").exists()


OPTIONAL_TOPS = ["matplotlib", "conllu", "seqeval", "sklearn", "h5py", "onnx", "onnxruntime", "onnxscript",
                 "tensorboard"]


def test_every_module_and_the_cli_import_with_the_core_alone():
    """In a fresh interpreter with every optional package hidden: all of seqlayers imports, --help works."""
    import subprocess

    code = (
        "import sys, importlib, pkgutil\n"
        f"for m in {OPTIONAL_TOPS!r}: sys.modules[m] = None\n"
        "import seqlayers\n"
        "for mi in pkgutil.walk_packages(seqlayers.__path__, 'seqlayers.'):\n"
        "    if not mi.name.endswith('__main__'): importlib.import_module(mi.name)\n"
        "from seqlayers.cli import build_parser\n"
        "build_parser().format_help()\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
