"""Pilot patterns on an OFDM grid: the full block and a comb, as a boolean (S, K) mask.

``block``: every resource element carries a pilot. ``comb``: every ``subcarrier_step``-th
subcarrier (from ``subcarrier_offset``) on the listed ``ofdm_symbols``. Pilot symbols are 1, so
LS at a pilot is the received value itself. Pilots are ordered row-major (symbol, subcarrier),
the same order Sionna's estimators use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from semcom_exp.errors import ConfigError
from semcom_exp.schema.channel import PilotsConfig

PATTERNS = ("block", "comb")
_SCHEMA = PilotsConfig()  # the defaults (schema/channel.py)


@dataclass(frozen=True)
class PilotSpec:
    """Which resource elements carry pilots (config group ``channel.pilots``)."""

    pattern: str = _SCHEMA.pattern
    subcarrier_step: int = _SCHEMA.subcarrier_step
    subcarrier_offset: int = _SCHEMA.subcarrier_offset
    ofdm_symbols: tuple[int, ...] = field(default=tuple(_SCHEMA.ofdm_symbols))


def _check_int(key: str, value: Any, low: int, high: int | None, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"expected an integer, got {value!r}")
    if value < low or (high is not None and value >= high):
        bound = f"in [{low}, {high - 1}]" if high is not None else f">= {low}"
        raise ConfigError(key, f"{value} does not fit the grid: {what} must be {bound}")
    return value


def pilot_mask(
    spec: PilotSpec, num_ofdm_symbols: int, num_subcarriers: int, key: str = "channel.pilots"
) -> torch.Tensor:
    """Boolean (S, K) pilot mask; a pattern that does not fit the grid raises ConfigError."""
    if spec.pattern not in PATTERNS:
        raise ConfigError(
            f"{key}.pattern", f"unknown pattern {spec.pattern!r}; use one of {PATTERNS}"
        )
    mask = torch.zeros(num_ofdm_symbols, num_subcarriers, dtype=torch.bool)
    if spec.pattern == "block":
        mask[:] = True
        return mask
    step = _check_int(
        f"{key}.subcarrier_step", spec.subcarrier_step, 1, num_subcarriers + 1, "the step"
    )
    offset = _check_int(
        f"{key}.subcarrier_offset",
        spec.subcarrier_offset,
        0,
        min(step, num_subcarriers),
        "the offset (< step)",
    )
    symbols: Sequence[int] = spec.ofdm_symbols
    if not symbols:
        raise ConfigError(
            f"{key}.ofdm_symbols", "the list is empty; give the OFDM symbols carrying pilots"
        )
    for s in symbols:
        _check_int(
            f"{key}.ofdm_symbols",
            s,
            0,
            num_ofdm_symbols,
            f"an OFDM symbol index (grid has {num_ofdm_symbols})",
        )
    if len(set(symbols)) != len(symbols):
        raise ConfigError(f"{key}.ofdm_symbols", f"duplicate OFDM symbols in {list(symbols)}")
    for s in symbols:
        mask[s, offset::step] = True
    return mask
