"""Exact resume of a training stage from its ``last.ckpt``, and refusal of a bad one.

Why: a stage killed mid-training (kill -9, a SLURM preemption) and rerun must give the same
weights as an uninterrupted run, or the same cache key would hold different artifacts. Lightning
restores weights, optimisers, schedulers and loop counters; :class:`ResumeState` adds what it
does not: the random states (torch, numpy, python, CUDA and a model's own generators, see
``rng_generators``), how many batches the stage has consumed (so a data stream indexed by batch
starts where it stopped, see :class:`StepSampler` and ``start_at``), the training seconds of the
earlier attempts, and a fingerprint naming the stage the checkpoint belongs to.
:func:`usable_checkpoint` moves aside a checkpoint that cannot be read (a kill during the save)
or that another stage or older code wrote, so the stage restarts from scratch instead of failing.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from pathlib import Path
from typing import Any, Protocol

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import Sampler

from semcom_exp.distributed import global_rank
from semcom_exp.seeds import derive_seed

log = logging.getLogger(__name__)

#: the checkpoint entry ResumeState writes
RESUME_KEY = "semcom_resume"
#: bump when what ResumeState stores, or how a stream resumes, changes: older checkpoints are
#: then refused (set aside), not resumed with a different meaning
FORMAT = 1


class Resumable(Protocol):
    """A data stream that can start at a given batch (the number of batches already trained)."""

    def start_at(self, batch: int) -> None: ...


def fingerprint(work_dir: Path, model: L.LightningModule) -> str:
    """What a checkpoint in ``work_dir`` must have been written for: the resume format, the
    stage's artifact key (the work dir is ``<key>.work``) and the model class."""
    cls = type(model)
    return f"{FORMAT}:{Path(work_dir).name}:{cls.__module__}.{cls.__qualname__}"


def checkpoint_problem(path: Path, expected: str) -> str | None:
    """Why the checkpoint at ``path`` must not be resumed (None: it may)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # any unreadable file: truncated zip, zero bytes, garbage
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"unreadable ({type(exc).__name__}: {first[:120]})"
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        return "not a Lightning checkpoint"
    found = (ckpt.get(RESUME_KEY) or {}).get("fingerprint")
    if found != expected:
        return f"written for {found!r}, not {expected!r} (another stage or older code)"
    return None


def usable_checkpoint(path: Path, expected: str) -> Path | None:
    """``path`` if it exists and may be resumed; otherwise None, and a bad file is renamed to
    ``<name>.corrupt-<time>`` (unreadable) or ``<name>.stale-<time>`` (another fingerprint)
    with one warning naming it, so the stage restarts from scratch. Under DDP only rank 0
    renames (every rank reads the same file, so every rank decides alike)."""
    if not path.exists():
        return None
    problem = checkpoint_problem(path, expected)
    if problem is None:
        return path
    kind = "corrupt" if problem.startswith(("unreadable", "not a")) else "stale"
    aside = path.with_name(f"{path.name}.{kind}-{time.strftime('%Y%m%dT%H%M%S')}")
    for n in itertools.count(2):  # never over an earlier one set aside in the same second
        if not aside.exists():
            break
        aside = aside.with_name(f"{path.name}.{kind}-{time.strftime('%Y%m%dT%H%M%S')}-{n}")
    if global_rank() == 0:
        path.rename(aside)
        log.warning(
            "checkpoint %s is %s: moved aside to %s; the stage restarts from scratch",
            path,
            problem,
            aside.name,
        )
    return None


def _model_generators(model: L.LightningModule) -> dict[str, torch.Generator]:
    """The generators a model draws from itself (``rng_generators()``, if it defines one)."""
    get = getattr(model, "rng_generators", None)
    return dict(get()) if callable(get) else {}


def _numpy_state() -> list[Any]:
    """numpy's global state in types a weights-only checkpoint load accepts (no ndarray)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    keys = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    return [str(name), keys, int(pos), int(has_gauss), float(gauss)]


def capture_rng(model: L.LightningModule) -> dict[str, Any]:
    """Every random state a training step may draw from, to continue it exactly."""
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": _numpy_state(),
        "python": random.getstate(),
        "model": {k: g.get_state() for k, g in _model_generators(model).items()},
    }


def restore_global_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        if len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])


class ResumeState(Callback):
    """Stores in each checkpoint, and restores on resume, what an exact resume needs (module
    docstring). ``build_trainer`` adds one to a trainer that checkpoints; ``fit_resumable``
    tells it the fingerprint and the streams before ``fit``.

    Global random states are restored at the first ``on_train_batch_start`` after the resume:
    what Lightning does between loading and that point (creating the loader iterator, which
    draws a seed from the global generator) then cannot shift them. Streams must therefore not
    draw from the global generators (StepSampler and the stages' streams use their own).
    Under DDP only rank 0's states are in the checkpoint; other ranks keep their own seeding.
    """

    def __init__(self) -> None:
        self.fingerprint = ""
        self.streams: list[Resumable] = []
        self.batches = 0  # batches trained so far, over every attempt
        self.seconds_before = 0.0  # training seconds of earlier attempts, to their checkpoint
        self.resumed_batch: int | None = None
        self._started = time.perf_counter()
        self._pending_rng: dict[str, Any] | None = None

    def prepare(self, fingerprint: str, streams: list[Resumable]) -> None:
        self.fingerprint, self.streams = fingerprint, list(streams)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def seconds(self) -> float:
        """Training seconds so far, earlier attempts included."""
        return self.seconds_before + time.perf_counter() - self._started

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self._pending_rng is not None:
            restore_global_rng(self._pending_rng)
            self._pending_rng = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # before any save at this batch's end: build_trainer puts this callback first, and
        # Lightning runs ModelCheckpoint last
        self.batches += 1

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[RESUME_KEY] = {
            "fingerprint": self.fingerprint,
            "batches": self.batches,
            "seconds": self.seconds(),
            "rng": capture_rng(pl_module),
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(RESUME_KEY)
        if state is None:  # not ours (fit_resumable refuses those before fit)
            return
        self.batches = self.resumed_batch = int(state["batches"])
        self.seconds_before = float(state["seconds"])
        for stream in self.streams:
            stream.start_at(self.batches)
        if trainer.world_size > 1 and global_rank() != 0:
            return  # rank 0's states: this rank keeps the draws fit_resumable seeded
        gens = _model_generators(pl_module)
        for name, gen_state in state["rng"]["model"].items():
            if name in gens:
                gens[name].set_state(gen_state)
        self._pending_rng = state["rng"]


def streams_of(loader: Any) -> list[Resumable]:
    """The parts of a DataLoader (its dataset, sampler, batch sampler's sampler) that can start
    at a batch (``start_at``)."""
    parts = [
        getattr(loader, "dataset", None),
        getattr(loader, "sampler", None),
        getattr(getattr(loader, "batch_sampler", None), "sampler", None),
    ]
    found: list[Resumable] = []
    for part in parts:
        if callable(getattr(part, "start_at", None)) and all(part is not f for f in found):
            found.append(part)
    return found


class StepSampler(Sampler[int]):
    """Indices of ``num_batches`` batches of ``batch_size``, indexed by batch so a resumed stage
    continues the same order (``start_at``). Data epoch e is a permutation drawn from
    ``derive_seed(seed, stream, e)``; each epoch gives its ``num_samples // batch_size`` full
    batches (the rest is dropped, as ``drop_last``), back to back, so one pass over the loader
    is the whole training run. ``len`` stays the whole run's after ``start_at``: Lightning
    counts the batches it already trained itself."""

    def __init__(
        self, num_samples: int, batch_size: int, num_batches: int, seed: int, stream: str
    ) -> None:
        if not 0 < batch_size <= num_samples:
            raise ValueError(f"batch_size {batch_size} must be in 1..{num_samples} samples")
        self.num_samples, self.batch_size = int(num_samples), int(batch_size)
        self.num_batches, self.seed, self.stream = int(num_batches), int(seed), stream
        self.per_epoch = self.num_samples // self.batch_size
        self.start = 0

    def start_at(self, batch: int) -> None:
        self.start = int(batch)

    def __len__(self) -> int:
        return self.num_batches * self.batch_size

    def _order(self, epoch: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(derive_seed(self.seed, self.stream, epoch))
        return torch.randperm(self.num_samples, generator=gen)

    def __iter__(self):
        epoch, order = -1, torch.empty(0, dtype=torch.long)
        for b in range(self.start, self.num_batches):
            e, j = divmod(b, self.per_epoch)
            if e != epoch:
                epoch, order = e, self._order(e)
            yield from order[j * self.batch_size : (j + 1) * self.batch_size].tolist()
