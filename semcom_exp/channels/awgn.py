"""AWGN on complex symbols through Sionna's AWGN block (``y = x + n``, ``n ~ CN(0, no)``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semcom_exp.channels._sionna import SeededAWGN, device_of, precision_of
from semcom_exp.channels.snr import snr_db_to_no


def add_awgn(
    z: torch.Tensor, no: float | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Add complex Gaussian noise of variance ``no`` per complex symbol (``no/2`` per real part).

    ``no`` is a scalar or a tensor broadcastable from the leading dims of ``z`` (e.g. (B,)).
    Draws from ``generator`` if given (on its device; the result is on ``z``'s), else from
    Sionna's seeded generator.
    """
    if not torch.is_complex(z):
        raise TypeError("add_awgn expects complex symbols; pack real tensors first")
    if generator is not None and generator.device != z.device:
        # draw where the generator lives (a CPU generator gives the same noise on any device)
        no = no.to(generator.device) if torch.is_tensor(no) else no
        return add_awgn(z.to(generator.device), no, generator).to(z.device)
    block = SeededAWGN(generator=generator, precision=precision_of(z), device=device_of(z))
    return block(z, no)


@dataclass
class AwgnChannel:
    """Flat AWGN channel with the common ``(z, no) -> (y, h)`` interface (``h`` is all ones)."""

    kind: str = "awgn"

    def __call__(
        self, z: torch.Tensor, no: float | torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return add_awgn(z, no, generator), torch.ones_like(z)

    def at_snr(self, z: torch.Tensor, snr_db: float, generator: torch.Generator | None = None):
        """Same as calling with ``no = 10**(-snr_db/10)``."""
        return self(z, snr_db_to_no(snr_db), generator)
