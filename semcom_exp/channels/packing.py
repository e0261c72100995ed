"""Real <-> complex packing and per-sample power normalisation, and the analog AWGN link.

A real tensor (B, ...) is flattened per sample, padded with one zero if its length is odd, and
consecutive pairs become complex symbols (``x[2i] + j x[2i+1]``). Power normalisation divides
each sample by the root of its average symbol power, so every sample enters the channel with
E|z|^2 = 1 and the SNR convention of :mod:`semcom_exp.channels.snr` holds per sample.
"""

from __future__ import annotations

import torch

from semcom_exp.channels.awgn import add_awgn
from semcom_exp.channels.snr import snr_db_to_no


def real_to_complex(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) real -> (B, ceil(n/2)) complex symbols, n the real elements per sample."""
    if torch.is_complex(x):
        raise TypeError("real_to_complex expects a real tensor")
    flat = x.reshape(x.shape[0], -1)
    if not flat.is_floating_point():
        flat = flat.to(torch.get_default_dtype())
    if flat.shape[1] % 2:
        flat = torch.nn.functional.pad(flat, (0, 1))
    return torch.view_as_complex(flat.reshape(flat.shape[0], -1, 2).contiguous())


def complex_to_real(z: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`real_to_complex`: drop the pad and restore ``shape``."""
    flat = torch.view_as_real(z.contiguous()).reshape(z.shape[0], -1)
    n = 1
    for d in shape[1:]:
        n *= int(d)
    return flat[:, :n].reshape(shape)


def normalize_power(z: torch.Tensor, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale each sample (leading index) to unit average symbol power.

    Returns ``(z / scale, scale)`` with ``scale`` (B,) the root mean symbol power. An all-zero
    sample keeps scale 1 (nothing to normalise).
    """
    flat = z.reshape(z.shape[0], -1)
    power = flat.abs().square().mean(dim=1)
    scale = torch.where(power > eps, power.sqrt(), torch.ones_like(power))
    shape = (-1,) + (1,) * (z.dim() - 1)
    return z / scale.reshape(shape), scale


def denormalize_power(z: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Undo :func:`normalize_power`."""
    return z * scale.reshape((-1,) + (1,) * (z.dim() - 1))


def analog_awgn(
    x: torch.Tensor, snr_db: float | torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Send a real tensor (B, ...) over AWGN at ``snr_db`` (Es/N0 of the normalised symbols).

    ``snr_db`` is one number or a (B,) tensor (one SNR per sample).

    Packs pairs into complex symbols, normalises each sample to unit symbol power, adds noise
    with Sionna's AWGN block, undoes the normalisation and unpacks. Returns the received tensor
    in the ORIGINAL scale and shape and the per-sample noise variance per real element in that
    scale, shape (B,): ``(no / 2) * P`` with P the sample's mean symbol power.
    """
    z, scale = normalize_power(real_to_complex(x))
    no = snr_db_to_no(snr_db)
    if isinstance(no, torch.Tensor):
        no = no.to(device=z.device, dtype=z.real.dtype)
    y = denormalize_power(add_awgn(z, no, generator), scale)
    received = complex_to_real(y, x.shape).to(x.dtype if x.is_floating_point() else y.real.dtype)
    noise_var = (no / 2.0) * scale.square()
    return received, noise_var.to(received.dtype)
