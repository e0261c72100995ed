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

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from semcom_exp.config_utils import as_list
from semcom_exp.data import personas as P
from semcom_exp.metrics.text import TextSimilarity, bleu
from semcom_exp.models import lkb as M
from semcom_exp.preflight import Preflight, with_stand_ins
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.stages.lkb import (
    add_adapter_preflight_row,
    load_personas,
    quiet_lm_warnings,
    train_adapter,
    train_global_lm,
    user_model,
)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ checks
def check_lkb_config(cfg: DictConfig) -> None:
    """What the schema (LkbEvalConfig, LkbModelConfig) cannot say: the language model can be
    found offline. Before any work."""
    M.preflight_lm(cfg.model.lm, "model.lm")


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


# --------------------------------------------------------------------------- preflight
def preflight(cfg: DictConfig, pf: Preflight) -> None:
    """``task=preflight``: the global LM as configured (a stand-in of the same architecture,
    random weights, where the folder is absent here), ``pf.steps`` steps of its training if it
    trains, one user's adapter of each trained kind for ``pf.steps`` steps, and the greedy
    generation the evaluation runs per message (extract, expand, expand the gold keywords),
    projected onto every user and adapter."""
    cfg = with_stand_ins(cfg, pf, ["model.lm"], P.vocabulary)
    check_lkb_config(cfg)
    quiet_lm_warnings()
    m = cfg.model
    overrides = {"model.global_steps": min(pf.steps, int(m.global_steps))}
    small = pf.shrunk({**overrides, "model.adapter_steps": pf.steps}, base=cfg)
    personas = load_personas(small, pf.ctx)
    adapters = [str(a) for a in as_list(cfg.lkb.adapters)]
    with pf.training() as records:
        global_path = train_global_lm(small, pf.ctx)
    if int(m.global_steps) and records:
        pf.add_training(
            "train: LKB global LM", records[0], int(m.global_batch_size), int(m.global_steps)
        )
    persona, trained = personas[0], [k for k in adapters if k in M.TRAINED_ADAPTERS]
    adapter_paths: dict[str, Path] = {}
    for kind in trained:
        with pf.training() as records:
            adapter_paths[kind] = train_adapter(
                small, pf.ctx, global_path, persona.user, persona.prompt_base, kind
            )
        add_adapter_preflight_row(pf, kind, records[-1], m, len(personas))
    model, tokenizer = user_model(global_path, adapter_paths.get(trained[-1]) if trained else None)
    prompts = [P.extract_prompt(x.reference) for x in persona.messages[: pf.eval_steps]]
    messages = sum(len(p.messages) for p in personas)
    pf.add_timed(
        "eval: LKB generation (per text)",
        lambda: M.generate(model, tokenizer, prompts, int(m.max_new_tokens)),
        len(prompts),
        3 * messages * len(adapters),  # extract, expand, expand the gold keywords
        batch=len(prompts),
        note=f"greedy, up to {m.max_new_tokens} new tokens; {len(adapters)} adapters",
    )
