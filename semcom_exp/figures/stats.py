"""Summary statistics for figures and tables: mean with a 95 % confidence half-width."""

from __future__ import annotations

import numpy as np
from scipy import stats


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and Student-t half-width of the `level` interval (0 for fewer than 2 finite values)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    if len(values) < 2:
        return float(values.mean()), 0.0
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)
