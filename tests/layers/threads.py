"""torch_threads(n): run a block with n torch threads, the previous count restored after (the native
loops' tests compare one thread with several)."""
import contextlib

import torch


@contextlib.contextmanager
def torch_threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
