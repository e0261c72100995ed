"""Stage ``cge_generator`` (cached): the LAM-MSC conditional-GAN channel estimator, trained on
channels drawn on the fly and kept at its best validation NMSE; ``load_cge_estimator`` gives
any experiment the trained generator as an estimator."""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from semcom_exp.cache import ArtifactCache
from semcom_exp.channels import OfdmChannel, OfdmConfig, nmse_db, snr_list, snr_range
from semcom_exp.code_hash import StageVersion
from semcom_exp.config_utils import as_dict, to_plain
from semcom_exp.distributed import batch_share, eval_device, group_rank_and_size
from semcom_exp.errors import ConfigError
from semcom_exp.models.cge import LOSSES, CgeEstimator, CgeModel
from semcom_exp.preflight import Preflight
from semcom_exp.schema import checked
from semcom_exp.schema.model import CgeConfig
from semcom_exp.seeds import derive_seed
from semcom_exp.training import build_trainer, check_batch_split, fit_resumable

log = logging.getLogger(__name__)

# 2: named seed streams (semcom_exp.seeds); 3: each training batch drawn from its own seed
# (ChannelStream indexed by batch, so a resumed stage continues the same draws)
VERSION = StageVersion("3", __name__)
STAGE = "cge_generator"
#: estimator name of each training loss
ESTIMATOR_OF_LOSS = {"cgan": "cgan", "l1only": "cgan_l1only"}
LOSS_OF_ESTIMATOR = {v: k for k, v in ESTIMATOR_OF_LOSS.items()}
#: model-config keys that do not change the trained generator (kept out of the stage key)
NOT_IN_KEY = ("loss", "seed", "keep", "norm_stats")


# Used when a caller has no trainer / logger / callbacks groups (e.g. a notebook).
FALLBACK_RUN_CFG = {
    "trainer": {
        "_target_": "lightning.Trainer",
        "accelerator": "auto",
        "devices": 1,
        "precision": "32-true",
        "max_epochs": -1,
        "log_every_n_steps": 50,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    },
    "logger": {},
    "callbacks": {},
}


def check_model_config(model_cfg: Any, prefix: str = "model") -> dict[str, Any]:
    """The CGE model/training node as a plain dict, checked against the schema (CgeConfig);
    ConfigError names the key under ``prefix``."""
    return to_plain(checked(CgeConfig, model_cfg, prefix))


def channel_key(channel_cfg: Any) -> dict[str, Any]:
    """The channel settings that shape the training data (not the eval SNRs or LMMSE prior)."""
    ch = OfdmConfig.from_cfg(channel_cfg)
    return {
        "num_subcarriers": ch.num_subcarriers,
        "num_ofdm_symbols": ch.num_ofdm_symbols,
        "pdp_gains_db": [float(g) for g in ch.pdp_gains_db],
        "pdp_delays": [float(d) for d in ch.pdp_delays],
        "pilots": asdict(ch.pilots),
    }


class ChannelStream(torch.utils.data.IterableDataset):
    """Endless batches of fresh channels: ``h``, ``ls`` (LS at the pilots) and ``no`` (B,).

    Drawn on the CPU from the channel layer with their own generator, the SNR of each grid
    uniform in dB over ``snr_db_range``; Lightning moves the batches to the device. Batch i is
    drawn from ``derive_seed(seed, "batch", i)``, so a stage resumed after i batches
    (``start_at``, called by ``semcom_exp.resume.ResumeState``) continues with the very draws an
    uninterrupted run makes. Under DDP every rank draws the same batches and keeps its share
    (``batch_share``): the ranks train on different channels and together on the very batches
    one process would.
    """

    def __init__(
        self, channel: OfdmConfig, batch_size: int, snr_db_range: tuple[float, float], seed: int
    ) -> None:
        super().__init__()
        self.channel, self.batch_size, self.seed = channel, int(batch_size), int(seed)
        self.low, self.high = snr_db_range
        self.start = 0

    def start_at(self, batch: int) -> None:
        """Begin at batch ``batch`` (the batches a resumed stage has already trained on)."""
        self.start = int(batch)

    def __iter__(self):
        gen = torch.Generator()
        ofdm = OfdmChannel(self.channel, device="cpu", generator=gen)
        rank, world = group_rank_and_size()  # iterated inside trainer.fit: the DDP group
        share = batch_share(self.batch_size, rank, world)
        for i in itertools.count(self.start):
            gen.manual_seed(derive_seed(self.seed, "batch", i))
            h = ofdm.draw_channel(self.batch_size)
            snr = self.low + (self.high - self.low) * torch.rand(self.batch_size, generator=gen)
            obs = ofdm.observe_pilots(h, snr)
            batch = {"h": h, "ls": obs.ls_grid(), "no": obs.no}
            yield batch if world == 1 else {k: v[share] for k, v in batch.items()}


def validation_set(
    channel: OfdmConfig, snrs: list[float], num_grids: int, seed: int
) -> list[dict[str, Any]]:
    """Fixed fresh channels per validation SNR (own seed: never seen in training)."""
    gen = torch.Generator().manual_seed(seed)
    ofdm = OfdmChannel(channel, device="cpu", generator=gen)
    out = []
    for snr in snrs:
        h = ofdm.draw_channel(num_grids)
        obs = ofdm.observe_pilots(h, snr)
        out.append({"snr_db": snr, "h": h, "ls": obs.ls_grid(), "no": obs.no})
    return out


class BestGeneratorByValidation(Callback):
    """Scores the generator on fixed fresh channels every ``every`` iterations; keeps the best.

    Selection metric: the mean over the validation SNRs of NMSE in dB. History rows are
    ``step, snr_db, nmse_db, mean_nmse_db``; the state survives a resume from checkpoint.
    """

    def __init__(self, val_set: list[dict[str, Any]], every: int, total: int) -> None:
        self.val_set, self.every, self.total = val_set, int(every), int(total)
        self.history: list[dict[str, float]] = []
        self.best_nmse_db = math.inf
        self.best_step = -1
        self.best_state: dict[str, torch.Tensor] | None = None

    @torch.no_grad()
    def validate(self, model: CgeModel, step: int) -> float:
        was_training = model.training
        model.eval()
        scores = []
        for item in self.val_set:
            dev = model.device
            h_hat = model(item["ls"].to(dev), item["no"].to(dev)).cpu()
            scores.append((item["snr_db"], nmse_db(h_hat, item["h"])))
        model.train(was_training)
        mean = sum(s for _, s in scores) / len(scores)
        self.history += [
            {"step": step, "snr_db": snr, "nmse_db": v, "mean_nmse_db": mean} for snr, v in scores
        ]
        if mean < self.best_nmse_db:
            self.best_nmse_db, self.best_step = mean, step
            self.best_state = {
                k: v.detach().cpu().clone() for k, v in model.generator.state_dict().items()
            }
        log.info(
            "%s step %d: validation NMSE %.2f dB (best %.2f at %d)",
            model.name,
            step,
            mean,
            self.best_nmse_db,
            self.best_step,
        )
        return mean

    def on_train_start(self, trainer, pl_module) -> None:
        if not self.history:  # step 0: the untrained generator (= LS + interpolation)
            self.validate(pl_module, 0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = pl_module.iteration
        if step % self.every == 0 or step >= self.total:
            if not self.history or self.history[-1]["step"] != step:
                mean = self.validate(pl_module, step)
                pl_module.log("val/nmse_db", mean)

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "best_nmse_db": self.best_nmse_db,
            "best_step": self.best_step,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict["history"])
        self.best_nmse_db = state_dict["best_nmse_db"]
        self.best_step = state_dict["best_step"]
        self.best_state = state_dict["best_state"]


def generator_stage_config(model_cfg: Any, channel_cfg: Any, loss: str) -> dict[str, Any]:
    """The cache key of a trained generator: channel shape + model/training config + loss + seed."""
    m = as_dict(model_cfg)
    return {
        "channel": channel_key(channel_cfg),
        "model": {k: v for k, v in m.items() if k not in NOT_IN_KEY},
        "loss": loss,
        "seed": int(m["seed"]),
    }


def _run_cfg(run_cfg: DictConfig | None) -> DictConfig:
    if run_cfg is not None and run_cfg.get("trainer") is not None:
        return run_cfg
    return OmegaConf.create(FALLBACK_RUN_CFG)


def train_generator(
    model_cfg: Any,
    channel_cfg: Any,
    loss: str,
    cache: ArtifactCache,
    run_cfg: DictConfig | None = None,
    prefix: str = "model",
) -> tuple[CgeModel, Path]:
    """Stage ``cge_generator``: the best generator for ``loss`` (trained if not cached).

    Returns the model (best validation checkpoint, or the last with ``keep: last``; eval mode,
    CPU) and its artifact dir, which
    holds ``generator.pt`` (best), ``generator_last.pt``, ``val_curve.csv``, ``losses.csv`` and
    ``train_summary.json``.
    """
    m = check_model_config(model_cfg, prefix)
    if loss not in LOSSES:
        raise ConfigError(f"{prefix}.loss", f"got {loss!r}; use one of {LOSSES}")
    channel = OfdmConfig.from_cfg(channel_cfg)
    stage_cfg = generator_stage_config(m, channel_cfg, loss)
    mask = OfdmChannel(channel, device="cpu").mask
    seed, steps = int(m["seed"]), int(m["train_steps"])
    name = ESTIMATOR_OF_LOSS[loss]

    def compute(out: Path, work: Path) -> None:
        start = time.perf_counter()
        # same initial generator for both losses (a paired comparison)
        torch.manual_seed(derive_seed(seed, "cge/init"))
        model = CgeModel.from_config(m, mask, loss, name=name)
        stream = ChannelStream(
            channel,
            int(m["batch_size"]),
            snr_range(m["snr_db_range"]),
            derive_seed(seed, "cge/train_channels"),
        )
        val_snrs = snr_list(m["val_snr_db"], f"{prefix}.val_snr_db")
        val = BestGeneratorByValidation(
            validation_set(
                channel, val_snrs, int(m["val_num_grids"]), derive_seed(seed, "cge/validation")
            ),
            every=int(m["val_every_steps"]),
            total=steps,
        )
        per_it = model.optimizer_steps_per_iteration
        trainer = build_trainer(
            _run_cfg(run_cfg),
            name=f"cge_{loss}",
            max_steps=steps * per_it,
            work_dir=work,
            extra_callbacks=[val],
            checkpoint_every=100 * per_it,
            unused_parameters=True,  # the D step leaves G without gradients, the G step D
        )
        check_batch_split(int(m["batch_size"]), trainer, f"{prefix}.batch_size")
        with warnings.catch_warnings():  # the periodic resume checkpoint is post-step on purpose
            warnings.filterwarnings(
                "ignore", message=".*ModelCheckpoint with manual optimization.*"
            )
            loader = torch.utils.data.DataLoader(stream, batch_size=None)
            earlier = fit_resumable(trainer, model, loader, work)
        torch.save(val.best_state, out / "generator.pt")
        torch.save(model.generator.state_dict(), out / "generator_last.pt")
        pd.DataFrame(val.history).to_csv(out / "val_curve.csv", index=False)
        pd.DataFrame(model.loss_history).to_csv(out / "losses.csv", index=False)
        last = val.history[-1]["mean_nmse_db"] if val.history else math.nan
        summary = {
            "best_step": val.best_step,
            "best_val_nmse_db": val.best_nmse_db,
            "last_val_nmse_db": last,
            "train_steps": steps,
            "train_seconds": time.perf_counter() - start + earlier,  # killed attempts too
        }
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2))

    path = cache.get_or_compute(STAGE, stage_cfg, VERSION, compute)
    model = CgeModel.from_config(m, mask, loss, name=name)
    weights = "generator.pt" if m["keep"] == "best" else "generator_last.pt"
    model.generator.load_state_dict(torch.load(path / weights, weights_only=True))
    if m["norm_stats"] == "batch":
        if not hasattr(model.generator, "use_batch_stats"):
            raise ConfigError(f"{prefix}.norm_stats", "batch needs a generator with BatchNorm")
        model.generator.use_batch_stats()
    return model.eval(), path


def load_cge_estimator(
    cfg_cge: DictConfig,
    cache: ArtifactCache,
    channel_cfg: Any,
    run_cfg: DictConfig | None = None,
    prefix: str = "cge",
) -> CgeEstimator:
    """The trained CGE as a channel estimator ``est(obs, no=None) -> H_hat (B, S, K)``.

    ``cfg_cge``: a node shaped like conf/model/cge.yaml (architecture, training budget, ``loss``
    = ``cgan`` | ``l1only`` selecting the generator, ``seed``); in an SC experiment put it at
    ``cge`` with ``defaults: [/model@cge: cge]``. ``channel_cfg``: the OFDM ``channel`` node; the
    artifact is looked up by the channel's grid, profile and pilots plus ``cfg_cge``, and trained
    first if missing (through ``run_cfg``'s trainer / logger / callbacks groups when given, else
    a plain CPU/auto Lightning trainer). ``obs`` comes from ``OfdmChannel.observe_pilots`` on a
    channel with the same config; ``no`` overrides ``obs.no`` (the generator is told the SNR).
    ConfigError names keys under ``prefix``.
    """
    m = check_model_config(cfg_cge, prefix)
    model, _ = train_generator(m, channel_cfg, m["loss"], cache, run_cfg, prefix)
    trainer = None if run_cfg is None else run_cfg.get("trainer")
    return CgeEstimator(model, name=ESTIMATOR_OF_LOSS[m["loss"]], device=eval_device(trainer))


def read_training_outputs(
    path: Path, name: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(validation curve, losses, summary incl. compute seconds) of a generator artifact."""
    curve = pd.read_csv(path / "val_curve.csv")
    curve.insert(0, "model", name)
    losses = pd.read_csv(path / "losses.csv")
    losses.insert(0, "model", name)
    summary = json.loads((path / "train_summary.json").read_text())
    return curve, losses, summary


def preflight_generator(
    pf: Preflight, model_cfg: Any, channel_cfg: Any, loss: str, prefix: str = "model"
) -> CgeEstimator:
    """``task=preflight`` of one generator: ``pf.steps`` iterations at its batch size through
    ``train_generator`` (a throw-away cache) and its validation timed per grid on a batch's
    worth; returns the (barely trained) estimator on the evaluation device."""
    m = check_model_config(model_cfg, prefix)
    name = ESTIMATOR_OF_LOSS[loss]
    steps, every = int(m["train_steps"]), int(m["val_every_steps"])
    small = pf.shrunk({f"{prefix}.train_steps": pf.steps, f"{prefix}.val_num_grids": 2})
    with pf.training() as records:
        model, _ = train_generator(
            OmegaConf.select(small, prefix), channel_cfg, loss, pf.ctx.cache, small, prefix
        )
    pf.add_training(f"train: {name} generator + discriminator", records[-1], m["batch_size"], steps)
    dev = eval_device(pf.cfg.trainer)
    val_snrs, val_grids = [float(s) for s in m["val_snr_db"]], int(m["val_num_grids"])
    grids = min(val_grids, int(m["batch_size"]))  # the per-grid cost, on a batch's worth
    channel = OfdmConfig.from_cfg(channel_cfg)
    val = BestGeneratorByValidation(validation_set(channel, val_snrs[:1], grids, 0), every, steps)
    pf.add_timed(
        f"train: {name} validation (per grid)",
        lambda: val.validate(model.to(dev), 0),
        grids,
        (steps // every + 1) * len(val_snrs) * val_grids,
        batch=grids,
        note=f"{len(val_snrs)} SNRs x {val_grids} grids every {every} iterations",
    )
    return CgeEstimator(model, name=name, device=dev)
