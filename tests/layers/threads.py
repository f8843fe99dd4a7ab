"""Helpers of the native loops' tests: torch_threads(n) runs a block with n torch threads, the
previous count restored after (the tests compare one thread with several); require_native() builds
the native library if it is not built yet and skips the test where it cannot be."""
import contextlib

import pytest
import torch

from seqlayers import native


@contextlib.contextmanager
def torch_threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def require_native() -> None:
    try:
        native.build()
    except RuntimeError as exc:
        pytest.skip(f"the native loops cannot be built here: {exc}")
