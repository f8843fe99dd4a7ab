"""Every ``>>>`` example in a seqlayers docstring runs as a doctest, with the public names in scope."""
import doctest
import importlib
import pkgutil

import pytest
import torch

import seqlayers


def _modules():
    names = []
    for info in pkgutil.walk_packages(seqlayers.__path__, "seqlayers."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return ["seqlayers"] + sorted(names)


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples and test.name.split(".")[-1] not in {"__getattr__"}:
                found.append(test)
    seen, unique = set(), []
    for t in found:  # a re-exported object is found once per module that imports it
        key = (t.filename, t.lineno)
        if key not in seen:
            seen.add(key)
            unique.append(t)
    return unique


EXAMPLES = _examples()


def test_there_are_docstring_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("test", EXAMPLES, ids=[t.name for t in EXAMPLES])
def test_docstring_example(test):
    torch.manual_seed(0)
    test.globs = {**{n: getattr(seqlayers, n) for n in seqlayers.__all__}, "torch": torch, "sl": seqlayers,
                  **test.globs}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
