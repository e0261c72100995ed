"""LAM-MSC semantic link (`lam_msc/sc`): text accuracy vs SNR for every CSI source and channel.

Stages:

1. corpus (not cached: the embedded corpus is generated in milliseconds; real corpora are
   cached by ``datasets``): train / test sentences, :mod:`semcom_exp.data.text_corpus`.
2. ``cge_generator`` (cached, shared with ``lam_msc/cge``): the CGE estimator for the OFDM
   grid, looked up by the ``cge`` node (conf/model/cge.yaml) and the OFDM channel config;
   only when csi=cge is evaluated on channel=ofdm.
3. ``sc_model`` (cached): ONE SC model per channel kind and seed, trained with
   ``model.train_csi`` (default perfect CSI) over the SNR range ``model.snr_db_range``.
4. evaluation (not cached): every test sentence through the link at every SNR with every CSI
   source; all sources see the same channel and noise draws (the link is reseeded per
   (seed, channel, SNR)). Scored with the sentence-embedding cosine (the paper's accuracy:
   cosine >= ``sc.threshold``), its shuffled-pair chance level, BLEU and token accuracy.

csi=cge needs the OFDM grid (the CGE estimates a grid from its pilots); on awgn / rayleigh
those rows are skipped and results.json says so.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from semcom_exp.channels import snr_list
from semcom_exp.config_utils import as_list, to_plain
from semcom_exp.data.text_corpus import load_corpus
from semcom_exp.metrics.text import TextModelUnavailable
from semcom_exp.models.sc_tokenizer import split_words
from semcom_exp.preflight import Preflight, with_stand_ins
from semcom_exp.progress import progress
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.stages.sc import (
    STAGE,
    VERSION,
    ScModelSpec,
    TextScorer,
    bits_summary,
    channel_configs,
    check_sc_config,
    eval_seed,
    grid_summary,
    make_link,
    preflight_sc_model,
    preflight_transmit,
    seeds_of,
    token_scores,
    train_sc_model,
)

log = logging.getLogger(__name__)

NUM_EXAMPLES = 3  # recovered sentences kept per (seed, channel, csi, SNR) in examples.csv


# --------------------------------------------------------------------------------- run
def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Train (or reuse) the SC model of every channel kind, evaluate the (channel, csi, SNR) grid."""
    check_sc_config(cfg)
    sc = cfg.sc
    corpus = load_corpus(cfg.data)
    channels = channel_configs(cfg)
    csis, snrs, seeds = (
        as_list(sc.csi),
        snr_list(to_plain(sc.snr_db), "sc.snr_db"),
        seeds_of(cfg),
    )
    bits_per_symbol = float(sc.bits_per_symbol)
    notes: dict[str, Any] = {}

    cge = None
    if ("cge" in csis or cfg.model.train_csi == "cge") and "ofdm" in channels:
        from semcom_exp.stages.cge import load_cge_estimator

        t0 = time.perf_counter()
        cge = load_cge_estimator(cfg.cge, ctx.cache, channels["ofdm"], run_cfg=cfg, prefix="cge")
        notes["cge_estimator"] = cge.name
        notes["cge_load_seconds"] = time.perf_counter() - t0
    skipped = [k for k in channels if k != "ofdm"] if "cge" in csis else []
    if skipped:
        notes["skipped"] = (
            f"csi=cge on {', '.join(skipped)}: the CGE is a grid estimator (channel=ofdm only)"
        )

    scorer = TextScorer(str(sc.text_model), ctx.cache.root, float(sc.threshold))
    refs = list(corpus.test)
    raw_bits = np.array([8 * len(t.encode("utf-8")) for t in refs], dtype=float)
    rows: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    losses: list[pd.DataFrame] = []
    tokenizer = None
    for seed in seeds:
        for kind, node in channels.items():
            spec = ScModelSpec.of_run(cfg, kind, node, seed)
            reused = ctx.cache.path(STAGE, spec.stage_config(), VERSION).is_dir()
            reused = reused and not ctx.cache.force
            model, path = train_sc_model(spec, corpus, ctx, cfg, cge=cge)
            train = json.loads((path / "train_summary.json").read_text())
            tag = f"{kind}" if len(seeds) == 1 else f"{kind}_s{seed}"
            notes.update(
                {
                    f"train_seconds_{tag}": train["train_seconds"],
                    f"reused_{tag}": reused,
                    f"final_loss_{tag}": train["final_loss"],
                    f"final_ce_{tag}": train["final_ce"],
                }
            )
            frame = pd.read_csv(path / "losses.csv")
            frame.insert(0, "seed", seed)
            frame.insert(0, "channel", kind)
            losses.append(frame)
            tokenizer = model.tokenizer
            link = make_link(spec, cge=cge)
            model.link = link
            ids = tokenizer.encode(refs)
            t0 = time.perf_counter()
            for snr in progress(snrs, f"evaluate sc {kind} seed {seed}"):
                for csi in csis:
                    if csi == "cge" and kind != "ofdm":
                        continue
                    link.reseed(eval_seed(seed, kind, snr))
                    pred = model.transmit(ids, snr, csi, int(sc.eval_batch_size))
                    texts = tokenizer.decode(pred)
                    row = {"csi": csi, "channel": kind, "snr_db": snr, "seed": seed}
                    row.update(scorer.score(texts, refs, seed))
                    row.update(token_scores(pred, ids, tokenizer.pad_id))
                    row.update(
                        {
                            "num_messages": len(refs),
                            "channel_symbols": link.num_symbols,
                            "pilot_symbols": link.pilot_symbols,
                            "channel_uses": link.channel_uses,
                            "tx_bits": link.num_symbols * bits_per_symbol,
                            "raw_text_bits_mean": float(raw_bits.mean()),
                            "train_csi": str(cfg.model.train_csi),
                            "equalizer": str(cfg.model.equalizer),
                        }
                    )
                    rows.append(row)
                    examples += [
                        {
                            "seed": seed,
                            "channel": kind,
                            "csi": csi,
                            "snr_db": snr,
                            "original": o,
                            "recovered": r,
                        }
                        for o, r in zip(refs[:NUM_EXAMPLES], texts[:NUM_EXAMPLES], strict=True)
                    ]
            notes[f"eval_seconds_{tag}"] = time.perf_counter() - t0
            notes[f"channel_uses_per_message_{kind}"] = link.channel_uses
            notes[f"pilot_symbols_per_message_{kind}"] = link.pilot_symbols
    pd.concat(losses, ignore_index=True).to_csv(ctx.run_dir / "losses.csv", index=False)
    pd.DataFrame(examples).to_csv(ctx.run_dir / "examples.csv", index=False)

    frame = pd.DataFrame(rows)
    summary: dict[str, Any] = {**corpus.summary()}
    summary.update(
        {
            "vocab_size": int(tokenizer.vocab_size),
            "unk_rate_test": float(tokenizer.unk_rate(refs)),
            "truncated_test": float(tokenizer.truncated(refs)),
            "tokenizer_ceiling_accuracy": scorer.score(tokenizer.decode(ids), refs, seeds[0])[
                "accuracy"
            ],
            "accuracy_shuffled_corpus": scorer.score(refs, refs, seeds[0])["accuracy_shuffled"],
            "threshold": float(sc.threshold),
            "text_model": str(sc.text_model),
            "train_csi": str(cfg.model.train_csi),
            "equalizer": str(cfg.model.equalizer),
            "train_snr_db_range": str(list(as_list(cfg.model.snr_db_range))),
        }
    )
    summary.update(bits_summary(int(cfg.model.channel_dim) // 2, bits_per_symbol, raw_bits))
    summary.update(grid_summary(frame))
    summary.update(notes)
    log.info("SC: %d result rows in %s", len(rows), ctx.run_dir)
    return RunOutput(rows=rows, summary=summary)


# --------------------------------------------------------------------------- preflight
def preflight(cfg: DictConfig, pf: Preflight) -> None:
    """``task=preflight``: the SC model (BERT-base stand-in when its folder is absent here)
    for ``pf.steps`` steps on the first channel kind, the CGE when csi=cge is evaluated on
    ofdm, and ``pf.eval_steps`` evaluation batches; projected onto every channel kind, seed,
    SNR and CSI source (the link's own cost per kind is assumed equal to the first's)."""
    corpus = load_corpus(cfg.data)
    cfg = with_stand_ins(cfg, pf, ["model.encoder"], lambda: split_words(" ".join(corpus.train)))
    check_sc_config(cfg)
    channels, csis = channel_configs(cfg), as_list(cfg.sc.csi)
    snrs, seeds = snr_list(to_plain(cfg.sc.snr_db), "sc.snr_db"), seeds_of(cfg)
    cge = None
    if ("cge" in csis or cfg.model.train_csi == "cge") and "ofdm" in channels:
        from semcom_exp.stages.cge import preflight_generator

        cge = preflight_generator(pf, cfg.cge, channels["ofdm"], str(cfg.cge.loss), prefix="cge")
    kind, node = next(iter(channels.items()))
    spec = ScModelSpec.of_run(cfg, kind, node, seeds[0])
    model = preflight_sc_model(pf, spec, corpus, len(channels) * len(seeds), cge=cge)
    model.link = make_link(spec, cge=cge)
    per_kind = {k: len([c for c in csis if c != "cge" or k == "ofdm"]) for k in channels}
    messages = len(corpus.test) * len(seeds) * len(snrs) * sum(per_kind.values())
    try:
        scorer = TextScorer(str(cfg.sc.text_model), pf.ctx.cache.root, float(cfg.sc.threshold))
    except TextModelUnavailable as exc:
        scorer = None
        pf.note("eval: text scoring", f"not measured: {exc}")
    csi = "cge" if cge is not None and kind == "ofdm" else csis[0]
    preflight_transmit(
        pf, model, list(corpus.test), csi, snrs[0], int(cfg.sc.eval_batch_size), messages, scorer
    )
