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
from dataclasses import dataclass
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from semcom_exp.channels import snr_list, validate_channel_config
from semcom_exp.distributed import eval_device
from semcom_exp.models.cge import CgeEstimator, PerSnrEstimator
from semcom_exp.preflight import Preflight
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.schema.experiments import AUTHORS_ESTIMATORS
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
@dataclass
class Learned:
    """A learned estimator to train: its name, model node, loss, and the SNRs it gets one
    generator each for (None: one generator for every SNR)."""

    name: str
    key: str  # the model node's config key (model or cge_authors)
    loss: str
    per_snr_db: list[float] | None = None


def learned_estimators(cfg: DictConfig) -> list[Learned]:
    """``cgan`` / ``cgan_l1only`` from ``model``; the authors' (``cgan_authors``: their
    generator trained at the node's SNR, used at every SNR; ``cgan_authors_per_snr``: one per
    evaluation SNR, trained at that SNR) from ``cge_authors``."""
    out = []
    for name in cfg.cge.estimators:
        if name in LOSS_OF_ESTIMATOR:
            out.append(Learned(name, "model", LOSS_OF_ESTIMATOR[name]))
        elif name in AUTHORS_ESTIMATORS:
            per_snr = snr_list(cfg.channel.snr_db) if name == "cgan_authors_per_snr" else None
            out.append(Learned(name, "cge_authors", "cgan", per_snr))
    return out


def at_snr(model_cfg: Any, snr_db: float) -> DictConfig:
    """``model_cfg`` trained and validated at the one SNR ``snr_db``."""
    node = OmegaConf.create(OmegaConf.to_container(model_cfg, resolve=True))
    snr = int(snr_db) if float(snr_db).is_integer() else snr_db  # 15, as a YAML node says it
    node.snr_db_range, node.val_snr_db = [snr, snr], [snr]
    return node


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Train (or reuse) the generators, evaluate every estimator over the SNR grid."""
    from semcom_exp.experiments.lam_msc.cge_eval import evaluate, summarize

    check_cge_config(cfg)
    estimators: dict[str, Any] = {}
    curves, losses, notes = [], [], {}
    device = eval_device(cfg.trainer)
    for item in learned_estimators(cfg):
        trained: dict[float, CgeEstimator] = {}
        seconds, reused = 0.0, True
        for snr in item.per_snr_db or [None]:
            node = cfg[item.key] if snr is None else at_snr(cfg[item.key], snr)
            label = item.name if snr is None else f"{item.name}@{snr:g}"
            stage_cfg = generator_stage_config(node, cfg.channel, item.loss)
            reused &= ctx.cache.path(STAGE, stage_cfg, VERSION).is_dir() and not ctx.cache.force
            model, path = train_generator(node, cfg.channel, item.loss, ctx.cache, run_cfg=cfg)
            trained[snr] = CgeEstimator(model, name=label, device=device)
            curve, loss_rows, train = read_training_outputs(path, label)
            curves.append(curve)
            losses.append(loss_rows)
            seconds += train["train_seconds"]
            if snr is None:
                notes.update(
                    {
                        f"best_step_{item.name}": train["best_step"],
                        f"best_val_nmse_db_{item.name}": train["best_val_nmse_db"],
                        f"last_val_nmse_db_{item.name}": train["last_val_nmse_db"],
                        f"val_rise_db_{item.name}": train["last_val_nmse_db"]
                        - train["best_val_nmse_db"],
                    }
                )
        notes[f"train_seconds_{item.name}"] = seconds
        notes[f"reused_{item.name}"] = reused
        estimators[item.name] = (
            trained[None] if item.per_snr_db is None else PerSnrEstimator(trained, item.name)
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
    estimators: dict[str, Any] = {}
    for item in learned_estimators(cfg):  # one generator of each (per-SNR ones cost the same)
        est = preflight_generator(pf, cfg[item.key], cfg.channel, item.loss, prefix=item.key)
        snrs = item.per_snr_db
        estimators[item.name] = (
            est if snrs is None else PerSnrEstimator(dict.fromkeys(snrs, est), item.name)
        )
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
