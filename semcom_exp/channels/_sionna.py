"""Small adapters around Sionna objects: an explicit torch.Generator and device/precision choice."""

from __future__ import annotations

import torch
from sionna.phy import config as sionna_config
from sionna.phy.channel import AWGN, RayleighBlockFading


class _GeneratorMixin:
    """Use an explicit ``torch.Generator`` instead of Sionna's global one when given."""

    _generator: torch.Generator | None = None

    @property
    def torch_rng(self) -> torch.Generator:
        if self._generator is not None:
            return self._generator
        return sionna_config.torch_rng(self.device)


class SeededAWGN(_GeneratorMixin, AWGN):
    """Sionna's AWGN block, optionally drawing from a caller's generator."""

    def __init__(self, generator: torch.Generator | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._generator = generator


class SeededRayleighBlockFading(_GeneratorMixin, RayleighBlockFading):
    """Sionna's single-antenna Rayleigh block fading, optionally drawing from a caller's generator."""

    def __init__(self, generator: torch.Generator | None = None, **kwargs) -> None:
        super().__init__(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, **kwargs)
        self._generator = generator


def device_of(x: torch.Tensor) -> str:
    """Sionna's device string for a tensor ("cpu", "cuda:0")."""
    if x.device.type == "cuda":
        return f"cuda:{x.device.index or 0}"
    return str(x.device.type)


def precision_of(x: torch.Tensor) -> str:
    """Sionna precision matching a real or complex tensor's dtype."""
    return "double" if x.dtype in (torch.float64, torch.complex128) else "single"
