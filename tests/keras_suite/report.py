"""Per-file pass/fail/skip counts of Keras's layer tests run against seqlayers.

    KERAS_BACKEND=torch python -m tests.keras_suite.report [pytest args, e.g. -n 2]

Prints one row per Keras test file: passed, failed (the known failures of skips.KNOWN_FAILURES,
which run as expected failures, plus any new one), skipped as "missing layer" (the layer is not in
seqlayers yet), skipped for a Keras-only reason (skips.SKIPS), and out of scope (a 2-D/3-D variant of
a parameterized test; the tests named for 2-D/3-D layers are not collected at all).
"""
from __future__ import annotations

import collections
import sys

import pytest


class _Collect:
    def __init__(self):
        self.rows = collections.defaultdict(collections.Counter)
        self.reasons = collections.Counter()

    def pytest_runtest_logreport(self, report):
        if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
            return
        cls = report.nodeid.split("::")[1] if "::" in report.nodeid else report.nodeid
        parts = cls.split("__")
        relpath = f"{parts[0]}/{parts[1]}.py" if len(parts) >= 3 else cls
        if hasattr(report, "wasxfail"):  # a known failure (skips.KNOWN_FAILURES)
            self.rows[relpath]["failed"] += 1
        elif report.skipped:
            reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.replace("Skipped: ", "")
            kind = "missing" if "missing layer" in reason else "out_of_scope" if "out of scope" in reason \
                else "keras_only"
            self.rows[relpath][kind] += 1
            self.reasons[reason.split(":")[0] if kind == "missing" else reason] += 1
        else:
            self.rows[relpath]["passed" if report.passed else "failed"] += 1


def main(argv: list[str]) -> int:
    collect = _Collect()
    rc = pytest.main(["tests/keras_suite", "-q", "-p", "no:cacheprovider", "--no-header", "-o",
                      "addopts=", *argv], plugins=[collect])
    cols = ("passed", "failed", "missing", "keras_only", "out_of_scope")
    print(f"\n| Keras test file | {' | '.join(cols)} |\n| --- |{' ---: |' * len(cols)}")
    total = collections.Counter()
    for relpath in sorted(collect.rows):
        row = collect.rows[relpath]
        total.update(row)
        print(f"| {relpath} | {' | '.join(str(row[c]) for c in cols)} |")
    print(f"| **total** | {' | '.join(str(total[c]) for c in cols)} |")
    return int(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
