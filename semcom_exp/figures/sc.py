"""Figures of `lam_msc/sc`, drawn from the run dir (results.csv, results.json, losses.csv)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from semcom_exp.figures.stats import mean_ci  # noqa: E402

CHANNEL_ORDER = ("awgn", "rayleigh", "ofdm")
STYLE = {
    "perfect": ("k", "s", "-"),
    "cge": ("C3", "*", "-"),
    "ls": ("C0", "o", "--"),
    "none": ("C7", "x", ":"),
}
TITLES = {
    "awgn": "AWGN",
    "rayleigh": "flat Rayleigh (block fading)",
    "ofdm": "multipath OFDM (5-tap)",
}


def _read(run_dir: Path) -> tuple[pd.DataFrame, dict]:
    frame = pd.read_csv(Path(run_dir) / "results.csv")
    path = Path(run_dir) / "results.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    return frame, summary


def _channels(frame: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(frame["channel"]))
    return [c for c in CHANNEL_ORDER if c in present] + [
        c for c in present if c not in CHANNEL_ORDER
    ]


def _curve(part: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SNR, mean over seeds and 95 % half-width per SNR."""
    snrs, means, halves = [], [], []
    for snr, g in part.groupby("snr_db"):
        m, h = mean_ci(g[column].to_numpy())
        snrs.append(snr)
        means.append(m)
        halves.append(h)
    return np.array(snrs), np.array(means), np.array(halves)


def _panels(
    frame: pd.DataFrame, column: str, ylabel: str, chance: bool, summary: dict, title: str
) -> Figure:
    channels = _channels(frame)
    fig, axes = plt.subplots(
        1, len(channels), figsize=(4.6 * len(channels), 4.2), sharey=True, squeeze=False
    )
    for ax, kind in zip(axes[0], channels, strict=True):
        part = frame[frame["channel"] == kind]
        for csi, g in part.groupby("csi", sort=False):
            color, marker, ls = STYLE.get(csi, (None, "^", "-"))
            x, m, h = _curve(g, column)
            ax.plot(x, m, marker=marker, ls=ls, color=color, label=f"csi={csi}")
            if np.any(h > 0):
                ax.fill_between(x, m - h, m + h, color=color, alpha=0.15)
        if chance:
            x, m, _ = _curve(part, "accuracy_shuffled")
            ax.plot(x, m, ls="--", color="grey", lw=1, label="chance (shuffled pairs)")
            corpus = summary.get("accuracy_shuffled_corpus")
            if corpus is not None:
                ax.axhline(corpus, ls=":", color="grey", lw=1, label="chance (originals, shuffled)")
        ax.set_title(TITLES.get(kind, kind), fontsize=10)
        ax.set_xlabel("SNR = Es/N0 (dB)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    seeds = frame["seed"].nunique() if "seed" in frame else 1
    band = f"; mean and 95 % interval over {seeds} seeds" if seeds > 1 else ""
    fig.suptitle(f"{title}{band}", fontsize=10)
    fig.tight_layout()
    return fig


def _subtitle(frame: pd.DataFrame, summary: dict) -> str:
    row = frame.iloc[0]
    return (
        f"{int(row['channel_symbols'])} channel symbols/message, trained with csi={row.get('train_csi', '?')}, "
        f"{row.get('equalizer', '?')} equaliser, {int(row['num_messages'])} test sentences"
    )


def accuracy_vs_snr(run_dir: Path, cfg) -> dict[str, Figure]:
    """Accuracy (cosine >= threshold) vs SNR per channel, one line per CSI source, chance dashed."""
    frame, summary = _read(run_dir)
    thr = summary.get("threshold", 0.6)
    fig = _panels(
        frame, "accuracy", f"accuracy (cosine >= {thr:g})", True, summary,
        f"LAM-MSC SC link: {_subtitle(frame, summary)}",
    )  # fmt: skip
    return {"sc_accuracy_vs_snr": fig}


def bleu_vs_snr(run_dir: Path, cfg) -> dict[str, Figure]:
    """Corpus BLEU-4 vs SNR per channel, one line per CSI source."""
    frame, summary = _read(run_dir)
    fig = _panels(
        frame, "bleu", "BLEU-4", False, summary, f"LAM-MSC SC link: {_subtitle(frame, summary)}"
    )
    return {"sc_bleu_vs_snr": fig}


def training_loss(run_dir: Path, cfg) -> dict[str, Figure]:
    """Training loss (CE + weighted MSE) and its CE part per channel kind."""
    path = Path(run_dir) / "losses.csv"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if path.exists():
        losses = pd.read_csv(path)
        for i, ((kind, seed), g) in enumerate(losses.groupby(["channel", "seed"], sort=False)):
            if g.empty:
                continue
            win = max(1, len(g) // 50)
            color = f"C{i % 10}"
            ax.plot(
                g["step"],
                g["loss"].rolling(win, min_periods=1).mean(),
                color=color,
                label=f"{kind} (seed {seed}) total",
            )
            ax.plot(
                g["step"],
                g["ce"].rolling(win, min_periods=1).mean(),
                color=color,
                ls="--",
                lw=0.8,
                label=f"{kind} CE",
            )
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("SC training loss (running mean)", fontsize=10)
    fig.tight_layout()
    return {"sc_training_loss": fig}
