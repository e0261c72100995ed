"""CGE evaluation: NMSE and the downstream QAM symbol error rate of every channel estimator.

All estimators see the same draws at each SNR (a paired comparison): channels H, the pilot
observation, and square-QAM data on the data resource elements sent through the same H. The
receiver equalises each data RE by zero-forcing with the estimate (x_hat = y / H_hat) and
takes hard decisions (Sionna ``SymbolDemapper``). ``perfect`` equalises with the true H; it has
no NMSE. For linear estimators the closed-form NMSE (``theory.linear_estimator_nmse``) is
written beside the simulated one, and for ``perfect`` the closed-form SER of coherent square
M-QAM over Rayleigh fading, so a reader can check the simulation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from sionna.phy.mapping import Mapper, SymbolDemapper

from semcom_exp.channels import (
    LinearGridEstimator,
    LSEstimator,
    OfdmChannel,
    OfdmConfig,
    make_estimator,
    snr_db_to_no,
    snr_list,
    theory,
)
from semcom_exp.channels.estimators import estimator_label, linear_interp_matrix
from semcom_exp.progress import progress
from semcom_exp.schema.experiments import CGE_ESTIMATORS

log = logging.getLogger(__name__)

ESTIMATOR_NAMES = CGE_ESTIMATORS  # the schema's list (semcom_exp/schema/experiments.py)
#: smallest |H_hat| used by zero-forcing (an exact zero would give NaN, i.e. a sure error anyway)
ZF_FLOOR = 1e-12


def baseline_estimators(
    cfg: DictConfig, ofdm: OfdmChannel
) -> list[tuple[str, str | None, Callable | None]]:
    """(name, assumed profile, estimator) for the classical baselines and ``perfect`` (None)."""
    out: list[tuple[str, str | None, Callable | None]] = []
    for name in cfg.cge.estimators:
        if name in ("ls", "lmmse_genie", "lmmse_freq"):
            out.append((name, None, make_estimator(name, ofdm)))
        elif name == "lmmse_mismatched":
            items = cfg.cge.get("mismatched") or [{}]  # {} = channel.lmmse_assumed
            for item in items:
                opts = OmegaConf.to_container(item) if OmegaConf.is_config(item) else dict(item)
                est = make_estimator(name, ofdm, **opts)
                out.append((name, est.assumed, est))
        elif name == "perfect":
            out.append((name, None, None))
    return out


def theory_matrix(est: Any, ofdm: OfdmChannel, no: float) -> np.ndarray | None:
    """The (N, P) map of a linear estimator at noise ``no``; None for non-linear ones."""
    if isinstance(est, LinearGridEstimator):
        return est.matrix(no)
    if isinstance(est, LSEstimator) and est.interpolation == "linear":
        return linear_interp_matrix(ofdm.mask)
    return None


def _hard_decisions(
    demapper: SymbolDemapper, y: torch.Tensor, h_hat: torch.Tensor, no: float
) -> torch.Tensor:
    """Zero-forcing then hard decisions: symbol indices (same shape as y)."""
    mag = h_hat.abs()
    safe = torch.where(mag < ZF_FLOOR, torch.full_like(h_hat, ZF_FLOOR), h_hat)
    x_eq = y / safe
    no_eff = no / safe.abs().square()
    return demapper(x_eq, no_eff.to(y.real.dtype))


def evaluate(cfg: DictConfig, learned: dict[str, Callable], seed: int) -> list[dict[str, Any]]:
    """One row per (estimator, assumed, SNR): nmse_db, ser, closed forms; same draws for all.

    ``learned`` maps ``cgan`` / ``cgan_l1only`` to trained estimators (missing ones skipped).
    """
    channel = OfdmConfig.from_cfg(cfg.channel)
    gen = torch.Generator().manual_seed(int(seed))
    ofdm = OfdmChannel(channel, device="cpu", generator=gen)
    ests = baseline_estimators(cfg, ofdm)
    for name in cfg.cge.estimators:
        if name in learned:
            ests.append((name, None, learned[name]))
    order = {n: i for i, n in enumerate(cfg.cge.estimators)}
    ests.sort(key=lambda e: order[e[0]])

    bits = int(cfg.cge.qam_bits_per_symbol)
    mapper = Mapper("qam", bits, return_indices=True, device="cpu")
    demapper = SymbolDemapper("qam", bits, hard_out=True, device="cpu")
    data_mask = ofdm.data_mask
    num_data = int(data_mask.sum())
    cov, pilot_index = ofdm.covariance(), np.flatnonzero(ofdm.mask.cpu().numpy().reshape(-1))
    num_grids, batch = int(cfg.cge.num_grids), int(cfg.cge.batch_size)

    rows = []
    for snr in progress(snr_list(cfg.channel.snr_db, "channel.snr_db"), "evaluate cge"):
        no = float(snr_db_to_no(snr))
        err = np.zeros(len(ests))
        ref = np.zeros(len(ests))
        sym_err = np.zeros(len(ests))
        done = 0
        while done < num_grids:
            n = min(batch, num_grids - done)
            h = ofdm.draw_channel(n)
            obs = ofdm.observe_pilots(h, snr)
            if num_data:
                b = torch.randint(0, 2, (n, num_data * bits), generator=gen).float()
                sym, idx = mapper(b)
                x = torch.zeros_like(h)
                x[:, data_mask] = sym
                y = ofdm.apply(x, h, no)[:, data_mask]
            for i, (_, _, est) in enumerate(ests):
                h_hat = h if est is None else est(obs)
                err[i] += float((h_hat - h).abs().square().sum(dtype=torch.float64))
                ref[i] += float(h.abs().square().sum(dtype=torch.float64))
                if num_data:
                    dec = _hard_decisions(demapper, y, h_hat[:, data_mask], no)
                    sym_err[i] += float((dec != idx).sum())
            done += n
        for i, (name, assumed, est) in enumerate(ests):
            w = None if est is None else theory_matrix(est, ofdm, no)
            nmse = math.nan if est is None else 10 * math.log10(err[i] / ref[i])
            row = {
                "estimator": name,
                "snr_db": snr,
                "nmse_db": nmse,
                "ser": sym_err[i] / (num_grids * num_data) if num_data else math.nan,
                "assumed": assumed or "",
                "nmse_theory_db": (
                    10 * math.log10(theory.linear_estimator_nmse(w, cov, pilot_index, no))
                    if w is not None
                    else math.nan
                ),
                "ser_theory": float(theory.ser_qam_rayleigh(snr, bits))
                if est is None and num_data
                else math.nan,
                "pilot_pattern": channel.pilots.pattern,
                "num_pilots": ofdm.num_pilots,
                "num_grids": num_grids,
                "seed": int(cfg.seed),
            }
            rows.append(row)
            log.info(
                "%-16s %-22s %5.1f dB: NMSE %7.2f dB  SER %.4f",
                name,
                assumed or "",
                snr,
                row["nmse_db"],
                row["ser"],
            )
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Flat results.json keys: NMSE / SER per (label, SNR) and the CGAN's standing vs baselines."""
    out: dict[str, Any] = {}
    table: dict[str, dict[float, dict[str, float]]] = {}
    for r in rows:
        lab = estimator_label(r["estimator"], r["assumed"])
        table.setdefault(lab, {})[r["snr_db"]] = r
        if not math.isnan(r["nmse_db"]):
            out[f"nmse_db_{lab}_snr{r['snr_db']:g}"] = r["nmse_db"]
        if not math.isnan(r["ser"]):
            out[f"ser_{lab}_snr{r['snr_db']:g}"] = r["ser"]
    learned = [lab for lab in table if lab.startswith("cgan")]
    for gen in learned:
        for base in [b for b in table if b.startswith(("ls", "lmmse")) or b in learned]:
            if base == gen:
                continue
            diffs = {
                s: table[gen][s]["nmse_db"] - table[base][s]["nmse_db"]
                for s in table[gen]
                if s in table[base]
            }
            if not diffs:
                continue
            vals = np.array(list(diffs.values()))
            out[f"{gen}_minus_{base}_db_min"] = float(vals.min())
            out[f"{gen}_minus_{base}_db_max"] = float(vals.max())
            out[f"{gen}_beats_{base}_at_snr"] = ",".join(
                f"{s:g}" for s, d in diffs.items() if d < 0
            )
    return out
