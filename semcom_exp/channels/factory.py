"""Build (or just validate) the configured channel from the composed ``channel`` config node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from semcom_exp.channels.awgn import AwgnChannel
from semcom_exp.channels.ofdm import OfdmChannel, OfdmConfig
from semcom_exp.channels.rayleigh import RayleighChannel
from semcom_exp.config_utils import as_dict
from semcom_exp.errors import ConfigError
from semcom_exp.schema import OPTIONS, checked

SCHEMAS = OPTIONS["channel"]  # kind -> its schema dataclass
KINDS = tuple(SCHEMAS)


def validate_channel_config(cfg: Mapping[str, Any] | DictConfig) -> None:
    """Raise ConfigError (naming the key) for a bad ``channel`` node, building nothing heavy:
    the schema's checks for its kind, then (OFDM) whether grid, CP, profile and pilots fit."""
    cfg = as_dict(cfg)
    kind = cfg.get("kind")
    if kind not in SCHEMAS:
        raise ConfigError("channel.kind", f"unknown channel {kind!r}; use one of {list(SCHEMAS)}")
    checked(SCHEMAS[kind], cfg, "channel")
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
