"""Estimator reference table on the OFDM grid: ``python -m semcom_exp.channels.reference``.

Measures NMSE (dB) of every estimator for the full pilot block and the default comb at a few
SNRs (block fading, the configured profile) beside the genie closed form. docs/channels.md
quotes its output.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from semcom_exp.channels.estimators import ESTIMATORS, make_estimator
from semcom_exp.channels.ofdm import OfdmChannel, OfdmConfig
from semcom_exp.channels.pilots import PilotSpec
from semcom_exp.channels.seeding import set_seed
from semcom_exp.channels.snr import snr_db_to_no
from semcom_exp.channels.theory import lmmse_nmse_db


def estimator_table(
    patterns: dict[str, PilotSpec],
    snrs: list[float],
    num_grids: int = 4000,
    batch_size: int = 1000,
    seed: int = 0,
    extra: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``pattern, estimator, snr_db, nmse_db`` (+ ``genie_theory_db``) for each setting."""
    set_seed(seed)
    names = {n: {} for n in ESTIMATORS} | (extra or {})
    rows = []
    for label, spec in patterns.items():
        ofdm = OfdmChannel(OfdmConfig(pilots=spec))
        ests = {
            n: make_estimator(
                opts.get("name", n), ofdm, **{k: v for k, v in opts.items() if k != "name"}
            )
            for n, opts in names.items()
        }
        pilot_index = np.flatnonzero(ofdm.mask.cpu().numpy().ravel())
        for snr in snrs:
            sums = {n: [0.0, 0.0] for n in ests}
            for start in range(0, num_grids, batch_size):
                h = ofdm.draw_channel(min(batch_size, num_grids - start))
                obs = ofdm.observe_pilots(h, snr)
                for n, est in ests.items():
                    sums[n][0] += float((est(obs) - h).abs().square().sum())
                    sums[n][1] += float(h.abs().square().sum())
            theory = lmmse_nmse_db(ofdm.covariance(), pilot_index, snr_db_to_no(snr))
            for n, (err, ref) in sums.items():
                rows.append(
                    {
                        "pattern": label,
                        "estimator": n,
                        "snr_db": snr,
                        "nmse_db": 10 * np.log10(err / ref),
                        "genie_theory_db": theory,
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the table as markdown (the CLI of this module)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--snr-db", type=float, nargs="+", default=[-5.0, 10.0])
    parser.add_argument("--num-grids", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    patterns = {"block": PilotSpec(pattern="block"), "comb 4 / [2, 5]": PilotSpec()}
    extra = {
        "ls_sionna_linear": {"name": "ls", "interpolation": "sionna_linear"},
        "lmmse_mismatched_exp": {"name": "lmmse_mismatched", "profile": "exponential"},
    }
    rows = estimator_table(patterns, args.snr_db, args.num_grids, seed=args.seed, extra=extra)
    snrs = args.snr_db
    print("| pattern | estimator | " + " | ".join(f"{s:g} dB" for s in snrs) + " |")
    print("|---|---|" + "---|" * len(snrs))
    keys = dict.fromkeys((r["pattern"], r["estimator"]) for r in rows)
    for pattern, est in keys:
        vals = [r["nmse_db"] for r in rows if r["pattern"] == pattern and r["estimator"] == est]
        print(f"| {pattern} | {est} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
    for pattern in dict.fromkeys(r["pattern"] for r in rows):
        vals = [
            r["genie_theory_db"]
            for r in rows
            if r["pattern"] == pattern and r["estimator"] == "lmmse_genie"
        ]
        print(f"| {pattern} | genie closed form | " + " | ".join(f"{v:.1f}" for v in vals) + " |")


if __name__ == "__main__":
    main()
