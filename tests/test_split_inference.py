"""Split inference: k -> timestep mapping, DDPM posterior, both hand-offs, end to end."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from semcom_exp.errors import ConfigError
from semcom_exp.models.ddpm_decoder import DiffusionDecoder, to_x0
from semcom_exp.models.samplers import ReverseStep
from semcom_exp.models.split_inference import (
    edge_denoise,
    handoff,
    inference_timesteps,
    local_denoise,
    local_schedule,
    snr_aware_timestep,
    split_point,
    split_sample,
)

AC = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.double()
TINY = dict(image_size=16, block_out_channels=(8, 16, 16), lr=1e-3)


class StandInAWGN:
    """Per-sample power normalisation + AWGN at Es/N0 = snr_db; counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x, snr_db, generator=None):
        self.calls += 1
        power = x.pow(2).flatten(1).mean(1)
        noise_var = power * 10 ** (-snr_db / 10)
        noise = torch.randn(x.shape, generator=generator) * noise_var.sqrt().view(-1, 1, 1, 1)
        return x + noise, noise_var


def models():
    torch.manual_seed(0)
    shared = DiffusionDecoder(**TINY, use_background=False, t_min=350, name="shared")
    local = DiffusionDecoder(**TINY, use_background=True, t_min=0, name="local")
    return shared, local


def inputs(b: int = 3, s: int = 16):
    g = torch.Generator().manual_seed(7)
    return torch.rand(b, 4, s, s, generator=g).round(), torch.rand(b, 3, s, s, generator=g) * 2 - 1


def count_unet_calls(model: DiffusionDecoder) -> list[int]:
    sizes: list[int] = []
    model.unet.register_forward_pre_hook(lambda mod, args: sizes.append(args[0].shape[0]))
    return sizes


# ------------------------------------------------------------------------- schedule
def test_inference_timesteps_trailing_and_full():
    assert inference_timesteps(1000) == list(range(999, -1, -1))
    assert inference_timesteps(20) == list(range(999, 0, -50))
    for bad in (0, 1001, 2.5):
        with pytest.raises(ConfigError, match="num_inference_steps"):
            inference_timesteps(bad)


@pytest.mark.parametrize(
    "n,k,n_edge,t_handoff",
    [
        (1000, 0, 0, 999),  # all local
        (1000, 350, 350, 649),
        (1000, 650, 650, 349),
        (20, 350, 7, 649),  # k/T = 0.35 of the strided steps, same hand-off state
        (20, 650, 13, 349),
        (20, 120, 3, 849),  # not a multiple of the stride: steps with t >= 880
        (10, 350, 4, 599),
    ],
)
def test_split_point_counts_k_on_the_training_schedule(n, k, n_edge, t_handoff):
    ts = inference_timesteps(n)
    split = split_point(ts, k, max_offload_steps=650)
    assert len(split.edge) == n_edge and split.t_handoff == t_handoff
    assert split.edge + split.local == ts
    assert all(t >= 1000 - k for t in split.edge) and all(t < 1000 - k for t in split.local)


def test_split_point_rejects_bad_k():
    ts = inference_timesteps(20)
    with pytest.raises(ConfigError) as err:
        split_point(ts, 651, max_offload_steps=650)
    assert err.value.key == "offload_steps" and "650" in str(err.value)
    with pytest.raises(ConfigError, match="offload_steps"):
        split_point(ts, -1)
    with pytest.raises(ConfigError, match="receiver would run none"):
        split_point(inference_timesteps(2), 650, max_offload_steps=650)


# --------------------------------------------------------------------- reverse step
def posterior(x, x0, t, t_prev, noise):
    """The DDPM posterior q(x_t_prev | x_t, x0) ("fixed_small"), written out as a reference."""
    a_t = AC[t].float()
    a_p = AC[t_prev].float() if t_prev >= 0 else torch.tensor(1.0)
    beta = 1 - a_t / a_p
    mean = (a_p.sqrt() * beta / (1 - a_t)) * x0 + ((a_t / a_p).sqrt() * (1 - a_p) / (1 - a_t)) * x
    return mean + ((1 - a_p) / (1 - a_t) * beta).clamp(min=1e-20).sqrt() * noise


@pytest.mark.parametrize("ptype", ["epsilon", "v_prediction"])
def test_ddpm_step_matches_diffusers_and_the_posterior(ptype):
    """ReverseStep('ddpm') on x0_hat = the scheduler's own step on the raw output (strided
    schedule), and the closed-form posterior for any pair, ragged per sample included."""
    sched = DDPMScheduler(
        num_train_timesteps=1000, prediction_type=ptype, timestep_spacing="trailing"
    )
    sched.set_timesteps(20)
    ts = [int(t) for t in sched.timesteps]
    step = ReverseStep("ddpm", sched.config)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, 8, generator=g)
    for i in (0, 9, 19):  # first, middle, last (t=49 -> x_0)
        t, t_prev = ts[i], (ts[i + 1] if i + 1 < len(ts) else -1)
        out = torch.randn(2, 3, 8, 8, generator=g)
        ref = sched.step(out, t, x, generator=torch.Generator().manual_seed(i)).prev_sample
        x0 = to_x0(out, x, sched.alphas_cumprod[t], ptype).clamp(-1, 1)
        mine = step(x, x0, t, t_prev, torch.Generator().manual_seed(i))
        torch.testing.assert_close(mine, ref, atol=1e-5, rtol=1e-5)
    x0 = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1
    noise = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    mine = step(x0 * 0.3, x0, 420, 399, torch.Generator().manual_seed(5))  # off the 20-step grid
    torch.testing.assert_close(mine, posterior(x0 * 0.3, x0, 420, 399, noise), atol=1e-5, rtol=0)
    t, t_prev = torch.tensor([420, 349, 420]), torch.tensor([399, 299, 399])
    x = torch.randn(3, 3, 8, 8, generator=g)
    ragged = step(x, x0, t, t_prev, torch.Generator().manual_seed(6))
    g6 = torch.Generator().manual_seed(6)  # groups step in descending t: rows 0, 2, then 1
    torch.testing.assert_close(ragged[[0, 2]], step(x[[0, 2]], x0[[0, 2]], 420, 399, g6))
    torch.testing.assert_close(ragged[[1]], step(x[[1]], x0[[1]], 349, 299, g6))


def test_ddim_is_deterministic_and_rejects_an_off_grid_step():
    step = ReverseStep("ddim", DDPMScheduler(num_train_timesteps=1000).config)
    x, x0 = torch.randn(2, 3, 8, 8), torch.rand(2, 3, 8, 8) * 2 - 1
    a, a_p = AC[649].float(), AC[599].float()
    eps = (x - a.sqrt() * x0) / (1 - a).sqrt()  # DDIM eta=0: sqrt(a') x0 + sqrt(1-a') eps
    torch.testing.assert_close(step(x, x0, 649, 599), a_p.sqrt() * x0 + (1 - a_p).sqrt() * eps)
    torch.testing.assert_close(step(x, x0, 49, -1), x0)
    with pytest.raises(ConfigError, match="model.sampler"):
        step(x, x0, 649, 349)  # a gap of 300 is no T // n
    with pytest.raises(ConfigError, match="model.sampler"):
        ReverseStep("euler", DDPMScheduler().config)


def oracle(model: DiffusionDecoder, x0_value: float) -> DiffusionDecoder:
    """Make a model predict a known constant x_0, so the sampler's statistics are exact."""
    model.predict_x0 = lambda x, t, *a, **k: torch.full_like(x, x0_value)
    return model


def test_edge_hands_over_the_diffusion_state_at_t_handoff():
    shared, _ = models()
    oracle(shared, 0.5)
    split = split_point(inference_timesteps(20), 350, max_offload_steps=650)
    layout = torch.zeros(512, 4, 16, 16)
    x = edge_denoise(shared, layout, split.edge, split.t_handoff, torch.Generator().manual_seed(0))
    a = AC[split.t_handoff].item()  # x_649 ~ N(sqrt(a) x0, 1 - a)
    assert x.mean().item() == pytest.approx(a**0.5 * 0.5, abs=0.01)
    assert x.var().item() == pytest.approx(1 - a, rel=0.02)


# ---------------------------------------------------------------------------- handoff
def test_handoff_plain_and_ideal_link():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 16, 16, generator=g)
    ch = StandInAWGN()
    y, t = handoff(x, 349, None, "snr_aware", ch, AC)
    assert y is x and t.tolist() == [349] * 4 and ch.calls == 0
    y, t = handoff(x, 349, 0.0, "plain", ch, AC, torch.Generator().manual_seed(1))
    assert ch.calls == 1 and t.tolist() == [349] * 4
    per_sample = (y - x).flatten(1).var(1) / x.flatten(1).pow(2).mean(1)  # SNR 0 dB: ~1
    assert per_sample.min() > 0.9 and per_sample.max() < 1.1
    with pytest.raises(ConfigError, match="handoff"):
        handoff(x, 349, 0.0, "digital", ch, AC)


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 15.0])
def test_snr_aware_resumes_at_the_matching_noise_level(snr_db):
    t = 349
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    a = AC[t].item()
    x_t = a**0.5 * x0 + (1 - a) ** 0.5 * torch.randn(x0.shape, generator=g)
    ch = StandInAWGN()
    x, t_new = handoff(x_t, t, snr_db, "snr_aware", ch, AC, g)
    s2 = x_t.pow(2).flatten(1).mean(1).double() * 10 ** (-snr_db / 10)
    target = ((1 - a) + s2) / a
    ratio = (1 - AC) / AC
    for b in range(4):  # t' is the nearest (log) noise ratio among t' >= t
        best = (ratio[t:].log() - target[b].log()).abs().argmin().item() + t
        assert t_new[b].item() == best
    assert (t_new > t).all()
    for b in range(4):  # x = sqrt(a') x0 + noise of variance 1 - a', independent of x0
        a_new = AC[t_new[b]].item()
        resid = x[b] - a_new**0.5 * x0[b]
        assert resid.var().item() == pytest.approx(1 - a_new, rel=0.08)
        coef = (resid * x0[b]).sum() / x0[b].pow(2).sum()
        assert abs(coef.item()) < 0.06


def test_snr_aware_is_monotone_and_identity_at_very_high_snr():
    s2 = torch.tensor([0.0, 1e-9, 0.01, 0.1, 1.0, 10.0], dtype=torch.float64)
    t_new = snr_aware_timestep(349, s2, AC)
    assert t_new[:2].tolist() == [349, 349]
    assert (t_new.diff() >= 0).all() and t_new[-1] > t_new[2]
    x = torch.randn(2, 3, 8, 8)
    y, t = handoff(x, 349, 90.0, "snr_aware", StandInAWGN(), AC, torch.Generator().manual_seed(0))
    assert t.tolist() == [349, 349]
    torch.testing.assert_close(y, x, atol=1e-3, rtol=0)


# ---------------------------------------------------------------------- local phase
def test_local_schedule_is_resume_then_every_timestep_below():
    ts = inference_timesteps(20)
    sched = local_schedule(torch.tensor([349, 420, 349]), ts, 3)
    assert sched[0].tolist()[:8] == [349, 299, 249, 199, 149, 99, 49, -1]
    assert sched[1].tolist() == [420, 399, 349, 299, 249, 199, 149, 99, 49]
    assert local_schedule(649, ts[7:], 2).tolist() == [ts[7:], ts[7:]]


def test_local_denoise_ragged_schedules():
    _, local = models()
    layout, bg = inputs(b=2)
    sizes = count_unet_calls(local)
    x = torch.randn(2, 3, 16, 16)
    ts = inference_timesteps(20)
    out = local_denoise(
        local, x, torch.tensor([149, 249]), ts, layout, bg, torch.Generator().manual_seed(0)
    )
    assert sizes == [2, 2, 2, 1, 1]  # 249: 5 steps; 149: 3 steps
    assert out.shape == x.shape and out.abs().max() <= 1
    same_a = local_denoise(local, x, 149, ts, layout, bg, torch.Generator().manual_seed(0))
    same_b = local_denoise(
        local, x, torch.tensor([149, 149]), ts, layout, bg, torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(same_a, same_b)
    oracle(local, -0.25)
    done = local_denoise(local, x, torch.tensor([149, 249]), ts, layout, bg)
    torch.testing.assert_close(done, torch.full_like(x, -0.25))


# ------------------------------------------------------------------------ end to end
@pytest.mark.parametrize("mode", ["plain", "snr_aware"])
def test_split_sample_shapes_timings_and_determinism(mode):
    shared, local = models()
    layout, bg = inputs()
    ch = StandInAWGN()

    def run(seed, snr=0.0, k=350):
        return split_sample(
            shared, local, layout, bg, k, snr, mode, 10, torch.Generator().manual_seed(seed), ch
        )

    img, tm = run(0)
    assert img.shape == (3, 3, 16, 16) and torch.isfinite(img).all() and img.abs().max() <= 1
    assert set(tm) == {"edge_s", "handoff_s", "local_s"} and min(tm.values()) >= 0
    torch.testing.assert_close(run(0)[0], img, atol=0, rtol=0)
    assert not torch.equal(run(1)[0], img)
    assert not torch.equal(run(0, snr=-5.0)[0], img)  # the channel matters
    assert ch.calls == 4


def test_split_sample_k0_is_all_local_without_channel():
    shared, local = models()
    layout, bg = inputs()
    edge_calls, local_calls = count_unet_calls(shared), count_unet_calls(local)
    ch = StandInAWGN()
    img, _ = split_sample(
        shared, local, layout, bg, 0, 5.0, "plain", 10, torch.Generator().manual_seed(0), ch
    )
    assert edge_calls == [] and len(local_calls) == 10 and ch.calls == 0
    img2, _ = split_sample(
        shared, local, layout, bg, 650, 5.0, "plain", 10, torch.Generator().manual_seed(0), ch
    )
    assert (
        len(edge_calls) == 7 and len(local_calls) == 10 + 3 and ch.calls == 1
    )  # 999..399 | 349..49
    assert not torch.equal(img, img2)


def test_split_sample_rejects_k_above_kmax_before_any_work():
    shared, local = models()
    layout, bg = inputs()
    edge_calls, local_calls = count_unet_calls(shared), count_unet_calls(local)
    ch = StandInAWGN()
    with pytest.raises(ConfigError) as err:
        split_sample(shared, local, layout, bg, 700, 5.0, "plain", 10, torch.Generator(), ch)
    assert err.value.key == "offload_steps"
    assert edge_calls == [] and local_calls == [] and ch.calls == 0
    with pytest.raises(ConfigError, match="handoff"):
        split_sample(shared, local, layout, bg, 350, 5.0, "ideal", 10, torch.Generator(), ch)
    assert edge_calls == []


def test_snr_aware_tops_up_the_noise_to_exactly_one_minus_a():
    """A resumed state slightly less noisy than t' expects gets the missing variance added."""
    t, t0 = 349, 420
    ratio = (1 - AC) / AC
    target = ratio[t0] + 0.7 * (ratio[t0 + 1] - ratio[t0])  # nearest: t0 + 1, a bit noisier
    s2 = (target * AC[t] - (1 - AC[t])).item()

    # A link that reports noise variance s2 but delivers zeros: what comes out is the top-up.
    def link(x, snr_db, generator=None):
        return torch.zeros_like(x), torch.full((x.shape[0],), s2)

    x, t_new = handoff(
        torch.zeros(1, 3, 256, 256), t, 0.0, "snr_aware", link, AC, torch.Generator().manual_seed(0)
    )
    a_new = AC[t0 + 1].item()
    assert t_new.tolist() == [t0 + 1]
    expected = (1 - a_new) - a_new * target.item()
    assert expected > 0 and x.var().item() == pytest.approx(expected, rel=0.02)


def test_default_channel_is_the_analog_awgn_link():
    """Integration with semcom_exp.channels.analog_awgn: its noise has the variance it reports."""
    x = torch.randn(3, 3, 32, 32) * torch.tensor([0.5, 1.0, 2.0]).view(3, 1, 1, 1)
    y, t = handoff(x, 349, 0.0, "plain", None, AC, torch.Generator().manual_seed(0))
    from semcom_exp.channels import analog_awgn

    _, noise_var = analog_awgn(x, 0.0)
    emp = (y - x).flatten(1).var(1)
    torch.testing.assert_close(emp, noise_var, rtol=0.1, atol=0)
    torch.testing.assert_close(noise_var, x.pow(2).flatten(1).mean(1), rtol=1e-4, atol=0)  # 0 dB
    x2, t2 = handoff(x, 349, 0.0, "snr_aware", None, AC, torch.Generator().manual_seed(0))
    assert (t2 > t).all() and x2.shape == x.shape


def test_k0_equals_a_plain_local_ddpm_sampler_on_the_same_noise():
    """k = 0: nothing at the edge, no channel, the receiver samples alone: the same images as
    diffusers' own DDPM loop over the strided timesteps with the local model and the same
    generator (initial noise, then each step's variance noise)."""
    shared, local = models()
    layout, background = inputs()
    out, _ = split_sample(
        shared, local, layout, background, 0, snr_db=5.0, num_inference_steps=10,
        generator=torch.Generator().manual_seed(3),
    )  # fmt: skip
    sched = DDPMScheduler(num_train_timesteps=1000, prediction_type="sample")
    sched.set_timesteps(timesteps=inference_timesteps(10))
    g = torch.Generator().manual_seed(3)
    x = torch.randn(out.shape, generator=g)
    with torch.no_grad():
        for t in sched.timesteps:
            x0 = local.predict_x0(x, int(t), layout, background)
            x = sched.step(x0, t, x, generator=g).prev_sample
    assert torch.allclose(out, x, atol=1e-5)
    # and k > 0 is not that sampler (the edge's shared model takes the first steps)
    other, _ = split_sample(
        shared, local, layout, background, 350, snr_db=None, num_inference_steps=10,
        generator=torch.Generator().manual_seed(3),
    )  # fmt: skip
    assert not torch.allclose(other, x, atol=1e-3)
