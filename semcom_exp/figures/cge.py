"""Figures of `lam_msc/cge`, drawn from the run dir (results.csv, val_curve.csv); no training."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from semcom_exp.channels.estimators import estimator_label  # noqa: E402
from semcom_exp.channels.theory import ser_qam_rayleigh  # noqa: E402

STYLE = {
    "ls": ("C0", "o", "-"),
    "lmmse_genie": ("k", "s", "-"),
    "lmmse_freq": ("C7", "D", "--"),
    "lmmse_mismatched_flat": ("C4", "v", ":"),
    "lmmse_mismatched_exponential": ("C5", "^", ":"),
    "cgan": ("C3", "*", "-"),
    "cgan_l1only": ("C2", "P", "--"),  # dashed: it often lies on top of cgan
    "cgan_authors": ("C1", "X", "-."),
    "cgan_authors_per_snr": ("C6", "x", ":"),
    "perfect": ("C8", "", "-"),
}


def _frame(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(Path(run_dir) / "results.csv", keep_default_na=True)
    frame["assumed"] = frame["assumed"].fillna("")
    frame["label"] = [
        estimator_label(e, a) for e, a in zip(frame["estimator"], frame["assumed"], strict=True)
    ]
    return frame


def _name(lab: str, assumed: str) -> str:
    return f"lmmse_mismatched ({assumed})" if lab.startswith("lmmse_mismatched") else lab


def _plot(ax, frame: pd.DataFrame, column: str) -> None:
    for lab, part in frame.groupby("label", sort=False):
        part = part.sort_values("snr_db")
        part = part[np.isfinite(part[column]) & (part[column] > 0 if column == "ser" else True)]
        if part.empty:
            continue
        color, marker, ls = STYLE.get(lab, (None, "x", "-"))
        ax.plot(
            part["snr_db"],
            part[column],
            marker=marker,
            ls=ls,
            color=color,
            label=_name(lab, part["assumed"].iloc[0]),
        )


def _subtitle(frame: pd.DataFrame) -> str:
    row = frame.iloc[0]
    return f"pilots: {row['pilot_pattern']} ({int(row['num_pilots'])} REs), {int(row['num_grids'])} grids/SNR"


def nmse_vs_snr(run_dir: Path, cfg) -> dict[str, Figure]:
    """NMSE (dB) of every estimator vs SNR (closed forms of the linear ones as thin lines)."""
    frame = _frame(run_dir)
    fig, ax = plt.subplots(figsize=(7, 5))
    _plot(ax, frame, "nmse_db")
    theory = frame[np.isfinite(frame["nmse_theory_db"])]
    for lab, part in theory.groupby("label", sort=False):
        part = part.sort_values("snr_db")
        ax.plot(
            part["snr_db"],
            part["nmse_theory_db"],
            "-",
            lw=0.6,
            color=STYLE.get(lab, ("grey",))[0],
            alpha=0.6,
        )
    ax.set_xlabel("SNR = Es/N0 (dB)")
    ax.set_ylabel("NMSE (dB)")
    ax.set_title(
        f"CGE channel estimation NMSE\n{_subtitle(frame)}; thin lines: closed form", fontsize=10
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"cge_nmse_vs_snr": fig}


def ser_vs_snr(run_dir: Path, cfg) -> dict[str, Figure]:
    """Downstream QAM SER with zero-forcing by each estimate (perfect CSI + its closed form).
    None when no SER was measured (a grid of pilots only, e.g. the full pilot block)."""
    frame = _frame(run_dir)
    if not frame["ser"].notna().any():
        return {}
    fig, ax = plt.subplots(figsize=(7, 5))
    _plot(ax, frame, "ser")
    bits = int(cfg.cge.qam_bits_per_symbol) if cfg is not None else 4
    snr = np.linspace(frame["snr_db"].min(), frame["snr_db"].max(), 200)
    ax.plot(snr, ser_qam_rayleigh(snr, bits), "k--", lw=0.8, label="perfect CSI, closed form")
    ax.set_yscale("log")
    ax.set_xlabel("SNR = Es/N0 (dB)")
    ax.set_ylabel(f"{2**bits}-QAM symbol error rate")
    ax.set_title(f"SER with zero-forcing by each estimate\n{_subtitle(frame)}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"cge_ser_vs_snr": fig}


def validation_curves(run_dir: Path, cfg) -> dict[str, Figure]:
    """Validation NMSE on fresh channels during training: mean (bold, best marked) and per SNR."""
    path = Path(run_dir) / "val_curve.csv"
    fig, ax = plt.subplots(figsize=(7, 5))
    if path.exists():
        curve = pd.read_csv(path)
        for i, (model, part) in enumerate(curve.groupby("model", sort=False)):
            color = STYLE.get(model, (f"C{i}",))[0]
            mean = part.drop_duplicates("step")[["step", "mean_nmse_db"]]
            style = STYLE.get(model, (None, None, "-"))[2]
            ax.plot(
                mean["step"],
                mean["mean_nmse_db"],
                style,
                lw=2,
                color=color,
                label=f"{model} (mean)",
            )
            best = mean.loc[mean["mean_nmse_db"].idxmin()]
            ax.plot(best["step"], best["mean_nmse_db"], "o", ms=9, mfc="none", color=color)
            for snr, sub in part.groupby("snr_db"):
                ax.plot(sub["step"], sub["nmse_db"], ":", lw=0.8, color=color)
                ax.annotate(
                    f"{snr:g} dB",
                    (sub["step"].iloc[-1], sub["nmse_db"].iloc[-1]),
                    fontsize=7,
                    color=color,
                )
    else:
        ax.text(0.5, 0.5, "no learned estimator in this run", ha="center", transform=ax.transAxes)
    ax.set_xlabel("training iteration")
    ax.set_ylabel("validation NMSE (dB)")
    ax.set_title(
        "Validation on fresh channels (dotted: per SNR; circle: kept checkpoint)", fontsize=10
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return {"cge_validation": fig}
