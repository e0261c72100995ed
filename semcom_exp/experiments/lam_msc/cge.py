"""LAM-MSC CGE: train the conditional-GAN channel estimator, compare it with LS / LMMSE.

Stages:

1. ``cge_generator`` (cached, one per loss): train a :class:`~semcom_exp.models.cge.CgeModel`
   on channels drawn on the fly from the OFDM channel layer, with the SNR uniform (in dB) over
   ``model.snr_db_range``. Every ``model.val_every_steps`` iterations the generator is scored
   on a fixed set of FRESH channels (own seed, never trained on); the artifact keeps the best
   generator by validation NMSE, the last one, the validation curve and the training losses.
2. evaluation (not cached, :mod:`semcom_exp.experiments.lam_msc.cge_eval`): NMSE and 16-QAM SER with
   zero-forcing for every estimator on the same channel draws.

Other experiments (the semantic link) get a trained estimator through
``semcom_exp.stages.cge.load_cge_estimator``.
"""

from __future__ import annotations

import logging
import time

import pandas as pd
from omegaconf import DictConfig

from semcom_exp.channels import snr_list, validate_channel_config
from semcom_exp.distributed import eval_device
from semcom_exp.models.cge import CgeEstimator
from semcom_exp.preflight import Preflight
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.seeds import derive_seed
from semcom_exp.stages.cge import (
    LOSS_OF_ESTIMATOR,
    STAGE,
    VERSION,
    generator_stage_config,
    preflight_generator,
    read_training_outputs,
    train_generator,
)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ checks


def check_cge_config(cfg: DictConfig) -> None:
    """What the schema cannot say (it needs the channel code): the grid, profile and pilots
    fit together. Runs before any training or cache access (after the runner's validation)."""
    validate_channel_config(cfg.channel)


# --------------------------------------------------------------------------------- run
def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Train (or reuse) the generators, evaluate every estimator over the SNR grid."""
    from semcom_exp.experiments.lam_msc.cge_eval import evaluate, summarize

    check_cge_config(cfg)
    names = list(cfg.cge.estimators)
    estimators: dict[str, CgeEstimator] = {}
    curves, losses, notes = [], [], {}
    for name in names:
        if name not in LOSS_OF_ESTIMATOR:
            continue
        loss = LOSS_OF_ESTIMATOR[name]
        stage_cfg = generator_stage_config(cfg.model, cfg.channel, loss)
        cached = ctx.cache.path(STAGE, stage_cfg, VERSION).is_dir() and not ctx.cache.force
        model, path = train_generator(cfg.model, cfg.channel, loss, ctx.cache, run_cfg=cfg)
        estimators[name] = CgeEstimator(model, name=name, device=eval_device(cfg.trainer))
        curve, loss_rows, train = read_training_outputs(path, name)
        curves.append(curve)
        losses.append(loss_rows)
        notes.update(
            {
                f"train_seconds_{name}": train["train_seconds"],
                f"reused_{name}": cached,
                f"best_step_{name}": train["best_step"],
                f"best_val_nmse_db_{name}": train["best_val_nmse_db"],
                f"last_val_nmse_db_{name}": train["last_val_nmse_db"],
                f"val_rise_db_{name}": train["last_val_nmse_db"] - train["best_val_nmse_db"],
            }
        )
    if curves:
        pd.concat(curves, ignore_index=True).to_csv(ctx.run_dir / "val_curve.csv", index=False)
        pd.concat(losses, ignore_index=True).to_csv(ctx.run_dir / "losses.csv", index=False)
    t0 = time.perf_counter()
    rows = evaluate(cfg, estimators, seed=derive_seed(int(cfg.seed), "cge/evaluation"))
    notes["eval_seconds"] = time.perf_counter() - t0
    summary = {**summarize(rows), **notes}
    summary["pilot_pattern"] = str(cfg.channel.pilots.pattern)
    log.info("CGE: %d result rows in %s", len(rows), ctx.run_dir)
    return RunOutput(rows=rows, summary=summary)


# --------------------------------------------------------------------------- preflight
def preflight(cfg: DictConfig, pf: Preflight) -> None:
    """``task=preflight``: each learned estimator's generator (``preflight_generator``) and
    ``pf.eval_steps`` evaluation batches of cge.batch_size grids for every estimator,
    projected onto the configured SNR grid."""
    from semcom_exp.experiments.lam_msc.cge_eval import evaluate

    check_cge_config(cfg)
    estimators = {
        name: preflight_generator(pf, cfg.model, cfg.channel, LOSS_OF_ESTIMATOR[name])
        for name in cfg.cge.estimators
        if name in LOSS_OF_ESTIMATOR
    }
    batch, grids = int(cfg.cge.batch_size), int(cfg.cge.num_grids)
    snrs = snr_list(cfg.channel.snr_db, "channel.snr_db")
    n = min(pf.eval_steps, -(-grids // batch))
    eval_cfg = pf.shrunk({"cge.num_grids": n * batch, "channel.snr_db": [snrs[0]]})
    pf.add_timed(
        "eval: NMSE + SER, every estimator",
        lambda: evaluate(eval_cfg, estimators, seed=0),
        n,
        len(snrs) * -(-grids // batch),
        batch=batch,
        note=f"{len(cfg.cge.estimators)} estimators, {len(snrs)} SNRs x {grids} grids",
    )
