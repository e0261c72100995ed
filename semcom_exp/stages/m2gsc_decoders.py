"""Stage ``m2gsc_decoder`` (cached): the M2GSC diffusion decoders.

The shared (edge) model trains on every receiver's shared frames, only on t >= T - K_max; the
local models (x_t + raster + background, all t) come about as ``m2gsc.local_init`` says: one
per receiver from scratch, one pooled over every receiver, or fine-tuned from the shared /
pooled one. Decoders of one wave train at once in ``m2gsc.train_workers`` processes."""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from semcom_exp.cache import ArtifactCache
from semcom_exp.code_hash import StageVersion
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.resume import StepSampler
from semcom_exp.runner import RunContext
from semcom_exp.seeds import derive_seed
from semcom_exp.stages.m2gsc_data import Receiver, prepare_receivers
from semcom_exp.training import build_trainer, fit_resumable, trainer_world_size

log = logging.getLogger(__name__)

# 3: named seed streams (semcom_exp.seeds); 4: batches indexed by step (StepSampler, own
# seed per decoder) and the EMA stepped with the optimiser, so a resumed decoder continues
# the same order and average
DECODER_VERSION = StageVersion("4", __name__)
INFERENCE_ONLY_KEYS = ("num_inference_steps", "sampler")


# How each receiver's local decoder starts before its ``m2gsc.local_steps`` on its own frames:
# scratch = random init (the paper, literally); shared = the trained shared decoder (background
# input zero-initialised); pooled = one background-conditioned local model trained on every
# receiver's local frames. With pooled and local_steps 0 that model serves as is (shared and
# scratch need local_steps > 0: the schema refuses them).
LOCAL_INITS = ("scratch", "shared", "pooled")


def _training_batches(
    role: str, receivers: list[Receiver], receiver: str | None
) -> dict[str, torch.Tensor]:
    """shared: every receiver's shared frames; local: one receiver's local frames with its
    background, or (receiver None, the pooled local model) every receiver's."""
    if role == "shared":
        return {
            "image": torch.cat([r.sets["shared"]["image"] for r in receivers]),
            "layout": torch.cat([r.sets["shared"]["layout"] for r in receivers]),
        }
    chosen = [r for r in receivers if receiver is None or r.name == receiver]
    return {
        "image": torch.cat([r.sets["local"]["image"] for r in chosen]),
        "layout": torch.cat([r.sets["local"]["layout"] for r in chosen]),
        "background": torch.cat(
            [r.background.expand(len(r.sets["local"]["image"]), -1, -1, -1) for r in chosen]
        ),
    }


class _DictDataset(torch.utils.data.Dataset):
    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


@dataclass
class Decoder:
    """A trained decoder, its loss history and its artifact (a later stage's init)."""

    model: DiffusionDecoder
    losses: pd.DataFrame
    path: Path


@dataclass(frozen=True)
class DecoderJob:
    """One decoder to train: on which frames, how long, from which weights."""

    role: str  # shared | local
    receiver: str | None = None  # local: that receiver's frames; None = pooled over all
    steps: int | None = None  # None = model.train_steps
    lr: float | None = None  # None = model.lr
    init: Path | None = None  # artifact dir of a trained decoder to start from (fine-tuning)

    @property
    def name(self) -> str:
        return "shared" if self.role == "shared" else f"local_{self.receiver or 'pooled'}"


def model_config(cfg: DictConfig) -> dict[str, Any]:
    """The ``model`` group minus inference-only keys: what a training stage depends on."""
    return {
        k: v
        for k, v in OmegaConf.to_container(cfg.model, resolve=True).items()
        if k not in INFERENCE_ONLY_KEYS
    }


def _stage_config(cfg: DictConfig, job: DecoderJob, data_key: str) -> dict[str, Any]:
    mcfg = model_config(cfg)
    mcfg["train_steps"] = int(job.steps if job.steps is not None else mcfg["train_steps"])
    mcfg["lr"] = float(job.lr if job.lr is not None else mcfg["lr"])
    return {
        "role": job.role,
        "receiver": job.receiver,
        "model": mcfg,
        "data_key": data_key,
        "seed": int(cfg.seed),
        "init": None if job.init is None else job.init.name,
    }


def decoder_path(cfg: DictConfig, ctx: RunContext, job: DecoderJob, data_key: str) -> Path:
    """Where ``job``'s artifact lives (or will): known before training, so a fine-tuning job
    can name its init before the init is trained."""
    return ctx.cache.path("m2gsc_decoder", _stage_config(cfg, job, data_key), DECODER_VERSION)


def train_decoder(
    cfg: DictConfig, ctx: RunContext, receivers: list[Receiver], data_key: str, job: DecoderJob
) -> Decoder:
    """Stage 2/3 (cached): train one decoder.

    ``role`` shared: the edge model on every receiver's shared frames. ``role`` local with a
    ``receiver``: that receiver's model on its local frames; with ``receiver`` None: the pooled
    local model on every receiver's local frames (each with its own background).
    """
    stage_cfg = _stage_config(cfg, job, data_key)
    mcfg, name = stage_cfg["model"], job.name

    def compute(out: Path, work: Path) -> None:
        torch.manual_seed(derive_seed(int(cfg.seed), "m2gsc/decoder", name))  # one per decoder
        model = DiffusionDecoder.from_config(mcfg, role=job.role, name=name)
        if job.init is not None:
            model.init_from(torch.load(job.init / "model.pt", weights_only=True))
        data = _DictDataset(_training_batches(job.role, receivers, job.receiver))
        batch = min(int(mcfg["batch_size"]), len(data))
        # one pass of back-to-back shuffles (no per-epoch overhead in the training loop),
        # indexed by step so a resumed decoder continues the same order
        seed = derive_seed(int(cfg.seed), "m2gsc/batches", name)
        order = StepSampler(len(data), batch, int(mcfg["train_steps"]), seed, "m2gsc/batches")
        loader = torch.utils.data.DataLoader(data, batch_size=batch, sampler=order)
        trainer = build_trainer(cfg, name=name, max_steps=mcfg["train_steps"], work_dir=work)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # same weights whatever m2gsc.train_workers (see train_decoders)
        try:
            fit_resumable(trainer, model, loader, work)
        finally:
            torch.set_num_threads(threads)
        torch.save(model.state_dict(), out / "model.pt")
        pd.DataFrame(model.loss_history).to_csv(out / "losses.csv", index=False)

    with ctx.timed(f"train_{name}"):
        path = ctx.cache.get_or_compute("m2gsc_decoder", stage_cfg, DECODER_VERSION, compute)
    model = DiffusionDecoder.from_config(mcfg, role=job.role, name=name)
    model.load_state_dict(torch.load(path / "model.pt", weights_only=True))
    model.eval()
    losses = pd.read_csv(path / "losses.csv")
    losses.insert(0, "model", name)
    return Decoder(model, losses, path)


def decoder_plan(
    cfg: DictConfig, ctx: RunContext, receivers: list[Receiver], data_key: str
) -> list[list[DecoderJob]]:
    """Every decoder of the run, in waves: a wave's jobs are independent of each other, a
    fine-tuning job follows the wave that trains its init. ``m2gsc.local_init`` (LOCAL_INITS)
    says how each receiver's local model starts; ``m2gsc.local_steps`` = 0 with ``pooled``
    means that model serves every receiver as is."""
    shared = DecoderJob("shared", steps=cfg.m2gsc.get("shared_steps"))
    how = str(cfg.m2gsc.local_init)
    steps = int(cfg.m2gsc.local_steps)
    lr = cfg.m2gsc.get("local_lr")
    per_rx = [DecoderJob("local", r.name, steps, lr) for r in receivers]
    if how == "scratch":
        return [[shared, *per_rx]]
    base = shared if how == "shared" else DecoderJob("local")
    first = [shared] if how == "shared" else [shared, base]
    if steps == 0:
        return [first]
    init = decoder_path(cfg, ctx, base, data_key)
    return [first, [DecoderJob("local", r.name, steps, lr, init) for r in receivers]]


def _train_in_worker(cfg_dict: dict, run_dir: str, force: bool, job: DecoderJob) -> str:
    """Process-pool entry: one decoder stage (see :func:`train_decoders`). The data stage is
    already in the cache (never recomputed here, even with force)."""
    cfg = OmegaConf.create(cfg_dict)
    cache_dir = cfg.paths.cache_dir
    lock = str(cfg.paths.cache_lock)
    receivers, data_key = prepare_receivers(
        cfg, RunContext(Path(run_dir), ArtifactCache(cache_dir, lock=lock))
    )
    reuse_stale = bool(OmegaConf.select(cfg, "cache.reuse_stale", default=False))
    cache = ArtifactCache(cache_dir, force=force, lock=lock, reuse_stale=reuse_stale)
    ctx = RunContext(Path(run_dir), cache)
    return str(train_decoder(cfg, ctx, receivers, data_key, job).path)


def train_decoders(
    cfg: DictConfig, ctx: RunContext, receivers: list[Receiver], data_key: str
) -> dict[str, Decoder]:
    """Train (or reuse) every decoder of :func:`decoder_plan`, by name.

    Every decoder trains single-threaded (on a small CPU a second thread does not pay for
    small convolutions: measured 0.6-1.1x; and the weights then do not depend on the core
    count). With ``m2gsc.train_workers`` > 1, a wave's untrained decoders train at the same
    time in that many processes instead (two: 1.9x, ``make bench``). The stages write the same cache, so the parent
    then loads them like any cached stage.
    """
    workers = int(cfg.m2gsc.train_workers)
    if workers > 1 and trainer_world_size(cfg) > 1:
        # DDP already uses every device; decoders in worker processes would each launch it
        log.info("trainer runs several processes (DDP): decoders train one after the other")
        workers = 1
    out: dict[str, Decoder] = {}
    for wave in decoder_plan(cfg, ctx, receivers, data_key):
        todo = [
            j for j in wave if ctx.cache.force or not decoder_path(cfg, ctx, j, data_key).is_dir()
        ]
        if workers > 1 and len(todo) > 1:
            cfg_dict = OmegaConf.to_container(cfg, resolve=True)
            cfg_dict["trainer"]["enable_progress_bar"] = False  # two bars would interleave
            log.info("training %s in %d processes", [j.name for j in todo], workers)
            spawn = multiprocessing.get_context("spawn")
            with (
                ctx.timed("train_parallel"),
                ProcessPoolExecutor(workers, mp_context=spawn) as pool,
            ):
                for path in pool.map(
                    partial(_train_in_worker, cfg_dict, str(ctx.run_dir), ctx.cache.force), todo
                ):
                    ctx.cache.note_computed(Path(path))
        for job in wave:
            out[job.name] = train_decoder(cfg, ctx, receivers, data_key, job)
    return out
