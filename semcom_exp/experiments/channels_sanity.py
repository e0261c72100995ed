"""`channels_sanity`: the channel layer against closed form (BER, LS and genie-LMMSE NMSE).

Four checks, one row per SNR: BPSK BER over AWGN and over flat Rayleigh (per-symbol fading),
LS NMSE at the pilots of the configured OFDM grid (theory: -snr_db dB), and the genie joint
LMMSE NMSE on the whole grid (theory: tr(error covariance) / tr(R)).
"""

from __future__ import annotations

import logging
import math

from omegaconf import DictConfig

from semcom_exp.channels import (
    AwgnChannel,
    OfdmChannel,
    OfdmConfig,
    RayleighChannel,
    make_estimator,
    set_seed,
    snr_db_to_no,
    snr_list,
    theory,
)
from semcom_exp.channels.bpsk import simulate_bpsk_ber
from semcom_exp.runner import RunContext, RunOutput

log = logging.getLogger(__name__)

#: The tolerances the tests hold the full-size run to.
BER_REL_TOL = 0.10
NMSE_TOL_DB = 0.3


def _ber_rows(check: str, channel, snrs: list[float], num_bits: int, ber_theory, min_errors: int):
    rows, rel_errors = [], []
    for snr in snrs:
        errors, bits = simulate_bpsk_ber(channel, snr, num_bits)
        sim, ref = errors / bits, float(ber_theory(snr))
        rows.append({"check": check, "snr_db": snr, "simulated": sim, "theory": ref})
        if ref * bits >= min_errors:  # score only points with plentiful errors
            rel_errors.append(abs(sim - ref) / ref)
        log.info("%s %5.1f dB: BER %.3e (theory %.3e, %d errors)", check, snr, sim, ref, errors)
    return rows, (max(rel_errors) if rel_errors else math.nan)


def _nmse_rows(ofdm: OfdmChannel, snrs: list[float], num_grids: int, batch_size: int):
    genie = make_estimator("lmmse_genie", ofdm)
    cov, pilots = ofdm.covariance(), genie.pilot_index
    rows, gaps = [], {"nmse_ls_ofdm": [], "nmse_lmmse_ofdm": []}
    for snr in snrs:
        err_ls = ref_ls = err_mmse = ref_mmse = 0.0
        done = 0
        while done < num_grids:
            n = min(batch_size, num_grids - done)
            h = ofdm.draw_channel(n)
            obs = ofdm.observe_pilots(h, snr)
            h_p = h[:, ofdm.mask]
            err_ls += float((obs.h_ls - h_p).abs().square().sum())
            ref_ls += float(h_p.abs().square().sum())
            err_mmse += float((genie(obs) - h).abs().square().sum())
            ref_mmse += float(h.abs().square().sum())
            done += n
        sims = {
            "nmse_ls_ofdm": 10 * math.log10(err_ls / ref_ls),
            "nmse_lmmse_ofdm": 10 * math.log10(err_mmse / ref_mmse),
        }
        refs = {
            "nmse_ls_ofdm": float(theory.nmse_ls_pilots_db(snr)),
            "nmse_lmmse_ofdm": theory.lmmse_nmse_db(cov, pilots, snr_db_to_no(snr)),
        }
        for check in sims:
            rows.append(
                {"check": check, "snr_db": snr, "simulated": sims[check], "theory": refs[check]}
            )
            gaps[check].append(abs(sims[check] - refs[check]))
        log.info(
            "ofdm %5.1f dB: LS %.2f dB (%.2f), genie %.2f dB (%.2f)",
            snr,
            sims["nmse_ls_ofdm"],
            refs["nmse_ls_ofdm"],
            sims["nmse_lmmse_ofdm"],
            refs["nmse_lmmse_ofdm"],
        )
    return rows, {k: max(v) for k, v in gaps.items()}


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Simulate the four checks and compare them with theory."""
    ofdm_cfg = OfdmConfig.from_cfg(cfg.channel)  # validate before any work
    set_seed(int(cfg.seed))
    sc = cfg.sanity
    awgn_snrs = snr_list(sc.awgn_snr_db, "sanity.awgn_snr_db")
    rayleigh_snrs = snr_list(sc.rayleigh_snr_db, "sanity.rayleigh_snr_db")
    nmse_snrs = snr_list(cfg.channel.snr_db, "channel.snr_db")
    ofdm = OfdmChannel(ofdm_cfg)
    min_errors = int(sc.min_errors)

    rows_awgn, ber_awgn = _ber_rows(
        "ber_bpsk_awgn",
        AwgnChannel(),
        awgn_snrs,
        int(sc.num_bits),
        theory.ber_bpsk_awgn,
        min_errors,
    )
    rows_ray, ber_ray = _ber_rows(
        "ber_bpsk_rayleigh",
        RayleighChannel(block_length=1),
        rayleigh_snrs,
        int(sc.num_bits),
        theory.ber_bpsk_rayleigh,
        min_errors,
    )
    rows_nmse, gaps = _nmse_rows(ofdm, nmse_snrs, int(sc.num_grids), int(sc.batch_size))

    scored = [v for v in (ber_awgn, ber_ray) if not math.isnan(v)]
    ber_max = max(scored) if scored else math.nan  # NaN: no point had enough errors to score
    nmse_max = max(gaps.values())
    summary = {
        "ber_awgn_max_rel_error": ber_awgn,
        "ber_rayleigh_max_rel_error": ber_ray,
        "ber_max_rel_error": ber_max,
        "nmse_ls_max_gap_db": gaps["nmse_ls_ofdm"],
        "nmse_lmmse_max_gap_db": gaps["nmse_lmmse_ofdm"],
        "nmse_max_gap_db": nmse_max,
        "ber_rel_tolerance": BER_REL_TOL,
        "nmse_tolerance_db": NMSE_TOL_DB,
        "passed": bool(ber_max <= BER_REL_TOL and nmse_max <= NMSE_TOL_DB),
        "pilot_pattern": ofdm.cfg.pilots.pattern,
        "num_pilots": ofdm.num_pilots,
        "num_bits": int(sc.num_bits),
        "num_grids": int(sc.num_grids),
    }
    return RunOutput(rows=rows_awgn + rows_ray + rows_nmse, summary=summary)
