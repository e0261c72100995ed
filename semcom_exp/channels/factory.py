"""Build (or just validate) the configured channel from the composed ``channel`` config node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from semcom_exp.channels.awgn import AwgnChannel
from semcom_exp.channels.ofdm import OfdmChannel, OfdmConfig
from semcom_exp.channels.rayleigh import RayleighChannel
from semcom_exp.channels.snr import snr_list
from semcom_exp.config_utils import as_dict
from semcom_exp.errors import ConfigError

KINDS = ("awgn", "rayleigh", "ofdm")


def validate_channel_config(cfg: Mapping[str, Any] | DictConfig) -> None:
    """Raise ConfigError (naming the key) for a bad ``channel`` node, building nothing heavy.

    Cheap enough for an up-front config check: kind, snr_db, Rayleigh block length, and for
    OFDM the grid, CP, profile, pilots and assumed-profile keys.
    """
    cfg = as_dict(cfg)
    kind = cfg.get("kind")
    if kind not in KINDS:
        raise ConfigError("channel.kind", f"unknown channel {kind!r}; use one of {KINDS}")
    if "snr_db" in cfg and cfg["snr_db"] is not None:
        snr_list(cfg["snr_db"], "channel.snr_db")
    if kind == "rayleigh":
        block = cfg.get("block_length")
        if block is not None and (
            isinstance(block, bool) or not isinstance(block, int) or block <= 0
        ):
            raise ConfigError(
                "channel.block_length", f"expected a positive integer or null, got {block!r}"
            )
    if kind == "ofdm":
        OfdmConfig.from_cfg(cfg)


def build_channel(
    cfg: Mapping[str, Any] | DictConfig, **kwargs: Any
) -> AwgnChannel | RayleighChannel | OfdmChannel:
    """AwgnChannel, RayleighChannel or OfdmChannel for ``cfg.kind``; extra kwargs go to OFDM
    (``device``, ``precision``, ``generator``)."""
    cfg = as_dict(cfg)
    validate_channel_config(cfg)
    if cfg["kind"] == "awgn":
        return AwgnChannel()
    if cfg["kind"] == "rayleigh":
        return RayleighChannel(block_length=cfg.get("block_length"))
    return OfdmChannel(OfdmConfig.from_cfg(cfg), **kwargs)
