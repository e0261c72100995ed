"""M2GSC split inference: edge (shared model) -> analog link -> receiver (local model).

The whole loop, in the order it runs::

    ts    = inference_timesteps(n)                 # 999, 999-T/n, ..., T/n-1 (trailing)
    split = split_point(ts, k, max_offload_steps)   # edge: t >= T-k; local: the rest
    step  = ReverseStep("ddpm" | "ddim", shared.scheduler.config)  # diffusers' .step()
    x     = edge_denoise(shared, layout, split.edge, split.t_handoff, g, step)  # all users
    x, tr = handoff(x, split.t_handoff, snr_db, "plain" | "snr_aware", channel_fn, ac, g)
    img   = local_denoise(local, x, tr, ts, layout, background, g, step)  # per receiver

**Offload steps.** ``k`` (``offload_steps``) always counts reverse steps of the T = 1000
training schedule. The full sampler visits t = 999, 998, ..., 0; its first k steps are
t = 999 .. T-k. With strided sampling the edge runs the inference timesteps in that set,
i.e. t > T-1-k, and the receiver the rest. With trailing spacing (used here) and k a
multiple of T/n this is exactly k*n/T edge steps and the edge hands over x_{T-1-k}: the same
state the 1000-step sampler reaches after k steps. k = 0 is all-local (no channel).

**Hand-off.** ``plain`` (the paper): the channel carries x_t (it power-normalises, adds AWGN
at ``snr_db`` and returns the received tensor in the original scale with the noise variance
per real element, shape (B,)); the receiver resumes at the same t. ``snr_aware`` (beyond
the paper): x_t = sqrt(a_t) x0 + sqrt(1-a_t) e plus channel noise of variance s2 is a
noisier diffusion state, so the receiver resumes at the t' >= t whose (1-a_t')/a_t' is
nearest (in log) to ((1-a_t)+s2)/a_t, after scaling by sqrt(a_t'/a_t); when t' is noisier
than needed, a little Gaussian noise tops the variance up to exactly 1-a_t'. The receiver
then runs t' followed by every inference timestep below t' (same stride as the sampler, so
a noisier link costs the receiver more steps; the alternative, keeping the number of
remaining steps, would take one large jump instead). t' is per sample (the channel's
power normalisation is per sample), so the local loop handles ragged schedules.

**Reverse step.** ``ReverseStep`` (semcom_exp/models/samplers.py) takes the step x_t ->
x_{t_prev} for any pair (t_prev = -1: x_0) with diffusers' own ``DDPMScheduler.step`` (the
paper's ancestral sampler, "fixed_small" variance: the posterior q(x_{t_prev} | x_t, x0_hat))
or ``DDIMScheduler.step`` (``model.sampler``). Every draw comes from the given
torch.Generator, so a run is deterministic for a seed. To reuse the edge output across SNRs, call the phases yourself:
edge once per k, then ``handoff`` + ``local_denoise`` per SNR (and per receiver's slice).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from diffusers import DDPMScheduler

from semcom_exp.errors import ConfigError
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.models.samplers import ReverseStep

log = logging.getLogger(__name__)

HANDOFFS = ("plain", "snr_aware")
ChannelFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]


# --------------------------------------------------------------------------- schedule
def inference_timesteps(num_inference_steps: int, T: int = 1000) -> list[int]:
    """Strided DDPM timesteps, descending, "trailing" spacing (starts at T-1; n = T: all)."""
    n = num_inference_steps
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= T:
        raise ConfigError("num_inference_steps", f"got {n!r}; must be an integer in 1..{T}")
    sched = DDPMScheduler(num_train_timesteps=T, timestep_spacing="trailing")
    sched.set_timesteps(n)
    return [int(t) for t in sched.timesteps]


def check_offload_steps(offload_steps: int, max_offload_steps: int, T: int = 1000) -> None:
    """Raise ConfigError('offload_steps') unless 0 <= k <= K_max (the shared model's t range)."""
    k = offload_steps
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ConfigError("offload_steps", f"got {k!r}; must be a non-negative integer")
    if k > max_offload_steps:
        raise ConfigError(
            "offload_steps",
            f"k={k} exceeds max_offload_steps={max_offload_steps}: the shared model was trained "
            f"only on t >= {T - max_offload_steps}; use k <= {max_offload_steps} or retrain "
            "with a larger model.max_offload_steps",
        )


@dataclass(frozen=True)
class Split:
    """Inference timesteps run by the edge and by the receiver (both descending)."""

    edge: list[int]
    local: list[int]

    @property
    def t_handoff(self) -> int:
        """The timestep of the state handed to the receiver (its first step)."""
        return self.local[0]


def split_point(
    timesteps: Sequence[int],
    offload_steps: int,
    T: int = 1000,
    max_offload_steps: int | None = None,
) -> Split:
    """Edge runs the timesteps among the first k of T reverse steps (t > T-1-k); see module doc."""
    check_offload_steps(offload_steps, T - 1 if max_offload_steps is None else max_offload_steps, T)
    ts = [int(t) for t in timesteps]
    edge = [t for t in ts if t > T - 1 - offload_steps]
    local = [t for t in ts if t <= T - 1 - offload_steps]
    if not local:
        raise ConfigError(
            "offload_steps",
            f"with {len(ts)} inference steps every step has t > {T - 1 - offload_steps}, so the "
            "receiver would run none; use more num_inference_steps or a smaller k",
        )
    return Split(edge=edge, local=local)


# ----------------------------------------------------------------------- reverse step
def _randn(
    shape: torch.Size, generator: torch.Generator | None, like: torch.Tensor
) -> torch.Tensor:
    """Standard normal from ``generator`` (on its own device), moved next to ``like``."""
    dev = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=dev, dtype=like.dtype).to(like.device)


def default_step(model: DiffusionDecoder) -> ReverseStep:
    """The paper's sampler (DDPM, ancestral) on ``model``'s noise schedule."""
    return ReverseStep("ddpm", model.scheduler.config)


# ---------------------------------------------------------------------------- phases
def _sync(x: torch.Tensor) -> None:
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


@torch.no_grad()
def edge_denoise(
    shared_model: DiffusionDecoder,
    layout: torch.Tensor,
    timesteps_edge: Sequence[int],
    t_handoff: int,
    generator: torch.Generator | None = None,
    step: ReverseStep | None = None,
) -> torch.Tensor:
    """From pure noise, run the shared model on ``timesteps_edge`` for the whole batch.

    Returns the state at ``t_handoff``; with no edge timesteps (k = 0) the pure noise itself.
    ``step``: the reverse step (default DDPM, :func:`default_step`).
    """
    ts = [int(t) for t in timesteps_edge]
    if ts and ts[-1] < shared_model.t_min:
        raise ConfigError(
            "offload_steps",
            f"edge timestep {ts[-1]} < {shared_model.t_min}, below the shared model's training range",
        )
    B = layout.shape[0]
    s = shared_model.image_size
    x = _randn(torch.Size((B, 3, s, s)), generator, layout.float())
    step = step or default_step(shared_model)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else t_handoff
        x = step(x, shared_model.predict_x0(x, t, layout), t, t_prev, generator)
    return x


def snr_aware_timestep(
    t: int, noise_var: torch.Tensor, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """Per-sample t' >= t whose (1-a)/a is nearest in log to ((1-a_t)+s2)/a_t; (B,) long."""
    ac = alphas_cumprod.double().cpu()
    ratio = (1 - ac) / ac  # increasing in t
    a_t = ac[t]
    target = ((1 - a_t) + noise_var.double().cpu()) / a_t
    hi = torch.searchsorted(ratio, target).clamp(max=len(ac) - 1)  # first with ratio >= target
    lo = (hi - 1).clamp(min=0)
    closer_lo = (target.log() - ratio[lo].log()).abs() <= (ratio[hi].log() - target.log()).abs()
    return torch.where(closer_lo, lo, hi).clamp(min=t)


def _default_channel() -> ChannelFn:
    try:
        from semcom_exp.channels import analog_awgn
    except ImportError as err:  # pragma: no cover - depends on the channel layer
        raise ImportError(
            "semcom_exp.channels.analog_awgn is not available; pass channel_fn explicitly"
        ) from err
    return analog_awgn


@torch.no_grad()
def handoff(
    x_t: torch.Tensor,
    t: int,
    snr_db: float | None,
    mode: str = "plain",
    channel_fn: ChannelFn | None = None,
    alphas_cumprod: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Send x_t over the analog link; return (state for the receiver, its timestep per sample).

    ``channel_fn(x, snr_db, generator=...) -> (y, noise_var (B,))``, y in x's scale; default
    ``semcom_exp.channels.analog_awgn``. ``snr_db=None``: ideal link, x_t unchanged.
    ``alphas_cumprod`` is needed for ``snr_aware`` only.
    """
    if mode not in HANDOFFS:
        raise ConfigError("handoff", f"got {mode!r}; use one of {HANDOFFS}")
    B = x_t.shape[0]
    t_vec = torch.full((B,), int(t), dtype=torch.long)
    if snr_db is None:
        return x_t, t_vec
    y, noise_var = (channel_fn or _default_channel())(x_t, snr_db, generator=generator)
    if mode == "plain":
        return y, t_vec
    if alphas_cumprod is None:
        raise ValueError("handoff(mode='snr_aware') needs alphas_cumprod")
    ac = alphas_cumprod.double().cpu()
    s2 = torch.as_tensor(noise_var, dtype=torch.float64).cpu().expand(B)
    t_new = snr_aware_timestep(int(t), s2, ac)
    a_t, a_new = ac[int(t)], ac[t_new]
    target = ((1 - a_t) + s2) / a_t
    # After scaling, the noise variance is a_new * target; top it up to 1 - a_new if short.
    extra = ((1 - a_new) - a_new * target).clamp(min=0)
    shape = (-1, *([1] * (x_t.ndim - 1)))
    x = y * (a_new / a_t).sqrt().to(y).reshape(shape)
    if bool((extra > 0).any()):
        x = x + extra.sqrt().to(y).reshape(shape) * _randn(y.shape, generator, y)
    return x, t_new


_handoff = handoff  # split_sample's `handoff` argument shadows the function name


def local_schedule(
    t_resume: torch.Tensor | int, timesteps: Sequence[int], batch_size: int
) -> torch.Tensor:
    """Per-sample receiver schedule: [t_resume_b] + every timestep below it; (B, L), -1 padded."""
    t_res = torch.as_tensor(t_resume).long().expand(batch_size)
    ts = sorted({int(t) for t in timesteps}, reverse=True)
    rows = [[int(tr)] + [t for t in ts if t < int(tr)] for tr in t_res]
    width = max(len(r) for r in rows)
    return torch.tensor([r + [-1] * (width - len(r)) for r in rows], dtype=torch.long)


@torch.no_grad()
def local_denoise(
    local_model: DiffusionDecoder,
    x: torch.Tensor,
    t_resume: torch.Tensor | int,
    timesteps: Sequence[int],
    layout: torch.Tensor,
    background: torch.Tensor | None,
    generator: torch.Generator | None = None,
    step: ReverseStep | None = None,
) -> torch.Tensor:
    """Receiver: from x at t_resume (int or per sample) down to x_0 with the local model.

    ``timesteps``: the inference timesteps (the full list or just the local part); each
    sample runs t_resume_b, then every one of them below t_resume_b (see local_schedule).
    ``step``: the reverse step (default DDPM, :func:`default_step`).
    """
    sched = local_schedule(t_resume, timesteps, x.shape[0])
    sched = torch.cat([sched, torch.full_like(sched[:, :1], -1)], dim=1)  # last t_prev: x_0
    step = step or default_step(local_model)
    x = x.clone()
    for i in range(sched.shape[1] - 1):
        t, t_prev = sched[:, i], sched[:, i + 1]
        if bool((t >= 0).all()):  # the whole batch steps (always so for the plain hand-off)
            x0 = local_model.predict_x0(x, t, layout, background)
            x = step(x, x0, t, t_prev, generator)
            continue
        act = (t >= 0).nonzero().squeeze(1)  # ragged: only samples still denoising
        if len(act) == 0:
            break
        a = act.to(x.device)
        bg = None if background is None else background[a]
        x0 = local_model.predict_x0(x[a], t[act], layout[a], bg)
        x[a] = step(x[a], x0, t[act], t_prev[act], generator)
    return x


# ------------------------------------------------------------------------ convenience
@torch.no_grad()
def split_sample(
    shared: DiffusionDecoder,
    local: DiffusionDecoder,
    layout: torch.Tensor,
    background: torch.Tensor,
    offload_steps: int,
    snr_db: float | None,
    handoff: str = "plain",
    num_inference_steps: int = 20,
    generator: torch.Generator | None = None,
    channel_fn: ChannelFn | None = None,
    sampler: str = "ddpm",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Edge -> link -> one receiver for a batch; returns (images in [-1, 1], timings).

    timings: ``edge_s`` (edge phase, whole batch), ``handoff_s``, ``local_s`` (receiver
    phase, whole batch). k = 0 or an empty edge part skips the channel.
    """
    T = shared.num_train_timesteps
    if local.num_train_timesteps != T or not torch.equal(
        shared.alphas_cumprod, local.alphas_cumprod
    ):
        raise ConfigError("model", "shared and local models must use the same noise schedule")
    if handoff not in HANDOFFS:
        raise ConfigError("handoff", f"got {handoff!r}; use one of {HANDOFFS}")
    check_offload_steps(offload_steps, shared.max_offload_steps, T)
    ts = inference_timesteps(num_inference_steps, T)
    split = split_point(ts, offload_steps, T, shared.max_offload_steps)
    log.debug("k=%d: edge runs %s, receiver from t=%d", offload_steps, split.edge, split.t_handoff)

    step = ReverseStep(sampler, shared.scheduler.config)
    t0 = time.perf_counter()
    x = edge_denoise(shared, layout, split.edge, split.t_handoff, generator, step)
    _sync(x)
    t1 = time.perf_counter()
    link_snr = snr_db if split.edge else None
    x, t_res = _handoff(
        x, split.t_handoff, link_snr, handoff, channel_fn, shared.alphas_cumprod, generator
    )
    _sync(x)
    t2 = time.perf_counter()
    images = local_denoise(local, x, t_res, ts, layout, background, generator, step)
    _sync(images)
    t3 = time.perf_counter()
    return images, {"edge_s": t1 - t0, "handoff_s": t2 - t1, "local_s": t3 - t2}
