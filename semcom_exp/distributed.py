"""Which process of a multi-process (DDP) job this is, and on which device it evaluates.

Read from the environment the launchers set (Lightning's subprocess launcher, SLURM, torchrun)
the same way Lightning reads it, so this answers correctly before the first ``trainer.fit`` has
started the other processes (rank 0 alone then) and in every process after.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from semcom_exp.errors import SemcomError

if TYPE_CHECKING:
    import torch

# Lightning's order (lightning.fabric.utilities.rank_zero._get_rank)
_RANK_VARS = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """This process's rank in the job (0 when not distributed)."""
    for var in _RANK_VARS:
        value = os.environ.get(var)
        if value is not None:
            return int(value)
    return 0


def local_rank() -> int:
    """This process's rank on its node: the GPU it uses."""
    for var in ("LOCAL_RANK", "SLURM_LOCALID"):
        value = os.environ.get(var)
        if value is not None:
            return int(value)
    return 0


def is_rank_zero() -> bool:
    return global_rank() == 0


def group_rank_and_size() -> tuple[int, int]:
    """(rank, size) of the torch.distributed process group once one has formed (inside a DDP
    ``trainer.fit`` and after it); (0, 1) before, and in a one-process run. Imports no torch:
    a process that never loaded torch.distributed is in no group."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


def batch_share(batch_size: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s part of a batch split over ``world`` processes: the rank-th of ``world``
    equal consecutive parts. Equal parts, so DDP's average of the parts' mean-loss gradients is
    the whole batch's; SemcomError if the batch does not split evenly."""
    if batch_size % world:
        raise SemcomError(
            f"a batch of {batch_size} does not split evenly over {world} processes: use a batch "
            f"size that is a multiple of trainer.devices x trainer.num_nodes"
        )
    share = batch_size // world
    return slice(rank * share, (rank + 1) * share)


def eval_device(trainer_cfg: Mapping[str, Any] | None) -> Any:
    """The torch device the evaluation loops use: the trainer's accelerator (``gpu`` / ``cuda``
    -> this process's GPU, ``cpu`` -> CPU, ``auto`` -> a GPU when one is visible)."""
    import torch

    accel = str((trainer_cfg or {}).get("accelerator", "auto")).lower()
    want_cuda = accel in ("gpu", "cuda") or (accel == "auto" and torch.cuda.is_available())
    if want_cuda and torch.cuda.is_available():
        return torch.device("cuda", local_rank() % torch.cuda.device_count())
    return torch.device("cpu")


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the whole optimiser-step batch: under DDP each process holds an equal
    share, so the mean of the processes' means (all-reduced); a constant for the gradient."""
    import torch

    mean = x.detach().mean()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        world = torch.distributed.get_world_size()
        if world > 1:
            mean = mean.clone()
            torch.distributed.all_reduce(mean)
            mean = mean / world
    return mean
