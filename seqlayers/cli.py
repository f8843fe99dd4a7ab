"""The ``seqlayers`` command: parse arguments, call the library. No logic of its own.

Each subcommand lives with the code it drives and registers itself through a
``register(subparsers)`` function in one of the modules listed in ``COMMAND_MODULES``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from .errors import MissingExtraError

#: modules that add subcommands (each has ``register(subparsers)``); add one line per module
COMMAND_MODULES = [
    "seqlayers.demo",
    "seqlayers.tasks.commands",
    "seqlayers.io.commands",
]


_NO_HELP = "\0"  # stands for a missing help text, so that the default is still shown


class _DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it."""

    @staticmethod
    def _shows_default(action) -> bool:
        return bool(action.option_strings) and action.nargs != 0 and not action.required \
            and action.default is not argparse.SUPPRESS

    def add_argument(self, action):
        if not action.help and self._shows_default(action):
            action.help = _NO_HELP  # argparse would list no text at all for an option without help
        super().add_argument(action)

    def _get_help_string(self, action):
        text = (action.help or "").replace(_NO_HELP, "").strip()
        if not self._shows_default(action) or "default" in text.lower():
            return text
        default = "none" if action.default is None else action.default
        return f"{text} (default: {default})".lstrip()


class _Parser(argparse.ArgumentParser):
    """The parser of ``seqlayers`` and of each subcommand (``add_subparsers`` makes them of this class)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="seqlayers",
        description="Keras's sequence-modeling vocabulary, native to PyTorch: demo, training jobs on real "
                    "files, model conversion and explanation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
        sys.stdout.flush()  # inside the try: a reader that went away (`| head`) is handled below
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader closed the pipe (`seqlayers explain ... | head`): stop quietly, as a Unix tool does.
        # stdout now points at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # the shell's status for a process ended by SIGPIPE
    except (ValueError, TypeError, FileNotFoundError, MissingExtraError) as e:
        print(f"seqlayers {args.command}: error: {e}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
