"""Reverse diffusion steps for any pair t > t_prev, by diffusers' own schedulers.

Why a wrapper: the split loop needs steps between arbitrary timesteps, per sample (the
SNR-aware hand-off resumes each image at its own t'), while a diffusers scheduler steps along
the one schedule it was set to. ``ReverseStep`` groups a batch by its (t, t_prev) pairs and
lets the scheduler take each group's step with its own ``.step()``:

- ``ddpm``: ``DDPMScheduler`` with custom timesteps ``[t, t_prev]`` (ancestral sampling, the
  paper's sampler; "fixed_small" variance, so it is the posterior q(x_t_prev | x_t, x0_hat));
- ``ddim``: ``DDIMScheduler`` (eta = 0, deterministic) whose stride ``T // n`` equals
  t - t_prev. DDIM only steps by such strides: a pair off that grid (the SNR-aware
  hand-off's resume step) is a ConfigError naming ``model.sampler``.

The network's output is turned into x0_hat by the decoder (``predict_x0``, clipped), and the
schedulers are configured with ``prediction_type="sample"``, so one sampler serves every
parameterisation. t_prev = -1 means the step to x_0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from diffusers import DDIMScheduler, DDPMScheduler

from semcom_exp.errors import ConfigError

SAMPLERS = ("ddpm", "ddim")
NOISE_SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule")


class ReverseStep:
    """x_t -> x_{t_prev} for per-sample (t, t_prev), given the decoder's x0 estimate."""

    def __init__(self, kind: str, scheduler_config: Mapping[str, Any]):
        """``scheduler_config``: the decoder's noise schedule (its DDPMScheduler's config)."""
        if kind not in SAMPLERS:
            raise ConfigError("model.sampler", f"got {kind!r}; use one of {list(SAMPLERS)}")
        self.kind = kind
        cls = DDPMScheduler if kind == "ddpm" else DDIMScheduler
        noise = {k: scheduler_config[k] for k in NOISE_SCHEDULE_KEYS if k in scheduler_config}
        self.scheduler = cls(**noise, prediction_type="sample")
        self.T = int(self.scheduler.config.num_train_timesteps)

    def _set_pair(self, t: int, t_prev: int) -> None:
        if self.kind == "ddpm":
            self.scheduler.set_timesteps(timesteps=[t, t_prev] if t_prev >= 0 else [t])
            return
        # DDIM's step goes from t to t - T // n: pick n for this pair's gap.
        n = 1 if t_prev < 0 else self.T // (t - t_prev)
        if t_prev >= 0 and self.T // n != t - t_prev:
            raise ConfigError(
                "model.sampler",
                f"DDIM steps by T // n; the step {t} -> {t_prev} is off that grid (the SNR-aware "
                "hand-off resumes off the grid); use model.sampler=ddpm or handoff=plain",
            )
        self.scheduler.num_inference_steps = n

    def __call__(
        self,
        x_t: torch.Tensor,
        x0_hat: torch.Tensor,
        t: torch.Tensor | int,
        t_prev: torch.Tensor | int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One reverse step per sample; t, t_prev scalars or (B,) with t > t_prev >= -1."""
        B = x_t.shape[0]
        t = torch.as_tensor(t).long().cpu().expand(B)
        t_prev = torch.as_tensor(t_prev).long().cpu().expand(B)
        if bool((t_prev >= t).any()) or bool((t_prev < -1).any()):
            raise ValueError(f"need t > t_prev >= -1, got t={t.tolist()} t_prev={t_prev.tolist()}")
        out = torch.empty_like(x_t)
        pairs = torch.stack([t, t_prev], dim=1)
        for pair in torch.unique(pairs, dim=0).flip(0):  # descending t: deterministic order
            ti, tp = int(pair[0]), int(pair[1])
            rows = ((t == ti) & (t_prev == tp)).nonzero().squeeze(1).to(x_t.device)
            self._set_pair(ti, tp)
            out[rows] = self.scheduler.step(
                x0_hat[rows], ti, x_t[rows], generator=generator
            ).prev_sample.to(x_t.dtype)
        return out
