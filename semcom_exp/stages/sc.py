"""Stage ``sc_model`` (cached): the LAM-MSC semantic-communication model for one channel kind and
seed, the link around it, and how a link's recovered text is scored (shared by the SC and the
end-to-end experiments)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from semcom_exp.channels import validate_channel_config
from semcom_exp.code_hash import StageVersion
from semcom_exp.config_utils import as_list, to_plain
from semcom_exp.data.text_corpus import TextCorpus
from semcom_exp.distributed import eval_device
from semcom_exp.errors import ConfigError
from semcom_exp.models.sc_link import SemanticLink
from semcom_exp.models.sc_transformer import SCTransformer, check_model_config, preflight_encoder
from semcom_exp.preflight import Preflight
from semcom_exp.resume import StepSampler
from semcom_exp.runner import RunContext
from semcom_exp.schema import checked
from semcom_exp.schema.experiments import ScLinkConfig
from semcom_exp.schema.model import CgeConfig
from semcom_exp.seeds import derive_seed
from semcom_exp.training import build_trainer, fit_resumable

# 2: named seed streams (semcom_exp.seeds); 3: pretrained encoders train in train mode;
# 4: batches indexed by step (StepSampler), so a resumed stage continues the same order
VERSION = StageVersion("4", __name__)
STAGE = "sc_model"


def channel_configs(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """The channel node of every kind in ``sc.channels`` (from ``sc.channel_configs``)."""
    nodes = to_plain(cfg.sc.get("channel_configs")) or {}
    return {kind: dict(nodes[kind]) for kind in as_list(cfg.sc.channels)}


def _validate_channel(kind: str, node: dict[str, Any]) -> None:
    try:
        validate_channel_config(node)
    except ConfigError as exc:
        key = exc.key.removeprefix("channel.")
        raise ConfigError(f"sc.channel_configs.{kind}.{key}", str(exc).split(": ", 1)[-1]) from None


def seeds_of(cfg: DictConfig) -> list[int]:
    """``sc.seeds``, or the run's seed when null."""
    return [int(s) for s in as_list(cfg.sc.get("seeds"))] or [int(cfg.seed)]


def check_sc_config(
    cfg: DictConfig, channels: list[str] | None = None, csis: list[str] | None = None
) -> None:
    """Everything the SC stage needs, checked before any data, training or cache access: the
    schema's checks (ScLinkConfig, ScModelConfig, CgeConfig), then what needs the channel code
    (each channel node's grid, profile and pilots) and the encoder's files. ``channels`` and
    ``csis``: the channel kinds and CSI sources this run uses, when not ``sc.channels`` /
    ``sc.csi`` (the end-to-end experiment picks one channel and the CSI its variants need)."""
    chosen = {"channels": channels, "csi": csis}
    node = {**to_plain(cfg.sc), **{k: v for k, v in chosen.items() if v is not None}}
    sc = checked(ScLinkConfig, node, "sc", root=cfg)
    for kind in sc.channels:
        _validate_channel(kind, to_plain(sc.channel_configs[kind]))
    check_model_config(cfg.model)
    if "cge" in sc.csi:
        checked(CgeConfig, cfg.cge, "cge")
    preflight_encoder(cfg.model.get("encoder"))


def _channel_key(node: Mapping[str, Any]) -> dict[str, Any]:
    """What of a channel node shapes the trained model (not the eval SNRs or LMMSE prior)."""
    return {k: v for k, v in node.items() if k not in ("snr_db", "lmmse_assumed")}


@dataclass(frozen=True)
class ScModelSpec:
    """What one trained SC model depends on, so its cache key: the model settings, the
    training text's identity (the corpus node, plus a digest when an experiment adds texts),
    the channel (kind and the node's model-shaping keys), the seed, and the pilots per fading
    block on flat channels."""

    model: dict[str, Any]
    data: dict[str, Any]
    kind: str
    channel: dict[str, Any]
    seed: int
    flat_pilots: int
    cge: dict[str, Any] | None = None  # the CGE node, when it is in the training loop

    @classmethod
    def of_run(
        cls,
        cfg: DictConfig,
        kind: str,
        node: Mapping[str, Any],
        seed: int,
        extra_texts: str | None = None,
    ) -> ScModelSpec:
        """From a run config's ``model``, ``data`` and ``sc`` nodes; ``extra_texts`` names the
        texts an experiment adds to the corpus (it joins the key as ``data.end2end_corpus``)."""
        data = to_plain(cfg.data)
        if extra_texts is not None:
            data = {**data, "end2end_corpus": extra_texts}
        model = to_plain(cfg.model)
        cge = to_plain(cfg.cge) if model["train_csi"] == "cge" else None
        return cls(model, data, kind, dict(node), int(seed), int(cfg.sc.flat_pilots), cge)

    def stage_config(self) -> dict[str, Any]:
        """The ``sc_model`` cache key."""
        key = {
            "model": self.model,
            "channel": _channel_key(self.channel),
            "data": self.data,
            "seed": self.seed,
        }
        if self.kind != "ofdm" and self.model["train_csi"] == "ls":
            key["flat_pilots"] = self.flat_pilots
        if self.cge is not None:
            key["cge"] = self.cge
        return key


class _Ids(torch.utils.data.Dataset):
    def __init__(self, ids: torch.Tensor) -> None:
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"ids": self.ids[i]}


def make_link(spec: ScModelSpec, cge: Any = None) -> SemanticLink:
    """The channel link an SC model of ``spec`` sends through (CSI from ``cge`` if given)."""
    return SemanticLink(
        spec.channel,
        int(spec.model["channel_dim"]) // 2,
        flat_pilots=spec.flat_pilots,
        equalizer=str(spec.model["equalizer"]),
        seed=derive_seed(spec.seed, "sc/link"),
        cge=cge,
    )


def train_sc_model(
    spec: ScModelSpec,
    corpus: TextCorpus,
    ctx: RunContext,
    run_cfg: DictConfig,
    cge: Any = None,
) -> tuple[SCTransformer, Path]:
    """Stage ``sc_model``: the SC model of ``spec`` on ``corpus`` (trained if not cached).
    ``run_cfg`` gives the trainer, logger and callbacks groups; ``cge`` the CGE estimator a
    ``train_csi=cge`` model trains through (``load_cge_estimator``)."""
    mcfg, seed = spec.model, spec.seed
    if spec.cge is not None and cge is None:
        raise ConfigError("model.train_csi", "train_csi=cge needs the trained CGE estimator")

    def compute(out: Path, work: Path) -> None:
        start = time.perf_counter()
        torch.manual_seed(derive_seed(seed, "sc/init"))
        link = make_link(spec, cge=cge if spec.cge is not None else None)
        model = SCTransformer.from_config(mcfg, corpus.train, link=link, seed=seed)
        ids = model.tokenizer.encode(corpus.train)
        batch = min(int(mcfg["batch_size"]), len(ids))
        order = StepSampler(len(ids), batch, int(mcfg["train_steps"]), seed, "sc/batches")
        loader = torch.utils.data.DataLoader(_Ids(ids), batch_size=batch, sampler=order)
        trainer = build_trainer(
            run_cfg,
            name=f"sc_{spec.kind}_s{seed}",
            max_steps=int(mcfg["train_steps"]),
            work_dir=work,
            checkpoint_every=200,
        )
        earlier = fit_resumable(trainer, model, loader, work)
        model.tokenizer.save(out)
        torch.save(model.state_dict(), out / "model.pt")
        losses = pd.DataFrame(model.loss_history)
        losses.to_csv(out / "losses.csv", index=False)
        tail = losses.tail(max(1, len(losses) // 10)) if len(losses) else losses
        summary = {
            "train_seconds": time.perf_counter() - start + earlier,  # killed attempts too
            "train_steps": int(mcfg["train_steps"]),
            "final_loss": float(tail["loss"].mean()) if len(tail) else float("nan"),
            "final_ce": float(tail["ce"].mean()) if len(tail) else float("nan"),
            "vocab_size": int(model.tokenizer.vocab_size),
            "num_parameters": int(sum(p.numel() for p in model.parameters())),
        }
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2))

    path = ctx.cache.get_or_compute(STAGE, spec.stage_config(), VERSION, compute)
    model = SCTransformer.from_config(mcfg, corpus.train, artifact_dir=path, seed=seed)
    model.load_state_dict(torch.load(path / "model.pt", weights_only=True))
    return model.eval().to(eval_device(run_cfg.get("trainer"))), path


def preflight_sc_model(
    pf: Preflight, spec: ScModelSpec, corpus: TextCorpus, count: int, cge: Any = None
) -> SCTransformer:
    """``task=preflight`` of the SC model of ``spec``: ``pf.steps`` steps at its batch size
    through ``train_sc_model`` (a throw-away cache); ``count`` models of this size train in
    the full run (channel kinds x seeds); ``cge`` as for train_sc_model. Returns the model on
    the evaluation device."""
    steps = int(spec.model["train_steps"])
    small = replace(spec, model={**spec.model, "train_steps": pf.steps})
    with pf.training() as records:
        model, _ = train_sc_model(small, corpus, pf.ctx, pf.shrunk({}), cge=cge)
    encoder = spec.model.get("encoder") or (
        "tiny BERT" if spec.model.get("tiny_bert") else "scratch"
    )
    pf.add_training(
        "train: SC model" + (f" (one of {count})" if count > 1 else ""),
        records[-1],
        int(spec.model["batch_size"]),
        steps * count,
        note=f"{spec.kind} link, encoder {Path(str(encoder)).name}, {spec.model['max_len']} tokens",
    )
    return model


def preflight_transmit(
    pf: Preflight,
    model: SCTransformer,
    texts: list[str],
    csi: str,
    snr_db: float,
    batch: int,
    messages_configured: int,
    scorer: TextScorer | None = None,
) -> None:
    """``task=preflight`` of the SC evaluation: ``pf.eval_steps`` batches of messages through
    the link and the decoder, then their scoring, per message."""
    sent = (texts * (1 + pf.eval_steps * batch // max(1, len(texts))))[: pf.eval_steps * batch]
    ids = model.tokenizer.encode(sent)
    pred = pf.add_timed(
        "eval: SC link + decoder (per message)",
        lambda: model.transmit(ids, snr_db, csi, batch),
        len(sent),
        messages_configured,
        batch=batch,
        note=f"csi={csi}, on {model.device}",
    )
    if scorer is not None:
        decoded = model.tokenizer.decode(pred)
        pf.add_timed(
            "eval: text scoring (per message)",
            lambda: scorer.score(decoded, sent, 0),
            len(sent),
            messages_configured,
            batch=len(sent),
            note="sentence-embedding cosine, BLEU",
        )


class TextScorer:
    """Sentence-embedding accuracy, its shuffled chance level, cosine and BLEU (memoised).

    ``bleu_uncased`` compares lower-cased texts: an uncased tokenizer (MiniLM's, BERT-uncased)
    can only decode lower case, which cased BLEU counts as errors on every capital."""

    def __init__(self, model: str, cache_dir: Path | None, threshold: float) -> None:
        from semcom_exp.metrics.text import TextSimilarity

        self.sim = TextSimilarity(model, cache_dir=cache_dir)
        self.threshold = float(threshold)
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if new:
            self._memo.update(zip(new, self.sim.embed(new), strict=True))
        return np.stack([self._memo[t] for t in texts])

    def score(
        self, recovered: Sequence[str], originals: Sequence[str], seed: int
    ) -> dict[str, float]:
        from semcom_exp.metrics.text import bleu, derangement

        a, b = self.embed(recovered), self.embed(originals)
        cos = np.sum(a * b, axis=1)
        perm = derangement(len(originals), seed)
        shuffled = np.sum(a * b[perm], axis=1)
        return {
            "accuracy": float(np.mean(cos >= self.threshold)),
            "accuracy_shuffled": float(np.mean(shuffled >= self.threshold)),
            "cosine_mean": float(np.mean(cos)),
            "bleu": bleu(list(recovered), list(originals)),
            "bleu_uncased": bleu([t.lower() for t in recovered], [t.lower() for t in originals]),
        }


def token_scores(pred: torch.Tensor, ref: torch.Tensor, pad_id: int) -> dict[str, float]:
    """Token accuracy on the reference's non-pad positions, and whole-sequence exact match."""
    mask = ref != pad_id
    tok = ((pred == ref) & mask).sum().item() / max(1, mask.sum().item())
    exact = ((pred == ref) | ~mask).all(dim=1).float().mean().item()
    return {"token_accuracy": tok, "exact_match": exact}


def eval_seed(seed: int, kind: str, snr_db: float) -> int:
    """Seed of the channel / noise draws of one (seed, channel, SNR) cell, shared by every CSI."""
    return derive_seed(seed, "sc/evaluation", kind, snr_db)


def bits_summary(
    num_symbols: int, bits_per_symbol: float, raw_bits: np.ndarray
) -> dict[str, float]:
    """Transmitted bits per message (symbols x bits per symbol) beside the raw UTF-8 text bits."""
    tx = num_symbols * bits_per_symbol
    return {
        "channel_symbols_per_message": num_symbols,
        "bits_per_symbol": bits_per_symbol,
        "tx_bits_per_message": tx,
        "raw_text_bits_mean": float(raw_bits.mean()),
        "raw_text_bits_max": float(raw_bits.max()),
        "raw_over_tx_bits": float(raw_bits.mean() / tx),
    }


def grid_summary(
    frame: pd.DataFrame,
    by: Sequence[str] = ("channel", "csi"),
    overall: Sequence[str] = (
        "accuracy",
        "accuracy_shuffled",
        "cosine_mean",
        "bleu",
        "bleu_uncased",
        "token_accuracy",
    ),
    per_group: Sequence[str] = ("accuracy", "bleu"),
) -> dict[str, float]:
    """Flat means for results.json: ``overall`` columns, ``per_group`` ones per ``by`` group
    (``accuracy_ofdm_cge``), and accuracy per group and SNR (``accuracy_ofdm_cge_snr5``)."""
    out = {m: float(frame[m].mean()) for m in overall}
    for keys, g in frame.groupby(list(by), sort=False):
        tag = "_".join(str(k) for k in keys)
        for m in per_group:
            out[f"{m}_{tag}"] = float(g[m].mean())
        for snr, h in g.groupby("snr_db"):
            out[f"accuracy_{tag}_snr{snr:g}"] = float(h["accuracy"].mean())
    return out
