"""M2GSC case study: shared (edge) + local (receiver) DDPM decoders, split over an AWGN link.

Stages (each cached by its resolved config, so a sweep over SNR, k or hand-off trains every
decoder once):

1. ``m2gsc_data``: per receiver (scenario) three disjoint frame sets — local-training,
   shared-training, held-out evaluation — as tensors; the layout raster is built from the
   PARSED semantic message (what the receiver actually gets), the background reference is the
   median of the receiver's local-training frames.
2. ``m2gsc_decoder`` (role=shared): one model on all receivers' shared frames, t >= T - K_max.
3. ``m2gsc_decoder`` (role=local, receiver=r): one model per receiver, all t, + background.
4. evaluation grid (not cached, see ``semcom_exp.pipelines.m2gsc_eval``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from semcom_exp.data import open_dataset
from semcom_exp.errors import ConfigError
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.models.split_inference import (
    HANDOFFS,
    check_offload_steps,
    inference_timesteps,
    split_point,
)
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.semantics.box_text import message_bits, parse_message
from semcom_exp.semantics.layout import object_mask, rasterize
from semcom_exp.training import build_trainer, fit_resumable

log = logging.getLogger(__name__)

DATA_VERSION = "1"
DECODER_VERSION = "1"
FRAME_SETS = ("local", "shared", "eval")
INFERENCE_ONLY_KEYS = ("num_inference_steps",)


def as_list(value: Any) -> list:
    """A scalar or a list from the config, as a python list."""
    if OmegaConf.is_list(value):
        return list(OmegaConf.to_container(value))
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass
class Receiver:
    """One receiver's tensors: images in [-1, 1], layout rasters, background, eval metadata."""

    name: str
    sets: dict[str, dict[str, torch.Tensor]]
    background: torch.Tensor
    eval_texts: list[str]
    eval_bits: list[int]


# ------------------------------------------------------------------------------ checks
def check_m2gsc_config(cfg: DictConfig) -> None:
    """Every grid value is checked before any data is generated or model trained."""
    model = cfg.model
    T = int(model.num_train_timesteps)
    ts = inference_timesteps(int(model.num_inference_steps), T)
    for k in as_list(cfg.offload_steps):
        check_offload_steps(k, int(model.max_offload_steps), T)
        split_point(ts, k, T, int(model.max_offload_steps))
    for mode in as_list(cfg.handoff):
        if mode not in HANDOFFS:
            raise ConfigError("handoff", f"got {mode!r}; use one of {list(HANDOFFS)}")
    for name in FRAME_SETS:
        if int(cfg.m2gsc.frames[name]) <= 0:
            raise ConfigError(f"m2gsc.frames.{name}", "needs at least one frame per receiver")
    if int(cfg.m2gsc.frames.eval) < 2:
        raise ConfigError("m2gsc.frames.eval", "needs >= 2 frames (the shuffled-pair chance level)")


# ------------------------------------------------------------------------------ stage 1
def data_config(cfg: DictConfig) -> DictConfig:
    """cfg.data, with a synthetic set (data.root null) sized to the requested frame sets."""
    data = OmegaConf.create(OmegaConf.to_container(cfg.data, resolve=True))
    if data.get("root") is None and data.get("synthetic") is not None:
        needed = sum(int(cfg.m2gsc.frames[name]) for name in FRAME_SETS)
        synth = data.synthetic
        synth.frames_per_scenario = max(int(synth.get("frames_per_scenario") or 0), needed)
        synth.num_scenarios = max(
            int(synth.get("num_scenarios") or 0), int(cfg.m2gsc.num_receivers)
        )
    return data


def _data_stage_config(cfg: DictConfig) -> dict:
    return {
        "data": OmegaConf.to_container(data_config(cfg)),
        "frames": OmegaConf.to_container(cfg.m2gsc.frames, resolve=True),
        "num_receivers": int(cfg.m2gsc.num_receivers),
        "image_size": int(cfg.model.image_size),
        "split_seed": int(cfg.m2gsc.split_seed),
    }


def prepare_receivers(cfg: DictConfig, ctx: RunContext) -> tuple[list[Receiver], str]:
    """Stage 1 (cached): the receivers' frame sets as tensors. Returns (receivers, stage key)."""
    stage_cfg = _data_stage_config(cfg)

    def compute(out: Path, work: Path) -> None:
        dataset = open_dataset(data_config(cfg), ctx.cache)
        scenarios = list(dataset.scenarios())
        wanted = stage_cfg["num_receivers"]
        if len(scenarios) < wanted:
            raise ConfigError(
                "m2gsc.num_receivers",
                f"{wanted} receivers need {wanted} scenarios; the data set has {len(scenarios)} "
                f"({scenarios}); group sequences with data.scenarios or lower m2gsc.num_receivers",
            )
        size, grid = stage_cfg["image_size"], int(stage_cfg["data"]["grid"])
        payload = []
        for scenario in scenarios[:wanted]:
            idx = dataset.split_frames(scenario, stage_cfg["frames"], seed=stage_cfg["split_seed"])
            sets = {}
            for name in FRAME_SETS:
                texts = [dataset.semantic_text(i) for i in idx[name]]
                boxes = [parse_message(t, grid) for t in texts]
                sets[name] = {
                    "image": dataset.load_images(idx[name], size),
                    "layout": torch.stack([rasterize(b, size) for b in boxes]),
                    "mask": torch.stack([object_mask(b, size) for b in boxes]),
                    "texts": texts,
                }
            payload.append(
                {
                    "name": str(scenario),
                    "sets": sets,
                    "background": dataset.background(scenario, size, frame_indices=idx["local"]),
                }
            )
        torch.save(payload, out / "receivers.pt")

    path = ctx.cache.get_or_compute("m2gsc_data", stage_cfg, DATA_VERSION, compute)
    receivers = []
    for item in torch.load(path / "receivers.pt", weights_only=False):
        texts = item["sets"]["eval"]["texts"]
        sets = {n: {k: v for k, v in s.items() if k != "texts"} for n, s in item["sets"].items()}
        receivers.append(
            Receiver(
                item["name"], sets, item["background"], texts, [message_bits(t) for t in texts]
            )
        )
    return receivers, path.name


# -------------------------------------------------------------------------- stages 2, 3
def _training_batches(
    role: str, receivers: list[Receiver], receiver: str | None
) -> dict[str, torch.Tensor]:
    if role == "shared":
        return {
            "image": torch.cat([r.sets["shared"]["image"] for r in receivers]),
            "layout": torch.cat([r.sets["shared"]["layout"] for r in receivers]),
        }
    (r,) = [r for r in receivers if r.name == receiver]
    n = len(r.sets["local"]["image"])
    return {
        "image": r.sets["local"]["image"],
        "layout": r.sets["local"]["layout"],
        "background": r.background.unsqueeze(0).expand(n, -1, -1, -1).contiguous(),
    }


class _DictDataset(torch.utils.data.Dataset):
    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def train_decoder(
    cfg: DictConfig,
    ctx: RunContext,
    role: str,
    receivers: list[Receiver],
    data_key: str,
    receiver: str | None = None,
) -> tuple[DiffusionDecoder, pd.DataFrame]:
    """Stage 2/3 (cached): train the shared model or one receiver's local model."""
    model_cfg = {
        k: v
        for k, v in OmegaConf.to_container(cfg.model, resolve=True).items()
        if k not in INFERENCE_ONLY_KEYS
    }
    stage_cfg = {
        "role": role,
        "receiver": receiver,
        "model": model_cfg,
        "data_key": data_key,
        "seed": int(cfg.seed),
    }
    name = role if role == "shared" else f"local_{receiver}"

    def compute(out: Path, work: Path) -> None:
        torch.manual_seed(
            int(cfg.seed)
            + (0 if role == "shared" else 1 + [r.name for r in receivers].index(receiver))
        )
        model = DiffusionDecoder.from_config(model_cfg, role=role, name=name)
        data = _DictDataset(_training_batches(role, receivers, receiver))
        loader = torch.utils.data.DataLoader(
            data,
            batch_size=min(int(model_cfg["batch_size"]), len(data)),
            shuffle=True,
            drop_last=True,
        )
        trainer = build_trainer(
            cfg, name=name, max_steps=int(model_cfg["train_steps"]), work_dir=work
        )
        fit_resumable(trainer, model, loader, work)
        torch.save(model.state_dict(), out / "model.pt")
        pd.DataFrame(model.loss_history).to_csv(out / "losses.csv", index=False)

    path = ctx.cache.get_or_compute("m2gsc_decoder", stage_cfg, DECODER_VERSION, compute)
    model = DiffusionDecoder.from_config(model_cfg, role=role, name=name)
    model.load_state_dict(torch.load(path / "model.pt", weights_only=True))
    model.eval()
    losses = pd.read_csv(path / "losses.csv")
    losses.insert(0, "model", name)
    return model, losses


# --------------------------------------------------------------------------------- run
def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Train (or reuse) every decoder, evaluate the (k, SNR, hand-off) grid, write the tables."""
    from semcom_exp.pipelines.m2gsc_eval import evaluate, loss_summary, save_examples

    check_m2gsc_config(cfg)
    receivers, data_key = prepare_receivers(cfg, ctx)
    shared, losses_shared = train_decoder(cfg, ctx, "shared", receivers, data_key)
    locals_, loss_frames = {}, [losses_shared]
    for r in receivers:
        locals_[r.name], losses = train_decoder(
            cfg, ctx, "local", receivers, data_key, receiver=r.name
        )
        loss_frames.append(losses)
    pd.concat(loss_frames, ignore_index=True).to_csv(ctx.run_dir / "losses.csv", index=False)

    rows, examples, notes = evaluate(cfg, shared, locals_, receivers)
    save_examples(ctx.run_dir / "examples.npz", examples)
    summary = {**loss_summary(cfg, shared, locals_, receivers, loss_frames), **notes}
    frame = pd.DataFrame(rows)
    summary.update(_grid_summary(frame))
    log.info("M2GSC: %d receivers, %d result rows; see %s", len(receivers), len(rows), ctx.run_dir)
    return RunOutput(rows=rows, summary=summary)


def _grid_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Flat means for results.json: overall, per baseline and per (k, hand-off, SNR)."""
    out: dict[str, float] = {}
    metrics = [m for m in ("ssim", "psnr", "lpips", "psnr_objects") if m in frame]
    split = frame[frame["method"] == "m2gsc"]
    for m in metrics:
        out[m] = float(split[m].mean())
        out[f"{m}_background"] = float(frame.loc[frame["method"] == "background", m].mean())
    out["ssim_shuffled"] = float(split["ssim_shuffled"].mean())
    for (k, handoff, snr), g in split.groupby(["offload_steps", "handoff", "snr_db"], dropna=False):
        tag = f"k{int(k)}" + ("" if handoff == "none" else f"_{handoff}_snr{snr:g}")
        for m in ("ssim", "lpips", "psnr_objects"):
            if m in g:
                out[f"{m}_{tag}"] = float(g[m].mean())
    for k, g in split.groupby("offload_steps"):
        out[f"edge_s_k{int(k)}"] = float(g["edge_s"].mean())
        out[f"local_s_k{int(k)}"] = float(g["local_s"].mean())
    out["message_bits"] = float(split["message_bits"].mean())
    return out
