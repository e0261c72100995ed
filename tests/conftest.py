"""Shared test helpers: run the CLI in a subprocess with a private run dir and cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_cli(
    *overrides: str, tmp: Path, cache: Path | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """`python -m semcom_exp OVERRIDES` with hydra.run.dir=tmp/run and a private cache."""
    cache = cache or tmp / "cache"
    env = {
        **os.environ,
        "OMP_WAIT_POLICY": "PASSIVE",
        "OMP_NUM_THREADS": "1",
        "HYDRA_FULL_ERROR": "0",
    }
    args = [sys.executable, "-m", "semcom_exp", *overrides, f"paths.cache_dir={cache}"]
    if not any(o.startswith("hydra.run.dir") for o in overrides) and "-m" not in overrides:
        args.append(f"hydra.run.dir={tmp / 'run'}")
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def main_in_process(monkeypatch, capsys, *overrides: str) -> tuple[int, str]:
    """`python -m semcom_exp OVERRIDES` run in this process (saves a start-up): (exit code, stderr)."""
    import logging

    from semcom_exp.__main__ import cli

    monkeypatch.setattr(sys, "argv", ["semcom_exp", *overrides])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # cli sets it while it runs
    root, before = logging.getLogger(), list(logging.getLogger().handlers)
    code = 0
    try:
        cli()
    except SystemExit as exc:
        code = exc.code
    finally:  # Hydra's job logging handlers hold this test's captured stderr: drop them
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
    return code, capsys.readouterr().err


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``smoke_run(experiment)``: ``python -m semcom_exp experiment=X debug=default`` run ONCE
    per test session and shared by every test that reads it (also across pytest-xdist workers,
    under a file lock): returncode, stdout, stderr and ``tmp`` (its ``run`` and ``cache``
    dirs). Read only: a test that changes files runs its own."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "smoke_runs"
    root.mkdir(parents=True, exist_ok=True)

    def get(experiment: str) -> SimpleNamespace:
        tmp = root / experiment.replace("/", "__")
        done = tmp / "process.json"
        with FileLock(str(tmp) + ".lock"):
            if not done.exists():
                proc = run_cli(f"experiment={experiment}", "debug=default", tmp=tmp)
                record = {k: getattr(proc, k) for k in ("returncode", "stdout", "stderr")}
                done.write_text(json.dumps(record))
        return SimpleNamespace(**json.loads(done.read_text()), tmp=tmp)

    return get
