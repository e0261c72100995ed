"""LAM-MSC end to end (``lam_msc/end2end``): modality -> MMA text -> SC link -> accuracy vs SNR.

Per modality (image VOC2012, audio LibriSpeech, video UCF101; synthetic sets by default) each
sample becomes text through its MMA backend (``mma.<modality>``, oracle by default). Samples are
split per modality into training and held-out ones (``end2end.test_fraction``). The SC model
(stage ``sc_model`` of :mod:`semcom_exp.experiments.lam_msc.sc`, cached) is trained on the text corpus
(``data``) PLUS the MMA texts of the training samples, repeated ``end2end.mma_train_copies``
times, so its word tokenizer covers the MMA words; the held-out samples' texts are sent over
the link and scored against the MMA text (cosine >= ``end2end.threshold``).

Variants (``end2end.variants``, the ``variant`` column):

- ``full``: the whole chain: the sender's LKB extracts the MMA text's key semantics, they go
  over the SC link with CGE CSI, the receiver's LKB expands them
  (:mod:`semcom_exp.experiments.lam_msc.end2end_lkb`).
- ``sender_lkb``: the sender's LKB only: its key semantics over the link, scored as received
  (what the receiver's LKB adds is ``full`` minus this).
- ``keywords``: the key-semantics RULE's output (:func:`key_semantics`, a perfect extractor)
  over the link, no LKB at either end: what sending key semantics costs or gains, apart
  from how well the LKB's LM extracts and expands them.
- ``no_lkb``: the MMA text itself over the SC link with CGE CSI (on ofdm; perfect CSI
  elsewhere).
- ``ls``: as ``no_lkb`` with LS CSI instead of CGE.
- ``perfect``: as ``no_lkb`` with the true channel (an upper bound for the CSI).
- ``unimodal``: an SC model trained on the corpus plus the MMA texts of ONE modality
  (``end2end.unimodal_modality``) only, with CGE CSI, evaluated on every modality.
- ``conventional``: no semantics: the MMA text as bits (``end2end.conventional``: UTF-8 or
  Huffman, Sionna 5G LDPC + QAM) in the SC model's channel uses, on the same channel draws,
  with CGE CSI (:mod:`semcom_exp.models.conventional_link`).

Every variant but ``unimodal`` uses the same SC model; with a key-semantics variant its
training texts also hold the key semantics of the training samples (what the link carries).
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from semcom_exp.channels import snr_list
from semcom_exp.config_utils import to_plain
from semcom_exp.data import open_dataset
from semcom_exp.data.text_corpus import TextCorpus, load_corpus
from semcom_exp.errors import ConfigError
from semcom_exp.experiments.lam_msc.end2end_lkb import build_knowledge_base, check_lkb_node
from semcom_exp.experiments.lam_msc.end2end_recover import (
    recovery_on,
    recovery_point,
    run_recovery,
)
from semcom_exp.metrics.text import bleu
from semcom_exp.models.conventional_link import ConventionalLink, code_size
from semcom_exp.models.sc_tokenizer import split_words
from semcom_exp.preflight import Preflight, with_stand_ins
from semcom_exp.progress import progress
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.schema import checked
from semcom_exp.schema.experiments import LKB_VARIANTS, End2endConfig
from semcom_exp.semantics.key_semantics import key_semantics
from semcom_exp.semantics.mma import build_mma
from semcom_exp.semantics.recover import check_recover
from semcom_exp.stages.lkb import add_adapter_preflight_row
from semcom_exp.stages.sc import (
    ScModelSpec,
    TextScorer,
    check_sc_config,
    eval_seed,
    grid_summary,
    make_link,
    preflight_sc_model,
    preflight_transmit,
    train_sc_model,
)

log = logging.getLogger(__name__)

VARIANTS = {
    "full": "cge",
    "sender_lkb": "cge",
    "keywords": "cge",
    "no_lkb": "cge",
    "ls": "ls",
    "perfect": "perfect",
    "unimodal": "cge",
    "conventional": "cge",
}
KEY_VARIANTS = (*LKB_VARIANTS, "keywords")  # the link carries key semantics, not the MMA text
NUM_EXAMPLES = 3


def check_end2end_config(cfg: DictConfig) -> tuple[list[str], list[str], str, list[float]]:
    """(modalities, variants, channel, SNRs), checked by the schema (End2endConfig); then what
    needs code: the LKB's language model files, the LDPC code for the SC model's symbols and
    the recovery models (``end2end.recover``)."""
    if cfg.get("end2end") is None:
        raise ConfigError("end2end", "missing; use experiment=lam_msc/end2end")
    e2e = checked(End2endConfig, cfg.end2end, "end2end", root=cfg)
    variants = list(e2e.variants)
    if any(v in LKB_VARIANTS for v in variants):
        check_lkb_node(e2e)
    if "conventional" in variants:
        code_size(
            int(cfg.model.channel_dim) // 2,
            int(e2e.conventional.bits_per_symbol),
            float(e2e.conventional.code_rate),
            "end2end.conventional",
        )
    snrs = snr_list(to_plain(e2e.snr_db), "end2end.snr_db")
    check_recover(e2e.recover)
    return list(e2e.modalities), variants, str(e2e.channel), snrs


def csi_of(variant: str, channel: str) -> str:
    """CSI source of a variant; the CGE only exists on the OFDM grid (perfect CSI elsewhere)."""
    csi = VARIANTS[variant]
    return "perfect" if csi == "cge" and channel != "ofdm" else csi


# ----------------------------------------------------------------------------- samples
def split_indices(n: int, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic (train, test) sample indices; at least one of each when n >= 2."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    n_test = min(n - 1, max(1, round(n * test_fraction))) if n >= 2 else n
    return sorted(order[n_test:]), sorted(order[:n_test])


def mma_texts(cfg: DictConfig, ctx: RunContext, modalities: list[str]) -> dict[str, dict]:
    """Per modality: MMA texts of the training and held-out samples, and the backend's name."""
    e2e = cfg.end2end
    out: dict[str, dict] = {}
    for k, modality in enumerate(modalities):
        backend = build_mma(modality, cfg.get("mma") or {})
        dataset = open_dataset(e2e.data[modality], ctx.cache)
        n = len(dataset)
        if e2e.get("max_samples") is not None:
            n = min(n, int(e2e.max_samples))
        train, test = split_indices(n, float(e2e.test_fraction), int(cfg.seed) * 31 + k)
        t0 = time.perf_counter()
        texts = {i: backend.to_text(dataset, i) for i in range(n)}
        out[modality] = {
            "train": [texts[i] for i in train],
            "test": [texts[i] for i in test],
            "test_index": test,
            "backend": backend.name,
            "mma_seconds": time.perf_counter() - t0,
        }
        log.info("%s: %d training, %d held-out samples", modality, len(train), len(test))
    return out


def sc_corpus(
    base: TextCorpus,
    texts: dict[str, dict],
    modalities: list[str],
    copies: int,
    with_keys: bool = False,
) -> TextCorpus:
    """The text corpus plus the MMA texts of the training samples of ``modalities`` (and, with
    ``with_keys``, their key semantics: what the link carries behind a sender LKB)."""
    train = [t for m in modalities for t in texts[m]["train"]]
    extra = (train + ([key_semantics(t) for t in train] if with_keys else [])) * copies
    return TextCorpus(train=list(base.train) + extra, test=list(base.test), source=base.source)


# --------------------------------------------------------------------------------- run
def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Train (or reuse) the SC model(s) and LKBs, send every held-out MMA text, score per variant."""
    modalities, variants, channel, snrs = check_end2end_config(cfg)
    csis = sorted({csi_of(v, channel) for v in variants})
    check_sc_config(cfg, channels=[channel], csis=csis)
    e2e = cfg.end2end
    seed = int(cfg.seed)
    node = to_plain(cfg.sc.channel_configs[channel])
    texts = mma_texts(cfg, ctx, modalities)
    base = load_corpus(cfg.data)
    copies = int(e2e.mma_train_copies)
    with_lkb = any(v in LKB_VARIANTS for v in variants)
    with_keys = any(v in KEY_VARIANTS for v in variants)
    summary: dict[str, Any] = {"channel": channel, "seed": seed}

    cge = None
    if channel == "ofdm" and (
        cfg.model.train_csi == "cge" or any(VARIANTS[v] == "cge" for v in variants)
    ):
        from semcom_exp.stages.cge import load_cge_estimator

        cge = load_cge_estimator(cfg.cge, ctx.cache, node, run_cfg=cfg, prefix="cge")
        summary["cge_estimator"] = cge.name

    models: dict[str, Any] = {}
    corpora: dict[str, TextCorpus] = {}
    groups = {"multimodal": modalities}
    if "unimodal" in variants:
        groups["unimodal"] = [str(e2e.unimodal_modality)]
    for tag, mods in groups.items():
        corpus = sc_corpus(base, texts, mods, copies, with_keys=with_keys and tag == "multimodal")
        corpora[tag] = corpus
        digest = hashlib.sha256("\n".join(corpus.train).encode("utf-8")).hexdigest()[:16]
        spec = ScModelSpec.of_run(cfg, channel, node, seed, extra_texts=f"{tag}:{digest}")
        model, path = train_sc_model(spec, corpus, ctx, cfg, cge=cge)
        model.link = make_link(spec, cge=cge)
        models[tag] = model
        summary[f"sc_{tag}_train_modalities"] = ",".join(mods)
        summary[f"sc_{tag}_vocab_size"] = int(model.tokenizer.vocab_size)
        for m in modalities:
            summary[f"unk_rate_{tag}_{m}"] = float(model.tokenizer.unk_rate(texts[m]["test"]))
            summary[f"truncated_{tag}_{m}"] = float(model.tokenizer.truncated(texts[m]["test"]))

    conventional = None
    if "conventional" in variants:  # the SC model's link: same channel uses, same draws
        conventional = ConventionalLink.from_config(
            models["multimodal"].link, to_plain(e2e.conventional), corpora["multimodal"].train
        )
        summary["conventional_info_bits"] = int(conventional.info_bits)
        for m in modalities:
            summary[f"truncated_conventional_{m}"] = conventional.truncated(texts[m]["test"])

    scorer = TextScorer(str(e2e.text_model), ctx.cache.root, float(e2e.threshold))
    kb = None
    if with_lkb:
        kb, kb_summary = build_knowledge_base(cfg, ctx, base.train, texts, modalities)
        summary.update(kb_summary)
    rows: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    point = recovery_point(cfg, snrs) if recovery_on(cfg) else None
    picked: dict[str, dict[str, list]] = {}  # the texts recovery maps back, per modality
    for modality in modalities:
        refs = texts[modality]["test"]
        summary[f"mma_{modality}"] = texts[modality]["backend"]
        summary[f"{modality}_num_train"] = len(texts[modality]["train"])
        summary[f"{modality}_num_test"] = len(refs)
        summary[f"words_{modality}"] = _mean_words(refs)
        keys = None
        if kb is not None:
            keys = kb.extract(modality, refs)
            summary.update(_lkb_summary(modality, kb, keys, refs, scorer, seed))
        for variant in variants:
            model = models["unimodal" if variant == "unimodal" else "multimodal"]
            sent = _link_texts(variant, refs, keys)
            ids = model.tokenizer.encode(sent)
            csi = csi_of(variant, channel)
            for snr in progress(snrs, f"evaluate {modality} {variant}"):
                model.link.reseed(eval_seed(seed, channel, snr))
                if variant == "conventional":
                    out = conventional.send(sent, snr, csi, int(e2e.eval_batch_size))
                else:
                    pred = model.transmit(ids, snr, csi, int(e2e.eval_batch_size))
                    out = model.tokenizer.decode(pred)
                if variant == "full":
                    out = kb.expand(modality, out)
                if (variant, snr) == point:
                    picked[modality] = {
                        "index": texts[modality]["test_index"],
                        "mma_text": refs,
                        "sent": sent,
                        "recovered": out,
                    }
                score = scorer.score(out, refs, seed)
                rows.append(
                    {
                        "modality": modality,
                        "variant": variant,
                        "snr_db": snr,
                        "accuracy": score["accuracy"],
                        "accuracy_shuffled": score["accuracy_shuffled"],
                        "bleu": score["bleu"],
                        "bleu1": bleu(
                            lowered(out), lowered(refs), n_gram=1
                        ),  # SC output is uncased
                        "cosine_mean": score["cosine_mean"],
                        "n": len(refs),
                        "words_sent": _mean_words(sent),
                        "channel_uses": int(model.link.channel_uses),
                        "seed": seed,
                        "csi": csi,
                        "channel": channel,
                    }
                )
                examples += [
                    {
                        "modality": modality,
                        "variant": variant,
                        "snr_db": snr,
                        "original": o,
                        "sent": t,
                        "recovered": r,
                    }  # fmt: skip
                    for o, t, r in zip(
                        refs[:NUM_EXAMPLES], sent[:NUM_EXAMPLES], out[:NUM_EXAMPLES], strict=True
                    )
                ]
    pd.DataFrame(examples).to_csv(ctx.run_dir / "examples.csv", index=False)
    if point is not None:
        summary |= run_recovery(cfg, ctx, picked, scorer, seed)
    summary |= grid_summary(
        pd.DataFrame(rows),
        by=("modality", "variant"),
        overall=("accuracy", "accuracy_shuffled", "bleu", "bleu1"),
        per_group=("accuracy", "accuracy_shuffled"),
    )
    log.info("end2end: %d result rows in %s", len(rows), ctx.run_dir)
    return RunOutput(rows=rows, summary=summary)


def _link_texts(variant: str, refs: list[str], lkb_keys: list[str] | None) -> list[str]:
    """What the link carries: the sender LKB's key semantics, the rule's, or the MMA text."""
    if variant in LKB_VARIANTS:
        return lkb_keys
    if variant == "keywords":
        return [key_semantics(r) for r in refs]
    return refs


def _mean_words(texts: list[str]) -> float:
    """Mean word / punctuation tokens per text (the SC tokenizer's split)."""
    return float(np.mean([len(split_words(t)) for t in texts])) if texts else 0.0


def _lkb_summary(
    modality: str, kb: Any, keys: list[str], refs: list[str], scorer: TextScorer, seed: int
) -> dict[str, float]:
    """The LKB alone, over an ideal link: extraction vs the rule, the round trip's accuracy,
    and the accuracy of the key semantics themselves with no recovery."""
    gold = [key_semantics(r) for r in refs]
    round_trip = kb.expand(modality, keys)
    return {
        f"lkb_extract_accuracy_{modality}": float(
            np.mean([k == g for k, g in zip(keys, gold, strict=True)])
        ),
        f"lkb_ideal_accuracy_{modality}": scorer.score(round_trip, refs, seed)["accuracy"],
        f"keywords_only_accuracy_{modality}": scorer.score(gold, refs, seed)["accuracy"],
        f"words_keys_{modality}": _mean_words(keys),
    }


def lowered(texts: list[str]) -> list[str]:
    """Lower-cased texts: BLEU-1 compares words, and the SC link's word tokenizer is uncased."""
    return [t.lower() for t in texts]


# --------------------------------------------------------------------------- preflight
def _synthetic_where_absent(cfg: DictConfig, pf: Preflight) -> DictConfig:
    """Each modality whose data set is absent here reads its synthetic set (the real on-disk
    layout, written by the reader) instead; a note row says so."""
    absent = {}
    for modality in cfg.end2end.modalities:
        root = OmegaConf.select(cfg, f"end2end.data.{modality}.root")
        if root and not Path(str(root)).expanduser().exists():
            absent[f"end2end.data.{modality}.root"] = None
            pf.note(f"data: {modality}", f"{root} is absent here: its synthetic set instead")
    return pf.shrunk(absent, base=cfg) if absent else cfg


def preflight(cfg: DictConfig, pf: Preflight) -> None:
    """``task=preflight``: synthetic data and stand-in models where the real ones are absent
    here; the CGE, the SC model and one user's LKB adapter for ``pf.steps`` steps each; then
    ``pf.eval_steps`` batches of messages through the link and the LKB's extraction, per
    message; projected onto every modality, variant and SNR. The conventional link's decoding
    (LDPC) is not measured."""
    cfg = _synthetic_where_absent(cfg, pf)
    base = load_corpus(cfg.data)
    words = lambda: split_words(" ".join(base.train))  # noqa: E731
    cfg = with_stand_ins(cfg, pf, ["model.encoder", "end2end.lkb_model.lm"], words)
    modalities, variants, channel, snrs = check_end2end_config(cfg)
    csis = sorted({csi_of(v, channel) for v in variants})
    check_sc_config(cfg, channels=[channel], csis=csis)
    e2e, node = cfg.end2end, to_plain(cfg.sc.channel_configs[channel])
    n = min(int(e2e.max_samples or 8), 8)  # samples per modality here
    small = pf.shrunk(
        {
            "end2end.max_samples": n,
            "end2end.modalities": modalities[:1],
            "end2end.lkb_model.adapter_steps": pf.steps,
            "end2end.lkb_model.global_steps": min(pf.steps, int(e2e.lkb_model.global_steps)),
        },
        base=cfg,
    )
    texts = mma_texts(small, pf.ctx, modalities[:1])
    cge = None
    if channel == "ofdm" and (
        cfg.model.train_csi == "cge" or any(VARIANTS[v] == "cge" for v in variants)
    ):
        from semcom_exp.stages.cge import preflight_generator

        cge = preflight_generator(pf, cfg.cge, node, str(cfg.cge.loss), prefix="cge")
    with_keys = any(v in KEY_VARIANTS for v in variants)
    corpus = sc_corpus(base, texts, modalities[:1], int(e2e.mma_train_copies), with_keys)
    spec = ScModelSpec.of_run(cfg, channel, node, int(cfg.seed), extra_texts="preflight")
    sc_models = 2 if "unimodal" in variants else 1
    model = preflight_sc_model(pf, spec, corpus, sc_models, cge=cge)
    model.link = make_link(spec, cge=cge)
    test = max(1, round(int(e2e.max_samples or n) * float(e2e.test_fraction)))
    sent = [v for v in variants if v != "conventional"]
    messages = len(modalities) * len(sent) * len(snrs) * test
    csi = "cge" if cge is not None else csis[0]
    batch = int(e2e.eval_batch_size)
    preflight_transmit(pf, model, texts[modalities[0]]["test"], csi, snrs[0], batch, messages)
    if "conventional" in variants:
        pf.note("eval: conventional link", "not measured (LDPC + QAM over the same link)")
    if recovery_on(cfg):
        pf.note("eval: end2end.recover", "not measured (text -> modality at the receiver)")
    if not any(v in LKB_VARIANTS for v in variants):
        return
    with pf.training() as records:
        kb, _ = build_knowledge_base(small, pf.ctx, base.train, texts, modalities[:1])
    m = e2e.lkb_model
    if int(m.global_steps):
        pf.add_training(
            "train: LKB global LM", records[0], int(m.global_batch_size), int(m.global_steps)
        )
    if records and str(e2e.lkb.adapter) != "none":
        add_adapter_preflight_row(pf, str(e2e.lkb.adapter), records[-1], m, len(modalities))
    refs = texts[modalities[0]]["test"][: pf.eval_steps]
    # extraction once per held-out text; expansion ("full") once per text and SNR
    generations = len(modalities) * test * (1 + len(snrs) * ("full" in variants))
    pf.add_timed(
        "eval: LKB generation (per text)",
        lambda: kb.extract(modalities[0], refs),
        len(refs),
        generations,
        batch=len(refs),
        note=f"greedy, up to {m.max_new_tokens} new tokens",
    )
