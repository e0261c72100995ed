"""`run(cfg)`: validate, seed, dispatch the task, write the run-dir contract, draw figures."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig

from semcom_exp.cache import ArtifactCache
from semcom_exp.distributed import global_rank
from semcom_exp.errors import ConfigError, SemcomError
from semcom_exp.results import save_figure, write_manifest, write_results
from semcom_exp.schema import validate_config

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What a pipeline gets besides its config: where to write, the artifact cache, and a
    wall-clock account of its phases (written to ``timings.json``)."""

    run_dir: Path
    cache: ArtifactCache
    extra: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the wall seconds of the ``with`` block to ``timings[phase]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - start


@dataclass
class RunOutput:
    """What a pipeline returns: tidy rows for results.csv and flat scalars for results.json."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def _run_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path.cwd()


def _quiet_libraries() -> None:
    """Keep the run log readable: known, harmless library warnings off."""
    import warnings

    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


def _seed(seed: int) -> None:
    """Seed python, numpy and torch; always, 0 included."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "sionna" in sys.modules:  # Sionna keeps its own generators: seed them when it is in use
        from semcom_exp.channels import set_seed

        set_seed(seed)


def run(cfg: DictConfig) -> float | None:
    """Run one job: the selected task (an experiment pipeline, collect or data_summary).

    In a multi-process (DDP) job every rank runs the whole pipeline, evaluation included (the
    same grid, on its own device), and rank 0 alone writes results.csv / results.json / figures
    / timings.json: its numbers are a one-process evaluation of the trained artifacts, with no
    gather code, at the same wall time (the job holds every GPU while rank 0 evaluates anyway).
    The other ranks' ``ctx.run_dir`` is a private temp dir, removed at the end, so what a
    pipeline writes there (losses.csv, examples, ...) never lands on rank 0's files.
    """
    rank = global_rank()
    if rank != 0:
        with tempfile.TemporaryDirectory(prefix=f"semcom-rank{rank}-") as scratch:
            return _run(cfg, Path(scratch), rank)
    return _run(cfg, _run_dir(), rank)


def _run(cfg: DictConfig, run_dir: Path, rank: int) -> float | None:
    start = time.perf_counter()
    _quiet_libraries()
    validate_config(cfg)
    threads = cfg.get("torch_threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    cache = ArtifactCache(cfg.paths.cache_dir, force=bool(cfg.force), lock=cfg.paths.cache_lock)
    ctx = RunContext(run_dir=run_dir, cache=cache)

    task = cfg.task
    if task == "run":
        target, name = cfg.get("pipeline"), cfg.get("experiment_name")
    else:
        target, name = f"semcom_exp.tasks.{task}.run", task
    if not target:
        raise ConfigError("pipeline", "the selected experiment names no pipeline")
    key = "task" if task != "run" else "pipeline"
    if task != "run" and importlib.util.find_spec(f"semcom_exp.tasks.{task}") is None:
        raise ConfigError(
            "task", f"unknown task {task!r}; use run, preflight, collect or data_summary"
        )
    try:
        pipeline = get_method(target)
    except ImportError as exc:
        raise ConfigError(key, f"cannot import {target!r}: {exc}") from None
    _seed(int(cfg.seed))  # after the pipeline's imports, so every generator in use is seeded

    output: RunOutput = pipeline(cfg, ctx)
    summary = {"experiment": name, **output.summary, "wall_seconds": time.perf_counter() - start}
    metric = cfg.get("optimized_metric")
    value = float(summary[metric]) if metric and summary.get(metric) is not None else None
    if rank != 0:
        log.info("rank %d: pipeline done; rank 0 writes the run dir", rank)
        return value
    write_results(run_dir, output.rows, summary)
    write_manifest(run_dir, cache.used)
    figures = cfg.get("figures") if task == "run" else None
    with ctx.timed("figures"):
        for fig_target in figures or []:
            fn = get_method(fig_target)
            for fig_name, fig in fn(run_dir, cfg).items():
                save_figure(fig, run_dir, fig_name)
    ctx.timings["total"] = time.perf_counter() - start
    (run_dir / "timings.json").write_text(json.dumps(ctx.timings, indent=2) + "\n")
    log.info("results: %s  figures: %s", run_dir / "results.csv", run_dir / "figures")
    return value


def run_or_exit(cfg: DictConfig) -> float | None:
    """`run`, but a user error prints one clear line and exits with status 2 (no traceback)."""
    try:
        return run(cfg)
    except SemcomError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
