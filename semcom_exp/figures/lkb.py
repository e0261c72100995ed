"""LAM-MSC LKB figures, drawn from a run dir's results.csv / results.json / losses.csv only."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

LABELS = {
    "none": "global LM",
    "in_context": "global + facts\nin prompt",
    "prompt_tuning": "prompt\ntuning",
    "prefix_tuning": "prefix\ntuning",
    "lora": "LoRA",
}
COLORS = {
    "none": "0.6",
    "in_context": "tab:orange",
    "prompt_tuning": "tab:blue",
    "prefix_tuning": "tab:purple",
    "lora": "tab:green",
}


def _bars(ax, results: pd.DataFrame, column: str, adapters: list[str]) -> None:
    """Message-weighted mean per adapter as a bar (value in the tick label), each user a dot."""
    labels = []
    for i, kind in enumerate(adapters):
        g = results[results["adapter"] == kind]
        mean = float(np.average(g[column], weights=g["n"]))
        ax.bar(i, mean, color=COLORS.get(kind, "tab:brown"), alpha=0.8, width=0.65)
        jitter = np.linspace(-0.15, 0.15, len(g)) if len(g) > 1 else [0.0]
        ax.scatter(i + np.asarray(jitter), g[column], s=12, color="k", zorder=3)
        labels.append(f"{LABELS.get(kind, kind)}\n{mean:.2f}")
    ax.set_xticks(np.arange(len(adapters)), labels, fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.grid(axis="y", alpha=0.3)


def accuracy(run_dir: Path, cfg=None) -> dict:
    """Global vs personalised LKB (and prompt tuning vs LoRA): entity accuracy with its chance
    level, and the paper's cosine accuracy with its shuffled-pair chance level and the score
    of sending the bare keywords (no recovery at all)."""
    run_dir = Path(run_dir)
    results = pd.read_csv(run_dir / "results.csv")
    adapters = list(dict.fromkeys(results["adapter"]))
    fig, axes = plt.subplots(1, 2, figsize=(4.2 + 1.6 * len(adapters), 3.8))
    _bars(axes[0], results, "entity_accuracy", adapters)
    chance = float(np.average(results["entity_chance"], weights=results["n"]))
    axes[0].axhline(
        chance, color="r", ls=":", lw=1.2, label=f"chance (uniform over meanings) {chance:.2f}"
    )
    axes[0].set_title("entity accuracy (the user's meaning recovered)", fontsize=9)
    axes[0].legend(fontsize=7, loc="upper left")
    _bars(axes[1], results, "accuracy", adapters)
    shuffled = float(np.average(results["accuracy_shuffled"].fillna(0), weights=results["n"]))
    axes[1].axhline(shuffled, color="r", ls=":", lw=1.2, label=f"shuffled pairs {shuffled:.2f}")
    summary_file = run_dir / "results.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    if summary.get("accuracy_keywords_only") is not None:
        kw = float(summary["accuracy_keywords_only"])
        axes[1].axhline(kw, color="k", ls="--", lw=1, label=f"keywords alone, no LKB {kw:.2f}")
    axes[1].set_title("cosine accuracy (>= threshold, the paper's measure)", fontsize=9)
    axes[1].legend(fontsize=7, loc="lower left")
    fig.suptitle(
        "LAM-MSC LKB: extract at the sender, expand at the receiver (bars: mean, dots: users)",
        fontsize=10,
    )
    fig.tight_layout()
    return {"lkb_accuracy": fig}


def training_loss(run_dir: Path, cfg=None) -> dict:
    """Training loss of the global LM (general corpus) and of the user adapters (prompt bases):
    per adapter kind, the mean over users of a 10-step rolling mean, band = min..max user."""
    losses = pd.read_csv(Path(run_dir) / "losses.csv")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    glob = losses[losses["model"] == "global"]
    if len(glob):
        axes[0].plot(glob["step"], glob["loss"], lw=1)
    axes[0].set_title("global LM on the general corpus", fontsize=9)
    for kind, g in losses[losses["model"] != "global"].groupby("adapter", sort=False):
        curves = g.pivot_table(index="step", columns="user", values="loss")
        curves = curves.rolling(10, min_periods=1).mean()
        color = COLORS.get(kind, "tab:brown")
        label = f"{kind} (mean of {curves.shape[1]} users)"
        axes[1].plot(curves.index, curves.mean(axis=1), lw=1.5, color=color, label=label)
        axes[1].fill_between(
            curves.index, curves.min(axis=1), curves.max(axis=1), color=color, alpha=0.15
        )
    axes[1].set_title("adapters on each user's prompt base", fontsize=9)
    for ax in axes:
        ax.set_xlabel("training step")
        ax.set_ylabel("causal LM loss")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    if axes[1].lines:
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    return {"lkb_training_loss": fig}
