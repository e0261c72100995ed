"""M2GSC figures in the spirit of the paper's Fig. 5, drawn from a run dir's files only.

Inputs: results.csv (rows per receiver x k x SNR x hand-off x seed), losses.csv (training
loss per step of every decoder), examples.npz (a few originals and reconstructions).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from semcom_exp.figures.stats import mean_ci  # noqa: E402


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window or window <= 1:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def training_loss(run_dir: Path, cfg=None) -> dict:
    """(a) training loss vs step: the shared (edge) model vs each local model, both in the
    configured target's unit and in implied epsilon-MSE (the one unit all parameterisations share)."""
    losses = pd.read_csv(Path(run_dir) / "losses.csv")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, column, title in zip(
        axes, ["loss", "loss_eps"], ["training target MSE", "implied epsilon-MSE"], strict=False
    ):
        for model, group in losses.groupby("model", sort=True):
            y = _smooth(group[column].to_numpy(), max(1, len(group) // 30))
            x = group["step"].to_numpy()[len(group) - len(y) :]
            style = "-" if model == "shared" else "--"
            ax.plot(x, y, style, lw=2 if model == "shared" else 1.2, label=model)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("(a) shared (t >= T - K_max) vs local (all t) decoder loss")
    return {"m2gsc_training_loss": fig}


def _split_rows(results: pd.DataFrame) -> pd.DataFrame:
    return results[(results["method"] == "m2gsc") & (results["offload_steps"] > 0)]


def _hline(ax, results: pd.DataFrame, method: str, column: str, label: str, style: str) -> None:
    rows = results[results["method"] == method]
    if len(rows) and rows[column].notna().any():
        ax.axhline(rows[column].mean(), ls=style, color="grey", lw=1, label=label)


def quality_vs_snr(run_dir: Path, cfg=None) -> dict:
    """(b) SSIM and LPIPS vs SNR for each offload point k and hand-off, with baselines:
    k = 0 (all local), the receiver's background alone, and the shuffled-pair chance level."""
    results = pd.read_csv(Path(run_dir) / "results.csv")
    split = _split_rows(results)
    metrics = [
        m for m in ("ssim", "lpips", "psnr_objects") if m in results and results[m].notna().any()
    ]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=False):
        for (k, handoff), group in split.groupby(["offload_steps", "handoff"], sort=True):
            stats = group.groupby("snr_db")[metric].apply(lambda s: mean_ci(s.to_numpy()))
            snr = stats.index.to_numpy()
            mean = np.array([m for m, _ in stats])
            half = np.array([h for _, h in stats])
            style = "-o" if handoff == "plain" else "--s"
            line = ax.plot(snr, mean, style, ms=4, label=f"k={int(k)} {handoff}")[0]
            ax.fill_between(snr, mean - half, mean + half, color=line.get_color(), alpha=0.15)
        local = results[(results["method"] == "m2gsc") & (results["offload_steps"] == 0)]
        if len(local):
            ax.axhline(local[metric].mean(), color="k", lw=1, label="k=0 (all local)")
        _hline(ax, results, "background", metric, "background only", ":")
        if metric == "ssim" and "ssim_shuffled" in results:
            ax.axhline(
                split["ssim_shuffled"].mean(), color="r", ls=":", lw=1, label="chance (shuffled)"
            )
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        "(b) quality vs SNR of the edge-to-receiver link (mean, 95% CI over images x seeds)"
    )
    return {"m2gsc_quality_vs_snr": fig}


def quality_vs_latency(run_dir: Path, cfg=None) -> dict:
    """(c) SSIM vs measured receiver seconds per image, one point per (k, hand-off); the
    SNR-aware hand-off resumes the receiver earlier at low SNR, so it costs more steps."""
    results = pd.read_csv(Path(run_dir) / "results.csv")
    rows = results[results["method"] == "m2gsc"]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    markers = {"none": "o", "plain": "o", "snr_aware": "s"}
    for (k, handoff), group in rows.groupby(["offload_steps", "handoff"], sort=True):
        x, y = group["local_s"].mean(), group["ssim"].mean()
        ax.scatter(x, y, s=40, marker=markers.get(handoff, "^"), label=f"k={int(k)} {handoff}")
        ax.annotate(
            f"edge {group['edge_s'].mean() * 1e3:.0f} ms/img",
            (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points",
        )  # fmt: skip
    _hline(ax, results, "background", "ssim", "background only", ":")
    ax.set_xlabel("receiver seconds per image (measured here)")
    ax.set_ylabel("SSIM (mean over SNRs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("(c) quality vs receiver latency, both hand-offs")
    return {"m2gsc_quality_vs_latency": fig}


MAX_EXAMPLE_COLUMNS = 8


def example_columns(labels: list[str]) -> list[str]:
    """At most 8 columns: original, background, k = 0, then per k > 0 the plain hand-off at
    the lowest and highest SNR, and for the largest k also the SNR-aware one at the lowest."""
    parsed = {}  # label -> (k, snr, hand-off) for split points
    for label in labels:
        parts = label.replace("k=", "").replace("dB", "").split()
        if label.startswith("k=") and len(parts) == 3:
            parsed[label] = (int(parts[0]), float(parts[1]), parts[2])
    chosen = [c for c in ("original", "background", "k=0") if c in labels]
    ks = sorted({k for k, _, _ in parsed.values()})
    snrs = sorted({s for _, s, _ in parsed.values()})
    for k in ks:
        wanted = [(snrs[0], "plain")] if snrs else []
        if k == ks[-1]:
            wanted.append((snrs[0], "snr_aware"))
        wanted.append((snrs[-1], "plain"))
        for snr, mode in wanted:
            chosen += [
                lab for lab, v in parsed.items() if v == (k, snr, mode) and lab not in chosen
            ]
    return chosen[:MAX_EXAMPLE_COLUMNS]


def examples(run_dir: Path, cfg=None) -> dict:
    """(d) one row per receiver: original, background, and reconstructions at a few
    (k, SNR, hand-off) points (:func:`example_columns`), large enough to see the vehicles."""
    data = np.load(Path(run_dir) / "examples.npz", allow_pickle=False)
    labels = [str(s) for s in data["labels"]]
    images = data["images"]  # (columns, rows, H, W, 3) in [0, 1]
    columns = example_columns(labels)
    rows = images.shape[1]
    size = 1.9
    fig, axes = plt.subplots(
        rows, len(columns), figsize=(size * len(columns), size * rows + 0.7), squeeze=False
    )
    for c, label in enumerate(columns):
        for r in range(rows):
            ax = axes[r][c]
            ax.imshow(images[labels.index(label), r], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(
                    label.replace(" snr_aware", "\nsnr-aware").replace(" plain", "\nplain"),
                    fontsize=9,
                )
            if c == 0:
                ax.set_ylabel(f"receiver {r + 1}", fontsize=9)
    fig.suptitle("(d) held-out frames as each receiver reconstructs them (k, SNR, hand-off)")
    fig.tight_layout()
    return {"m2gsc_examples": fig}
