"""Stages of the LAM-MSC personalised knowledge base (cached): the user personas, the global
causal LM and each user's peft adapter (shared by the LKB and the end-to-end experiments)."""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig

from semcom_exp.code_hash import StageVersion
from semcom_exp.config_utils import as_list, to_plain
from semcom_exp.data import personas as P
from semcom_exp.models import lkb as M
from semcom_exp.preflight import Preflight
from semcom_exp.runner import RunContext
from semcom_exp.training import build_trainer, fit_resumable

log = logging.getLogger(__name__)

PERSONAS_VERSION = StageVersion("1", __name__)
# 3: batches indexed by step (StepSampler), so a resumed LM continues the same order
GLOBAL_VERSION = StageVersion("3", __name__)


# 3: batches indexed by step (StepSampler), so a resumed adapter continues the same order
ADAPTER_VERSION = StageVersion("3", __name__)


def quiet_lm_warnings() -> None:
    """Silence peft / transformers chatter that is harmless here."""
    for noise in (".*is_gradient_checkpointing.*", ".*Position ids are not supported.*"):
        warnings.filterwarnings("ignore", message=noise)


def load_personas(cfg: DictConfig, ctx: RunContext) -> list[P.Persona]:
    """The configured users' prompt bases and evaluation messages (synthetic or from disk);
    ``lkb.users: null`` = every user (the built-in ones, or every folder of personas_root)."""
    users = None if cfg.lkb.get("users") is None else [str(u) for u in as_list(cfg.lkb.users)]
    root = cfg.lkb.get("personas_root")
    if root is None:
        users = users if users is not None else list(P.USERS)
        stage_cfg = {
            "users": users,
            "num_eval_predicates": int(cfg.lkb.num_eval_predicates),
            "num_eval_times": int(cfg.lkb.num_eval_times),
        }
        split = P.default_split(stage_cfg["num_eval_predicates"], stage_cfg["num_eval_times"])
        personas = P.synthetic_personas(users, split)

        def compute(out: Path, work: Path) -> None:
            P.write_personas(out, personas)

        root = ctx.cache.get_or_compute("lkb_personas", stage_cfg, PERSONAS_VERSION, compute)
    return P.read_personas(Path(str(root)).expanduser(), users)


def global_stage_config(m: DictConfig, seed: int) -> dict:
    """The global-LM stage's cache key from an LKB model node (``conf/model/lkb.yaml``)."""
    out = {
        "lm": str(m.lm),
        "general_documents": int(m.general_documents),
        "context_share": float(m.context_share),
        "global_steps": int(m.global_steps),
        "global_batch_size": int(m.global_batch_size),
        "global_lr": float(m.global_lr),
        "warmup_steps": int(m.warmup_steps),
        "max_length": int(m.max_length),
        "seed": int(seed),
    }
    if out["lm"] == M.TINY:
        out["tiny"] = to_plain(m.tiny)
    return out


def _fit(cfg: DictConfig, model, tokenizer, lines, name, steps, batch_size, lr, warmup, seed, max_length, work) -> pd.DataFrame:  # fmt: skip
    """Train ``model``'s trainable params on ``lines`` for ``steps`` steps with Lightning."""
    model.train()  # from_pretrained returns eval mode (dropout off); Lightning does not switch it
    module = M.CausalLMModule(model, lr=lr, warmup_steps=warmup, name=name)
    if steps > 0:
        ctx = M.context_length(model)
        if ctx is not None:  # virtual tokens + a training line must fit the LM's positions
            max_length = min(max_length, ctx - M.virtual_tokens(model))
        loader = M.text_loader(lines, tokenizer, batch_size, seed, max_length, num_batches=steps)
        trainer = build_trainer(cfg, name=name, max_steps=steps, work_dir=work)
        fit_resumable(trainer, module, loader, work)
    return pd.DataFrame(module.loss_history, columns=["step", "loss"])


def train_lm(
    cfg: DictConfig,
    ctx: RunContext,
    stage: dict,
    vocabulary: Callable[[], Sequence[str]],
    documents: Callable[[], list[str]],
) -> Path:
    """A cached global LM + tokenizer (``save_pretrained``), trained on ``documents()``.

    ``stage`` (:func:`global_stage_config`, plus whatever identifies the documents) is the
    cache key; ``vocabulary()`` is the tiny LM's word list (unused for a pretrained ``lm``).
    """

    def compute(out: Path, work: Path) -> None:
        torch.manual_seed(stage["seed"])
        if stage["lm"] == M.TINY:
            tokenizer = M.word_tokenizer(vocabulary())
            model = M.tiny_gpt2(tokenizer, **stage["tiny"])
        else:
            model, tokenizer = M.load_causal_lm(stage["lm"])
        losses = _fit(
            cfg, model, tokenizer, documents(), "lkb_global", stage["global_steps"],
            stage["global_batch_size"], stage["global_lr"], stage["warmup_steps"], stage["seed"],
            stage["max_length"], work,
        )  # fmt: skip
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        losses.to_csv(out / "losses.csv", index=False)

    return ctx.cache.get_or_compute("lkb_global_lm", stage, GLOBAL_VERSION, compute)


def train_global_lm(cfg: DictConfig, ctx: RunContext) -> Path:
    """Stage 2 (cached): the global LM pre-trained on the general persona corpus."""
    stage = global_stage_config(cfg.model, int(cfg.seed))
    return train_lm(
        cfg, ctx, stage, P.vocabulary,
        lambda: P.general_corpus(stage["general_documents"], stage["seed"], stage["context_share"]),
    )  # fmt: skip


def train_adapter(
    cfg: DictConfig,
    ctx: RunContext,
    global_path: Path,
    user: str,
    prompt_base: Sequence[str],
    kind: str,
    model_cfg: DictConfig | None = None,
) -> Path:
    """Stage 3 (cached): ``kind`` adapter of one user, trained on the user's prompt base.

    ``model_cfg``: the LKB model node (default ``cfg.model``)."""
    m = cfg.model if model_cfg is None else model_cfg
    adapter_cfg = to_plain(m[kind])
    base_hash = hashlib.sha256("\n".join(prompt_base).encode()).hexdigest()[:16]
    sc = {
        "global": global_path.name,
        "user": user,
        "adapter": kind,
        "adapter_cfg": adapter_cfg,
        "prompt_base": base_hash,
        "adapter_steps": int(m.adapter_steps),
        "adapter_batch_size": int(m.adapter_batch_size),
        "max_length": int(m.max_length),
        "seed": int(cfg.seed),
    }

    def compute(out: Path, work: Path) -> None:
        # a seed of its own per (user, adapter), from the stage config alone
        seed = sc["seed"] + int(hashlib.sha256(f"{user}/{kind}".encode()).hexdigest()[:6], 16)
        torch.manual_seed(seed)
        base, tokenizer = M.load_saved_lm(global_path)
        model = M.attach_adapter(base, kind, adapter_cfg)
        log.info("%s/%s: %s", user, kind, M.trainable_parameters(model))
        losses = _fit(
            cfg, model, tokenizer, list(prompt_base), f"lkb_{user}_{kind}", sc["adapter_steps"],
            sc["adapter_batch_size"], float(adapter_cfg["lr"]), 0, seed, sc["max_length"], work,
        )  # fmt: skip
        model.save_pretrained(out)
        losses.to_csv(out / "losses.csv", index=False)

    return ctx.cache.get_or_compute("lkb_adapter", sc, ADAPTER_VERSION, compute)


def user_model(global_path: Path, adapter_path: Path | None):
    """(model on the generation device, tokenizer): the global LM, plus the adapter if any."""
    base, tokenizer = M.load_saved_lm(global_path)
    model = M.load_adapter(base, adapter_path) if adapter_path is not None else base
    return model.to(M.generation_device()).eval(), tokenizer


def add_adapter_preflight_row(
    pf: Preflight, kind: str, record: dict, m: DictConfig, copies: int
) -> None:
    """``task=preflight``: the row of one measured LKB adapter of ``kind``, projected onto the
    ``copies`` the run trains (one per user, or per modality in the chain)."""
    pf.add_training(
        f"train: LKB {kind} adapter (one of {copies})",
        record,
        int(m.adapter_batch_size),
        int(m.adapter_steps) * copies,
        note=f"LM {Path(str(m.lm)).name}",
    )
