"""Flat Rayleigh block fading on complex symbols: ``y = h x + n`` with ``h ~ CN(0, 1)``.

Fading coefficients come from Sionna's RayleighBlockFading (one path, zero delay); one
coefficient is held for ``block_length`` consecutive symbols of a sample (``None``: the whole
sample). With E|h|^2 = 1 the average received SNR equals the configured Es/N0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from semcom_exp.channels._sionna import SeededRayleighBlockFading, device_of, precision_of
from semcom_exp.channels.awgn import add_awgn
from semcom_exp.channels.snr import snr_db_to_no
from semcom_exp.errors import ConfigError


def draw_rayleigh(
    batch: int,
    num_symbols: int,
    block_length: int | None = None,
    generator: torch.Generator | None = None,
    device: str = "cpu",
    precision: str = "single",
) -> torch.Tensor:
    """Fading coefficients (batch, num_symbols), constant over blocks of ``block_length``."""
    length = num_symbols if block_length is None else int(block_length)
    if length <= 0:
        raise ConfigError(
            "channel.block_length", f"expected a positive integer or null, got {block_length!r}"
        )
    num_blocks = max(1, math.ceil(num_symbols / length))
    model = SeededRayleighBlockFading(generator=generator, precision=precision, device=device)
    a, _ = model(batch_size=batch * num_blocks, num_time_steps=1)
    h = a.reshape(batch, num_blocks)
    return h.repeat_interleave(length, dim=1)[:, :num_symbols]


@dataclass
class RayleighChannel:
    """Flat Rayleigh block fading plus AWGN with the ``(z, no) -> (y, h)`` interface.

    ``z`` is (B, N) complex (further dims are flattened per sample); ``h`` is returned so a
    receiver with perfect CSI can equalise.
    """

    block_length: int | None = None
    kind: str = "rayleigh"

    def __call__(
        self, z: torch.Tensor, no: float | torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        flat = z.reshape(z.shape[0], -1)
        h = draw_rayleigh(
            flat.shape[0],
            flat.shape[1],
            self.block_length,
            generator,
            device_of(z),
            precision_of(z),
        )
        y = add_awgn(h * flat, no, generator)
        return y.reshape(z.shape), h.reshape(z.shape)

    def at_snr(self, z: torch.Tensor, snr_db: float, generator: torch.Generator | None = None):
        """Same as calling with ``no = 10**(-snr_db/10)``."""
        return self(z, snr_db_to_no(snr_db), generator)
