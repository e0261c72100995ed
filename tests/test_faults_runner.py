"""Runner-level faults (docs/reliability.md): a failing sweep job is recorded and the sweep goes
on; SIGTERM saves a checkpoint, writes "interrupted" and exits 143; task=collect refuses a
sweep with incomplete jobs unless allowed; every user error (Hydra's, an unwritable path, a full
disk) exits 2 with one line; command-line values beat debug=default's sizes."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from semcom_exp.results import read_status, write_results, write_status
from semcom_exp.runner import RunOutput, SweepStatus

from .conftest import REPO, main_in_process, read_json
from .test_configs import EXPERIMENTS


@pytest.fixture(autouse=True)
def _no_sweep_from_another_test(monkeypatch):
    import semcom_exp.runner as runner

    monkeypatch.setattr(SweepStatus, "sweep_dir", None)
    monkeypatch.setattr(runner, "_SIGTERM_SEEN", False)


def _job(sweep: Path, num: int, overrides: list[str], status: str | None, results: bool) -> Path:
    """A job dir as a multirun leaves it: .hydra/overrides.yaml, maybe results and a status."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if results:
        write_results(job, [{"snr_db": 0, "ssim": 0.5 + num}], {"ssim": 0.5 + num})
    if status == "completed":
        write_status(job, "completed")
    elif status is not None:
        write_status(job, status, f"{status} for a reason", {"failed": 2}.get(status, 143))
    return job


def _sweep(tmp_path: Path) -> Path:
    """Six jobs: completed, from before status files, failed, interrupted, killed, never ran."""
    sweep = tmp_path / "sweep"
    _job(sweep, 0, ["seed=0"], "completed", results=True)
    _job(sweep, 1, ["seed=1"], None, results=True)  # a run dir from before status.json
    _job(sweep, 2, ["seed=-1"], "failed", results=False)
    _job(sweep, 3, ["seed=3"], "interrupted", results=False)
    _job(sweep, 4, ["seed=4"], "running", results=False)  # killed -9: never said so
    _job(sweep, 5, ["seed=5"], None, results=False)  # .hydra written, nothing else
    return sweep


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------ task=collect
def _collect_allowing_incomplete(monkeypatch, capsys, sweep: Path, run: Path) -> tuple[int, str]:
    """``task=collect sweep_dir=SWEEP collect.allow_incomplete=true`` in this process."""
    return main_in_process(
        monkeypatch,
        capsys,
        "task=collect",
        f"sweep_dir={sweep}",
        "collect.allow_incomplete=true",
        f"hydra.run.dir={run}",
    )


def test_collect_names_incomplete_jobs_and_fails(monkeypatch, capsys, tmp_path: Path):
    sweep = _sweep(tmp_path)
    code, err = main_in_process(
        monkeypatch, capsys, "task=collect", f"sweep_dir={sweep}", f"hydra.run.dir={tmp_path / 'c'}"
    )
    assert code == 2, err
    line = _one_error_line(err)
    assert "4 job(s) did not complete" in line and "allow_incomplete" in line
    for name, why in [("2 (seed=-1)", "failed"), ("3 (seed=3)", "interrupted")]:
        assert f"job {name}: {why}: {why} for a reason" in line
    assert (
        "job 4 (seed=4): still running or killed" in line and "job 5 (seed=5): no results" in line
    )
    assert "job 0 " not in line and "job 1 " not in line
    assert not (sweep / "collected.csv").exists()
    assert read_status(tmp_path / "c")["status"] == "failed"


def test_collect_allow_incomplete_merges_the_completed_jobs(monkeypatch, capsys, tmp_path: Path):
    sweep, run = _sweep(tmp_path), tmp_path / "c"
    code, err = _collect_allowing_incomplete(monkeypatch, capsys, sweep, run)
    assert code == 0, err
    merged = pd.read_csv(sweep / "collected.csv")
    assert sorted(merged["job"].astype(str)) == ["0", "1"]
    assert sorted(merged["seed"].astype(int)) == [0, 1]
    summary = read_json(run / "results.json")
    assert summary["num_jobs"] == 2 and summary["num_incomplete"] == 4
    assert "2 (seed=-1)" in summary["incomplete_jobs"]
    log = (run / "__main__.log").read_text()
    assert "left out job 3 (seed=3): interrupted" in log
    assert read_status(run)["status"] == "completed"


def test_collect_averages_the_results_json_scalars_over_seeds(monkeypatch, capsys, tmp_path: Path):
    """Six jobs, seed=0,1,2 x handoff=plain,snr_aware: collected_over_seeds.csv has one row per
    (handoff, scalar) with the mean, the Student-t 95 % half-width over the 3 seeds and the
    per-seed values in seed order."""
    from scipy import stats

    sweep = tmp_path / "sweep"
    values = {}
    for num, (handoff, seed) in enumerate(
        [(h, s) for h in ("plain", "snr_aware") for s in (2, 0, 1)]  # seeds out of order
    ):
        job = sweep / str(num)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump([f"seed={seed}", f"handoff={handoff}"])
        )
        ssim = 0.5 + 0.1 * seed + (0.05 if handoff == "plain" else 0.0)
        values[handoff, seed] = ssim
        write_results(job, [{"ssim": ssim}], {"ssim": ssim, "note": "text is left out"})
        write_status(job, "completed")
    code, err = main_in_process(
        monkeypatch, capsys, "task=collect", f"sweep_dir={sweep}", f"hydra.run.dir={tmp_path / 'c'}"
    )
    assert code == 0, err
    table = pd.read_csv(sweep / "collected_over_seeds.csv")
    assert set(table["metric"]) == {"ssim"}  # the text scalar is not averaged
    row = table[table["handoff"] == "plain"].iloc[0]
    seeds = [values["plain", s] for s in (0, 1, 2)]
    half = stats.t.ppf(0.975, 2) * np.std(seeds, ddof=1) / np.sqrt(3)
    assert row["mean"] == pytest.approx(np.mean(seeds)) and row["ci95"] == pytest.approx(half)
    assert row["n"] == 3 and row["seeds"] == "0 / 1 / 2"
    assert [float(v) for v in row["per_seed"].split(" / ")] == pytest.approx(seeds)
    other = table[table["handoff"] == "snr_aware"].iloc[0]
    assert other["mean"] == pytest.approx(np.mean([values["snr_aware", s] for s in (0, 1, 2)]))


# ------------------------------------------------------------------------------- multirun
def test_a_failing_sweep_job_is_recorded_and_the_sweep_goes_on(monkeypatch, capsys, tmp_path: Path):
    """Basic launcher, in this process: job 0 fails (a missing sweep_dir), job 1 still runs and
    writes its results; the multirun exits 2 with one line naming job 0. The sweep dir is the
    default one (outputs/multirun/<experiment>/<time>), resolved in a process where Hydra has
    not set its HydraConfig yet, as in a fresh `python -m semcom_exp -m ...`."""
    from hydra.core.hydra_config import HydraConfig

    good = _sweep(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)
    code, err = main_in_process(
        monkeypatch,
        capsys,
        "-m",
        "task=collect",
        "collect.allow_incomplete=true",
        f"sweep_dir={tmp_path / 'missing'},{good}",
    )
    (out,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    assert read_json(out / "1" / "results.json")["num_jobs"] == 2  # the good job ran
    assert read_status(out / "1")["status"] == "completed"
    assert read_status(out / "0")["status"] == "failed"
    assert read_status(out / "0")["exit_code"] == 2
    assert code == 2, err
    line = _one_error_line(err)
    assert line.startswith("error: job 0 (") and "is not a directory" in line


def test_the_joblib_launcher_keeps_the_good_job(tmp_path: Path):
    """hydra/launcher=parallel (joblib, two worker processes): a job that fails with a user
    error no longer ends its worker (it used to sys.exit there and joblib stopped the sweep)."""
    good = _sweep(tmp_path)
    out = tmp_path / "multirun"
    args = [
        sys.executable,
        "-m",
        "semcom_exp",
        "-m",
        "hydra/launcher=parallel",
        "task=collect",
        "collect.allow_incomplete=true",
        f"sweep_dir={good},{tmp_path / 'missing'}",
        f"hydra.sweep.dir={out}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert read_json(out / "0" / "results.json")["num_jobs"] == 2, proc.stderr[-3000:]
    assert "Joblib" in proc.stdout + proc.stderr  # the joblib launcher ran both jobs
    assert read_status(out / "0")["status"] == "completed"
    assert read_status(out / "1")["status"] == "failed"
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = _one_error_line(proc.stderr)
    assert line.startswith("error: job 1 (") and "is not a directory" in line


# --------------------------------------------------------------------------------- SIGTERM
STEPS = 40
SIGTERM_RUN = (
    "experiment=quickstart",
    "debug=default",
    f"model.train_steps={STEPS}",
    "data.synthetic.frames_per_scenario=16",
    "offload_steps=[0]",
    "handoff=[plain]",
    "figures=[]",
)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_writes_interrupted_and_a_rerun_resumes(
    monkeypatch, capsys, tmp_path: Path
):
    """SIGTERM (a SLURM time limit or preemption) in the middle of a training stage: the stage
    saves last.ckpt at that step, the run dir says interrupted, exit 143; the same command then
    resumes the stage from that checkpoint and completes (run here in this process)."""
    paths = (f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    env["HYDRA_FULL_ERROR"] = "0"  # an in-process cli of another test may have set it
    proc = subprocess.Popen(
        [sys.executable, "-m", "semcom_exp", *SIGTERM_RUN, *paths],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # inside the first decoder's fit: Lightning's logger writes hparams.yaml as the fit starts
    # (semcom_exp.tracking: <logger>/<trainer>/<stage>-<key>/)
    started = tmp_path / "run" / "csv" / "shared"
    deadline = time.monotonic() + 240
    while not list(started.glob("*/hparams.yaml")):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    line = _one_error_line(err)
    assert "interrupted" in line and "last.ckpt" in line
    status = read_status(tmp_path / "run")
    assert status["status"] == "interrupted" and status["exit_code"] == 143
    (ckpt,) = (tmp_path / "cache" / "m2gsc_decoder").glob("*.work/last.ckpt")
    step = torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"]
    assert 0 < step < STEPS, step  # saved on SIGTERM (the periodic checkpoint is every 100)

    code, err = main_in_process(monkeypatch, capsys, *SIGTERM_RUN, *paths)
    assert code == 0, err
    log = (tmp_path / "run" / "__main__.log").read_text()
    assert f"resuming DiffusionDecoder from {ckpt}" in log
    assert read_status(tmp_path / "run")["status"] == "completed"
    assert not ckpt.parent.exists()  # the stage completed: its work dir is gone


# ------------------------------------------------------------------------ exits and paths
@pytest.mark.parametrize(
    "override,needle",
    [
        ("model=no_such_model", "no_such_model"),  # unknown group option
        ("debug=nope", "nope"),
        ("trainer.max_steps=abc", "trainer.max_steps"),  # a value of the wrong type
        ("trainer.max_stepz=3", "trainer.max_stepz"),  # misspelled key
    ],
)
def test_hydra_errors_exit_2_with_one_line(monkeypatch, capsys, tmp_path: Path, override, needle):
    code, err = main_in_process(
        monkeypatch, capsys, override, f"paths.cache_dir={tmp_path}", f"hydra.run.dir={tmp_path}/r"
    )
    assert code == 2 and needle in _one_error_line(err)


def _smoke_with_cache(monkeypatch, capsys, tmp_path: Path, cache: Path) -> tuple[int, str]:
    """The quickstart at debug size with ``paths.cache_dir=CACHE``, run dir ``tmp_path/run``."""
    return main_in_process(
        monkeypatch,
        capsys,
        "experiment=quickstart",
        "debug=default",
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )


def test_a_cache_dir_that_is_a_file_is_refused_before_any_work(monkeypatch, capsys, tmp_path: Path):
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    for cache in (afile, afile / "sub"):
        code, err = _smoke_with_cache(monkeypatch, capsys, tmp_path, cache)
        assert code == 2, err
        line = _one_error_line(err)
        assert "paths.cache_dir" in line and f"{afile} is a file" in line
        assert read_status(tmp_path / "run")["status"] == "failed"
        assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only (chmod) directory")
def test_a_read_only_cache_dir_is_refused(monkeypatch, capsys, tmp_path: Path):
    cache = tmp_path / "ro"
    cache.mkdir(mode=0o500)
    code, err = _smoke_with_cache(monkeypatch, capsys, tmp_path, cache)
    assert code == 2 and "not writable" in _one_error_line(err)


def test_a_run_dir_under_a_file_exits_2_naming_it(monkeypatch, capsys, tmp_path: Path):
    afile = tmp_path / "afile"
    afile.write_text("")
    code, err = main_in_process(
        monkeypatch, capsys, "task=collect", f"sweep_dir={tmp_path}", f"hydra.run.dir={afile}/run"
    )
    assert code == 2, err
    assert f"cannot write {afile}/run: Not a directory" in _one_error_line(err)


def test_a_full_disk_exits_2_naming_the_file(monkeypatch, capsys, tmp_path: Path):
    import semcom_exp.tasks.collect as collect

    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(collect, "atomic_write_text", full)
    sweep, run = _sweep(tmp_path), tmp_path / "c"
    code, err = _collect_allowing_incomplete(monkeypatch, capsys, sweep, run)
    assert code == 2, err
    line = _one_error_line(err)
    assert f"cannot write {sweep / 'collected.csv'}: No space left on device" in line
    assert "free some space" in line
    status = read_status(run)
    assert status["status"] == "failed" and status["exit_code"] == 2


def test_a_bug_keeps_its_traceback_and_exits_non_zero(monkeypatch, capsys, tmp_path: Path):
    """Not every error is the user's: an unexpected one is re-raised (its traceback shows),
    and the run dir still says failed."""
    code = None
    with pytest.raises(ZeroDivisionError):
        code, _ = main_in_process(
            monkeypatch,
            capsys,
            f"pipeline={__name__}.divide_by_zero",
            "figures=[]",
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"hydra.run.dir={tmp_path / 'run'}",
        )
    assert code is None
    status = read_status(tmp_path / "run")
    assert status["status"] == "failed" and status["exit_code"] == 1
    assert status["error"].startswith("ZeroDivisionError")


def divide_by_zero(cfg, ctx) -> RunOutput:
    return RunOutput(rows=[], summary={"x": 1 / 0})


# ---------------------------------------------------------------- command line beats debug
SEEN: dict = {}


def record_config(cfg, ctx) -> RunOutput:
    """A pipeline that records the config it is given."""
    SEEN["cfg"] = cfg
    return RunOutput(rows=[{"x": 0}], summary={})


def _int_leaves(node, prefix: str = "") -> dict[str, int]:
    if isinstance(node, dict):
        out: dict[str, int] = {}
        for key, value in node.items():
            out.update(_int_leaves(value, f"{prefix}{key}."))
        return out
    if isinstance(node, int) and not isinstance(node, bool):
        return {prefix[:-1]: node}
    return {}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_command_line_values_beat_debug_sizes(monkeypatch, capsys, tmp_path: Path, experiment):
    """Every integer debug=default sets, given on the command line too, reaches the pipeline
    with the command line's value (and .hydra/config.yaml records the same)."""
    from omegaconf import OmegaConf

    import semcom_exp.runner as runner

    sizes = REPO / "semcom_exp" / "conf" / "debug_sizes" / experiment / "default.yaml"
    assert sizes.exists(), f"every experiment has debug sizes: {sizes}"
    leaves = _int_leaves(yaml.safe_load(sizes.read_text()))
    assert leaves, sizes
    wanted = {key: value + 1 for key, value in leaves.items()}
    monkeypatch.setattr(runner, "validate_config", lambda cfg: None)  # values, not their checks
    SEEN.clear()
    run = tmp_path / "run"
    code, err = main_in_process(
        monkeypatch,
        capsys,
        f"experiment={experiment}",
        "debug=default",
        *(f"{key}={value}" for key, value in wanted.items()),
        f"pipeline={__name__}.record_config",
        "figures=[]",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={run}",
    )
    assert code == 0, err
    recorded = OmegaConf.load(run / ".hydra" / "config.yaml")
    for key, value in wanted.items():
        assert OmegaConf.select(SEEN["cfg"], key) == value, key
        assert OmegaConf.select(recorded, key) == value, key


def test_sigterm_outside_training_raises_interrupted():
    """Outside a Lightning fit (data generation, evaluation) SIGTERM ends the job through the
    same path: Interrupted, recorded as interrupted, exit 143."""
    from semcom_exp.errors import Interrupted
    from semcom_exp.runner import job_outcome, sigterm_interrupts

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught, sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) is before
    assert job_outcome(caught.value)[:2] == ("interrupted", 143)


def sigterm_myself(cfg, ctx) -> RunOutput:
    """A pipeline that gets SIGTERM while it works."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    return RunOutput(rows=[], summary={})


def test_a_sweep_stops_at_sigterm(monkeypatch, capsys, tmp_path: Path):
    """Basic launcher (every job in this process): after a job is interrupted, the later jobs
    do not start; each says interrupted, and the multirun exits 143."""
    out = tmp_path / "multirun"
    code, err = main_in_process(
        monkeypatch,
        capsys,
        "-m",
        f"pipeline={__name__}.sigterm_myself,{__name__}.record_config",
        "figures=[]",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={out}",
    )
    assert code == 143, err
    assert read_status(out / "0")["status"] == "interrupted"
    assert "not started" in read_status(out / "1")["error"]
    assert len(err.strip().splitlines()) == 2


def test_hydra_full_error_keeps_the_exit_status(monkeypatch, capsys, tmp_path: Path):
    """HYDRA_FULL_ERROR=1 adds the traceback, and keeps the exit status (2 here)."""
    monkeypatch.setattr(sys, "argv", ["semcom_exp", "seed=-1", f"hydra.run.dir={tmp_path}"])
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    from semcom_exp.__main__ import cli

    with pytest.raises(SystemExit) as exited:
        cli()
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("error: config key 'seed'")
