"""The project's one SNR convention, and helpers that turn config values into noise levels.

SNR is Es/N0 of unit-power complex symbols: a complex channel symbol has average energy 1 and
complex AWGN of variance ``no = 10 ** (-snr_db / 10)`` (``no / 2`` per real dimension) is added.
Real tensors are paired into complex symbols and normalised to unit average power per sample
before any channel (see :mod:`semcom_exp.channels.packing`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import torch

from semcom_exp.errors import ConfigError


def snr_db_to_no(snr_db: float | torch.Tensor) -> float | torch.Tensor:
    """Complex noise variance ``no`` for an Es/N0 of ``snr_db`` dB (unit-power symbols)."""
    if isinstance(snr_db, torch.Tensor):
        return torch.pow(10.0, -snr_db / 10.0)
    return 10.0 ** (-float(snr_db) / 10.0)


def no_to_snr_db(no: float | torch.Tensor) -> float | torch.Tensor:
    """Inverse of :func:`snr_db_to_no`."""
    if isinstance(no, torch.Tensor):
        return -10.0 * torch.log10(no)
    return -10.0 * math.log10(float(no))


def snr_list(value: Any, key: str = "channel.snr_db") -> list[float]:
    """A config SNR value (number or non-empty list of numbers) as a list of floats.

    Raises ConfigError naming ``key`` for an empty list or a non-number, so library callers get
    the same message as the up-front config check.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(key, f"expected a number or a list of numbers (dB), got {value!r}")
    values = list(value)
    if not values:
        raise ConfigError(key, "the list is empty; give at least one SNR in dB, e.g. [0, 10]")
    bad = [v for v in values if not isinstance(v, numbers.Real) or isinstance(v, bool)]
    if bad:
        raise ConfigError(key, f"expected numbers (dB), got {bad!r}")
    return [float(v) for v in values]


def snr_range(value: Any, key: str = "model.snr_db_range") -> tuple[float, float]:
    """A training SNR range ``[low, high]`` dB (one number: a fixed SNR) as a float pair."""
    values = snr_list(value, key)
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or values[0] > values[1]:
        raise ConfigError(key, f"expected [low, high] in dB with low <= high, got {value!r}")
    return values[0], values[1]
