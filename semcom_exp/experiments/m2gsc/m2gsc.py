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
import torch
from omegaconf import DictConfig

from semcom_exp.config_utils import as_list
from semcom_exp.distributed import eval_device
from semcom_exp.experiments.m2gsc.m2gsc_eval import (
    ImageScorer,
    evaluate,
    loss_summary,
    save_examples,
)
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.models.samplers import ReverseStep
from semcom_exp.models.split_inference import (
    edge_denoise,
    handoff,
    inference_timesteps,
    local_denoise,
    split_point,
)
from semcom_exp.preflight import Preflight
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.stages.m2gsc_data import prepare_receivers
from semcom_exp.stages.m2gsc_decoders import (
    DecoderJob,
    decoder_plan,
    model_config,
    train_decoder,
    train_decoders,
)

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
    for (k, mode, snr), g in split.groupby(["offload_steps", "handoff", "snr_db"], dropna=False):
        tag = f"k{int(k)}" + ("" if mode == "none" else f"_{mode}_snr{snr:g}")
        for m in ("ssim", "lpips", "psnr_objects", "psnr_outside"):
            if m in g:
                out[f"{m}_{tag}"] = float(g[m].mean())
    for k, g in split.groupby("offload_steps"):
        out[f"edge_s_k{int(k)}"] = float(g["edge_s"].mean())
        out[f"local_s_k{int(k)}"] = float(g["local_s"].mean())
    out["message_bits"] = float(split["message_bits"].mean())
    return out


# --------------------------------------------------------------------------- preflight
def _kind(job: DecoderJob) -> tuple[str, bool, bool]:
    """Decoders of one kind have the same architecture, inputs and batch: one is measured."""
    return (job.role, job.receiver is None, job.init is not None)


def preflight(cfg: DictConfig, pf: Preflight) -> None:
    """``task=preflight``: the data stage on a few frames; one decoder of each kind trained for
    ``pf.steps`` steps at model.batch_size; the split sampler for ``pf.eval_steps`` edge and
    local steps at the evaluation's batch (every receiver's held-out frames at the edge, one
    receiver's at a receiver) and the scoring; projected onto the configured grid."""
    check_m2gsc_config(cfg)
    batch, R, E = (
        int(cfg.model.batch_size),
        int(cfg.m2gsc.num_receivers),
        int(cfg.m2gsc.frames.eval),
    )
    frames = {"local": batch, "shared": -(-batch // R), "eval": E}  # one full batch of each
    small = pf.shrunk(
        {
            "m2gsc.frames": frames,
            "m2gsc.train_workers": 1,
            "model.train_steps": pf.steps,
            "m2gsc.local_steps": pf.steps,
            "m2gsc.shared_steps": None,
        }
    )
    full_frames = R * sum(int(v) for v in cfg.m2gsc.frames.values())
    receivers, key = pf.add_timed(
        "data: frames rendered",
        lambda: prepare_receivers(small, pf.ctx),
        R * sum(frames.values()),
        full_frames,
        batch=1,
        kind="data",
        note=f"{R} receivers x {dict(cfg.m2gsc.frames)}",
    )
    steps: dict[tuple, int] = {}
    count: dict[tuple, int] = {}
    for job in (j for wave in decoder_plan(cfg, pf.ctx, receivers, key) for j in wave):
        n = int(job.steps if job.steps is not None else cfg.model.train_steps)
        steps[_kind(job)] = steps.get(_kind(job), 0) + n
        count[_kind(job)] = count.get(_kind(job), 0) + 1
    models: dict[str, DiffusionDecoder] = {}  # by role: the last one trained
    for job in (j for wave in decoder_plan(small, pf.ctx, receivers, key) for j in wave):
        if _kind(job) not in count:
            continue
        with pf.training() as records:
            models[job.role] = train_decoder(small, pf.ctx, receivers, key, job).model
        n = count.pop(_kind(job))
        pf.add_training(
            f"train: decoder {job.name}" + (f" (one of {n})" if n > 1 else ""),
            records[-1],
            batch,
            steps[_kind(job)],
            note=f"{cfg.model.image_size}px, {cfg.model.prediction_type}",
        )
    _preflight_sampling(cfg, pf, models["shared"], models["local"], receivers)


def _preflight_sampling(
    cfg: DictConfig,
    pf: Preflight,
    shared: DiffusionDecoder,
    local: DiffusionDecoder,
    receivers: list,
) -> None:
    dev = eval_device(pf.cfg.trainer)
    shared, local = shared.to(dev), local.to(dev)
    T = shared.num_train_timesteps
    ts = inference_timesteps(int(cfg.model.num_inference_steps), T)
    step = ReverseStep(str(cfg.model.sampler), shared.scheduler.config)
    ks, seeds = as_list(cfg.offload_steps), len(as_list(cfg.seeds))
    points = len(as_list(cfg.channel.snr_db)) * len(as_list(cfg.handoff))
    R, E = len(receivers), int(cfg.m2gsc.frames.eval)
    splits = [split_point(ts, k, T, shared.max_offload_steps) for k in ks]
    edge_units = seeds * sum(len(s.edge) for s in splits)
    per_k = [(points if s.edge else 1) for s in splits]
    local_units = seeds * R * sum(p * len(s.local) for p, s in zip(per_k, splits, strict=True))
    images = (seeds * R * sum(per_k) + R) * E  # + the background baseline
    split = max(splits, key=lambda s: len(s.edge))
    n = pf.eval_steps
    gen = torch.Generator().manual_seed(0)
    layout = torch.cat([r.sets["eval"]["layout"] for r in receivers]).to(dev)
    where = f"{len(ts)} sampling steps, {dev}"
    x = torch.randn(len(layout), 3, shared.image_size, shared.image_size, device=dev)
    if split.edge:
        run_edge = split.edge[:n]
        after = (split.edge + split.local)[len(run_edge)]
        x = pf.add_timed(
            "eval: edge sampling step",
            lambda: edge_denoise(shared, layout, run_edge, after, gen, step),
            len(run_edge),
            edge_units,
            batch=R * E,
            note=f"every receiver's images at once; {where}",
        )
    r = receivers[0]
    e = r.sets["eval"]
    x_r, t_res = handoff(
        x[:E], split.t_handoff, 10.0, "plain", alphas_cumprod=shared.alphas_cumprod, generator=gen
    )
    bg = r.background.unsqueeze(0).expand_as(e["image"]).to(dev)
    run_local = split.local[:n]
    out = pf.add_timed(
        "eval: local sampling step",
        lambda: local_denoise(local, x_r, t_res, run_local, e["layout"].to(dev), bg, gen, step),
        len(run_local),
        local_units,
        batch=E,
        note=f"per receiver, SNR and hand-off; {where}",
    )
    scorer = ImageScorer(str(cfg.m2gsc.lpips_net))
    pf.add_timed(
        "eval: scoring (SSIM, PSNR, LPIPS)",
        lambda: scorer(out.cpu(), e["image"], e["mask"]),
        E,
        images,
        batch=E,
        note=scorer.notes.get("lpips_unavailable", "per image"),
    )
