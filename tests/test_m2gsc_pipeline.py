"""M2GSC pipeline at tiny size: contract columns, baselines, cache reuse across a sweep,
the edge run once per k, bad input before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from semcom_exp.errors import ConfigError
from semcom_exp.experiments.m2gsc import m2gsc_eval
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.schema import validate_config
from semcom_exp.stages.m2gsc_data import Receiver

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
    """The quickstart at debug size, its two decoders trained at once in two processes."""
    tmp = tmp_path_factory.mktemp("m2gsc")
    proc = run_cli("experiment=quickstart", "debug=default", "m2gsc.train_workers=2", tmp=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "in 2 processes" in proc.stdout + proc.stderr
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
    assert table["lpips"].notna().all() and np.isfinite(table["ssim"]).all()
    summary = read_json(run / "results.json")
    background = table[table["method"] == "background"]
    assert summary["ssim_background"] == pytest.approx(background["ssim"].mean())
    # the receiver's own road (median of its local frames) against its frames: far above what
    # a different scene or an unrelated image scores
    assert summary["ssim_background"] > 0.5
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
    assert set(losses["model"]) == {"shared", "local_pooled"}  # quickstart: one pooled local
    timings = read_json(run / "timings.json")
    assert {"data", "train_parallel", "sample_edge", "sample_local", "score", "figures"} <= set(
        timings
    )
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
    assert len(before) == 2  # the shared and the pooled local model
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


def test_training_in_processes_gives_the_same_weights(debug_run: Path, tmp_path: Path):
    """Decoders train single-threaded, so one process or two gives identical weights."""
    proc = run_cli("experiment=quickstart", "debug=default", "offload_steps=[0]", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for mine in (tmp_path / "cache" / "m2gsc_decoder").glob("*/model.pt"):
        theirs = debug_run / "cache" / "m2gsc_decoder" / mine.parent.name / "model.pt"
        a, b = torch.load(mine, weights_only=True), torch.load(theirs, weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), mine.parent.name


def _decoders(cache: Path) -> dict[str, dict]:
    """Each trained decoder's stage config (artifact.json), by its artifact key."""
    out = {}
    for meta in (cache / "m2gsc_decoder").glob("*/artifact.json"):
        out[meta.parent.name] = read_json(meta)["config"]
    return out


def test_local_models_fine_tuned_from_the_shared_one(debug_run: Path):
    """local_init=shared: every receiver's model starts from the (reused) shared decoder."""
    cache = debug_run / "cache"
    shared = [k for k, c in _decoders(cache).items() if c["role"] == "shared"]
    proc = run_cli(
        "experiment=quickstart", "debug=default", "m2gsc.local_init=shared",
        "m2gsc.local_steps=1", "offload_steps=[0]", f"hydra.run.dir={debug_run / 'from_shared'}",
        tmp=debug_run, cache=cache,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    tuned = [c for c in _decoders(cache).values() if c["init"] is not None]
    assert len(shared) == 1 and len(tuned) >= 3
    from_shared = [c for c in tuned if c["init"] == shared[0]]
    assert sorted(c["receiver"] for c in from_shared) == ["SYN_0001", "SYN_0002", "SYN_0003"]
    assert all(c["model"]["train_steps"] == 1 for c in from_shared)


@pytest.mark.parametrize(
    "override,key",
    [
        ("m2gsc.local_init=federated", "m2gsc.local_init"),
        ("model.sampler=euler", "model.sampler"),
        ("model.lr_schedule=step", "model.lr_schedule"),
        ("model.ema_decay=2", "model.ema_decay"),
    ],
)
def test_bad_training_or_sampler_choice_fails_before_any_work(tmp_path: Path, override, key):
    proc = run_cli("experiment=quickstart", "debug=default", override, tmp=tmp_path)
    assert proc.returncode == 2 and key in proc.stderr and "Traceback" not in proc.stderr
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.iterdir())


def test_offload_beyond_kmax_fails_before_any_work(tmp_path: Path):
    proc = run_cli("experiment=quickstart", "debug=default", "offload_steps=700", tmp=tmp_path)
    assert proc.returncode == 2
    assert "offload_steps" in proc.stderr and "Traceback" not in proc.stderr
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.parametrize("key", ["offload_steps", "handoff", "seeds", "channel.snr_db"])
def test_an_empty_grid_axis_is_refused_naming_the_key(key):
    """A null sweep axis is refused naming the key, instead of running an empty grid."""
    from hydra.core.hydra_config import HydraConfig

    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        cfg = compose(
            "config", overrides=["experiment=quickstart", f"{key}=null"], return_hydra_config=True
        )
    HydraConfig.instance().set_config(cfg)
    with pytest.raises(ConfigError, match=f"'{key}'.*at least one value"):
        validate_config(cfg)


def test_edge_runs_once_per_k_and_output_is_reused_across_snrs(monkeypatch):
    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
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


def test_each_receiver_gets_its_own_slice_of_the_batched_edge_output(monkeypatch):
    """Two DISTINCT receivers (own local model, layouts, background, eval set sizes 2 and 3):
    each receiver's images from the batched evaluation equal an unbatched run of the same
    split sampler for that receiver alone, on the same noise (DDIM: the edge's only draw is
    its starting noise, the channel's is the receiver's own generator)."""
    from semcom_exp.models.samplers import ReverseStep
    from semcom_exp.models.split_inference import (
        handoff,
        inference_timesteps,
        local_denoise,
        split_point,
    )

    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=quickstart"])
    cfg.model.num_inference_steps, cfg.model.sampler = 10, "ddim"
    cfg.offload_steps, cfg.handoff, cfg.seeds, cfg.channel.snr_db = [350], ["plain"], [0], [5]
    model_cfg = dict(image_size=16, block_out_channels=[8, 8], max_offload_steps=650)
    torch.manual_seed(0)
    shared = DiffusionDecoder.from_config(model_cfg, role="shared").eval()
    locals_, rx = {}, []
    for i, (name, n) in enumerate((("a", 2), ("b", 3))):
        torch.manual_seed(10 + i)  # a different local model per receiver
        locals_[name] = DiffusionDecoder.from_config(model_cfg, role="local").eval()
        g = torch.Generator().manual_seed(20 + i)
        layout = (torch.rand(n, 4, 16, 16, generator=g) > 0.7).float()  # distinct layouts
        eval_set = {
            "image": torch.rand(n, 3, 16, 16, generator=g) * 2 - 1,
            "layout": layout,
            "mask": torch.ones(n, 16, 16, dtype=torch.bool),
        }
        bg = torch.rand(3, 16, 16, generator=g) * 2 - 1
        rx.append(Receiver(name, {"eval": eval_set}, bg, ["car 1 1 2 2"] * n, [88] * n))
    got = []
    real_local = m2gsc_eval.local_denoise
    monkeypatch.setattr(
        m2gsc_eval, "local_denoise", lambda *a, **k: got.append(real_local(*a, **k)) or got[-1]
    )
    m2gsc_eval.evaluate(cfg, shared, locals_, rx)
    assert [len(x) for x in got] == [2, 3]

    T = shared.num_train_timesteps
    ts = inference_timesteps(10, T)
    split = split_point(ts, 350, T, shared.max_offload_steps)
    step = ReverseStep("ddim", shared.scheduler.config)
    edge_g = m2gsc_eval._generator(0, "m2gsc/edge", 350)
    noise = torch.randn(5, 3, 16, 16, generator=edge_g)  # the edge's one draw, all receivers
    start = 0
    for j, r in enumerate(rx):
        e = r.sets["eval"]
        n = len(e["image"])
        x = noise[start : start + n]  # this receiver's own rows, run alone
        start += n
        for i, t in enumerate(split.edge):
            t_prev = split.edge[i + 1] if i + 1 < len(split.edge) else split.t_handoff
            x = step(x, shared.predict_x0(x, t, e["layout"]), t, t_prev, None)
        g = m2gsc_eval._generator(0, "m2gsc/channel", 350, 5.0, j)
        x, t_res = handoff(x, split.t_handoff, 5.0, "plain", generator=g)
        bg = r.background.unsqueeze(0).expand_as(e["image"])
        args = (x, t_res, ts, e["layout"], bg, None, step)
        want = local_denoise(locals_[r.name], *args)
        torch.testing.assert_close(got[j], want, atol=1e-4, rtol=1e-4)
        other = locals_["b" if r.name == "a" else "a"]
        assert (local_denoise(other, *args) - want).abs().max() > 1e-2  # receivers differ
