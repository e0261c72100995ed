"""What the experiment trackers (the ``logger`` group: TensorBoard, CSV, W&B) receive.

A run is several tracked runs grouped under it: each trained stage is its own (named after the
trainer, its stage and its artifact key; W&B ``group`` = the run, ``job_type`` = the stage;
TensorBoard / CSV ``<logger>/<trainer>/<stage>-<key>/``), an artifact reused from the cache
is a small tracked run that references it (key, path, when it was trained) instead of
nothing, and the run itself ends with one (``<logger>/run/summary/``, W&B ``job_type`` run)
holding the summary metrics of results.json and the artifacts the run used. Every one of
them gets the resolved run config as its hyper-parameters.

Where a stage's name and key come from: a training stage trains inside the artifact cache's
``compute(out_dir, work_dir)`` and hands ``work_dir`` (``<cache>/<stage>/<key>.work``) to
``build_trainer``; that holds in worker processes and DDP ranks too. :class:`TrackedCache`
serves given artifacts for ``task=eval`` and logs the references of cache hits.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from semcom_exp.cache import META_FILE, ArtifactCache, _canonical
from semcom_exp.distributed import global_rank
from semcom_exp.errors import ConfigError

log = logging.getLogger(__name__)

#: the trainers a compute built (their names), kept with the artifact for later references
TRACKED_FILE = "tracked_runs.json"
#: set while ``task=eval`` runs (inherited by worker processes): building a trainer is refused
EVAL_ONLY_ENV = "SEMCOM_EVAL_ONLY"


# --------------------------------------------------------------------------- run identity
def run_config(cfg: DictConfig) -> dict[str, Any]:
    """The run config as plain data, resolved where it resolves (outside Hydra, e.g. in a
    test or a worker that got a resolved copy, what does not resolve stays as written)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception:  # an interpolation that needs Hydra's runtime
        return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def group_name(cfg: DictConfig) -> str:
    """The run's name in the trackers: the experiment and the run dir's name (the job number
    of a sweep is qualified by the sweep's dir)."""
    out = _output_dir(cfg)
    stamp = "" if out is None else out.name
    if out is not None and stamp.isdigit():
        stamp = f"{out.parent.name}/{stamp}"
    name = str(cfg.get("experiment_name") or "run")
    return f"{name}/{stamp}" if stamp else name


def _output_dir(cfg: DictConfig) -> Path | None:
    try:
        out = (cfg.get("paths") or {}).get("output_dir")
    except Exception:
        return None
    return Path(out) if out else None


def stage_of(work_dir: Path | None) -> tuple[str, str] | None:
    """(stage, key) of a training stage from its cache ``work_dir`` (``<stage>/<key>.work``)."""
    if work_dir is None or not Path(work_dir).name.endswith(".work"):
        return None
    work_dir = Path(work_dir)
    return work_dir.parent.name, work_dir.name.removesuffix(".work")


# ------------------------------------------------------------------------------- loggers
def _is_wandb(conf: Any) -> bool:
    try:
        from lightning.pytorch.loggers import WandbLogger

        return issubclass(get_class(str(conf["_target_"])), WandbLogger)
    except Exception:
        return False


def finish_wandb() -> None:
    """End the W&B run of this process, if any (Lightning's WandbLogger would otherwise reuse
    it for the next stage: "a wandb run already in progress ... will reuse")."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def make_loggers(
    cfg: DictConfig,
    name: str,
    version: str | None,
    job_type: str,
    hparams: Mapping[str, Any],
    tags: list[str] | None = None,
) -> list[Any]:
    """One instance of every logger of ``cfg.logger``, named ``name`` (TensorBoard / CSV:
    ``<its name>/<name>/<version>``; W&B: run ``name`` in group :func:`group_name`,
    ``job_type``), each given ``hparams``."""
    loggers = []
    for key, conf in (cfg.get("logger") or {}).items():
        if conf is None or "_target_" not in conf:
            continue
        if _is_wandb(conf):
            finish_wandb()  # a fresh W&B run for every tracked run
            kwargs: dict[str, Any] = {
                "name": name,
                "group": group_name(cfg),
                "job_type": job_type,
                "tags": [t[:64] for t in (tags or [])],
            }
            if conf.get("offline", True):
                os.environ.setdefault("WANDB_MODE", "offline")  # never wait on the network
                os.environ.setdefault("WANDB_SILENT", "true")  # log_run names the dir once
        else:
            kwargs = {"name": f"{conf.get('name', key)}/{name}", "version": version}
        logger = instantiate(conf, **kwargs)
        logger.log_hyperparams(dict(hparams))
        loggers.append(logger)
    return loggers


def close_loggers(loggers: list[Any], metrics: Mapping[str, Any] | None = None) -> None:
    """Log ``metrics`` (numbers only) as the tracked run's summary, write and close it."""
    numbers = _numbers(metrics or {})
    for logger in loggers:
        if numbers:
            logger.log_metrics(numbers, step=0)
        logger.finalize("success")
        logger.save()
        if type(logger).__name__ == "WandbLogger" and logger._experiment is not None:
            logger._experiment.finish()


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, int | float) and math.isfinite(float(value)):
            out[str(key)] = float(value)
    return out


def stage_loggers(cfg: DictConfig, name: str, work_dir: Path | None) -> list[Any]:
    """The loggers of one training stage (trainer ``name``, artifact from ``work_dir``): a
    tracked run of its own, with the run config and the stage's identity as hyper-parameters.
    The trainer name is kept in ``work_dir`` (:data:`TRACKED_FILE`) so that a later cache hit
    can name the run it reuses."""
    where = stage_of(work_dir)
    stage, key = where if where else (name, "")
    hparams = {
        **run_config(cfg),
        "tracking": {"trainer": name, "stage": stage, "artifact_key": key, "status": "trained"},
    }
    if where and work_dir is not None and global_rank() == 0:
        _remember(Path(work_dir), name)
    version = f"{stage}-{key}" if key else None
    return make_loggers(cfg, name, version, stage, hparams, tags=[stage, key] if key else [stage])


def _remember(work_dir: Path, name: str) -> None:
    work_dir.mkdir(parents=True, exist_ok=True)  # a caller's work dir may not exist yet
    path = work_dir / TRACKED_FILE
    names = json.loads(path.read_text()) if path.is_file() else []
    if name not in names:
        path.write_text(json.dumps([*names, name]))


def artifact_reference(path: Path) -> dict[str, Any]:
    """What a tracker records of an artifact: its stage, key, path and when it was trained."""
    meta_file = Path(path) / META_FILE
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    return {
        "stage": meta.get("stage", Path(path).parent.name),
        "artifact_key": Path(path).name,
        "artifact_dir": str(path),
        "trained_at": meta.get("created"),
        "compute_seconds": meta.get("compute_seconds"),
        "package_version": meta.get("package_version"),
    }


def trained_names(path: Path) -> list[str]:
    """The trainers that produced the artifact at ``path`` ([] for an artifact no trainer
    made: a data set, a persona corpus). Artifacts older than :data:`TRACKED_FILE` count as
    trained when they hold the loss curve every training stage writes (losses.csv)."""
    tracked = Path(path) / TRACKED_FILE
    if tracked.is_file():
        return list(json.loads(tracked.read_text()))
    return [Path(path).parent.name] if (Path(path) / "losses.csv").is_file() else []


def log_reference(cfg: DictConfig, path: Path, how: str) -> None:
    """A cache hit of a trained artifact: one tracked run per trainer that made it, holding
    the run config and the artifact's reference (status ``how``) instead of training logs."""
    ref = {**artifact_reference(path), "status": how}
    for name in trained_names(path):
        hparams = {**run_config(cfg), "tracking": {"trainer": name, **ref}}
        loggers = make_loggers(
            cfg,
            name,
            f"{ref['stage']}-{ref['artifact_key']}-{how}",
            str(ref["stage"]),
            hparams,
            tags=[str(ref["stage"]), str(ref["artifact_key"]), how],
        )
        close_loggers(loggers)
    if trained_names(path):
        log.info("tracked %s artifact %s (%s)", how, path, ref["trained_at"])


def log_run(cfg: DictConfig, summary: Mapping[str, Any], artifacts: list[dict[str, str]]) -> None:
    """The run's own tracked run: the config, the artifacts it used (references) and the
    summary metrics of results.json. Nothing when no logger is configured."""
    if not cfg.get("logger"):
        return
    refs = {
        f"{a['stage']}/{a['key']}": {**artifact_reference(Path(a["path"])), "how": a["how"]}
        for a in artifacts
    }
    hparams = {**run_config(cfg), "artifacts_used": refs}
    loggers = make_loggers(cfg, "run", "summary", "run", hparams, tags=["run"])
    close_loggers(loggers, summary)
    finish_wandb()
    for logger in loggers:
        if type(logger).__name__ == "WandbLogger" and os.environ.get("WANDB_MODE") in ("offline", "dryrun"):  # fmt: skip
            where = Path(logger.save_dir or ".") / "wandb"
            log.info("W&B offline runs in %s (upload: wandb sync --sync-all, run there)", where)


# ------------------------------------------------------------------------------ task=eval
@contextmanager
def eval_only() -> Iterator[None]:
    """While inside: any training stage that would run refuses (see :func:`refuse_training`);
    an environment variable, so the decoder workers of a process pool refuse too."""
    old = os.environ.get(EVAL_ONLY_ENV)
    os.environ[EVAL_ONLY_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(EVAL_ONLY_ENV, None)
        else:
            os.environ[EVAL_ONLY_ENV] = old


def refuse_training(name: str, work_dir: Path | None) -> None:
    """ConfigError when a trainer is built under ``task=eval`` (which never trains)."""
    if not os.environ.get(EVAL_ONLY_ENV):
        return
    where = stage_of(work_dir)
    what = f"stage {where[0]} (key {where[1]}, trainer {name})" if where else f"trainer {name}"
    raise ConfigError(
        "artifacts",
        f"task=eval would train {what}: this run has no trained artifact for it; add its "
        "artifact dir (or the run dir that produced it) to artifacts=[...], or use task=run",
    )


@dataclass(frozen=True)
class GivenArtifact:
    """An artifact handed to ``task=eval``: where it is, its stage and the config it was
    trained with (from its artifact.json)."""

    path: Path
    stage: str
    config: Any


def given_artifacts(paths: list[str]) -> list[GivenArtifact]:
    """Each path: an artifact dir (holding artifact.json) or a run dir whose manifest.json
    lists the artifacts it used; ConfigError naming the path otherwise."""
    out: list[GivenArtifact] = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if (path / META_FILE).is_file():
            dirs = [path]
        elif (path / "manifest.json").is_file():
            listed = json.loads((path / "manifest.json").read_text()).get("artifacts", [])
            dirs = [Path(a["path"]) for a in listed if (Path(a["path"]) / META_FILE).is_file()]
            if not dirs:
                raise ConfigError(
                    "artifacts", f"{path}/manifest.json lists no artifact that still exists"
                )
        else:
            raise ConfigError(
                "artifacts",
                f"{path} is neither an artifact dir (no {META_FILE}) nor a run dir (no "
                "manifest.json); give e.g. outputs/cache/STAGE/KEY or outputs/runs/NAME/DATE",
            )
        for d in dirs:
            meta = json.loads((d / META_FILE).read_text())
            out.append(GivenArtifact(d, str(meta.get("stage", d.parent.name)), meta.get("config")))
    return out


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [f"{prefix.rstrip('.')}: {b!r} (run: {a!r})"]


class TrackedCache(ArtifactCache):
    """The run's artifact cache, plus: cache hits of trained artifacts logged to the trackers
    (:func:`log_reference`), the trainer names kept with each artifact computed here, and,
    for ``task=eval``, given artifacts served instead of computing (:attr:`given`)."""

    def __init__(self, *args: Any, run_cfg: DictConfig | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.run_cfg = run_cfg
        self.given: list[GivenArtifact] = []
        self._warned: set[tuple[str, Path]] = set()
        self._referenced: set[Path] = set()

    def _given_for(self, stage: str, config: Mapping[str, Any]) -> GivenArtifact | None:
        """The given artifact that serves (stage, config): the one trained with this config,
        else the only one of that stage (with a warning naming what differs)."""
        candidates = [g for g in self.given if g.stage == stage]
        if not candidates:
            return None
        wanted = _canonical(config)
        for g in candidates:
            if g.config == wanted:
                return g
        if len(candidates) > 1:
            raise ConfigError(
                "artifacts",
                f"{len(candidates)} given artifacts of stage {stage}, none trained with the "
                f"config this run asks for; give the one to use: {[str(g.path) for g in candidates]}",
            )
        g = candidates[0]
        if (stage, g.path) not in self._warned:
            self._warned.add((stage, g.path))
            diff = _differences(wanted, g.config)
            log.warning(
                "stage %s: serving %s, trained with a different config: %s",
                stage,
                g.path,
                "; ".join(diff[:8]) + (f"; ... ({len(diff)} in all)" if len(diff) > 8 else ""),
            )
        return g

    def path(self, stage: str, config: Mapping[str, Any], version: str) -> Path:
        given = self._given_for(stage, config)
        return given.path if given is not None else super().path(stage, config, version)

    def get_or_compute(
        self,
        stage: str,
        config: Mapping[str, Any],
        version: str,
        compute: Callable[[Path, Path], None],
    ) -> Path:
        given = self._given_for(stage, config)
        if given is not None:
            log.info("stage %s: evaluating the given %s", stage, given.path)
            self._record(stage, given.path, "given")
            self._reference(given.path, "given")
            return given.path
        ran: list[bool] = []

        def tracked(out: Path, work: Path) -> None:
            ran.append(True)
            compute(out, work)
            if (work / TRACKED_FILE).is_file():  # the trainers that made it, for later hits
                shutil.copy(work / TRACKED_FILE, out / TRACKED_FILE)

        path = super().get_or_compute(stage, config, version, tracked)
        if not ran:
            self._reference(path, "reused")
        return path

    def _reference(self, path: Path, how: str) -> None:
        if path in self._referenced:
            return
        self._referenced.add(path)
        if self.run_cfg is not None and self.run_cfg.get("logger") and global_rank() == 0:
            log_reference(self.run_cfg, path, how)
