"""`channels_sanity` through the CLI: the run-dir contract, and the full-size run passes."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from omegaconf import OmegaConf

from .conftest import read_json, run_cli

CHECKS = {"ber_bpsk_awgn", "ber_bpsk_rayleigh", "nmse_ls_ofdm", "nmse_lmmse_ofdm"}


def test_channels_sanity_debug_run(tmp_path):
    # the command line beats the debug sizes, and .hydra/config.yaml records what ran
    proc = run_cli(
        "experiment=channels_sanity", "debug=default", "sanity.num_bits=30000", tmp=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    saved = OmegaConf.load(run / ".hydra" / "config.yaml").sanity
    assert (saved.num_bits, saved.num_grids) == (30000, 200)  # the CLI's, the debug size
    assert read_json(run / "results.json")["num_bits"] == 30000
    frame = pd.read_csv(run / "results.csv")
    assert list(frame.columns) == ["check", "snr_db", "simulated", "theory"]
    assert set(frame["check"]) == CHECKS
    assert frame[["simulated", "theory"]].notna().all().all()
    # the theory column is the closed form, not a copy of the simulation
    ls = frame[frame["check"] == "nmse_ls_ofdm"]
    assert (ls["theory"] == -ls["snr_db"]).all()
    summary = read_json(run / "results.json")
    assert summary["experiment"] == "channels_sanity"
    for key in ("ber_max_rel_error", "nmse_max_gap_db", "nmse_lmmse_max_gap_db", "passed"):
        assert key in summary
    assert summary["nmse_max_gap_db"] < 1.5  # tiny sizes, loose; the full run is held to 0.3 dB
    for ext in ("png", "pdf"):
        assert (run / "figures" / f"channels_sanity.{ext}").stat().st_size > 1000


@pytest.mark.slow
def test_channels_sanity_full_run_matches_theory(tmp_path):
    proc = run_cli("experiment=channels_sanity", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_json(tmp_path / "run" / "results.json")
    assert summary["ber_max_rel_error"] < 0.10 and not math.isnan(summary["ber_max_rel_error"])
    assert summary["nmse_max_gap_db"] < 0.3
    assert summary["passed"] is True


def test_bad_channel_config_fails_fast_naming_the_key(tmp_path):
    proc = run_cli("experiment=channels_sanity", "channel.pdp_delays=[0,3,5,6,40]", tmp=tmp_path)
    assert proc.returncode == 2
    assert "channel.pdp_delays" in proc.stderr
    assert not (tmp_path / "run" / "results.csv").exists()
