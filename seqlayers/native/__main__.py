"""``python -m seqlayers.native``: build the native kernels now (``--verbose`` shows the compiler)."""
import sys

from .loader import build, status


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        path = build(verbose="--verbose" in argv)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{status()}\n{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
