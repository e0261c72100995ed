"""``task=eval experiment=X artifacts=[PATH, ...]``: X's evaluation of given trained artifacts
under this run's evaluation settings (SNR grid, seeds, estimators ...), without training.

The experiment's own pipeline runs; its trained stages are served from the given artifacts
(``semcom_exp.tracking.TrackedCache``: an artifact trained with the same config serves that
stage; the only given artifact of a stage serves it with a warning naming what differs). A PATH
is an artifact dir (``outputs/cache/STAGE/KEY``) or a run dir, whose manifest.json lists the
artifacts that run used. A stage with neither a given nor a cached artifact refuses to train.
The run dir gets the experiment's results.csv / results.json / figures as a normal run.
"""

from __future__ import annotations

import logging

from hydra.utils import get_method
from omegaconf import DictConfig

from semcom_exp.config_utils import as_list
from semcom_exp.errors import ConfigError
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.tracking import TrackedCache, eval_only, given_artifacts

log = logging.getLogger(__name__)


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    paths = [str(p) for p in as_list(cfg.get("artifacts"))]
    if not paths:
        raise ConfigError(
            "artifacts",
            "task=eval needs the trained artifacts to evaluate: artifacts=PATH or "
            "artifacts=[PATH,...] (an artifact dir under the cache, or a run dir)",
        )
    target = cfg.get("pipeline")
    if not target:
        raise ConfigError("experiment", "task=eval evaluates an experiment: add experiment=NAME")
    if not isinstance(ctx.cache, TrackedCache):  # the runner's cache is one
        raise ConfigError("task", "task=eval needs the runner's artifact cache")
    ctx.cache.given = given_artifacts(paths)
    with eval_only():
        output: RunOutput = get_method(target)(cfg, ctx)
    given = [str(g.path) for g in ctx.cache.given]
    used = {a["path"] for a in ctx.cache.used}
    for path in given:
        if path not in used:
            log.warning("given artifact %s was not used by %s", path, cfg.experiment_name)
    return RunOutput(output.rows, {**output.summary, "evaluated_artifacts": ";".join(given)})
