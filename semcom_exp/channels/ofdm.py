"""The multipath OFDM channel: a Sionna resource grid, a PDP channel model and pilots.

Built on Sionna PHY: :class:`~semcom_exp.channels.pdp.TappedDelayLineModel` (a Sionna
``ChannelModel``) feeds ``GenerateOFDMChannel`` over a ``ResourceGrid`` whose ``PilotPattern``
is our mask; ``ApplyOFDMChannel`` multiplies by H and adds AWGN. The CP is assumed long enough
(validated: every delay <= cp_length < fft_size), so each resource element sees a single tap
``y = H x + n``. Tensors are (B, S, K): batch, OFDM symbol, subcarrier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from sionna.phy.channel import ApplyOFDMChannel, GenerateOFDMChannel
from sionna.phy.config import config as sionna_config
from sionna.phy.ofdm import PilotPattern, ResourceGrid

from semcom_exp.channels._sionna import SeededAWGN
from semcom_exp.channels.pdp import (
    AUTHORS_DELAYS,
    AUTHORS_GAINS_DB,
    PowerDelayProfile,
    TappedDelayLineModel,
    grid_covariance,
    pdp_from_lists,
)
from semcom_exp.channels.pilots import PilotSpec, pilot_mask
from semcom_exp.channels.snr import snr_db_to_no
from semcom_exp.config_utils import to_plain
from semcom_exp.errors import ConfigError
from semcom_exp.schema import checked
from semcom_exp.schema.channel import OfdmConfig as OfdmSchema

#: Subcarrier spacing (Hz) of the Sionna grid; it only sets the time unit of the tap delays.
SUBCARRIER_SPACING_HZ = 15e3
_SCHEMA = OfdmSchema()


@dataclass(frozen=True)
class OfdmConfig:
    """The ``channel`` config of ``kind: ofdm`` (defaults: the schema's, schema/channel.py)."""

    num_subcarriers: int = _SCHEMA.num_subcarriers
    num_ofdm_symbols: int = _SCHEMA.num_ofdm_symbols
    cp_length: int = _SCHEMA.cp_length
    pdp_gains_db: tuple[float, ...] = AUTHORS_GAINS_DB
    pdp_delays: tuple[float, ...] = tuple(float(d) for d in AUTHORS_DELAYS)
    pilots: PilotSpec = field(default_factory=PilotSpec)
    #: what ``lmmse_mismatched`` assumes: profile (flat | exponential), max_delay, rms_delay
    lmmse_assumed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | DictConfig) -> OfdmConfig:
        """From a ``channel`` node of kind ofdm (the schema's defaults filled in, its checks
        run); the settings beside the grid (kind, snr_db) are not kept."""
        c = to_plain(checked(OfdmSchema, cfg, "channel"))
        p = c["pilots"]
        out = cls(
            num_subcarriers=c["num_subcarriers"],
            num_ofdm_symbols=c["num_ofdm_symbols"],
            cp_length=c["cp_length"],
            pdp_gains_db=tuple(c["pdp_gains_db"]),
            pdp_delays=tuple(c["pdp_delays"]),
            pilots=PilotSpec(
                p["pattern"],
                p["subcarrier_step"],
                p["subcarrier_offset"],
                tuple(
                    p["ofdm_symbols"]
                    if isinstance(p["ofdm_symbols"], list)
                    else [p["ofdm_symbols"]]
                ),
            ),
            lmmse_assumed=c["lmmse_assumed"],
        )
        out.validate()
        return out

    @property
    def pdp(self) -> PowerDelayProfile:
        return pdp_from_lists(self.pdp_gains_db, self.pdp_delays)

    def validate(self) -> None:
        """Raise ConfigError (naming the key) for a grid, CP, profile or pilots that do not fit."""
        for key in ("num_subcarriers", "num_ofdm_symbols"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"channel.{key}", f"expected a positive integer, got {value!r}")
        cp = self.cp_length
        if isinstance(cp, bool) or not isinstance(cp, int) or not 0 <= cp < self.num_subcarriers:
            raise ConfigError(
                "channel.cp_length", f"expected an integer in [0, num_subcarriers - 1], got {cp!r}"
            )
        pdp = self.pdp
        if pdp.max_delay > cp:
            raise ConfigError(
                "channel.pdp_delays",
                f"delay {pdp.max_delay:g} samples exceeds the cyclic prefix (cp_length={cp}); "
                "raise channel.cp_length or shorten the profile (ISI is not modelled)",
            )
        pilot_mask(self.pilots, self.num_ofdm_symbols, self.num_subcarriers)


@dataclass
class PilotObservation:
    """What a receiver sees of the pilots of a batch of grids.

    ``mask`` (S, K) bool: pilot positions. ``y`` (B, S, K) complex: the received grid (pilot
    symbols are 1; non-pilot REs carried nothing here, so they hold noise only). ``h_ls``
    (B, P) complex: LS estimates at the pilots, row-major order. ``no`` (B,) noise variance.
    """

    mask: torch.Tensor
    y: torch.Tensor
    h_ls: torch.Tensor
    no: torch.Tensor

    def ls_grid(self) -> torch.Tensor:
        """(B, S, K): LS at the pilots, zero elsewhere (e.g. a CNN/GAN input)."""
        grid = torch.zeros_like(self.y)
        grid[:, self.mask] = self.h_ls
        return grid


class OfdmChannel:
    """Draw block-fading OFDM channels, apply them, and observe the pilots.

    ``draw_channel(B) -> H (B, S, K)``; ``apply(x, H, no) -> y``;
    ``observe_pilots(H, snr_db) -> PilotObservation``; ``covariance()`` the true grid R.
    """

    kind = "ofdm"

    def __init__(
        self,
        cfg: OfdmConfig | Mapping[str, Any] | DictConfig | None = None,
        device: str | None = None,
        precision: str = "single",
        generator: torch.Generator | None = None,
    ) -> None:
        if cfg is None:
            cfg = OfdmConfig()
        if not isinstance(cfg, OfdmConfig):
            cfg = OfdmConfig.from_cfg(cfg)
        cfg.validate()
        self.cfg = cfg
        self.device = device or sionna_config.device
        self.precision = precision
        self.generator = generator
        self.pdp = cfg.pdp
        S, K = cfg.num_ofdm_symbols, cfg.num_subcarriers
        self.mask = pilot_mask(cfg.pilots, S, K).to(self.device)
        num_pilots = int(self.mask.sum())
        pattern = PilotPattern(
            self.mask.reshape(1, 1, S, K).to(torch.int32),
            np.ones([1, 1, num_pilots], dtype=np.complex64),
            precision=precision,
            device=self.device,
        )
        self.resource_grid = ResourceGrid(
            num_ofdm_symbols=S,
            fft_size=K,
            subcarrier_spacing=SUBCARRIER_SPACING_HZ,
            cyclic_prefix_length=cfg.cp_length,
            pilot_pattern=pattern,
            precision=precision,
            device=self.device,
        )
        self.channel_model = TappedDelayLineModel(
            self.pdp,
            sample_duration=1.0 / (K * SUBCARRIER_SPACING_HZ),
            generator=generator,
            precision=precision,
            device=self.device,
        )
        self._generate = GenerateOFDMChannel(
            self.channel_model, self.resource_grid, precision=precision, device=self.device
        )
        self._apply = ApplyOFDMChannel(precision=precision, device=self.device)
        if generator is not None:  # route the block's noise through the caller's generator too
            self._apply._awgn = SeededAWGN(
                generator=generator, precision=precision, device=self.device
            )

    @property
    def num_ofdm_symbols(self) -> int:
        return self.cfg.num_ofdm_symbols

    @property
    def num_subcarriers(self) -> int:
        return self.cfg.num_subcarriers

    @property
    def num_pilots(self) -> int:
        return int(self.mask.sum())

    @property
    def data_mask(self) -> torch.Tensor:
        """(S, K) bool: the resource elements left for data."""
        return ~self.mask

    def covariance(self) -> np.ndarray:
        """True grid covariance (S*K, S*K) complex128, row-major (symbol-major) order."""
        return grid_covariance(self.pdp, self.num_ofdm_symbols, self.num_subcarriers)

    def draw_channel(self, batch: int) -> torch.Tensor:
        """H (B, S, K) complex: one Rayleigh PDP realisation per grid, E|H|^2 = 1 per RE."""
        h = self._generate(batch)  # [B, 1, 1, 1, 1, S, K]
        return h.reshape(batch, self.num_ofdm_symbols, self.num_subcarriers)

    def apply(
        self, x: torch.Tensor, h: torch.Tensor, no: float | torch.Tensor | None
    ) -> torch.Tensor:
        """y = H x + n on every resource element; x, H (B, S, K); ``no`` scalar or (B,)."""
        y = self._apply(x[:, None, None], h[:, None, None, None, None], no)  # [B, 1, 1, S, K]
        return y.reshape(x.shape)

    def observe_pilots(self, h: torch.Tensor, snr_db: float | torch.Tensor) -> PilotObservation:
        """Send unit pilots on the mask through H at ``snr_db``; LS at the pilots is y / 1."""
        no = snr_db_to_no(torch.as_tensor(snr_db, dtype=h.real.dtype, device=h.device))
        no = no.expand(h.shape[0]) if no.dim() == 0 else no
        x = self.mask.to(h.dtype).expand_as(h)
        y = self.apply(x, h, no)
        return PilotObservation(mask=self.mask, y=y, h_ls=y[:, self.mask], no=no)
