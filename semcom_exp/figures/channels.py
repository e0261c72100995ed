"""Figures of the channel layer, drawn from a run's results.csv."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from semcom_exp.channels import theory  # noqa: E402

# Closed forms cheap enough to draw as smooth curves; the LMMSE one needs the grid, so it is
# drawn through the theory column of results.csv.
SMOOTH = {
    "ber_bpsk_awgn": theory.ber_bpsk_awgn,
    "ber_bpsk_rayleigh": theory.ber_bpsk_rayleigh,
    "nmse_ls_ofdm": theory.nmse_ls_pilots_db,
}

PANELS = [
    ("ber_bpsk_awgn", "BPSK BER, AWGN", "BER", True),
    ("ber_bpsk_rayleigh", "BPSK BER, flat Rayleigh", "BER", True),
    ("nmse_ls_ofdm", "LS NMSE at the pilots (OFDM)", "NMSE (dB)", False),
    ("nmse_lmmse_ofdm", "Genie joint LMMSE NMSE (OFDM grid)", "NMSE (dB)", False),
]


def sanity(run_dir: Path, cfg) -> dict[str, Figure]:
    """`channels_sanity`: simulated points against closed-form curves, one panel per check."""
    frame = pd.read_csv(Path(run_dir) / "results.csv")
    fig, axes = plt.subplots(2, 2, figsize=(9, 7))
    for ax, (check, title, ylabel, log_y) in zip(axes.flat, PANELS, strict=True):
        part = frame[frame["check"] == check].sort_values("snr_db")
        if check in SMOOTH and len(part):
            grid = np.linspace(part["snr_db"].min(), part["snr_db"].max(), 200)
            ax.plot(grid, SMOOTH[check](grid), "-", color="k", label="theory")
        else:
            ax.plot(part["snr_db"], part["theory"], "-", color="k", label="theory")
        sim = part[part["simulated"] > 0] if log_y else part
        ax.plot(sim["snr_db"], sim["simulated"], "o", color="C0", label="simulated")
        if log_y:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("SNR = Es/N0 (dB)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return {"channels_sanity": fig}
