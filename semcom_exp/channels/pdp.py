"""Power-delay profiles: the tapped-delay-line channel model and its covariance matrices.

A profile is a list of taps (gain in dB, delay in samples at the OFDM sampling rate
``fft_size * subcarrier_spacing``). Tap powers are normalised to unit total power, so the
channel has E|H[s, k]|^2 = 1 on every resource element and the average received SNR equals the
configured Es/N0. Taps are independent complex Gaussian (Rayleigh); the grid is block fading
(one draw per OFDM frame), hence the frequency response

    H[s, k] = sum_l h_l exp(-j 2 pi f_k d_l / N)      (identical for every OFDM symbol s)

and the grid covariance ``R = ones(S, S) kron R_f`` with
``R_f[k, k'] = sum_l p_l exp(-j 2 pi (k - k') d_l / N)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sionna.phy.channel import ChannelModel
from sionna.phy.utils import complex_normal

from semcom_exp.errors import ConfigError
from semcom_exp.schema.channel import AUTHORS_DELAYS as _DELAYS
from semcom_exp.schema.channel import AUTHORS_GAINS_DB as _GAINS

#: The LAM-MSC authors' multipath profile (gains dB, delays in samples).
AUTHORS_GAINS_DB, AUTHORS_DELAYS = _GAINS, _DELAYS  # the schema's default (schema/channel.py)


@dataclass(frozen=True)
class PowerDelayProfile:
    """Tap gains (dB, before normalisation) and delays (samples, may be fractional)."""

    gains_db: tuple[float, ...]
    delays: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.gains_db) == 0:
            raise ConfigError("channel.pdp_gains_db", "the profile needs at least one tap")
        if len(self.gains_db) != len(self.delays):
            raise ConfigError(
                "channel.pdp_delays",
                f"{len(self.delays)} delays for {len(self.gains_db)} gains; give one delay per tap",
            )
        if any(d < 0 for d in self.delays):
            raise ConfigError(
                "channel.pdp_delays", f"delays must be >= 0 samples, got {list(self.delays)}"
            )

    @property
    def powers(self) -> np.ndarray:
        """Linear tap powers normalised to sum 1."""
        p = 10.0 ** (np.asarray(self.gains_db, dtype=np.float64) / 10.0)
        return p / p.sum()

    @property
    def max_delay(self) -> float:
        return float(max(self.delays))

    def rms_delay(self) -> float:
        """RMS delay spread in samples."""
        d = np.asarray(self.delays, dtype=np.float64)
        p = self.powers
        mean = float((p * d).sum())
        return float(np.sqrt((p * (d - mean) ** 2).sum()))


def authors_pdp() -> PowerDelayProfile:
    """The LAM-MSC authors' 5-tap profile."""
    return PowerDelayProfile(AUTHORS_GAINS_DB, tuple(float(d) for d in AUTHORS_DELAYS))


def exponential_pdp(rms_delay: float, max_delay: int) -> PowerDelayProfile:
    """Integer taps 0..max_delay with powers proportional to exp(-d / rms_delay)."""
    if rms_delay <= 0:
        raise ConfigError(
            "channel.lmmse_assumed.rms_delay", f"expected > 0 samples, got {rms_delay!r}"
        )
    d = np.arange(int(max_delay) + 1, dtype=np.float64)
    gains_db = 10.0 * np.log10(np.exp(-d / rms_delay))
    return PowerDelayProfile(tuple(gains_db.tolist()), tuple(d.tolist()))


def flat_pdp(max_delay: int) -> PowerDelayProfile:
    """Equal-power integer taps 0..max_delay (the classic robust choice: flat over the CP)."""
    d = np.arange(int(max_delay) + 1, dtype=np.float64)
    return PowerDelayProfile(tuple([0.0] * len(d)), tuple(d.tolist()))


def freq_covariance(pdp: PowerDelayProfile, num_subcarriers: int) -> np.ndarray:
    """R_f (K, K) complex128: covariance of the frequency response across subcarriers."""
    k = np.arange(num_subcarriers, dtype=np.float64)
    diff = k[:, None] - k[None, :]
    d = np.asarray(pdp.delays, dtype=np.float64)
    phases = np.exp(-2j * np.pi * diff[..., None] * d / num_subcarriers)
    return (phases * pdp.powers).sum(-1)


def grid_covariance(
    pdp: PowerDelayProfile, num_ofdm_symbols: int, num_subcarriers: int
) -> np.ndarray:
    """R (S*K, S*K) complex128 of the row-major grid (symbol-major) under block fading."""
    return np.kron(
        np.ones((num_ofdm_symbols, num_ofdm_symbols)), freq_covariance(pdp, num_subcarriers)
    )


class TappedDelayLineModel(ChannelModel):
    """Sionna ChannelModel for a fixed PDP with Rayleigh taps, block fading over the time steps.

    ``sample_duration`` (s) converts delays in samples to seconds: for an OFDM grid it is
    ``1 / (fft_size * subcarrier_spacing)``, so GenerateOFDMChannel yields
    ``H[k] = sum_l h_l exp(-j 2 pi k d_l / N)``.
    """

    def __init__(
        self,
        pdp: PowerDelayProfile,
        sample_duration: float,
        generator: torch.Generator | None = None,
        precision: str | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__(precision=precision, device=device)
        self._pdp = pdp
        self._sample_duration = float(sample_duration)
        self._generator = generator
        self._std = torch.tensor(np.sqrt(pdp.powers), dtype=self.dtype, device=self.device)
        self._tau = torch.tensor(
            np.asarray(pdp.delays) * self._sample_duration, dtype=self.dtype, device=self.device
        )

    @property
    def pdp(self) -> PowerDelayProfile:
        return self._pdp

    @property
    def torch_rng(self) -> torch.Generator:
        return self._generator if self._generator is not None else super().torch_rng

    def __call__(
        self, batch_size: int, num_time_steps: int, sampling_frequency: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """a: [B, 1, 1, 1, 1, L, T] complex; tau: [B, 1, 1, L] seconds."""
        num_taps = self._std.shape[0]
        h = complex_normal(
            [batch_size, 1, 1, 1, 1, num_taps, 1],
            precision=self.precision,
            device=self.device,
            generator=self.torch_rng,
        )
        a = (h * self._std.reshape(1, 1, 1, 1, 1, -1, 1)).expand(
            -1, -1, -1, -1, -1, -1, num_time_steps
        )
        tau = self._tau.reshape(1, 1, 1, -1).expand(batch_size, -1, -1, -1)
        return a, tau


def pdp_from_lists(gains_db: Sequence[float], delays: Sequence[float]) -> PowerDelayProfile:
    """Build a profile from config lists, with ConfigErrors naming the channel keys."""
    try:
        g = tuple(float(v) for v in gains_db)
    except (TypeError, ValueError):
        raise ConfigError(
            "channel.pdp_gains_db", f"expected a list of numbers (dB), got {gains_db!r}"
        ) from None
    try:
        d = tuple(float(v) for v in delays)
    except (TypeError, ValueError):
        raise ConfigError(
            "channel.pdp_delays", f"expected a list of numbers (samples), got {delays!r}"
        ) from None
    return PowerDelayProfile(g, d)
