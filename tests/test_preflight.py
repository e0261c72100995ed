"""`task=preflight`: the paper configs' models at their configured sizes, a real training step
each, a truncated evaluation, and the projection table (semcom_exp.preflight)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import main_in_process, read_json, run_cli

pytestmark = pytest.mark.slow


def _preflight(tmp_path: Path, experiment: str, *overrides: str) -> tuple[pd.DataFrame, dict]:
    res = run_cli(
        "task=preflight",
        f"experiment={experiment}",
        "preflight.steps=1",
        "preflight.eval_steps=1",
        "preflight.speedup=40",
        *overrides,
        tmp=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "run"
    assert (run / "preflight.md").read_text().startswith(f"# Preflight: {experiment}")
    assert not list(run.glob("preflight-cache-*")), "the throw-away cache is removed"
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    return pd.read_csv(run / "results.csv"), read_json(run / "results.json")


def _check_projection(rows: pd.DataFrame, summary: dict) -> None:
    timed = rows[rows["kind"].isin(["train", "eval", "data"])]
    assert (timed["seconds_per_unit"] > 0).all() and timed["seconds_per_unit"].map(
        math.isfinite
    ).all()
    hours = (timed["seconds_per_unit"] * timed["units_configured"] / 3600).sum()
    assert summary["projected_hours_here"] == pytest.approx(hours, rel=1e-6)
    assert summary["projected_hours_at_speedup"] == pytest.approx(hours / 40, rel=1e-6)
    assert summary["device"].startswith("cpu") and "configured: bf16-mixed" in summary["device"]


def test_preflight_m2gsc_fig5_at_full_size(tmp_path: Path):
    # to fit the suite's budget the training batch is cut to 16 and the evaluation's to 2
    # frames per receiver; models and resolution are fig5's (docs/results.md: the full batch)
    rows, summary = _preflight(tmp_path, "m2gsc/fig5", "model.batch_size=16", "m2gsc.frames.eval=2")
    train = rows[rows["kind"] == "train"].set_index("part")
    assert len(train) == 2  # the shared decoder and one of the three local ones
    assert (train["params_m"] > 15).all()  # fig5's UNet (64, 128, 128, 256), not a debug size
    assert (train["batch"] == 16).all()
    configured = dict(zip(train.index.str.split().str[2], train["units_configured"], strict=True))
    assert configured == {"shared": 30000, "local_SYN_0001": 3 * 30000}
    assert (train["activations_gb"] > 0).all() and (train["gpu_mem_est_gb"] > 0).all()
    evals = rows[rows["kind"] == "eval"].set_index("part")
    # edge: 3 seeds x (0 + 350 + 650) steps; local: 3 seeds x 3 receivers x the rest
    assert evals.loc["eval: edge sampling step", "units_configured"] == 3 * 1000
    assert evals.loc["eval: edge sampling step", "batch"] == 3 * 2
    assert evals.loc["eval: local sampling step", "units_configured"] == 3 * 3 * (
        1000 + 10 * 650 + 10 * 350
    )
    assert summary["gpu_memory_risk"] is False  # fig5's decoders fit 40 GB
    _check_projection(rows, summary)


def test_preflight_cge_paper_at_full_size(tmp_path: Path):
    # a 1 GB target GPU: the 0.7-0.8 GB generators + 1 GB of context do not fit (flagged)
    rows, summary = _preflight(
        tmp_path,
        "lam_msc/cge_paper",
        "cge.num_grids=64",
        "cge.batch_size=64",
        "preflight.gpu_memory_gb=1",
    )
    assert summary["gpu_memory_risk"] is True
    assert rows[rows["kind"] == "train"]["note"].str.startswith("OUT-OF-MEMORY RISK").all()
    train = rows[rows["kind"] == "train"]
    assert list(train["part"]) == [
        "train: cgan generator + discriminator",
        "train: cgan_l1only generator + discriminator",
    ]
    assert (train["batch"] == 256).all() and (train["units_configured"] == 20000).all()
    assert (train["params_m"] > 0.5).all()  # width 64, depth 6 (the debug CGE is far smaller)
    val = rows[rows["part"] == "train: cgan validation (per grid)"].iloc[0]
    assert val["units_configured"] == (20000 // 500 + 1) * 5 * 2000
    _check_projection(rows, summary)


def test_preflight_lkb_paper_counts_every_user_and_adapter(tmp_path: Path):
    # the paper's adapters, steps, lengths and users; the LM cut to the tiny one (the full-size
    # run, a 0.5B stand-in, is measured in docs/lkb.md: minutes, too slow for the suite)
    rows, summary = _preflight(tmp_path, "lam_msc/lkb_paper", "model.lm=tiny-gpt2")
    train = rows[rows["kind"] == "train"]
    assert list(train["part"]) == [
        "train: LKB prompt_tuning adapter (one of 4)",
        "train: LKB lora adapter (one of 4)",
    ]
    assert (train["units_configured"] == 1000 * 4).all() and (train["batch"] == 16).all()
    gen = rows[rows["part"] == "eval: LKB generation (per text)"].iloc[0]
    assert gen["units_configured"] % (3 * 4) == 0 and gen["units_configured"] > 3 * 4 * 4
    _check_projection(rows, summary)


def test_preflight_bad_steps_is_a_clear_error(monkeypatch, capsys):
    code, err = main_in_process(monkeypatch, capsys, "task=preflight", "preflight.steps=0")
    assert code == 2 and "preflight.steps" in err and "Traceback" not in err
