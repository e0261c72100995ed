"""M2GSC pipeline at tiny size: contract columns, baselines, cache reuse across a sweep,
the edge run once per k, bad input before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.pipelines import m2gsc_eval
from semcom_exp.pipelines.m2gsc import Receiver

from .conftest import REPO, read_json, run_cli

COLUMNS = {
    "receiver",
    "offload_steps",
    "snr_db",
    "handoff",
    "ssim",
    "psnr",
    "lpips",
    "edge_s",
    "local_s",
}


@pytest.fixture(scope="module")
def debug_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("m2gsc")
    proc = run_cli("experiment=quickstart", "debug=default", tmp=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp


def test_results_contract(debug_run: Path):
    run = debug_run / "run"
    table = pd.read_csv(run / "results.csv")
    assert COLUMNS <= set(table.columns)
    split = table[table["method"] == "m2gsc"]
    assert set(split["offload_steps"].astype(int)) == {0, 350, 650}
    assert split.loc[split["offload_steps"] == 0, "snr_db"].isna().all()  # k = 0: no channel
    assert set(split.loc[split["offload_steps"] > 0, "handoff"]) == {"plain", "snr_aware"}
    assert (table["method"] == "background").any()
    assert table["lpips"].notna().all() and table["ssim"].between(-1, 1).all()
    summary = read_json(run / "results.json")
    for key in (
        "loss_shared",
        "loss_local",
        "loss_local_same_t",
        "ssim_shuffled",
        "ssim_background",
        "lpips_note",
    ):
        assert key in summary, key
    losses = pd.read_csv(run / "losses.csv")
    assert set(losses["model"]) == {"shared"} | {f"local_{r}" for r in split["receiver"].unique()}
    names = {p.stem for p in (run / "figures").glob("*.png")}
    assert {
        "m2gsc_training_loss",
        "m2gsc_quality_vs_snr",
        "m2gsc_quality_vs_latency",
        "m2gsc_examples",
    } <= names


def test_sweep_over_k_reuses_trained_decoders(debug_run: Path):
    cache = debug_run / "cache"
    before = sorted(p.name for p in (cache / "m2gsc_decoder").iterdir() if p.is_dir())
    assert len(before) == 4  # one shared + three local models
    proc = run_cli(
        "-m",
        "experiment=quickstart",
        "debug=default",
        "offload_steps=350,650",
        f"hydra.sweep.dir={debug_run / 'sweep'}",
        tmp=debug_run,
        cache=cache,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = sorted(p.name for p in (cache / "m2gsc_decoder").iterdir() if p.is_dir())
    assert after == before
    for job in ("0", "1"):
        assert (debug_run / "sweep" / job / "results.csv").exists()


def test_offload_beyond_kmax_fails_before_any_work(tmp_path: Path):
    proc = run_cli("experiment=quickstart", "debug=default", "offload_steps=700", tmp=tmp_path)
    assert proc.returncode == 2
    assert "offload_steps" in proc.stderr and "Traceback" not in proc.stderr
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.iterdir())


def test_edge_runs_once_per_k_and_output_is_reused_across_snrs(monkeypatch):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=quickstart", "model.num_inference_steps=10"])
    cfg.m2gsc.lpips_net = "alex"
    cfg.channel.snr_db = [-5, 5, 15]
    model_cfg = dict(image_size=16, block_out_channels=[8, 8], max_offload_steps=650)
    shared = DiffusionDecoder.from_config(model_cfg, role="shared").eval()
    local = DiffusionDecoder.from_config(model_cfg, role="local").eval()
    rx = []
    for name in ("a", "b"):
        eval_set = {
            "image": torch.rand(2, 3, 16, 16) * 2 - 1,
            "layout": torch.zeros(2, 4, 16, 16),
            "mask": torch.ones(2, 16, 16, dtype=torch.bool),
        }
        rx.append(
            Receiver(
                name, {"eval": eval_set}, torch.zeros(3, 16, 16), ["car 1 1 2 2"] * 2, [88, 88]
            )
        )
    calls = []
    real_edge = m2gsc_eval.edge_denoise
    monkeypatch.setattr(
        m2gsc_eval, "edge_denoise", lambda *a, **k: calls.append(len(a[1])) or real_edge(*a, **k)
    )
    rows, examples, _ = m2gsc_eval.evaluate(cfg, shared, {"a": local, "b": local}, rx)
    assert calls == [4, 4, 4]  # k = 0, 350, 650: one batched edge call over both receivers each
    table = pd.DataFrame(rows)
    split = table[(table["method"] == "m2gsc") & (table["offload_steps"] == 650)]
    assert len(split) == 3 * 2 * 2 * 2  # SNRs x hand-offs x receivers x images
    assert np.isfinite(split["ssim"]).all()
    assert "original" in examples and "background" in examples
