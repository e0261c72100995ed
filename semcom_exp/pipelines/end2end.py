"""LAM-MSC end to end (``lam_msc/end2end``): modality -> MMA text -> SC link -> accuracy vs SNR.

Per modality (image VOC2012, audio LibriSpeech, video UCF101; synthetic sets by default) each
sample becomes text through its MMA backend (``mma.<modality>``, oracle by default). Samples are
split per modality into training and held-out ones (``end2end.test_fraction``). The SC model
(stage ``sc_model`` of :mod:`semcom_exp.pipelines.sc`, cached) is trained on the text corpus
(``data``) PLUS the MMA texts of the training samples, repeated ``end2end.mma_train_copies``
times, so its word tokenizer covers the MMA words; the held-out samples' texts are sent over
the link and scored against the MMA text (cosine >= ``end2end.threshold``).

Variants (``end2end.variants``, the ``variant`` column):

- ``no_lkb``: the SC link with CGE CSI (on ofdm; perfect CSI elsewhere), no LKB.
- ``ls``: the same SC model with LS CSI instead of CGE.
- ``perfect``: the same SC model with the true channel (an upper bound for the CSI).
- ``unimodal``: an SC model trained on the corpus plus the MMA texts of ONE modality
  (``end2end.unimodal_modality``) only, with CGE CSI, evaluated on every modality.

``full`` (LKB + CGE) is not implemented: the LKB stage's persona task (a user's named entities)
has no counterpart in the MMA texts, see docs/end2end.md; asking for it is a ConfigError.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from semcom_exp.channels import snr_list
from semcom_exp.data import open_dataset
from semcom_exp.data.text_corpus import TextCorpus, load_corpus
from semcom_exp.errors import ConfigError
from semcom_exp.metrics.text import bleu
from semcom_exp.models.sc_link import CHANNEL_KINDS
from semcom_exp.pipelines.sc import (
    TextScorer,
    channel_configs,
    check_sc_config,
    eval_seed,
    make_link,
    train_sc_model,
)
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.semantics.mma import MODALITIES, build_mma

log = logging.getLogger(__name__)

VARIANTS = {"no_lkb": "cge", "ls": "ls", "perfect": "perfect", "unimodal": "cge"}
NOT_IMPLEMENTED = {
    "full": "the LKB is not wired into end2end: its persona task (a user's named entities) has "
    "no counterpart in the MMA texts (class names, transcripts, action words); see "
    "docs/end2end.md. Use no_lkb | ls | perfect | unimodal",
}
NUM_EXAMPLES = 3


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _as_list(value: Any) -> list:
    value = _plain(value)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def check_end2end_config(cfg: DictConfig) -> tuple[list[str], list[str], str, list[float]]:
    """(modalities, variants, channel, SNRs); ConfigError naming the key otherwise."""
    e2e = cfg.get("end2end")
    if e2e is None:
        raise ConfigError("end2end", "missing; use experiment=lam_msc/end2end")
    modalities = _as_list(e2e.get("modalities"))
    if not modalities:
        raise ConfigError("end2end.modalities", f"give at least one of {list(MODALITIES)}")
    for m in modalities:
        if m not in MODALITIES:
            raise ConfigError(
                "end2end.modalities", f"unknown modality {m!r}; use {list(MODALITIES)}"
            )
        if e2e.get("data") is None or e2e.data.get(m) is None:
            raise ConfigError(
                f"end2end.data.{m}",
                f"missing; add `- /data@end2end.data.{m}: NAME` to the experiment's defaults",
            )
    variants = _as_list(e2e.get("variants"))
    if not variants:
        raise ConfigError("end2end.variants", f"give at least one of {list(VARIANTS)}")
    for v in variants:
        if v in NOT_IMPLEMENTED:
            raise ConfigError("end2end.variants", f"variant {v!r}: {NOT_IMPLEMENTED[v]}")
        if v not in VARIANTS:
            raise ConfigError(
                "end2end.variants", f"unknown variant {v!r}; use one of {list(VARIANTS)}"
            )
    channel = e2e.get("channel")
    if channel not in CHANNEL_KINDS:
        raise ConfigError("end2end.channel", f"unknown channel {channel!r}; use {CHANNEL_KINDS}")
    if "unimodal" in variants and e2e.get("unimodal_modality") not in modalities:
        raise ConfigError(
            "end2end.unimodal_modality",
            f"expected one of end2end.modalities {modalities}, got {e2e.get('unimodal_modality')!r}",
        )
    frac = e2e.get("test_fraction")
    if not isinstance(frac, int | float) or isinstance(frac, bool) or not 0 < frac < 1:
        raise ConfigError("end2end.test_fraction", f"expected a number in (0, 1), got {frac!r}")
    for key in ("max_samples", "mma_train_copies"):
        value = e2e.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigError(f"end2end.{key}", f"expected a positive integer, got {value!r}")
    snrs = snr_list(_plain(e2e.snr_db), "end2end.snr_db")
    return modalities, variants, channel, snrs


def _sc_view(cfg: DictConfig, channel: str, variants: list[str], snrs: list[float]) -> DictConfig:
    """The run config seen by the SC stage: one channel, the CSI sources the variants need."""
    view = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    OmegaConf.set_struct(view, False)
    csis = sorted({VARIANTS[v] for v in variants})
    if channel != "ofdm" and "cge" in csis:
        csis = [c for c in csis if c != "cge"] + ["perfect"]  # cge is a grid estimator
        csis = sorted(set(csis))
    view.sc.channels = [channel]
    view.sc.csi = csis
    view.sc.snr_db = snrs
    return view


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
            "backend": backend.name,
            "mma_seconds": time.perf_counter() - t0,
        }
        log.info("%s: %d training, %d held-out samples", modality, len(train), len(test))
    return out


def sc_corpus(
    base: TextCorpus, texts: dict[str, dict], modalities: list[str], copies: int
) -> TextCorpus:
    """The text corpus plus the MMA texts of the training samples of ``modalities``."""
    extra = [t for m in modalities for t in texts[m]["train"]] * copies
    return TextCorpus(train=list(base.train) + extra, test=list(base.test), source=base.source)


def _keyed_cfg(view: DictConfig, corpus: TextCorpus, tag: str) -> DictConfig:
    """The SC cache key is the data node: add a digest of the training texts to it."""
    keyed = OmegaConf.create(OmegaConf.to_container(view))
    OmegaConf.set_struct(keyed, False)
    digest = hashlib.sha256("\n".join(corpus.train).encode("utf-8")).hexdigest()[:16]
    keyed.data.end2end_corpus = f"{tag}:{digest}"
    return keyed


# --------------------------------------------------------------------------------- run
def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Train (or reuse) the SC model(s), send every held-out MMA text, score per variant."""
    modalities, variants, channel, snrs = check_end2end_config(cfg)
    view = _sc_view(cfg, channel, variants, snrs)
    check_sc_config(view)
    e2e = cfg.end2end
    seed = int(cfg.seed)
    node = channel_configs(view)[channel]
    texts = mma_texts(cfg, ctx, modalities)
    base = load_corpus(view.data)
    copies = int(e2e.mma_train_copies)
    summary: dict[str, Any] = {"channel": channel, "seed": seed}

    cge = None
    if channel == "ofdm" and any(VARIANTS[v] == "cge" for v in variants):
        from semcom_exp.pipelines.cge import load_cge_estimator

        cge = load_cge_estimator(view.cge, ctx.cache, node, run_cfg=view, prefix="cge")
        summary["cge_estimator"] = cge.name

    models: dict[str, Any] = {}
    groups = {"multimodal": modalities}
    if "unimodal" in variants:
        groups["unimodal"] = [str(e2e.unimodal_modality)]
    for tag, mods in groups.items():
        corpus = sc_corpus(base, texts, mods, copies)
        model, path = train_sc_model(
            _keyed_cfg(view, corpus, tag), ctx, channel, node, corpus, seed
        )
        model.link = make_link(view, node, seed, cge=cge)
        models[tag] = model
        summary[f"sc_{tag}_train_modalities"] = ",".join(mods)
        summary[f"sc_{tag}_vocab_size"] = int(model.tokenizer.vocab_size)
        for m in modalities:
            summary[f"unk_rate_{tag}_{m}"] = float(model.tokenizer.unk_rate(texts[m]["test"]))
            summary[f"truncated_{tag}_{m}"] = float(model.tokenizer.truncated(texts[m]["test"]))

    scorer = TextScorer(str(e2e.text_model), ctx.cache.root, float(e2e.threshold))
    rows: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    for modality in modalities:
        refs = texts[modality]["test"]
        summary[f"mma_{modality}"] = texts[modality]["backend"]
        summary[f"{modality}_num_train"] = len(texts[modality]["train"])
        summary[f"{modality}_num_test"] = len(refs)
        for variant in variants:
            model = models["unimodal" if variant == "unimodal" else "multimodal"]
            ids = model.tokenizer.encode(refs)
            csi = csi_of(variant, channel)
            for snr in snrs:
                model.link.reseed(eval_seed(seed, channel, snr))
                pred = model.transmit(ids, snr, csi, int(e2e.eval_batch_size))
                out = model.tokenizer.decode(pred)
                score = scorer.score(out, refs, seed)
                rows.append(
                    {
                        "modality": modality,
                        "variant": variant,
                        "snr_db": snr,
                        "accuracy": score["accuracy"],
                        "accuracy_shuffled": score["accuracy_shuffled"],
                        "bleu": score["bleu"],
                        "bleu1": bleu(out, [r.lower() for r in refs], n_gram=1),  # link lower-cases
                        "cosine_mean": score["cosine_mean"],
                        "n": len(refs),
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
                        "recovered": r,
                    }  # fmt: skip
                    for o, r in zip(refs[:NUM_EXAMPLES], out[:NUM_EXAMPLES], strict=True)
                ]
    pd.DataFrame(examples).to_csv(ctx.run_dir / "examples.csv", index=False)
    frame = pd.DataFrame(rows)
    for m in ("accuracy", "accuracy_shuffled", "bleu", "bleu1"):
        summary[m] = float(frame[m].mean())
    for (modality, variant), g in frame.groupby(["modality", "variant"], sort=False):
        summary[f"accuracy_{modality}_{variant}"] = float(g["accuracy"].mean())
        summary[f"accuracy_shuffled_{modality}_{variant}"] = float(g["accuracy_shuffled"].mean())
        for snr, h in g.groupby("snr_db"):
            summary[f"accuracy_{modality}_{variant}_snr{snr:g}"] = float(h["accuracy"].mean())
    log.info("end2end: %d result rows in %s", len(rows), ctx.run_dir)
    return RunOutput(rows=rows, summary=summary)
