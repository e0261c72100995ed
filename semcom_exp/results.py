"""The run-dir contract: results.json (flat scalars), results.csv (tidy rows), figures/."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file + rename so a killed run never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _json_scalar(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; an unavailable metric is None plus a *_unavailable reason
    return value


def write_results(
    run_dir: Path, rows: Iterable[Mapping[str, Any]], summary: Mapping[str, Any]
) -> None:
    """Write results.csv (one row per grid point) and results.json (flat summary)."""
    run_dir = Path(run_dir)
    frame = pd.DataFrame(list(rows))
    atomic_write_text(run_dir / "results.csv", frame.to_csv(index=False))
    flat = {k: _json_scalar(v) for k, v in summary.items()}
    atomic_write_text(run_dir / "results.json", json.dumps(flat, indent=2, default=str) + "\n")


def save_figure(fig: Any, run_dir: Path, name: str) -> list[Path]:
    """Save a matplotlib figure as figures/<name>.png and .pdf."""
    import matplotlib.pyplot as plt

    out = Path(run_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        tmp = out / f".{name}.tmp.{ext}"
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths
