"""M2GSC case study: shared (edge) + local (receiver) DDPM decoders, split over an AWGN link.

Stages (each cached by its resolved config, so a sweep over SNR, k or hand-off trains every
decoder once):

1. ``m2gsc_data``: the receivers' frame sets (``semcom_exp.stages.m2gsc_data``).
2. ``m2gsc_decoder`` (``semcom_exp.stages.m2gsc_decoders``, role=shared): one model on all receivers' shared frames, t >= T - K_max.
3. ``m2gsc_decoder`` (role=local): the local models, all t, + background: one per receiver, or
   one pooled over every receiver (+ optional per-receiver fine-tuning); ``m2gsc.local_init``.
4. evaluation grid (not cached, see ``semcom_exp.experiments.m2gsc.m2gsc_eval``).
"""

from __future__ import annotations

import logging

import pandas as pd
from omegaconf import DictConfig

from semcom_exp.config_utils import as_list
from semcom_exp.experiments.m2gsc.m2gsc_eval import evaluate, loss_summary, save_examples
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.models.samplers import ReverseStep
from semcom_exp.models.split_inference import (
    inference_timesteps,
    split_point,
)
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.stages.m2gsc_data import prepare_receivers
from semcom_exp.stages.m2gsc_decoders import model_config, train_decoders

log = logging.getLogger(__name__)

IMAGE_METRICS = ("ssim", "psnr", "lpips", "psnr_objects", "psnr_outside", "ssim_outside")


# ------------------------------------------------------------------------------ checks
def check_m2gsc_config(cfg: DictConfig) -> None:
    """What the schema (M2gscConfig, DdpmDecoderConfig) cannot say without the model code,
    before any data is generated or model trained: every k leaves the receiver at least one
    step of the strided sampler, and the decoder and sampler can be built."""
    model = cfg.model
    T = int(model.num_train_timesteps)
    ts = inference_timesteps(int(model.num_inference_steps), T)
    for k in as_list(cfg.offload_steps):
        split_point(ts, k, T, int(model.max_offload_steps))
    ReverseStep(str(model.sampler), {"num_train_timesteps": T})
    DiffusionDecoder.from_config(model_config(cfg), role="local")  # its own checks, no work


# --------------------------------------------------------------------------------- run
def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Train (or reuse) every decoder, evaluate the (k, SNR, hand-off) grid, write the tables."""
    check_m2gsc_config(cfg)
    with ctx.timed("data"):
        receivers, data_key = prepare_receivers(cfg, ctx)
    decoders = train_decoders(cfg, ctx, receivers, data_key)
    shared = decoders["shared"]
    used = {r.name: decoders.get(f"local_{r.name}") or decoders["local_pooled"] for r in receivers}
    locals_ = {name: d.model for name, d in used.items()}
    every = pd.concat([d.losses for d in decoders.values()], ignore_index=True)
    every.to_csv(ctx.run_dir / "losses.csv", index=False)
    loss_frames = [shared.losses, *{id(d): d.losses for d in used.values()}.values()]

    rows, examples, notes = evaluate(cfg, shared.model, locals_, receivers, ctx.timings)
    save_examples(ctx.run_dir / "examples.npz", examples)
    summary = {**loss_summary(cfg, shared.model, locals_, receivers, loss_frames), **notes}
    frame = pd.DataFrame(rows)
    summary.update(_grid_summary(frame))
    log.info("M2GSC: %d receivers, %d result rows; see %s", len(receivers), len(rows), ctx.run_dir)
    return RunOutput(rows=rows, summary=summary)


def _grid_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Flat means for results.json: overall, per baseline and per (k, hand-off, SNR)."""
    out: dict[str, float] = {}
    metrics = [m for m in IMAGE_METRICS if m in frame]
    split = frame[frame["method"] == "m2gsc"]
    for m in metrics:
        out[m] = float(split[m].mean())
        out[f"{m}_background"] = float(frame.loc[frame["method"] == "background", m].mean())
    out["ssim_shuffled"] = float(split["ssim_shuffled"].mean())
    for (k, handoff, snr), g in split.groupby(["offload_steps", "handoff", "snr_db"], dropna=False):
        tag = f"k{int(k)}" + ("" if handoff == "none" else f"_{handoff}_snr{snr:g}")
        for m in ("ssim", "lpips", "psnr_objects", "psnr_outside"):
            if m in g:
                out[f"{m}_{tag}"] = float(g[m].mean())
    for k, g in split.groupby("offload_steps"):
        out[f"edge_s_k{int(k)}"] = float(g["edge_s"].mean())
        out[f"local_s_k{int(k)}"] = float(g["local_s"].mean())
    out["message_bits"] = float(split["message_bits"].mean())
    return out
