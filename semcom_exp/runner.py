"""`run(cfg)`: validate, seed, dispatch the task, write the run-dir contract, draw figures."""

from __future__ import annotations

import errno
import importlib.util
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.utils import get_method
from omegaconf import DictConfig

from semcom_exp import progress
from semcom_exp.cache import ArtifactCache
from semcom_exp.distributed import global_rank
from semcom_exp.errors import ConfigError, Interrupted, SemcomError
from semcom_exp.results import (
    SweepJob,
    save_figure,
    sweep_jobs,
    write_manifest,
    write_results,
    write_status,
)
from semcom_exp.schema import validate_config
from semcom_exp.tracking import TrackedCache, log_run

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


def check_writable_dir(path: Path, key: str) -> None:
    """ConfigError naming ``key`` unless ``path`` is (or can be created as) a writable
    directory: checked before any work, so a bad cache dir does not fail a run half-way."""
    path = path.expanduser().absolute()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(key, f"{probe} is a file, not a directory; set {key} to a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(key, f"{probe} is not writable; set {key} to a writable directory")


def _run(cfg: DictConfig, run_dir: Path, rank: int) -> float | None:
    start = time.perf_counter()
    _quiet_libraries()
    validate_config(cfg)
    threads = cfg.get("torch_threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    progress.configure(bool((cfg.get("trainer") or {}).get("enable_progress_bar", True)))
    if cfg.task != "collect":  # before any work: a cache that cannot be written
        check_writable_dir(Path(cfg.paths.cache_dir), "paths.cache_dir")
    cache = TrackedCache(
        cfg.paths.cache_dir,
        force=bool(cfg.force),
        lock=cfg.paths.cache_lock,
        reuse_stale=bool(cfg.cache.reuse_stale),
        run_cfg=cfg,
    )
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
            "task",
            f"unknown task {task!r}; use run, eval, figures, preflight, collect, data_summary "
            "or cache",
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
    log_run(cfg, summary, cache.used)
    figures = cfg.get("figures") if task in ("run", "eval") else None
    with ctx.timed("figures"):
        for fig_target in figures or []:
            fn = get_method(fig_target)
            for fig_name, fig in fn(run_dir, cfg).items():
                save_figure(fig, run_dir, fig_name)
    ctx.timings["total"] = time.perf_counter() - start
    (run_dir / "timings.json").write_text(json.dumps(ctx.timings, indent=2) + "\n")
    log.info("results: %s  figures: %s", run_dir / "results.csv", run_dir / "figures")
    return value


#: exit statuses: a user error (bad config, bad data, an unwritable path), and SIGTERM (128 + 15,
#: what a shell reports for a process the signal ended)
USER_ERROR_EXIT, SIGTERM_EXIT = 2, 128 + signal.SIGTERM

#: OSErrors the user fixes (a path that cannot be written, a full disk), not bugs
_USER_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EISDIR,
}


def job_outcome(exc: BaseException) -> tuple[str, int, str]:
    """(status, exit status, one line) for a job that ended with ``exc``: ``interrupted``
    (SIGTERM 143, Ctrl-C 130), ``failed`` with 2 for a user error (SemcomError, an unwritable
    path, a full disk), ``failed`` with 1 for anything else (a bug: its traceback matters)."""
    if isinstance(exc, Interrupted):
        return "interrupted", SIGTERM_EXIT, f"interrupted: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 128 + signal.SIGINT, "interrupted (Ctrl-C); rerun to resume"
    if isinstance(exc, SemcomError):
        return "failed", USER_ERROR_EXIT, str(exc)
    if isinstance(exc, OSError) and exc.errno in _USER_ERRNOS:
        path = exc.filename if exc.filename is not None else "?"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "free some space, or point hydra.run.dir / paths.cache_dir elsewhere"
        else:
            hint = "point hydra.run.dir / paths.cache_dir at a writable directory"
        return "failed", USER_ERROR_EXIT, f"cannot write {path}: {exc.strerror}; {hint}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return "failed", 1, f"{type(exc).__name__}: {first}" if first else type(exc).__name__


#: set once a job of this process was interrupted: the basic launcher runs a sweep's jobs in
#: one process, and the ones after a SIGTERM must not start
_SIGTERM_SEEN = False


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``Interrupted`` (so the job records it and exits
    143) instead of ending the process silently. Inside a Lightning fit the trainer's handler
    calls this one after its own: then it does nothing, and Lightning stops after the current
    step (semcom_exp.training saves ``last.ckpt`` and raises ``Interrupted`` there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if signal.getsignal(signal.SIGTERM) is handler:  # not called through Lightning's
            raise Interrupted(f"signal {signum} (SIGTERM); rerun the same command to resume")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_job(cfg: DictConfig) -> float | None:
    """The Hydra task: ``run``, with the job's outcome in its run dir's status.json (running,
    completed, failed with its one-line error, interrupted). An error is logged and re-raised:
    a multirun records the job as failed and runs the others; ``semcom_exp.__main__.cli``
    turns it into one line and the exit status (``job_outcome``)."""
    global _SIGTERM_SEEN
    run_dir = _run_dir() if global_rank() == 0 else None
    if run_dir is not None:
        write_status(run_dir, "running")
    try:
        if _SIGTERM_SEEN:  # a later job of a sweep this process runs: do not start it
            raise Interrupted("not started: an earlier job of this sweep got SIGTERM")
        with sigterm_interrupts():
            value = run(cfg)
    except BaseException as exc:
        status, code, line = job_outcome(exc)
        _SIGTERM_SEEN = _SIGTERM_SEEN or isinstance(exc, Interrupted)
        log.error("%s", line, exc_info=code == 1)  # a bug's traceback goes to the job's log
        if run_dir is not None:
            write_status(run_dir, status, line, code)
        raise
    if run_dir is not None:
        write_status(run_dir, "completed")
    return value


class SweepStatus(Callback):
    """Hydra callback (conf/config.yaml): remembers the sweep dir of a multirun, so the CLI can
    name the jobs that did not complete once the sweep ends.

    It also installs the sweep's config as the HydraConfig before the sweeper starts: Hydra
    1.3 sets it only per job, so the default sweep dir (`${experiment_name}`, which reads
    `${hydra:runtime.choices.experiment}`) could not be resolved by the sweeper or here
    (facebookresearch/hydra#3427; the fix upstream does the same)."""

    sweep_dir: Path | None = None
    _previous: DictConfig | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        hydra_config = HydraConfig.instance()
        self._previous = hydra_config.cfg  # type: ignore[assignment]
        hydra_config.set_config(config)
        SweepStatus.sweep_dir = Path(str(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().cfg = self._previous  # type: ignore[assignment]


def sweep_failures() -> list[SweepJob]:
    """The jobs of the multirun this process ran (if any) that did not complete."""
    if SweepStatus.sweep_dir is None or not SweepStatus.sweep_dir.is_dir():
        return []
    return [job for job in sweep_jobs(SweepStatus.sweep_dir) if not job.complete]
