"""The runner end to end: every experiment smoke-runs with debug=default; same seed, same
results; --help / --cfg work; a multirun through the submitit local launcher; task=collect."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from .conftest import read_json, run_cli
from .test_configs import EXPERIMENTS

TIMING_KEYS = ("wall_seconds", "edge_s", "local_s", "seconds", "_s_")


def _without_timings(d: dict) -> dict:
    return {k: v for k, v in d.items() if not any(t in k for t in TIMING_KEYS) and k != "sweep_dir"}


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_smoke_runs(smoke_run, experiment: str):
    proc = smoke_run(experiment)  # shared with the experiments' own files (tests/conftest.py)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = proc.tmp / "run"
    summary = read_json(run / "results.json")
    assert summary["experiment"] == experiment and summary["wall_seconds"] > 0
    assert len(pd.read_csv(run / "results.csv")) > 0
    pngs = list((run / "figures").glob("*.png"))
    assert pngs and all(p.with_suffix(".pdf").exists() for p in pngs)
    assert (run / ".hydra" / "config.yaml").exists()
    manifest = read_json(run / "manifest.json")  # provenance: code, versions, artifacts used
    assert manifest["package_version"] and manifest["torch"] and manifest["host"]
    assert manifest["git_commit"] is None or len(manifest["git_commit"]) == 40
    for item in manifest["artifacts"]:
        assert Path(item["path"]).is_dir() and item["how"] in ("computed", "reused")
        assert Path(item["path"]).parent.name == item["stage"]
    if experiment in ("quickstart", "lam_msc/cge"):  # trained stages: at least the models
        stages = {item["stage"] for item in manifest["artifacts"]}
        assert {"m2gsc_decoder"} <= stages or {"cge_generator"} <= stages, stages


TRAINING = ("quickstart", "lam_msc/cge", "lam_msc/sc", "lam_msc/lkb", "lam_msc/end2end")


def _table_without_timings(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    return frame[[c for c in frame.columns if not any(t in c for t in TIMING_KEYS)]]


@pytest.mark.slow
@pytest.mark.parametrize("experiment", TRAINING)
def test_same_seed_retrains_to_identical_results(smoke_run, tmp_path: Path, experiment: str):
    """Every training experiment, rerun from an EMPTY cache with the same seed (so every stage
    trains again), gives the shared smoke run's results.json and results.csv exactly (timing
    columns aside)."""
    first = smoke_run(experiment)
    assert first.returncode == 0, first.stderr[-3000:]
    proc = run_cli(f"experiment={experiment}", "debug=default", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = (read_json(d / "run" / "results.json") for d in (first.tmp, tmp_path))
    assert _without_timings(a) == _without_timings(b)
    pd.testing.assert_frame_equal(
        _table_without_timings(first.tmp / "run" / "results.csv"),
        _table_without_timings(tmp_path / "run" / "results.csv"),
    )


def test_same_seed_gives_identical_results(smoke_run, tmp_path: Path):
    shared = smoke_run("channels_sanity")  # seed 0, shared with the smoke test
    assert shared.returncode == 0, shared.stderr[-3000:]
    outs = [_without_timings(read_json(shared.tmp / "run" / "results.json"))]
    proc = run_cli("experiment=channels_sanity", "debug=default", "seed=0", tmp=tmp_path / "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    outs.append(_without_timings(read_json(tmp_path / "0" / "run" / "results.json")))
    assert outs[0] == outs[1]
    other = run_cli("experiment=channels_sanity", "debug=default", "seed=1", tmp=tmp_path / "s1")
    assert other.returncode == 0
    assert _without_timings(read_json(tmp_path / "s1" / "run" / "results.json")) != outs[0]


def test_help_and_cfg(tmp_path: Path):
    proc = run_cli("--help", tmp=tmp_path)
    assert proc.returncode == 0 and "experiment" in proc.stdout and "Config groups" in proc.stdout
    proc = run_cli("--cfg", "job", "seed=7", tmp=tmp_path)
    assert proc.returncode == 0 and "seed: 7" in proc.stdout


def test_multirun_submitit_local_and_collect(tmp_path: Path):
    # the cluster recipe's sweep (docs/cluster.md) through submitit's local executor: the GPU
    # trainer config with the accelerator overridden to the CPU, a training stage in each job
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m",
        "hydra/launcher=local",
        "experiment=lam_msc/cge",
        "debug=default",
        "cge.estimators=[ls,cgan]",
        "trainer=gpu",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
        tmp=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / "0" / "results.csv").exists() and (sweep / "1" / "results.csv").exists()
    job = (sweep / "0" / ".hydra" / "config.yaml").read_text()
    assert "accelerator: cpu" in job and "precision: 32-true" in job
    proc = run_cli("task=collect", f"sweep_dir={sweep}", tmp=tmp_path / "collect")
    assert proc.returncode == 0, proc.stderr[-3000:]
    merged = pd.read_csv(tmp_path / "collect" / "run" / "results.csv")
    assert set(merged["seed"].astype(int)) == {0, 1}
    assert len(merged) == len(pd.read_csv(sweep / "0" / "results.csv")) * 2
    assert json.loads((tmp_path / "collect" / "run" / "results.json").read_text())["num_jobs"] == 2
    per_job = pd.read_csv(sweep / "collected_summaries.csv")  # the results.json scalars
    assert sorted(per_job["seed"].astype(int)) == [0, 1] and len(per_job) == 2
    assert "wall_seconds" in per_job and "experiment" in per_job


def test_collect_without_sweep_dir_is_a_clear_error(tmp_path: Path):
    proc = run_cli("task=collect", f"sweep_dir={tmp_path / 'missing'}", tmp=tmp_path)
    assert proc.returncode == 2 and "sweep_dir" in proc.stderr and "Traceback" not in proc.stderr
