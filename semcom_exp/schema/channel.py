"""The ``channel`` group: AWGN, flat Rayleigh and multipath OFDM (docs/channels.md).

SNR = Es/N0 of unit-power complex symbols (per resource element on OFDM); no = 10**(-snr_db/10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semcom_exp.schema.fields import (
    node,
    non_negative_int,
    number_in,
    one_of,
    optional,
    positive_int,
    setting,
    snr_db,
)

#: the LAM-MSC authors' 5-tap power-delay profile (channel_nets.py): gains in dB at delays in
#: samples at the rate K * subcarrier spacing
AUTHORS_GAINS_DB = (0.0, -8.0, -17.0, -21.0, -25.0)
AUTHORS_DELAYS = (0, 3, 5, 6, 8)


@dataclass
class AwgnConfig:
    """y = x + n; real tensors are paired into complex symbols and power-normalised first."""

    kind: str = setting("awgn", one_of("awgn"))
    snr_db: Any = setting([-5, 0, 5, 10, 15], snr_db)


@dataclass
class RayleighConfig:
    """Flat Rayleigh block fading + AWGN: y = h x + n, h ~ CN(0, 1) (Sionna RayleighBlockFading);
    SNR = mean received SNR."""

    kind: str = setting("rayleigh", one_of("rayleigh"))
    snr_db: Any = setting([-5, 0, 5, 10, 15], snr_db)
    # symbols sharing one fade; null = one fade per sample (block fading)
    block_length: int | None = setting(None, optional(positive_int))


@dataclass
class PilotsConfig:
    """Which resource elements carry pilots (symbols 1)."""

    pattern: str = setting("comb", one_of("block", "comb"))  # block: every RE
    subcarrier_step: int = setting(4, positive_int)  # comb: every 4th subcarrier ...
    subcarrier_offset: int = setting(0, non_negative_int)  # ... starting here (< step)
    ofdm_symbols: Any = setting([2, 5])  # ... on these OFDM symbols


@dataclass
class LmmseAssumedConfig:
    """The profile ``lmmse_mismatched`` assumes."""

    profile: str = setting("flat", one_of("flat", "exponential"))
    # samples; null = cp_length (capped to K/step - 1 on a comb)
    max_delay: float | None = setting(None, optional(number_in(0)))
    rms_delay: float = setting(2.0, number_in(0, open_low=True))  # exponential only, samples


@dataclass
class OfdmConfig:
    """Multipath OFDM grid (Sionna ResourceGrid + GenerateOFDMChannel, tapped delay line).
    Block fading: one Rayleigh realisation of the profile per grid, taps of unit total power.
    Default profile: the LAM-MSC authors' (gains dB at delays in samples)."""

    kind: str = setting("ofdm", one_of("ofdm"))
    snr_db: Any = setting([-5, 0, 5, 10, 15, 20], snr_db)
    num_subcarriers: int = setting(64, positive_int)  # FFT size K
    num_ofdm_symbols: int = setting(8, positive_int)  # S
    cp_length: int = setting(16, non_negative_int)  # samples; every delay must be <= cp_length
    pdp_gains_db: Any = setting([int(g) for g in AUTHORS_GAINS_DB])  # ints, as composed so far
    pdp_delays: Any = setting(list(AUTHORS_DELAYS))  # samples at the rate K * subcarrier spacing
    pilots: PilotsConfig = node(PilotsConfig)
    lmmse_assumed: LmmseAssumedConfig = node(LmmseAssumedConfig)
