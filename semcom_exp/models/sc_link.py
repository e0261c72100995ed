"""The physical link of the SC model: channel, CSI at the receiver, one-tap equaliser.

``SemanticLink(channel_cfg, num_symbols)(z, snr_db, csi) -> x_hat`` takes a batch of
unit-power complex channel symbols ``z`` (B, N), sends them over the configured channel of
the channel layer and returns the equalised symbols (B, N) for the SC decoder. SNR is the
project's Es/N0 of unit-power symbols (``no = 10**(-snr_db/10)``, docs/channels.md).

- ``awgn`` / ``rayleigh`` (flat): the N symbols are cut into fading blocks of
  ``channel.block_length`` (null: one block = the whole message); each block is preceded by
  ``flat_pilots`` unit pilot symbols, and the fade (h = 1 on AWGN, h ~ CN(0, 1) on Rayleigh)
  is constant over pilots + data of a block. LS: the mean of the received pilots.
- ``ofdm``: the symbols ride the DATA resource elements of the OFDM grid in row-major order
  (ceil(N / data REs) grids per message, each its own block-fading channel draw), the pilots
  are observed on the pilot REs (``OfdmChannel.observe_pilots``), and the estimate comes from
  them: ``ls`` (LS + linear interpolation) or ``cge`` (the cached CGE generator).

CSI sources: ``perfect`` (the true h / H), ``ls``, ``cge`` (OFDM only), ``none`` (no
equaliser: the decoder gets y itself). Equaliser: ``mmse`` one-tap
``conj(h) y / (|h|^2 + no)`` (bounded on deep fades) or ``zf`` ``y / h``. The draws consume
the link's generator in the same order whatever the CSI source, so after :meth:`reseed`
every source sees the same channels and noise (a paired comparison).

``SemanticLink.receive(z, snr_db, csi) -> (x_zf, no_eff)`` is the same transmission for a
bit receiver (the conventional baseline, ``conventional_link.py``): zero-forced symbols and
the per-symbol effective noise variance ``no / |h_hat|^2`` for a soft demapper.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from semcom_exp.channels import (
    OfdmChannel,
    OfdmConfig,
    add_awgn,
    draw_rayleigh,
    make_estimator,
    snr_db_to_no,
    validate_channel_config,
)
from semcom_exp.errors import ConfigError
from semcom_exp.schema.experiments import CHANNEL_KINDS, CSI_SOURCES

EQUALIZERS = ("mmse", "zf")
ZF_FLOOR = 1e-6  # |h|^2 below this is treated as this (a ZF receiver must not divide by 0)


def check_csi(csi: str, kind: str, key: str = "sc.csi") -> None:
    """ConfigError for an unknown CSI source or one the channel kind cannot provide."""
    if csi not in CSI_SOURCES:
        raise ConfigError(key, f"unknown CSI source {csi!r}; use one of {list(CSI_SOURCES)}")
    if kind not in CHANNEL_KINDS:
        raise ConfigError(
            "channel.kind", f"unknown channel {kind!r}; use one of {list(CHANNEL_KINDS)}"
        )
    if csi == "cge" and kind != "ofdm":
        raise ConfigError(
            key, f"csi=cge needs channel=ofdm (the CGE is a grid estimator), got {kind!r}"
        )


def equalize(
    y: torch.Tensor, h: torch.Tensor, no: torch.Tensor, equalizer: str = "mmse"
) -> torch.Tensor:
    """One-tap equaliser per symbol; ``no`` broadcastable to ``y`` (e.g. (B, 1))."""
    if equalizer == "mmse":
        return h.conj() * y / (h.abs().square() + no)
    if equalizer == "zf":
        return h.conj() * y / h.abs().square().clamp_min(ZF_FLOOR)
    raise ConfigError(
        "model.equalizer", f"unknown equalizer {equalizer!r}; use one of {list(EQUALIZERS)}"
    )


class SemanticLink:
    """Channel + CSI + equaliser for ``num_symbols`` complex symbols per message (see module doc).

    ``cge``: an estimator ``est(obs, no=None) -> H_hat`` for csi=cge on OFDM (e.g. from
    ``semcom_exp.stages.cge.load_cge_estimator``). Runs on the CPU with its own generator.
    """

    def __init__(
        self,
        channel_cfg: Mapping[str, Any] | DictConfig,
        num_symbols: int,
        flat_pilots: int = 4,
        equalizer: str = "mmse",
        seed: int = 0,
        cge: Callable[..., torch.Tensor] | None = None,
    ) -> None:
        if isinstance(channel_cfg, DictConfig):
            channel_cfg = OmegaConf.to_container(channel_cfg, resolve=True)
        channel_cfg = dict(channel_cfg)
        validate_channel_config(channel_cfg)
        if equalizer not in EQUALIZERS:
            raise ConfigError(
                "model.equalizer", f"unknown equalizer {equalizer!r}; use one of {list(EQUALIZERS)}"
            )
        if isinstance(flat_pilots, bool) or not isinstance(flat_pilots, int) or flat_pilots < 0:
            raise ConfigError(
                "sc.flat_pilots", f"expected a non-negative integer, got {flat_pilots!r}"
            )
        self.kind = str(channel_cfg["kind"])
        self.num_symbols = int(num_symbols)
        self.flat_pilots = int(flat_pilots)
        self.equalizer = equalizer
        self.cge = cge
        self.generator = torch.Generator().manual_seed(int(seed))
        if self.kind == "ofdm":
            self.ofdm = OfdmChannel(
                OfdmConfig.from_cfg(channel_cfg), device="cpu", generator=self.generator
            )
            self.ls = make_estimator("ls", self.ofdm)
            self.data_mask = self.ofdm.data_mask
            self.num_data = int(self.data_mask.sum())
            self.num_grids = math.ceil(self.num_symbols / self.num_data)
        else:
            block = channel_cfg.get("block_length") if self.kind == "rayleigh" else None
            self.block = self.num_symbols if block is None else min(int(block), self.num_symbols)
            self.num_blocks = math.ceil(self.num_symbols / self.block)

    # ------------------------------------------------------------------------- accounting
    @property
    def pilot_symbols(self) -> int:
        """Pilot channel uses per message (flat: per block; OFDM: pilot REs of its grids)."""
        if self.kind == "ofdm":
            return self.num_grids * self.ofdm.num_pilots
        return self.num_blocks * self.flat_pilots

    @property
    def channel_uses(self) -> int:
        """Complex channel uses per message, pilots included (OFDM: whole grids)."""
        if self.kind == "ofdm":
            return self.num_grids * self.ofdm.num_ofdm_symbols * self.ofdm.num_subcarriers
        return self.num_symbols + self.pilot_symbols

    def reseed(self, seed: int) -> None:
        """Restart the channel / noise draws (same seed, same draws, whatever the CSI source)."""
        self.generator.manual_seed(int(seed))

    # ----------------------------------------------------------------------------- send
    def __call__(self, z: torch.Tensor, snr_db: torch.Tensor | float, csi: str) -> torch.Tensor:
        """Equalised symbols (B, N) on ``z``'s device; ``snr_db`` a number or (B,) tensor."""
        device = z.device
        y, h_hat, no = self._observe(z, snr_db, csi)
        out = y if h_hat is None else equalize(y, h_hat, no, self.equalizer)
        return self._to_message(out).to(device)

    def receive(
        self, z: torch.Tensor, snr_db: torch.Tensor | float, csi: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What a bit receiver needs: zero-forced symbols and their noise variance, both (B, N).

        ``x_zf = y / h_hat`` (the ``zf`` equaliser) and ``no_eff = no / |h_hat|^2`` with
        ``|h_hat|^2`` floored at ``ZF_FLOOR`` (a deep fade gives a huge variance, i.e. LLRs
        near 0, not a division by zero). csi=none: ``y`` itself and ``no``. The channel, noise
        and pilot draws are the very ones :meth:`__call__` makes after the same reseed. The
        variance treats ``h_hat`` as exact (the LS / CGE estimation error is not added).
        """
        device = z.device
        y, h_hat, no = self._observe(z, snr_db, csi)
        if h_hat is None:
            x_zf, no_eff = y, torch.broadcast_to(no, y.shape)
        else:
            x_zf = equalize(y, h_hat, no, "zf")
            no_eff = torch.broadcast_to(no / h_hat.abs().square().clamp_min(ZF_FLOOR), y.shape)
        return self._to_message(x_zf).to(device), self._to_message(no_eff).to(device)

    def _to_message(self, t: torch.Tensor) -> torch.Tensor:
        """(B * grids, D) or (B, blocks, block) channel layout -> the message's (B, N)."""
        B = t.shape[0] // self.num_grids if self.kind == "ofdm" else t.shape[0]
        return t.reshape(B, -1)[:, : self.num_symbols]

    def _observe(
        self, z: torch.Tensor, snr_db: torch.Tensor | float, csi: str
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Send ``z``; return (y_data, h_hat, no) in the channel's layout (h_hat None: csi=none).

        The one code path of :meth:`__call__` and :meth:`receive`: the draws (channel, noise,
        pilot observation) are consumed in the same order whatever the CSI source.
        """
        check_csi(csi, self.kind)
        if z.dim() != 2 or z.shape[1] != self.num_symbols or not torch.is_complex(z):
            raise ValueError(
                f"expected complex symbols (B, {self.num_symbols}), got {tuple(z.shape)} {z.dtype}"
            )
        z = z.to("cpu", torch.complex64)
        snr = (
            torch.as_tensor(snr_db, dtype=torch.float32).reshape(-1).expand(z.shape[0]).contiguous()
        )
        if self.kind == "ofdm":
            return self._ofdm(z, snr, csi)
        return self._flat(z, snr, csi)

    def _flat(
        self, z: torch.Tensor, snr: torch.Tensor, csi: str
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """y_data (B, blocks, block), h_hat (B, blocks, 1), no (B, 1, 1)."""
        B, P, b, nb = z.shape[0], self.flat_pilots, self.block, self.num_blocks
        if csi == "ls" and P == 0:
            raise ConfigError("sc.flat_pilots", "csi=ls needs at least one pilot symbol per block")
        no = snr_db_to_no(snr)  # (B,)
        data = torch.nn.functional.pad(z, (0, nb * b - self.num_symbols)).reshape(B, nb, b)
        pilots = torch.ones(B, nb, P, dtype=z.dtype)
        tx = torch.cat([pilots, data], dim=-1).reshape(B, nb * (P + b))
        if self.kind == "rayleigh":
            h = draw_rayleigh(B, nb * (P + b), P + b, self.generator).to(z.dtype)
        else:
            h = torch.ones_like(tx)
        y = add_awgn(h * tx, no, self.generator).reshape(B, nb, P + b)
        h_block = h.reshape(B, nb, P + b)[:, :, 0]  # (B, nb)
        y_data = y[..., P:]
        if csi == "none":
            return y_data, None, no[:, None, None]
        h_hat = h_block if csi == "perfect" else y[..., :P].mean(dim=-1)
        return y_data, h_hat[..., None], no[:, None, None]

    def _ofdm(
        self, z: torch.Tensor, snr: torch.Tensor, csi: str
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """y_data (B * grids, D), H_hat on the data REs (B * grids, D), no (B * grids, 1)."""
        B, G, D = z.shape[0], self.num_grids, self.num_data
        if csi == "cge" and self.cge is None:
            raise ConfigError("sc.csi", "csi=cge needs the trained CGE estimator (none was given)")
        S, K = self.ofdm.num_ofdm_symbols, self.ofdm.num_subcarriers
        data = torch.nn.functional.pad(z, (0, G * D - self.num_symbols)).reshape(B * G, D)
        x = torch.zeros(B * G, S, K, dtype=z.dtype)
        x[:, self.data_mask] = data
        snr_g = snr.repeat_interleave(G)
        no = snr_db_to_no(snr_g)
        H = self.ofdm.draw_channel(B * G)
        y = self.ofdm.apply(x, H, no)
        obs = self.ofdm.observe_pilots(H, snr_g)  # always drawn: same noise for every source
        y_data = y[:, self.data_mask]
        if csi == "none":
            return y_data, None, no[:, None]
        if csi == "perfect":
            H_hat = H
        elif csi == "ls":
            H_hat = self.ls(obs)
        else:
            H_hat = self.cge(obs)
        return y_data, H_hat[:, self.data_mask].to(y.dtype), no[:, None]
