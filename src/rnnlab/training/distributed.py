"""Data-parallel training across processes (``torchrun --nproc-per-node N -m rnnlab ...``).

Each process runs the same Trainer on its share of every batch
(:func:`~rnnlab.training.trainer.shard_batch`); DistributedDataParallel averages the
gradients, so N processes take the same steps as one process on the whole batch.
gloo on CPU, nccl on GPU. Only rank 0 writes the run directory.
"""

from __future__ import annotations

import os

import torch

__all__ = ["init_from_env", "rank", "world_size"]


def init_from_env() -> bool:
    """Join the process group that torchrun describes (``WORLD_SIZE > 1``); True if in one."""
    dist = torch.distributed
    if not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


def rank() -> int:
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
