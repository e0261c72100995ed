"""The run-dir contract: results.json (flat scalars), results.csv (tidy rows), figures/, and
status.json (how the job ended: running, completed, failed or interrupted)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file + rename so a killed run never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


#: status.json's ``status`` values; a job killed without a chance to say so stays ``running``
STATUSES = ("running", "completed", "failed", "interrupted")
STATUS_FILE = "status.json"


def write_status(run_dir: Path, status: str, error: str | None = None, exit_code: int = 0) -> None:
    """Write ``run_dir/status.json`` atomically: how the job ended (``STATUSES``), its one-line
    error and the exit status the job stands for, so ``task=collect`` and the multirun's
    summary can tell a finished job from a failed, interrupted or killed one."""
    import socket
    import time

    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    record = {
        "status": status,
        "error": error,
        "exit_code": exit_code,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write_text(Path(run_dir) / STATUS_FILE, json.dumps(record, indent=2) + "\n")


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """``run_dir``'s status.json, or None if it has none (or an unreadable one)."""
    try:
        record = json.loads((Path(run_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") in STATUSES else None


@dataclass
class SweepJob:
    """One job dir of a multirun: where it is, its overrides, and its status record."""

    dir: Path
    name: str  # e.g. "1 (seed=-1)": its dir under the sweep and its overrides
    overrides: list[str]
    status: dict[str, Any] | None

    @property
    def complete(self) -> bool:
        """Completed; a job dir from before status.json existed counts if it has results."""
        if self.status is None:
            return (self.dir / "results.json").is_file() and (self.dir / "results.csv").is_file()
        return self.status["status"] == "completed"

    def problem(self) -> str:
        """Why the job is not complete, in a few words."""
        if self.status is None:
            return "no results and no status.json (never started, or killed before writing)"
        if self.status["status"] == "running":
            return f"still running or killed (pid {self.status.get('pid')} on {self.status.get('host')})"
        return f"{self.status['status']}: {self.status.get('error')}"


def sweep_jobs(sweep_dir: Path) -> list[SweepJob]:
    """Every job dir under ``sweep_dir`` (a dir holding ``.hydra/`` or results.csv), in job
    order."""
    import yaml

    sweep_dir = Path(sweep_dir)
    found = {p.parent for name in (".hydra", "results.csv") for p in sweep_dir.glob(f"**/{name}")}
    jobs = []
    for job_dir in found - {sweep_dir}:
        try:
            overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
        except (OSError, yaml.YAMLError):
            overrides = []
        rel = str(job_dir.relative_to(sweep_dir))
        name = f"{rel} ({' '.join(map(str, overrides))})" if overrides else rel
        jobs.append(SweepJob(job_dir, name, [str(o) for o in overrides], read_status(job_dir)))

    def order(job: SweepJob) -> tuple:
        parts = job.dir.relative_to(sweep_dir).parts
        return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)

    return sorted(jobs, key=order)


def _json_scalar(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; an unavailable metric is None plus a *_unavailable reason
    return value


def write_results(
    run_dir: Path, rows: Iterable[Mapping[str, Any]], summary: Mapping[str, Any]
) -> None:
    """Write results.csv (one row per grid point) and results.json (flat summary)."""
    run_dir = Path(run_dir)
    frame = pd.DataFrame(list(rows))
    atomic_write_text(run_dir / "results.csv", frame.to_csv(index=False))
    flat = {k: _json_scalar(v) for k, v in summary.items()}
    atomic_write_text(run_dir / "results.json", json.dumps(flat, indent=2, default=str) + "\n")


def save_figure(fig: Any, run_dir: Path, name: str) -> list[Path]:
    """Save a matplotlib figure as figures/<name>.png and .pdf."""
    import matplotlib.pyplot as plt

    out = Path(run_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = out / f"{name}.{ext}"
        tmp = out / f".{name}.tmp.{ext}"
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths


def _git(args: list[str], where: Path) -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def code_version() -> dict[str, Any]:
    """The code a run ran: the git commit of the package's checkout and whether it had
    uncommitted changes (``dirty``), or that it is not a git checkout (an installed wheel)."""
    where = Path(__file__).resolve().parent.parent
    commit = _git(["rev-parse", "HEAD"], where)
    if commit is None:
        return {"git_commit": None, "git": f"not a git checkout ({where})"}
    status = _git(["status", "--porcelain", "--untracked-files=no"], where) or ""
    return {"git_commit": commit, "git_dirty": bool(status.strip())}


def write_manifest(run_dir: Path, artifacts: list[dict[str, str]]) -> None:
    """manifest.json: what produced this run dir: the code (git commit, dirty flag, package
    version), the command line, Python / torch / CUDA, the host, and every cached artifact the
    run used (stage, key, path, computed or reused)."""
    import platform
    import socket
    import sys
    import time

    import torch

    from semcom_exp import __version__

    manifest = {
        **code_version(),
        "package_version": __version__,
        "command": sys.argv,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "host": socket.gethostname(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "artifacts": artifacts,
    }
    atomic_write_text(Path(run_dir) / "manifest.json", json.dumps(manifest, indent=2) + "\n")
