"""The `seqlayers` command as a user meets it: --help shows defaults, pipes, run folders."""
import argparse
import os
import subprocess
import sys
from pathlib import Path

import seqlayers as sl
from seqlayers.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def all_parsers(parser, path=("seqlayers",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from all_parsers(sub, path + (name,))


def test_every_help_entry_shows_its_default():
    missing = []
    for path, parser in all_parsers(build_parser()):
        parser.format_help()  # as `--help` formats it
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0 or action.required or action.help == argparse.SUPPRESS:
                continue
            text = formatter._expand_help(action) if action.help else ""
            if "default" not in text.lower():
                missing.append(f"{' '.join(path)} {action.option_strings[0]}")
    assert not missing, missing
    assert len(list(all_parsers(build_parser()))) >= 10  # seqlayers, demo, explain, train + 5 tasks, predict, ...


def test_an_option_without_help_text_shows_its_default():
    from seqlayers.cli import _Parser

    p = _Parser(prog="x")
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--name", default=None, help="a name")
    p.add_argument("--size", default=3, help="the size (default 3)")
    text = p.format_help()
    assert "--units UNITS  (default: 128)" in text
    assert "a name (default: none)" in text
    assert "the size (default 3)\n" in text  # said once, not twice


def run_cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "seqlayers", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, **kw)


def test_explain_piped_into_head_ends_without_a_traceback(tmp_path):
    model = sl.Sequential([sl.LSTM(4, input_shape=(5, 2), return_sequences=True), sl.Dense(1)])
    model.save(tmp_path / "m.seqlayers")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # a reader that is gone before the first write (`head -c 0` exits at once), so the write must fail
    # with a broken pipe (`| head` after its lines is the same, once the output outgrows the pipe)
    cmd = f"{sys.executable} -m seqlayers explain {tmp_path / 'm.seqlayers'} | head -c 0"
    out = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], capture_output=True, text=True, env=env,
                         cwd=ROOT, timeout=300)
    assert out.stderr == "" and out.returncode == 141  # ended by the closed pipe, as a Unix tool would be


def test_explain_accepts_the_run_folder_that_predict_accepts(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "addition", "--digits", "1", "--examples", "40", "--epochs", "1", "--units", "4",
                 "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith('Model "addition_rnn": many-to-many (different lengths)')
    (out / "model.seqlayers").unlink()
    assert main(["explain", str(out)]) == 2
    assert "this training run folder has no model.seqlayers" in capsys.readouterr().err


def test_help_runs_as_a_command():
    out = run_cli(["train", "forecast", "--help"])
    assert out.returncode == 0 and out.stdout.startswith("usage: seqlayers train forecast")
    assert "--units UNITS         LSTM units (default 64)" in out.stdout
