"""LAM-MSC LKB experiment: does a per-user adapter resolve what a short message means to its user?

Stages (each cached by its resolved config):

1. ``lkb_personas``: the synthetic persona corpus written in its on-disk layout (skipped when
   ``lkb.personas_root`` points at a hand-made one); read back with the same reader.
2. ``lkb_global_lm``: the global LM — a tiny GPT-2 pre-trained from scratch on the general
   corpus (default), or ``model.lm=PATH`` (any HF causal LM), further trained on it for
   ``model.global_steps`` steps (0 = use it as is).
3. ``lkb_adapter`` per (user, adapter in ``prompt_tuning`` | ``prefix_tuning`` | ``lora``):
   the adapter trained on
   that user's personal prompt base, saved with ``save_pretrained``.
4. evaluation (not cached): per user and adapter (``none`` = the global LM, ``in_context`` =
   the global LM with the user's fact lines prepended, or a trained adapter), the sender's LKB
   extracts each held-out message's key semantics and the receiver's LKB (same user, ideal
   link) expands them back; scored against the user's reference expansion.

Columns of results.csv (one row per user x adapter): ``entity_accuracy`` (headline: the
user's entity word recovered, no competing one), ``accuracy`` (cosine >= threshold, the
paper's measure), ``accuracy_shuffled`` (its chance level), ``bleu``, ``entity_chance``,
``entity_accuracy_receiver`` (expansion of the GOLD keywords: the receiver alone),
``extract_accuracy`` (sender's keywords exactly right), ``n``.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from semcom_exp.config_utils import as_list, to_plain
from semcom_exp.data import personas as P
from semcom_exp.errors import ConfigError
from semcom_exp.metrics.text import TextSimilarity, bleu
from semcom_exp.models import lkb as M
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.training import build_trainer, fit_resumable

log = logging.getLogger(__name__)

PERSONAS_VERSION = "1"
GLOBAL_VERSION = "2"
ADAPTER_VERSION = "2"


# ------------------------------------------------------------------------------ checks
def check_lkb_config(cfg: DictConfig) -> None:
    """Reject bad values before any work."""
    adapters = as_list(cfg.lkb.adapters)
    if not adapters:
        raise ConfigError("lkb.adapters", f"the list is empty; use some of {list(M.ADAPTERS)}")
    bad = [a for a in adapters if a not in M.ADAPTERS]
    if bad:
        raise ConfigError("lkb.adapters", f"unknown adapters {bad}; use some of {list(M.ADAPTERS)}")
    if cfg.lkb.get("users") is not None and not as_list(cfg.lkb.users):
        raise ConfigError("lkb.users", "the list is empty; name at least one user, or null for all")
    if not 0.0 <= float(cfg.lkb.threshold) <= 1.0:
        raise ConfigError("lkb.threshold", f"a cosine threshold in [0, 1], got {cfg.lkb.threshold}")
    M.preflight_lm(cfg.model.get("lm", M.TINY), "model.lm")
    if int(cfg.model.general_documents) < 1:
        raise ConfigError("model.general_documents", "needs at least one pre-training document")
    if not 0.0 <= float(cfg.model.context_share) <= 1.0:
        raise ConfigError(
            "model.context_share", f"a share in [0, 1], got {cfg.model.context_share}"
        )
    for kind in ("prompt_tuning", "prefix_tuning"):
        if int(cfg.model[kind].num_virtual_tokens) < 1:
            raise ConfigError(f"model.{kind}.num_virtual_tokens", "needs at least 1 virtual token")
    if int(cfg.model.lora.r) < 1:
        raise ConfigError("model.lora.r", "the LoRA rank must be >= 1")


def quiet_lm_warnings() -> None:
    """Silence peft / transformers chatter that is harmless here."""
    for noise in (".*is_gradient_checkpointing.*", ".*Position ids are not supported.*"):
        warnings.filterwarnings("ignore", message=noise)


# ------------------------------------------------------------------------------ stage 1
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


# ------------------------------------------------------------------------------ stage 2
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
        loader = M.text_loader(lines, tokenizer, batch_size, seed, max_length)
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


# ------------------------------------------------------------------------------ stage 3
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


# ------------------------------------------------------------------------------ stage 4
def evaluate_user(
    model, tokenizer, persona: P.Persona, kind: str, sim: TextSimilarity, cfg: DictConfig,
    competitors: set[str], chance: dict,
) -> tuple[dict, list[dict]]:  # fmt: skip
    """Sender extracts, receiver expands (same user's LKB, ideal link); one row + predictions."""
    prefix = " ".join(persona.facts) + " " if kind == "in_context" else ""
    msgs = persona.messages
    refs = [m.reference for m in msgs]
    max_new = int(cfg.model.max_new_tokens)
    sent = M.generate(model, tokenizer, [prefix + P.extract_prompt(r) for r in refs], max_new)
    recovered = M.generate(model, tokenizer, [prefix + P.expand_prompt(k) for k in sent], max_new)
    from_gold = M.generate(
        model, tokenizer, [prefix + P.expand_prompt(m.keywords) for m in msgs], max_new
    )
    thr = float(cfg.lkb.threshold)
    cos = sim.cosine(recovered, refs)
    ent = [
        P.entity_correct(r, m.name, m.entity, competitors)
        for r, m in zip(recovered, msgs, strict=True)
    ]
    ent_rx = [
        P.entity_correct(r, m.name, m.entity, competitors)
        for r, m in zip(from_gold, msgs, strict=True)
    ]
    shuffled = sim.accuracy_shuffled(recovered, refs, thr) if len(refs) > 1 else np.nan
    row = {
        "user": persona.user,
        "adapter": kind,
        "n": len(msgs),
        "accuracy": float(np.mean(cos >= thr)),
        "entity_accuracy": float(np.mean(ent)),
        "accuracy_shuffled": float(shuffled),
        "bleu": bleu(recovered, refs),
        "entity_chance": float(np.mean([chance[persona.user, m.name] for m in msgs])),
        "entity_accuracy_receiver": float(np.mean(ent_rx)),
        "extract_accuracy": float(
            np.mean([s == m.keywords for s, m in zip(sent, msgs, strict=True)])
        ),
        "cosine": float(np.mean(cos)),
    }
    preds = [
        {"user": persona.user, "adapter": kind, "reference": m.reference, "keywords": m.keywords,
         "sent": s, "recovered": r, "cosine": float(c), "entity": m.entity, "entity_ok": bool(e)}
        for m, s, r, c, e in zip(msgs, sent, recovered, cos, ent, strict=True)
    ]  # fmt: skip
    return row, preds


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Train (or reuse) the global LM and every adapter, evaluate every (user, adapter)."""
    check_lkb_config(cfg)
    quiet_lm_warnings()
    personas = load_personas(cfg, ctx)
    adapters = [str(a) for a in as_list(cfg.lkb.adapters)]
    global_path = train_global_lm(cfg, ctx)
    adapter_paths: dict[tuple[str, str], Path] = {}
    for persona in personas:
        for kind in adapters:
            if kind in M.TRAINED_ADAPTERS:
                adapter_paths[persona.user, kind] = train_adapter(
                    cfg, ctx, global_path, persona.user, persona.prompt_base, kind
                )

    sim = TextSimilarity(str(cfg.lkb.text_model), cache_dir=ctx.cache.root)
    competitors, chance = P.entity_words(personas), P.entity_chance(personas)
    rows, preds = [], []
    for persona in personas:
        for kind in adapters:
            model, tokenizer = user_model(global_path, adapter_paths.get((persona.user, kind)))
            row, p = evaluate_user(model, tokenizer, persona, kind, sim, cfg, competitors, chance)
            log.info("LKB %s/%s: entity %.2f accuracy %.2f (shuffled %.2f)", persona.user, kind,
                     row["entity_accuracy"], row["accuracy"], row["accuracy_shuffled"])  # fmt: skip
            rows.append(row)
            preds += p
    pd.DataFrame(preds).to_csv(ctx.run_dir / "predictions.csv", index=False)
    _write_losses(ctx.run_dir / "losses.csv", global_path, adapter_paths)
    summary = _summary(pd.DataFrame(rows), personas, sim, float(cfg.lkb.threshold))
    return RunOutput(rows=rows, summary=summary)


def _write_losses(path: Path, global_path: Path, adapter_paths: dict) -> None:
    frames = [
        pd.read_csv(global_path / "losses.csv").assign(model="global", user="", adapter="none")
    ]
    for (user, kind), p in adapter_paths.items():
        frames.append(
            pd.read_csv(p / "losses.csv").assign(model=f"{user}/{kind}", user=user, adapter=kind)
        )
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)


def _summary(
    frame: pd.DataFrame, personas: list[P.Persona], sim: TextSimilarity, thr: float
) -> dict:
    """Flat means per adapter, the chance levels and the keywords-only baseline."""
    out: dict[str, Any] = {
        "num_users": len(personas),
        "num_messages": int(frame.groupby("adapter")["n"].sum().iloc[0]),
    }
    for kind, g in frame.groupby("adapter", sort=False):
        w = g["n"] / g["n"].sum()
        for col in (
            "entity_accuracy",
            "accuracy",
            "accuracy_shuffled",
            "bleu",
            "entity_accuracy_receiver",
            "extract_accuracy",
        ):
            out[f"{col}_{kind}"] = float((g[col] * w).sum())
    msgs = [m for p in personas for m in p.messages]
    chance = P.entity_chance(personas)
    out["entity_chance"] = float(
        np.mean([chance[p.user, m.name] for p in personas for m in p.messages])
    )
    out["accuracy_keywords_only"] = sim.accuracy(
        [m.keywords for m in msgs], [m.reference for m in msgs], thr
    )
    out["message_bytes"] = float(np.mean([len(m.keywords.encode()) for m in msgs]))
    out["reference_bytes"] = float(np.mean([len(m.reference.encode()) for m in msgs]))
    return out
