"""`task=collect sweep_dir=DIR`: merge a multirun's results.csv files into one table
(``collected.csv``) and its results.json scalars into another, one row per job
(``collected_summaries.csv``), each with the jobs' overrides as columns. A sweep over
``seed`` also gets ``collected_over_seeds.csv``: every numeric results.json scalar as mean,
95 % Student-t half-width and the per-seed values, per setting of the other overrides (the
"n seeds, mean +- interval" tables of the docs come from it).

A job that did not complete (its status.json says failed, interrupted or still running, or it
has no results) is named and the collect fails, unless ``collect.allow_incomplete=true``: then
the completed jobs are merged and the others listed in the log and results.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import yaml
from omegaconf import DictConfig

from semcom_exp.errors import ConfigError, SemcomError
from semcom_exp.figures.stats import mean_ci
from semcom_exp.results import SweepJob, atomic_write_text, sweep_jobs
from semcom_exp.runner import RunContext, RunOutput

log = logging.getLogger(__name__)


def parse_overrides(overrides: list[str]) -> dict[str, str]:
    """`['a.b=1', '+c=x', '~d']` -> {'a.b': '1', 'c': 'x'} (deletions are skipped)."""
    out = {}
    for item in overrides:
        if "=" not in item or item.startswith("~"):
            continue
        key, value = item.split("=", 1)
        out[key.lstrip("+")] = value
    return out


def _job_dirs(sweep_dir: Path) -> list[Path]:
    """The completed jobs' dirs (status.json completed, or results from before status files)."""
    return [job.dir for job in sweep_jobs(sweep_dir) if job.complete]


def check_complete(sweep_dir: Path, allow_incomplete: bool) -> list[SweepJob]:
    """The sweep's jobs that did not complete; a SemcomError naming them unless allowed."""
    incomplete = [job for job in sweep_jobs(sweep_dir) if not job.complete]
    if incomplete and not allow_incomplete:
        shown = "; ".join(f"job {job.name}: {job.problem()}" for job in incomplete[:10])
        more = f"; and {len(incomplete) - 10} more" if len(incomplete) > 10 else ""
        raise SemcomError(
            f"{sweep_dir}: {len(incomplete)} job(s) did not complete: {shown}{more}. Rerun them "
            "(the same command resumes), or set collect.allow_incomplete=true to merge the rest"
        )
    for job in incomplete:
        log.warning("left out job %s: %s", job.name, job.problem())
    return incomplete


def job_overrides(job_dir: Path) -> dict[str, str]:
    """The job's command-line overrides (.hydra/overrides.yaml) as {key: value}."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
    return parse_overrides(overrides or [])


def _with_overrides(frame: pd.DataFrame, job_dir: Path, sweep_dir: Path) -> pd.DataFrame:
    """``frame`` plus the job's overrides (``override.KEY`` where a column has the name) and
    its dir relative to the sweep as ``job``."""
    for key, value in job_overrides(job_dir).items():
        column = key if key not in frame.columns else f"override.{key}"
        frame[column] = value
    frame["job"] = str(job_dir.relative_to(sweep_dir))
    return frame


def collect_sweep(sweep_dir: Path) -> pd.DataFrame:
    """One frame with every job's rows, plus the job's overrides and job number as columns."""
    frames = [
        _with_overrides(pd.read_csv(d / "results.csv"), d, sweep_dir) for d in _job_dirs(sweep_dir)
    ]
    if not frames:
        raise ConfigError(
            "sweep_dir", f"no */results.csv under {sweep_dir}; point it at a multirun dir"
        )
    return pd.concat(frames, ignore_index=True)


def collect_summaries(sweep_dir: Path) -> pd.DataFrame:
    """One row per job: its results.json scalars, plus its overrides and job as columns."""
    frames = [
        _with_overrides(pd.DataFrame([json.loads((d / "results.json").read_text())]), d, sweep_dir)
        for d in _job_dirs(sweep_dir)
        if (d / "results.json").is_file()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summarise_over_seeds(summaries: pd.DataFrame, sweep_dir: Path) -> pd.DataFrame:
    """Per setting of the overrides other than ``seed`` and per numeric results.json scalar:
    ``mean``, ``ci95`` (Student-t half-width over the seeds), ``n`` and the values in seed
    order (``per_seed``). Empty unless the jobs differ in their ``seed`` override."""
    keys = {k for d in _job_dirs(sweep_dir) for k in job_overrides(d)}
    columns = {k: f"override.{k}" if f"override.{k}" in summaries else k for k in keys}
    seed = columns.pop("seed", None)
    if seed is None or summaries[seed].nunique() < 2:
        return pd.DataFrame()
    by = sorted(c for c in columns.values() if c in summaries)
    metrics = [
        c
        for c in summaries.select_dtypes("number").columns
        if c not in {seed, *by} and not summaries[c].isna().all()
    ]
    frame = summaries.assign(_seed=pd.to_numeric(summaries[seed], errors="coerce"))
    rows = []
    for setting, group in frame.groupby(by, dropna=False, sort=True) if by else [((), frame)]:
        group = group.sort_values("_seed")
        for metric in metrics:
            values = group[metric].to_numpy(dtype=float)
            mean, half = mean_ci(values)
            rows.append(
                {
                    **dict(zip(by, setting, strict=True)),
                    "metric": metric,
                    "mean": mean,
                    "ci95": half,
                    "n": int(pd.notna(values).sum()),
                    "seeds": " / ".join(str(s) for s in group[seed]),
                    "per_seed": " / ".join(f"{v:.6g}" for v in values),
                }
            )
    return pd.DataFrame(rows)


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    if not cfg.get("sweep_dir"):
        raise ConfigError("sweep_dir", "task=collect needs sweep_dir=PATH (a multirun output dir)")
    sweep_dir = Path(cfg.sweep_dir).expanduser().resolve()
    if not sweep_dir.is_dir():
        raise ConfigError("sweep_dir", f"{sweep_dir} is not a directory")
    incomplete = check_complete(sweep_dir, bool(cfg.collect.allow_incomplete))
    table = collect_sweep(sweep_dir)
    atomic_write_text(sweep_dir / "collected.csv", table.to_csv(index=False))
    summaries = collect_summaries(sweep_dir)
    atomic_write_text(sweep_dir / "collected_summaries.csv", summaries.to_csv(index=False))
    over_seeds = summarise_over_seeds(summaries, sweep_dir) if len(summaries) else pd.DataFrame()
    if len(over_seeds):
        atomic_write_text(sweep_dir / "collected_over_seeds.csv", over_seeds.to_csv(index=False))
        log.info("means over seeds: %s", sweep_dir / "collected_over_seeds.csv")
    log.info(
        "merged %d rows from %d jobs into %s",
        len(table),
        table["job"].nunique(),
        sweep_dir / "collected.csv",
    )
    return RunOutput(
        rows=table.to_dict("records"),
        summary={
            "num_jobs": int(table["job"].nunique()),
            "num_rows": len(table),
            "num_incomplete": len(incomplete),
            "incomplete_jobs": "; ".join(job.name for job in incomplete) or None,
            "sweep_dir": str(sweep_dir),
        },
    )
