"""Normalised mean squared error of channel estimates."""

from __future__ import annotations

import math

import torch


def nmse(h_hat: torch.Tensor, h: torch.Tensor) -> float:
    """sum |h_hat - h|^2 / sum |h|^2 over the whole batch (matches tr(C) / tr(R) in theory)."""
    err = (h_hat - h).abs().square().sum(dtype=torch.float64)
    ref = h.abs().square().sum(dtype=torch.float64)
    return float(err / ref)


def nmse_db(h_hat: torch.Tensor, h: torch.Tensor) -> float:
    """NMSE in dB."""
    return 10.0 * math.log10(nmse(h_hat, h))
