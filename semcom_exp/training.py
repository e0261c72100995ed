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
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, Sampler

from semcom_exp.distributed import batch_share, global_rank, group_rank_and_size
from semcom_exp.errors import ConfigError, Interrupted, SemcomError
from semcom_exp.resume import ResumeState, fingerprint, streams_of, usable_checkpoint
from semcom_exp.seeds import derive_seed
from semcom_exp.tracking import refuse_training, stage_loggers

log = logging.getLogger(__name__)

# Lightning sets its loggers to INFO when imported; its banner lines (GPU/TPU available, tips)
# only clutter the run log. Warnings still show.
for _name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def build_loggers(cfg: DictConfig, name: str, work_dir: Path | None = None) -> list[Any]:
    """Every logger of the `logger` group for one training stage: its own tracked run, named
    after trainer `name` and the artifact `work_dir` belongs to, with the run config as its
    hyper-parameters (semcom_exp.tracking)."""
    return stage_loggers(cfg, name, work_dir)


def _with_progress_bar(callbacks: list[Callback], trainer_cfg: dict[str, Any]) -> list[Callback]:
    """Lightning's bar only where it shows: bars on (`trainer.enable_progress_bar`; off under
    debug) and stderr a terminal; a configured bar callback is dropped otherwise (Lightning
    refuses one with the bar off)."""
    if trainer_cfg.get("enable_progress_bar", True) and sys.stderr.isatty():
        return callbacks
    trainer_cfg["enable_progress_bar"] = False
    return [c for c in callbacks if not isinstance(c, ProgressBar)]


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
    refuse_training(name, work_dir)  # task=eval trains nothing
    loggers = build_loggers(cfg, name, work_dir)
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
        # RNG states, stream position, time: exact resume. First, so its batch count is
        # current when any other callback saves a checkpoint at a batch's end.
        callbacks.insert(0, ResumeState())
        overrides["enable_checkpointing"] = True
        overrides["default_root_dir"] = str(work_dir)
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    callbacks = _with_progress_bar(callbacks, trainer_cfg)
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


class _CheckpointOnSigterm(Callback):
    """On SIGTERM Lightning ends the fit after the current step (``SIGTERMException``); save
    ``last.ckpt`` then (temp file + rename), so a rerun resumes from that step rather than from
    the last periodic checkpoint."""

    def __init__(self, ckpt: Path):
        self.ckpt = Path(ckpt)

    def on_exception(self, trainer: L.Trainer, pl_module: Any, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        tmp = self.ckpt.with_name(f".{self.ckpt.name}.sigterm")
        trainer.save_checkpoint(tmp)  # every rank calls it; rank 0 writes
        if trainer.is_global_zero:
            tmp.replace(self.ckpt)
            log.warning("SIGTERM at step %d: saved %s", trainer.global_step, self.ckpt)


def fit_resumable(
    trainer: L.Trainer, model: L.LightningModule, loader: Any, work_dir: Path | None
) -> float:
    """`trainer.fit`, resuming from `work_dir/last.ckpt` when a killed attempt left one; returns
    the training seconds of the earlier attempts (to their last checkpoint; 0 without resume).
    On SIGTERM it saves `last.ckpt` after the current step and raises ``Interrupted``.

    The resume is exact (semcom_exp.resume): random states and the position of the loader's
    streams (``start_at``) come back from the checkpoint. A checkpoint that cannot be read or
    that another stage / older code wrote is moved aside with a warning and the stage starts
    from scratch.

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
    state = next((c for c in trainer.callbacks if isinstance(c, ResumeState)), None)
    ckpt = None
    if work_dir is not None and state is not None:
        expected = fingerprint(Path(work_dir), model)
        state.prepare(expected, streams_of(loader))
        ckpt = usable_checkpoint(Path(work_dir) / "last.ckpt", expected)
    if work_dir is not None:
        trainer.callbacks.append(_CheckpointOnSigterm(Path(work_dir) / "last.ckpt"))
    try:
        if ckpt is not None:
            log.info("resuming %s from %s", type(model).__name__, ckpt)
            with warnings.catch_warnings():  # the streams do resume mid-epoch (ResumeState)
                warnings.filterwarnings("ignore", message=".*dataloader is not resumable.*")
                trainer.fit(model, loader, ckpt_path=str(ckpt))
        else:
            trainer.fit(model, loader)
    except SIGTERMException:  # a SystemExit (exit 0): make it the job's interrupted state
        where = f"; {work_dir}/last.ckpt saved, rerun to resume" if work_dir is not None else ""
        raise Interrupted(f"SIGTERM while training {type(model).__name__}{where}") from None
    return state.seconds_before if state is not None else 0.0


def steps_per_epoch(num_samples: int, batch_size: int) -> int:
    return max(1, math.ceil(num_samples / batch_size))
