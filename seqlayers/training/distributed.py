"""Data-parallel training on torch's own engine (``torchrun`` + DistributedDataParallel).

The same script runs unchanged on one process or under::

    torchrun --nproc_per_node=4 train.py                    # one machine, 4 processes
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d \\
             --rdzv_endpoint=HOST:29500 --rdzv_id=job1 train.py   # two machines

``fit`` notices the ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` variables that ``torchrun`` sets, joins
the process group (``nccl`` when training on CUDA, else ``gloo``), wraps the model in
``DistributedDataParallel`` (which broadcasts rank 0's initial weights), and gives every process
its own shard of each epoch (``DistributedSampler``'s rule). ``batch_size`` is per process: the
global batch is ``WORLD_SIZE * batch_size``. Losses and metrics are summed over processes before
they are logged, so the numbers printed (by rank 0 only) and seen by callbacks are global;
checkpoints and backups are written by rank 0 only.
"""
from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP


def env_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the environment (``(0, 1, 0)`` outside torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    local = int(os.environ.get("LOCAL_RANK", str(rank)) or 0)
    return rank, world, local


def is_distributed() -> bool:
    return env_world()[1] > 1 or (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)


def rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return env_world()[0]


def world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return env_world()[1]


def is_main() -> bool:
    """True on the process that prints and writes files (rank 0, or the only process)."""
    return rank() == 0


def device_for(requested) -> torch.device | None:
    """The device a process trains on: ``"auto"`` is CUDA (``cuda:LOCAL_RANK`` under torchrun) when
    available, else CPU; ``None`` keeps the model where it is."""
    if requested is None:
        return None
    if isinstance(requested, str) and requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", env_world()[2] if env_world()[1] > 1 else torch.cuda.current_device())
        return torch.device("cpu")
    return torch.device(requested)


def setup(device: torch.device) -> bool:
    """Join the process group when launched by torchrun; True when training is distributed."""
    if env_world()[1] <= 1:
        return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
        atexit.register(_leave)
    return dist.get_world_size() > 1


def _leave() -> None:
    """Leave the group that ``setup`` joined before the interpreter exits: without it a process that
    finishes first can be torn down while gloo's threads still run (``terminate called without an
    active exception``, SIGABRT), and torch warns that ``destroy_process_group`` was never called."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``DistributedDataParallel`` around ``module`` (rank 0's weights are broadcast to all)."""
    if device.type == "cuda":
        return DDP(module, device_ids=[device], output_device=device)
    return DDP(module)


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``t`` over all processes (``t`` itself outside torchrun)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    out = t.clone()
    backend = dist.get_backend()
    if backend == "nccl" and out.device.type != "cuda":
        out = out.cuda()
    elif backend == "gloo" and out.device.type != "cpu":
        out = out.cpu()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(t.device)


def broadcast_int(value: int) -> int:
    """Rank 0's ``value`` on every process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.int64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.broadcast(t, src=0)
    return int(t.item())


def barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


__all__ = ["env_world", "is_distributed", "rank", "world_size", "is_main", "device_for", "setup", "wrap",
           "all_reduce_sum", "broadcast_int", "barrier"]
