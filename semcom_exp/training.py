"""Build a Lightning Trainer for a training stage from the trainer / logger / callbacks groups.

Resume and checkpoint handling belong here, not to each model: a stage passes its cache
`work_dir`; the trainer keeps `last.ckpt` there and `fit_resumable` resumes from it after a
kill, so an interrupted training stage continues instead of restarting.

Under DDP (``trainer=ddp``) a stage's batch size stays the batch of one optimiser step: each of
the N processes trains on its 1/N share of every batch (`split_batches` for a map-style loader;
an iterable stream splits its own batches with ``semcom_exp.distributed.batch_share``), so N
processes train what one process would and the cached artifact, whose key leaves the process
count out, does not depend on it.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, Sampler

from semcom_exp.distributed import batch_share, global_rank, group_rank_and_size
from semcom_exp.errors import ConfigError, SemcomError
from semcom_exp.seeds import derive_seed

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
    unused_parameters: bool = False,
) -> L.Trainer:
    """Trainer from `cfg.trainer` with the configured loggers and callbacks (+ resume checkpoint).

    ``unused_parameters``: the model has parameters a backward pass leaves without a gradient
    (a GAN's alternating steps); DDP must then look for them (``strategy: ddp`` becomes
    ``ddp_find_unused_parameters_true``), or its all-reduce waits for them and fails.
    """
    callbacks = [
        instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c
    ]
    loggers = build_loggers(cfg, name)
    if not loggers:
        callbacks = [c for c in callbacks if type(c).__name__ != "LearningRateMonitor"]
    callbacks += extra_callbacks or []
    overrides: dict[str, Any] = {
        "max_steps": int(max_steps),
        "logger": loggers or False,
        # DDP: fit_resumable splits each batch over the processes (split_batches) instead of
        # Lightning's DistributedSampler (which drops a stage's seeded order and num_samples)
        "use_distributed_sampler": False,
    }
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
    if unused_parameters and trainer_cfg.get("strategy") == "ddp":
        trainer_cfg["strategy"] = "ddp_find_unused_parameters_true"
    return instantiate(trainer_cfg, callbacks=callbacks, **overrides)


class GlobalBatchSampler(Sampler[list[int]]):
    """The batches ``BatchSampler(sampler, batch_size, drop_last)`` gives one process, of which
    each of ``world_size`` DDP processes takes its equal share (``batch_share``). A last partial
    batch that does not split evenly is dropped (every rank must take the same number of steps).
    The rank is read when iterated, inside ``trainer.fit``, from the process group."""

    def __init__(self, sampler: Sampler[int], batch_size: int, drop_last: bool, world_size: int):
        batch_share(batch_size, 0, world_size)  # refuses a batch that does not split
        self.sampler, self.batch_size = sampler, int(batch_size)
        self.drop_last, self.world_size = bool(drop_last), int(world_size)

    def _rank(self) -> int:
        rank, world = group_rank_and_size()
        if world != self.world_size:
            raise SemcomError(f"loader split for {self.world_size} processes, run by {world}")
        return rank

    def __iter__(self):
        rank, batch = self._rank(), []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch[batch_share(self.batch_size, rank, self.world_size)]
                batch = []
        if batch and not self.drop_last and len(batch) % self.world_size == 0:
            yield batch[batch_share(len(batch), rank, self.world_size)]

    def __len__(self) -> int:
        full, rest = divmod(len(self.sampler), self.batch_size)  # type: ignore[arg-type]
        return full + int(rest > 0 and not self.drop_last and rest % self.world_size == 0)


def split_batches(loader: Any, world_size: int) -> Any:
    """``loader`` with each batch split over ``world_size`` DDP processes (GlobalBatchSampler);
    ``loader`` itself for one process and for an iterable dataset (which splits its own)."""
    if (
        world_size == 1
        or not isinstance(loader, DataLoader)
        or isinstance(loader.dataset, IterableDataset)
        or loader.batch_size is None
    ):
        return loader
    sampler = loader.sampler
    if isinstance(sampler, RandomSampler) and sampler.generator is None:
        # it would seed itself from the global generator when iterated; fix that seed now,
        # while every rank's global generator is in the same state (same program, same seeds)
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        sampler.generator = torch.Generator().manual_seed(seed)
    kwargs: dict[str, Any] = {
        "batch_sampler": GlobalBatchSampler(
            sampler, loader.batch_size, loader.drop_last, world_size
        ),
        "num_workers": loader.num_workers,
        "collate_fn": loader.collate_fn,
        "pin_memory": loader.pin_memory,
        "timeout": loader.timeout,
        "worker_init_fn": loader.worker_init_fn,
        "multiprocessing_context": loader.multiprocessing_context,
        "generator": loader.generator,
        "persistent_workers": loader.persistent_workers,
    }
    if loader.num_workers > 0:
        kwargs["prefetch_factor"] = loader.prefetch_factor
    return DataLoader(loader.dataset, **kwargs)


def check_batch_split(batch_size: int, trainer: L.Trainer, key: str) -> None:
    """ConfigError naming ``key`` if ``batch_size`` does not split over the trainer's processes
    (for a stage whose own stream splits its batches; split_batches checks a loader's)."""
    try:
        batch_share(int(batch_size), 0, trainer.world_size)
    except SemcomError as exc:
        raise ConfigError(key, str(exc)) from None


def trainer_world_size(cfg: DictConfig) -> int:
    """How many processes the ``trainer`` group trains with (1, or N under DDP), without
    starting any: a stage that would run its own worker processes asks first."""
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    return int(instantiate(trainer_cfg, logger=False, callbacks=[]).world_size)


def fit_resumable(
    trainer: L.Trainer, model: L.LightningModule, loader: Any, work_dir: Path | None
) -> None:
    """`trainer.fit`, resuming from `work_dir/last.ckpt` when a killed attempt left one.

    Under DDP each batch is split over the processes (split_batches), and a rank other than 0
    reseeds torch's global generator (per stage, per rank): the random draws a model makes in
    ``training_step`` (diffusion noise and timesteps, dropout) then differ between the shares
    instead of repeating rank 0's; a model with generators of its own reseeds them in its
    ``reseed_rank(rank)`` (the SC model: training SNRs, channel and noise).
    """
    world = trainer.world_size
    if world > 1:
        loader = split_batches(loader, world)
        rank = global_rank()
        if rank != 0:
            torch.manual_seed(derive_seed(torch.initial_seed(), "ddp/rank", rank))
            if hasattr(model, "reseed_rank"):  # a model with generators of its own
                model.reseed_rank(rank)
    ckpt = Path(work_dir) / "last.ckpt" if work_dir is not None else None
    if ckpt is not None and ckpt.exists():
        log.info("resuming %s from %s", type(model).__name__, ckpt)
        trainer.fit(model, loader, ckpt_path=str(ckpt))
    else:
        trainer.fit(model, loader)


def steps_per_epoch(num_samples: int, batch_size: int) -> int:
    return max(1, math.ceil(num_samples / batch_size))
