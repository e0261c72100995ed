"""M2GSC evaluation grid: every (seed, k, SNR, hand-off, receiver), per held-out image.

For each k the edge runs ONCE, batched over all receivers' images, and its output is reused
for every SNR and hand-off; each receiver finishes with its own local model. Metrics per
image: SSIM, PSNR, LPIPS, PSNR inside the message's boxes, SSIM against a different original
of the same receiver (chance level), measured seconds per image of each phase, message bits.
Baselines: k = 0 (all local, no channel) and the receiver's background image alone.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from semcom_exp.config_utils import as_list
from semcom_exp.distributed import eval_device
from semcom_exp.metrics import LPIPS, MetricUnavailable, psnr, psnr_masked, ssim, ssim_masked
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.models.samplers import ReverseStep
from semcom_exp.models.split_inference import (
    edge_denoise,
    handoff,
    inference_timesteps,
    local_denoise,
    split_point,
)
from semcom_exp.progress import progress
from semcom_exp.seeds import derive_seed
from semcom_exp.stages.m2gsc_data import Receiver

log = logging.getLogger(__name__)

PSNR_CAP_DB = 100.0


class ImageScorer:
    """Per-image metrics; LPIPS is reported unavailable (NaN + reason) when it cannot run.
    Its wall time adds up in ``timings["score"]``."""

    def __init__(self, lpips_net: str, timings: dict[str, float] | None = None):
        self.notes: dict[str, Any] = {}
        self.timings = timings if timings is not None else {}
        try:
            self.lpips: LPIPS | None = LPIPS(net=lpips_net)
        except MetricUnavailable as exc:
            self.lpips = None
            self.notes["lpips_unavailable"] = str(exc)
            log.warning("LPIPS unavailable: %s", exc)

    def __call__(
        self, out: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor
    ) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        out = out.clamp(-1, 1).float()
        scores = {
            "ssim": ssim(out, ref),
            "psnr": psnr(out, ref, cap_db=PSNR_CAP_DB),
            "psnr_objects": psnr_masked(out, ref, mask, cap_db=PSNR_CAP_DB),
            "psnr_outside": psnr_masked(out, ref, ~mask, cap_db=PSNR_CAP_DB),  # speckle shows here
            "ssim_outside": ssim_masked(out, ref, ~mask),
            "ssim_shuffled": ssim(out, ref.roll(1, dims=0)),  # a DIFFERENT original, same receiver
        }
        if self.lpips is not None:
            scores["lpips"] = self.lpips(out, ref)
            self.notes["lpips_note"] = self.lpips.note
        else:
            scores["lpips"] = torch.full((len(out),), float("nan"))
        result = {k: v.detach().cpu().numpy() for k, v in scores.items()}
        _lap(self.timings, "score", start)
        return result


def _lap(timings: dict[str, float], phase: str, start: float) -> float:
    """Add the wall seconds since ``start`` to ``timings[phase]``; return them."""
    seconds = time.perf_counter() - start
    timings[phase] = timings.get(phase, 0.0) + seconds
    return seconds


def _rows(
    base: dict[str, Any], receiver: Receiver, scores: dict[str, np.ndarray]
) -> list[dict[str, Any]]:
    return [
        {**base, "receiver": receiver.name, "image": i, "message_bits": receiver.eval_bits[i]}
        | {k: float(v[i]) for k, v in scores.items()}
        for i in range(len(receiver.eval_bits))
    ]


def _generator(seed: int, stream: str, *index: object) -> torch.Generator:
    """A generator for one grid point's draws (``derive_seed``): they do not depend on order."""
    return torch.Generator().manual_seed(derive_seed(int(seed), stream, *index))


@torch.no_grad()
def evaluate(
    cfg: DictConfig,
    shared: DiffusionDecoder,
    locals_: dict[str, DiffusionDecoder],
    receivers: list[Receiver],
    timings: dict[str, float] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Run the grid; returns (rows, examples for the figure, notes for results.json).

    ``timings`` (optional) accumulates the wall seconds of ``sample_edge``, ``sample_local``
    and ``score`` (SSIM / PSNR / LPIPS) for the run's profile. The sampling runs on the
    trainer's device (``eval_device``); random draws come from CPU generators (the same
    numbers on any device); scoring runs on the CPU."""
    dev = eval_device(cfg.get("trainer"))
    shared = shared.to(dev)
    locals_ = {name: model.to(dev) for name, model in locals_.items()}
    T = shared.num_train_timesteps
    ts = inference_timesteps(int(cfg.model.num_inference_steps), T)
    step = ReverseStep(str(cfg.model.sampler), shared.scheduler.config)
    timings = timings if timings is not None else {}
    scorer = ImageScorer(str(cfg.m2gsc.lpips_net), timings)
    evals = [r.sets["eval"] for r in receivers]
    layout_all = torch.cat([e["layout"] for e in evals]).to(dev)
    sizes = [len(e["image"]) for e in evals]
    starts = np.cumsum([0, *sizes])
    snrs = [float(s) for s in as_list(cfg.channel.snr_db)]
    modes = [str(m) for m in as_list(cfg.handoff)]
    n_examples = int(cfg.m2gsc.num_examples)
    examples: dict[str, Any] = {"original": torch.cat([e["image"][:1] for e in evals])[:n_examples]}
    examples["background"] = torch.stack([r.background for r in receivers])[:n_examples]
    rows: list[dict[str, Any]] = []

    for r, e in zip(
        receivers, evals, strict=False
    ):  # baseline: the receiver's reference image, no decoding
        bg = r.background.unsqueeze(0).expand_as(e["image"])
        base = {
            "method": "background",
            "seed": int(cfg.seed),
            "offload_steps": np.nan,
            "snr_db": np.nan,
        }
        rows += _rows(
            {**base, "handoff": "none", "edge_s": 0.0, "local_s": 0.0},
            r,
            scorer(bg, e["image"], e["mask"]),
        )

    for seed in as_list(cfg.seeds):
        for k in as_list(cfg.offload_steps):
            split = split_point(ts, k, T, shared.max_offload_steps)
            start = time.perf_counter()
            x_edge = edge_denoise(
                shared,
                layout_all,
                split.edge,
                split.t_handoff,
                _generator(seed, "m2gsc/edge", k),
                step,
            )
            if x_edge.is_cuda:
                torch.cuda.synchronize(x_edge.device)
            edge_s = _lap(timings, "sample_edge", start) / len(layout_all) if split.edge else 0.0
            points = (
                [(snr, mode) for snr in snrs for mode in modes] if split.edge else [(None, "none")]
            )
            for snr, mode in progress(points, f"evaluate seed {seed} k={k}"):
                outs = []
                for j, (r, e) in enumerate(zip(receivers, evals, strict=False)):
                    # the same channel-noise draws for both hand-offs (common random numbers)
                    g = _generator(seed, "m2gsc/channel", k, "none" if snr is None else snr, j)
                    x, t_res = handoff(
                        x_edge[starts[j] : starts[j + 1]],
                        split.t_handoff,
                        snr,
                        "plain" if mode == "none" else mode,
                        alphas_cumprod=shared.alphas_cumprod,
                        generator=g,
                    )
                    bg = r.background.unsqueeze(0).expand_as(e["image"]).to(dev)
                    layout = e["layout"].to(dev)
                    start = time.perf_counter()
                    out = local_denoise(locals_[r.name], x, t_res, ts, layout, bg, g, step).cpu()
                    local_s = _lap(timings, "sample_local", start) / len(out)
                    base = {
                        "method": "m2gsc",
                        "seed": int(seed),
                        "offload_steps": int(k),
                        "snr_db": np.nan if snr is None else snr,
                        "handoff": mode,
                        "edge_s": edge_s,
                        "local_s": local_s,
                        "t_resume": float(t_res.float().mean()),
                    }
                    rows += _rows(base, r, scorer(out, e["image"], e["mask"]))
                    outs.append(out[:1])
                if seed == as_list(cfg.seeds)[0]:
                    label = f"k={k}" if snr is None else f"k={k} {snr:g}dB {mode}"
                    examples[label] = torch.cat(outs)[:n_examples]
                log.info("seed %s k=%s snr=%s %s done", seed, k, snr, mode)
    return rows, examples, scorer.notes


def save_examples(path: Path, examples: dict[str, torch.Tensor]) -> None:
    """examples.npz: labels and images (columns, rows, H, W, 3) in [0, 1] for figure (d)."""
    labels = list(examples)
    images = np.stack(
        [((examples[k].clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy() for k in labels]
    )
    np.savez_compressed(path, labels=np.array(labels), images=images.astype(np.float32))


@torch.no_grad()
def loss_summary(
    cfg: DictConfig,
    shared: DiffusionDecoder,
    locals_: dict[str, DiffusionDecoder],
    receivers: list[Receiver],
    loss_frames: list[pd.DataFrame],
) -> dict[str, float]:
    """Final training losses (mean of the last 10 % of steps) and, on the shared model's t
    range and the same draws, the held-out loss of shared vs local models in both units."""
    out: dict[str, float] = {}
    shared_frame, local_frames = loss_frames[0], loss_frames[1:]

    def tail(frame: pd.DataFrame, column: str) -> float:
        return float(frame[column].tail(max(1, len(frame) // 10)).mean())

    out["loss_shared"] = tail(shared_frame, "loss")
    out["loss_local"] = float(np.mean([tail(f, "loss") for f in local_frames]))
    out["loss_shared_eps"] = tail(shared_frame, "loss_eps")
    out["loss_local_eps"] = float(np.mean([tail(f, "loss_eps") for f in local_frames]))
    t_range = (shared.t_min, shared.num_train_timesteps)
    same_t: dict[str, list[float]] = {"shared": [], "shared_eps": [], "local": [], "local_eps": []}
    for j, r in enumerate(receivers):
        e = r.sets["eval"]
        dev = shared.device
        batch = {"image": e["image"].to(dev), "layout": e["layout"].to(dev)}
        bg = r.background.unsqueeze(0).expand_as(e["image"]).to(dev)
        for rep in range(int(cfg.m2gsc.loss_eval_repeats)):
            s = shared.eval_loss(batch, t_range, _generator(cfg.seed, "m2gsc/loss_eval", j, rep))
            loc = locals_[r.name].eval_loss(
                {**batch, "background": bg},
                t_range,
                _generator(cfg.seed, "m2gsc/loss_eval", j, rep),
            )
            same_t["shared"].append(s["loss"])
            same_t["shared_eps"].append(s["loss_eps"])
            same_t["local"].append(loc["loss"])
            same_t["local_eps"].append(loc["loss_eps"])
    out["loss_shared_same_t"] = float(np.mean(same_t["shared"]))
    out["loss_local_same_t"] = float(np.mean(same_t["local"]))
    out["loss_shared_same_t_eps"] = float(np.mean(same_t["shared_eps"]))
    out["loss_local_same_t_eps"] = float(np.mean(same_t["local_eps"]))
    out["loss_t_range"] = f"[{t_range[0]}, {t_range[1]})"
    out["prediction_type"] = shared.prediction_type
    return out
