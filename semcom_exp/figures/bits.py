"""Figure of `lam_msc/bits`: mean bits per sample per modality, log scale, from the run dir."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

MODALITY_ORDER = ("image", "audio", "video")
BARS = (  # (results.csv column, label, colour)
    ("raw_bits", "raw (decoded)", "C3"),
    ("file_bits", "file (compressed)", "C1"),
    ("text_bits", "semantic text (UTF-8)", "C2"),
    ("transmitted_bits", "transmitted (SC link)", "C0"),
)


def bits_bars(run_dir: Path, cfg: object = None) -> dict[str, Figure]:
    """Grouped log-scale bars: mean raw / file / text / transmitted bits per modality, beside
    the paper's video figure (3,114,800 raw -> 32,768 transmitted)."""
    run_dir = Path(run_dir)
    frame = pd.read_csv(run_dir / "results.csv")
    path = run_dir / "results.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    present = list(dict.fromkeys(frame["modality"]))
    groups = [m for m in MODALITY_ORDER if m in present] + [
        m for m in present if m not in MODALITY_ORDER
    ]
    means = {m: frame[frame["modality"] == m].mean(numeric_only=True) for m in groups}
    labels = [f"{m}\n(n={int((frame['modality'] == m).sum())})" for m in groups]
    paper = summary.get("paper_video_raw_bits"), summary.get("paper_video_transmitted_bits")
    if all(paper):
        labels.append("video\n(paper)")

    fig, ax = plt.subplots(figsize=(1.9 * len(labels) + 2.5, 4.2))
    width = 0.8 / len(BARS)
    x = np.arange(len(labels))
    for k, (col, label, colour) in enumerate(BARS):
        values = [float(means[m].get(col, np.nan)) for m in groups]
        if all(paper):
            values.append({"raw_bits": paper[0], "transmitted_bits": paper[1]}.get(col, np.nan))
        pos = x - 0.4 + width * (k + 0.5)
        bars = ax.bar(pos, values, width, label=label, color=colour)
        if all(paper):
            bars[-1].set_hatch("//")
        for p, v in zip(pos, values, strict=True):
            if np.isfinite(v) and v > 0:
                ax.text(p, v * 1.15, f"{v:,.0f}", ha="center", va="bottom", rotation=90, fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(x, labels)
    ax.set_ylabel("bits per sample (mean)")
    top = np.nanmax([float(means[m].get("raw_bits", np.nan)) for m in groups] + [paper[0] or 0])
    ax.set_ylim(top=top * 60)
    per_msg = summary.get("bits_per_message")
    ax.set_title(
        "LAM-MSC bits per sample" + (f" (SC message = {per_msg:,} bits)" if per_msg else ""),
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    ax.grid(axis="y", which="major", alpha=0.3)
    if all(paper) and summary.get("paper_video_raw_frame_settings") == 0:
        fig.text(
            0.01,
            -0.02,
            f"paper's 'raw' {paper[0]:,} bits fits no decoded-frame setting; it reads as an "
            "encoded file's size (results.json: paper_arithmetic)",
            fontsize=7,
            ha="left",
            va="top",
        )
    fig.tight_layout()
    return {"bits": fig}
