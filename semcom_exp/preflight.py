"""Preflight at full size: measure what a paper-scale run will cost before it is submitted.

An experiment's ``preflight(cfg, pf)`` runs its REAL stages (the same model builders, loaders,
Lightning trainer and evaluation functions as ``task=run``) on the configured model sizes,
batch sizes and resolutions, but with few training steps, few data and a truncated evaluation
grid, into a throw-away cache. It tells ``pf`` (a :class:`Preflight`) what it measured and how
many units the full experiment runs; ``task=preflight`` prints the table
(:mod:`semcom_exp.tasks.preflight`).

What is measured and how:

* training: :class:`StepTimer` (a Lightning callback put into the trainer through the
  ``callbacks`` group, so every training stage gets it without code of its own) records each
  batch's wall time, the parameter counts and, in the first step, the bytes of every tensor
  autograd saves for backward (the activations at this batch size);
* GPU memory is ESTIMATED (CPU memory says nothing about a GPU's): fp32 weights + fp32 grads +
  Adam's two fp32 moments for the trainable parameters + the activations as measured in this
  run at full size (fp32 on a CPU; not halved for bf16-mixed: autocast keeps many saved
  tensors in fp32; docs/gpu.md compares it with the peaks measured on an H200); the CUDA
  context (~0.5 GB) comes on top. On a GPU the measured peak is printed beside it;
* evaluation: one call of the real evaluation function on a truncated grid, timed per unit
  (a sampling step at the configured batch, a batch of channel grids, ...).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from semcom_exp.runner import RunContext

GB = 1024**3


def count_parameters(module: torch.nn.Module) -> tuple[int, int]:
    """(all, trainable) parameters, each tensor once."""
    seen: dict[int, torch.nn.Parameter] = {id(p): p for p in module.parameters()}
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return total, trainable


def gpu_memory_estimate(params: int, trainable: int, activation_bytes: float) -> float:
    """Bytes a training step needs on a GPU (see the module docstring), without the context."""
    weights = 4 * params + 4 * trainable + 8 * trainable  # weights, grads, Adam moments
    return weights + activation_bytes


class _SavedBytes:
    """Sums the bytes of the tensors autograd saves for backward (each storage once)."""

    def __init__(self) -> None:
        self.bytes = 0
        self._seen: set[tuple[int, int]] = set()
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        try:
            storage = t.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
        except (RuntimeError, NotImplementedError):  # e.g. a sparse or wrapper tensor
            key = (id(t), t.numel() * t.element_size())
        if key not in self._seen:
            self._seen.add(key)
            self.bytes += key[1]
        return t

    def start(self) -> None:
        self._ctx.__enter__()

    def stop(self) -> None:
        self._ctx.__exit__(None, None, None)


class StepTimer(Callback):
    """Per-batch wall times, parameter counts and first-step activation bytes of every model
    trained in this process; appended to ``StepTimer.records`` (read by the preflight)."""

    records: ClassVar[list[dict[str, Any]]] = []

    def __init__(self) -> None:
        self._rec: dict[str, Any] | None = None
        self._saved: _SavedBytes | None = None
        self._start = 0.0

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        params, trainable = count_parameters(pl_module)
        self._rec = {
            "model": str(getattr(pl_module, "name", "") or type(pl_module).__name__),
            "params": params,
            "trainable": trainable,
            "step_seconds": [],
            "activation_bytes": 0,
            "peak_gpu_bytes": None,
            "device": str(pl_module.device),
        }
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)
        StepTimer.records.append(self._rec)

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        self._sync(pl_module)
        self._start = time.perf_counter()
        if batch_idx == 0:
            self._saved = _SavedBytes()
            self._saved.start()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._sync(pl_module)
        assert self._rec is not None
        self._rec["step_seconds"].append(time.perf_counter() - self._start)
        if self._saved is not None:
            self._saved.stop()
            self._rec["activation_bytes"] = self._saved.bytes
            self._saved = None
        if pl_module.device.type == "cuda":
            self._rec["peak_gpu_bytes"] = torch.cuda.max_memory_allocated(pl_module.device)

    @staticmethod
    def _sync(pl_module: Any) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)


def steady_seconds(step_seconds: list[float]) -> float:
    """Seconds per step: the median after the first (warm-up) step, or that step alone."""
    rest = step_seconds[1:] or step_seconds
    return float(statistics.median(rest)) if rest else math.nan


@dataclass
class Preflight:
    """What an experiment's ``preflight`` measured, as rows of the table; see the module doc."""

    cfg: DictConfig  # the experiment's full config (the sizes that are measured)
    ctx: RunContext  # a throw-away cache
    steps: int  # training steps run per model
    eval_steps: int  # sampling steps / evaluation batches run per evaluation part
    rows: list[dict[str, Any]] = field(default_factory=list)

    # -------------------------------------------------------------- configs for the stages
    def shrunk(self, overrides: dict[str, Any], base: DictConfig | None = None) -> DictConfig:
        """A copy of ``base`` (default: the experiment's config) with ``overrides`` (dotted
        keys): fewer steps and data, the same sizes; the step timer in the callbacks group;
        no loggers, no progress bars."""
        source = self.cfg if base is None else base
        small = OmegaConf.create(OmegaConf.to_container(source, resolve=True))
        for key, value in overrides.items():
            OmegaConf.update(small, key, value, force_add=True)
        small.logger = {}
        small.callbacks = {"preflight_timer": {"_target_": "semcom_exp.preflight.StepTimer"}}
        small.trainer.enable_progress_bar = False
        return small

    @contextmanager
    def training(self) -> Iterator[list[dict[str, Any]]]:
        """Collects the StepTimer records of the trainings run inside the block."""
        before = len(StepTimer.records)
        new: list[dict[str, Any]] = []
        yield new
        new.extend(StepTimer.records[before:])

    # ------------------------------------------------------------------------ the rows
    def add_training(
        self, part: str, record: dict[str, Any], batch: int, steps_configured: int, note: str = ""
    ) -> None:
        """A trained model's row: ``steps_configured`` = its steps in the full experiment
        (summed over every model of this kind)."""
        sec = steady_seconds(record["step_seconds"])
        est = gpu_memory_estimate(record["params"], record["trainable"], record["activation_bytes"])
        self.rows.append(
            {
                "part": part,
                "kind": "train",
                "params_m": record["params"] / 1e6,
                "trainable_m": record["trainable"] / 1e6,
                "batch": int(batch),
                "units_measured": len(record["step_seconds"]),
                "seconds_per_unit": sec,
                "units_configured": int(steps_configured),
                "activations_gb": record["activation_bytes"] / GB,
                "gpu_mem_est_gb": est / GB,
                "gpu_peak_gb": None
                if record["peak_gpu_bytes"] is None
                else record["peak_gpu_bytes"] / GB,
                "device": record["device"],
                "note": note,
            }
        )

    def add_timed(
        self,
        part: str,
        fn: Callable[[], Any],
        units_measured: float,
        units_configured: float,
        batch: int,
        note: str = "",
        kind: str = "eval",
    ) -> Any:
        """Run ``fn`` once (the real evaluation code on a truncated grid) and add its row:
        seconds per unit = wall time / ``units_measured``."""
        dev = torch.device("cuda") if torch.cuda.is_available() else None
        if dev is not None:
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if dev is not None:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        self.rows.append(
            {
                "part": part,
                "kind": kind,
                "batch": int(batch),
                "units_measured": units_measured,
                "seconds_per_unit": seconds / max(units_measured, 1e-12),
                "units_configured": units_configured,
                "note": note,
            }
        )
        return out

    def note(self, part: str, text: str) -> None:
        """A row that only says something (a stand-in model, an unmeasured part)."""
        self.rows.append({"part": part, "kind": "note", "note": text})


# ------------------------------------------------------------------ stand-in models
#: Architectures of the pretrained models the paper configs name by folder, for a stand-in
#: with random weights when the folder is absent (from each model's published config.json).
STAND_INS: dict[str, tuple[str, dict[str, Any]]] = {
    "bert-base-uncased": (
        "bert",
        {
            "vocab_size": 30522,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "max_position_embeddings": 512,
        },
    ),
    "Qwen2.5-0.5B-Instruct": (
        "qwen2",
        {
            "vocab_size": 151936,
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "tie_word_embeddings": True,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6,
        },
    ),
}


def _write_stand_in(kind: str, sizes: dict[str, Any], words: list[str], folder: Path) -> None:
    """A loadable Hugging Face folder: random weights of the architecture + a word-level
    tokenizer over ``words`` made offline (ids below the architecture's vocabulary size)."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "bert":
        from transformers import BertConfig, BertModel, BertTokenizerFast

        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        vocab = specials + [w for w in dict.fromkeys(words) if w not in specials]
        vocab = vocab[: sizes["vocab_size"]]
        (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
        BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
        BertModel(BertConfig(**sizes)).save_pretrained(folder)
        return
    from transformers import AutoConfig, AutoModelForCausalLM

    from semcom_exp.models.lkb import word_tokenizer

    tokenizer = word_tokenizer(list(dict.fromkeys(words))[: sizes["vocab_size"] - 8])
    config = AutoConfig.for_model(
        kind, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **sizes
    )
    tokenizer.save_pretrained(folder)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)


def with_stand_ins(
    cfg: DictConfig, pf: Preflight, keys: list[str], words: Callable[[], list[str]]
) -> DictConfig:
    """``cfg`` with every model folder at ``keys`` that is absent here replaced by a stand-in
    (same architecture, random weights, corpus tokenizer) in the throw-away cache, and a note
    row saying so. A folder that exists, a hub id, or an architecture not in STAND_INS is
    left as it is (the run's own check then says what is missing)."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    for key in keys:
        name = OmegaConf.select(out, key)
        if not name or Path(str(name)).expanduser().exists():
            continue
        known = STAND_INS.get(Path(str(name)).name)
        if known is None:
            continue
        kind, sizes = known
        folder = pf.ctx.cache.root / "stand_ins" / Path(str(name)).name
        if not folder.is_dir():
            _write_stand_in(kind, sizes, words(), folder)
        OmegaConf.update(out, key, str(folder))
        pf.note(
            f"stand-in: {key}",
            f"{name} is absent here: the same architecture ({kind}, random weights) with a "
            "word-level tokenizer made from the corpus; speed and memory as the real model, "
            "the tokenizer's sequence lengths may differ",
        )
    return out
