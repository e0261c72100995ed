"""A real SIGKILL mid-training of a pipeline stage: ``experiment=lam_msc/cge`` killed with
``kill -9`` once its CGAN generator has written a checkpoint, then rerun, caches the very
weights an uninterrupted run caches (bitwise: CPU, one thread). The uninterrupted run and the
rerun run in this process (main_in_process), the killed one in its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from .conftest import REPO, main_in_process
from .test_resume_exact import _same_artifact

pytestmark = pytest.mark.slow

# 200 iterations of the CGAN alone: the stage saves last.ckpt every 100; no figures
ARGS = (
    "experiment=lam_msc/cge",
    "debug=default",
    "model.train_steps=200",
    "model.val_every_steps=200",
    "trainer.log_every_n_steps=50",
    "cge.estimators=[ls,cgan]",
    "figures=[]",
    "logger=none",
)


def _wait_for_checkpoint(proc: subprocess.Popen, cache: Path, timeout: float = 300) -> Path:
    """The first whole last.ckpt the run writes (loadable: not caught mid-write)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for ckpt in cache.glob("cge_generator/*.work/last.ckpt"):
            try:
                if "state_dict" in torch.load(ckpt, map_location="cpu", weights_only=False):
                    return ckpt
            except Exception:
                pass  # being written
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint before the run ended (exit {proc.poll()})")


def test_sigkill_mid_training_then_rerun_equals_uninterrupted(tmp_path, monkeypatch, capsys):
    whole = tmp_path / "whole"
    code, err = main_in_process(
        monkeypatch, capsys, *ARGS, f"paths.cache_dir={whole}", f"hydra.run.dir={whole}/run"
    )
    assert code == 0, err[-2000:]

    killed = tmp_path / "killed"
    cache = killed / "cache"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "semcom_exp", *ARGS, f"paths.cache_dir={cache}"]
    cmd.append(f"hydra.run.dir={killed / 'run'}")
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        ckpt = _wait_for_checkpoint(proc, cache)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert ckpt.exists() and not list(cache.glob("cge_generator/*/generator.pt"))

    rerun = killed / "rerun"
    code, err = main_in_process(
        monkeypatch, capsys, *ARGS, f"paths.cache_dir={cache}", f"hydra.run.dir={rerun}"
    )
    assert code == 0, err[-2000:]
    log = "".join(p.read_text() for p in rerun.glob("*.log"))
    assert f"from {ckpt}" in log  # it resumed (it did not restart from scratch)
    (one,) = [p for p in (whole / "cge_generator").iterdir() if p.is_dir()]
    (two,) = [p for p in (cache / "cge_generator").iterdir() if p.is_dir()]
    assert one.name == two.name
    _same_artifact(one, two)
