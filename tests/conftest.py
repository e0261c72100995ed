"""Shared test helpers: run the CLI in a subprocess with a private run dir and cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    from semcom_exp.__main__ import cli

    monkeypatch.setattr(sys, "argv", ["semcom_exp", *overrides])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)  # cli sets it while it runs
    code = 0
    try:
        cli()
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)
    yield
