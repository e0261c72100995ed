"""Build a Lightning Trainer for a training stage from the trainer / logger / callbacks groups.

Resume and checkpoint handling belong here, not to each model: a stage passes its cache
`work_dir`; the trainer keeps `last.ckpt` there and `fit_resumable` resumes from it after a
kill, so an interrupted training stage continues instead of restarting.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# Lightning sets its loggers to INFO when imported; its banner lines (GPU/TPU available, tips)
# only clutter the run log. Warnings still show.
for _name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def build_loggers(cfg: DictConfig, name: str) -> list[Any]:
    """Instantiate every logger of the `logger` group, each under its own `name` sub-dir."""
    loggers = []
    for key, conf in (cfg.get("logger") or {}).items():
        if conf is None or "_target_" not in conf:
            continue
        kwargs = {"name": f"{conf.get('name', key)}/{name}"} if "name" in conf else {}
        loggers.append(instantiate(conf, **kwargs))
    return loggers


def build_trainer(
    cfg: DictConfig,
    name: str,
    max_steps: int,
    work_dir: Path | None = None,
    extra_callbacks: list[Callback] | None = None,
    checkpoint_every: int = 100,
) -> L.Trainer:
    """Trainer from `cfg.trainer` with the configured loggers and callbacks (+ resume checkpoint)."""
    callbacks = [
        instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c
    ]
    loggers = build_loggers(cfg, name)
    if not loggers:
        callbacks = [c for c in callbacks if type(c).__name__ != "LearningRateMonitor"]
    callbacks += extra_callbacks or []
    overrides: dict[str, Any] = {"max_steps": int(max_steps), "logger": loggers or False}
    if work_dir is not None:
        callbacks.append(
            ModelCheckpoint(
                dirpath=str(work_dir),
                save_last=True,
                save_top_k=0,
                every_n_train_steps=checkpoint_every,
            )
        )
        overrides["enable_checkpointing"] = True
        overrides["default_root_dir"] = str(work_dir)
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    return instantiate(trainer_cfg, callbacks=callbacks, **overrides)


def fit_resumable(
    trainer: L.Trainer, model: L.LightningModule, loader: Any, work_dir: Path | None
) -> None:
    """`trainer.fit`, resuming from `work_dir/last.ckpt` when a killed attempt left one."""
    ckpt = Path(work_dir) / "last.ckpt" if work_dir is not None else None
    if ckpt is not None and ckpt.exists():
        log.info("resuming %s from %s", type(model).__name__, ckpt)
        trainer.fit(model, loader, ckpt_path=str(ckpt))
    else:
        trainer.fit(model, loader)


def steps_per_epoch(num_samples: int, batch_size: int) -> int:
    return max(1, math.ceil(num_samples / batch_size))
