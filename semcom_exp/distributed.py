"""Which process of a multi-process (DDP) job this is, and on which device it evaluates.

Read from the environment the launchers set (Lightning's subprocess launcher, SLURM, torchrun)
the same way Lightning reads it, so this answers correctly before the first ``trainer.fit`` has
started the other processes (rank 0 alone then) and in every process after.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

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


def eval_device(trainer_cfg: Mapping[str, Any] | None) -> Any:
    """The torch device the evaluation loops use: the trainer's accelerator (``gpu`` / ``cuda``
    -> this process's GPU, ``cpu`` -> CPU, ``auto`` -> a GPU when one is visible)."""
    import torch

    accel = str((trainer_cfg or {}).get("accelerator", "auto")).lower()
    want_cuda = accel in ("gpu", "cuda") or (accel == "auto" and torch.cuda.is_available())
    if want_cuda and torch.cuda.is_available():
        return torch.device("cuda", local_rank() % torch.cuda.device_count())
    return torch.device("cpu")
