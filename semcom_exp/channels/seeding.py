"""Seeding Sionna's own random number generators (it does not use torch's global RNG)."""

from __future__ import annotations

import torch
from sionna.phy import config as sionna_config


def set_seed(seed: int) -> None:
    """Seed Sionna PHY (its per-device generators) and torch, so channel draws repeat on CPU.

    Sionna draws channel taps, fading and noise from ``sionna.phy.config.torch_rng(device)``,
    not from ``torch.manual_seed``; the runner calls this beside its own seeding.
    """
    seed = int(seed)
    sionna_config.seed = seed
    torch.manual_seed(seed)
