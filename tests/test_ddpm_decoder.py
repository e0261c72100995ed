"""DiffusionDecoder: builds from config, trains on its t range, logs both losses, fails clearly."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from diffusers import DDPMScheduler
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from semcom_exp.errors import ConfigError, TrainingDivergedError
from semcom_exp.models.ddpm_decoder import (
    DiffusionDecoder,
    to_epsilon,
    to_x0,
    training_target,
)
from semcom_exp.schema import option

REPO = Path(__file__).resolve().parent.parent

TINY = {
    "image_size": 16,
    "block_out_channels": [8, 16, 16],
    "num_train_timesteps": 1000,
    "max_offload_steps": 650,
    "lr": 2e-3,
}


def tiny_cfg(**overrides):
    cfg = option("model", "ddpm_decoder")
    return OmegaConf.merge(cfg, {**TINY, **overrides})


def fixed_batch(b: int = 8, s: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    """Background gradient plus one bright box per image; the layout marks the box."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(-0.6, 0.2, s)
    bg = ramp.view(1, 1, 1, s).expand(b, 3, s, s).clone()
    img, layout = bg.clone(), torch.zeros(b, 4, s, s)
    for i in range(b):
        y, x = torch.randint(0, s - 6, (2,), generator=g).tolist()
        img[i, :, y : y + 6, x : x + 6] = 0.9
        layout[i, i % 4, y : y + 6, x : x + 6] = 1.0
    return {"image": img, "layout": layout, "background": bg}


def fit(model: DiffusionDecoder, batch: dict, steps: int) -> L.Trainer:
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader([batch] * steps, batch_size=None))
    return trainer


def mean_eval(model: DiffusionDecoder, batch: dict, t_range, seeds=range(4)) -> dict[str, float]:
    runs = [model.eval_loss(batch, t_range, torch.Generator().manual_seed(s)) for s in seeds]
    return {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}


def test_config_builds_both_roles_with_the_right_inputs_and_t_range():
    shared = DiffusionDecoder.from_config(tiny_cfg(), "shared")
    local = DiffusionDecoder.from_config(tiny_cfg(), "local")
    assert shared.unet.config.in_channels == 3 + 4 and local.unet.config.in_channels == 3 + 4 + 3
    assert shared.t_min == 350 and shared.max_offload_steps == 650
    assert local.t_min == 0 and local.max_offload_steps == 1000
    assert shared.prediction_type == "v_prediction"
    assert shared.scheduler.config.prediction_type == "v_prediction"
    default = DiffusionDecoder.from_config(option("model", "ddpm_decoder"), "local")
    assert 1.0e6 < sum(p.numel() for p in default.parameters()) < 1.1e6  # DESIGN: 1.06 M


@pytest.mark.parametrize(
    "override,key",
    [
        ({"prediction_type": "x0"}, "model.prediction_type"),
        ({"max_offload_steps": 1000}, "model.max_offload_steps"),
        ({"lr_schedule": "step"}, "model.lr_schedule"),
        ({"ema_decay": 1.5}, "model.ema_decay"),
    ],
)
def test_bad_config_names_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        DiffusionDecoder.from_config(tiny_cfg(**override), "shared")
    assert err.value.key == key


@pytest.mark.parametrize("ptype", ["epsilon", "v_prediction", "sample"])
def test_target_conversions_recover_eps_and_x0(ptype):
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    eps = torch.randn(4, 3, 8, 8, generator=g)
    sched = DDPMScheduler(prediction_type=ptype)
    t = torch.tensor([1, 100, 500, 990])
    a = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = sched.add_noise(x0, eps, t)
    target = training_target(x0, eps, a, ptype)
    if ptype == "v_prediction":
        torch.testing.assert_close(target, sched.get_velocity(x0, eps, t))
    torch.testing.assert_close(to_epsilon(target, x_t, a, ptype), eps, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(to_x0(target, x_t, a, ptype), x0, atol=2e-4, rtol=1e-4)


def test_shared_model_draws_t_only_from_its_range():
    L.seed_everything(0)
    model = DiffusionDecoder.from_config(tiny_cfg(), "shared")
    seen: list[torch.Tensor] = []
    model.unet.register_forward_pre_hook(lambda mod, args: seen.append(args[1].clone()))
    batch = fixed_batch(b=64)
    batch.pop("background")
    for _ in range(5):
        model.training_step(batch, 0)
    t = torch.cat(seen)
    assert t.min() >= 350 and t.max() <= 999 and t.min() < 400 and t.max() > 950


@pytest.mark.parametrize("role", ["shared", "local"])
def test_training_lowers_loss_and_logs_both_losses(role):
    L.seed_everything(0)
    model = DiffusionDecoder.from_config(tiny_cfg(), role)
    batch = fixed_batch()
    if role == "shared":
        batch.pop("background")
    t_range = (model.t_min, 1000)
    before = mean_eval(model, batch, t_range)
    trainer = fit(model, batch, steps=40)
    after = mean_eval(model, batch, t_range)
    assert after["loss"] < 0.7 * before["loss"], (before, after)
    assert after["loss_eps"] < before["loss_eps"], (before, after)
    assert {"train/loss", "train/loss_eps"} <= set(trainer.callback_metrics)
    assert len(model.loss_history) == 40
    assert [h["step"] for h in model.loss_history] == list(range(40))
    assert all(set(h) == {"step", "loss", "loss_eps"} for h in model.loss_history)


def test_eval_loss_is_deterministic_and_respects_t_range():
    model = DiffusionDecoder.from_config(tiny_cfg(prediction_type="epsilon"), "local")
    batch = fixed_batch()
    a = model.eval_loss(batch, (350, 1000), torch.Generator().manual_seed(3))
    b = model.eval_loss(batch, (350, 1000), torch.Generator().manual_seed(3))
    c = model.eval_loss(batch, (0, 10), torch.Generator().manual_seed(3))
    assert a == b and a != c
    assert a["loss"] == pytest.approx(a["loss_eps"])  # epsilon target: the same unit
    with pytest.raises(ValueError):
        model.eval_loss(batch, (10, 1001))


def test_nan_loss_raises_a_clear_error():
    model = DiffusionDecoder.from_config(tiny_cfg(), "local", name="local_r1")
    batch = fixed_batch()
    batch["image"][0, 0, 0, 0] = float("nan")
    with pytest.raises(TrainingDivergedError, match=r"local_r1.*step 0.*lower model\.lr"):
        fit(model, batch, steps=3)


def _learning_rates(model: DiffusionDecoder, steps: int) -> list[float]:
    """The lr of each of the first ``steps`` optimiser steps, as configured by the model."""
    conf = model.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_warmup_scales_the_first_learning_rates():
    model = DiffusionDecoder.from_config(tiny_cfg(warmup_steps=4), "local")
    lrs = _learning_rates(model, 6)
    assert lrs == pytest.approx([0.0, 5e-4, 1e-3, 1.5e-3, 2e-3, 2e-3])  # diffusers' warm-up


def test_cosine_schedule_warms_up_then_decays_to_zero():
    model = DiffusionDecoder.from_config(
        tiny_cfg(warmup_steps=2, lr_schedule="cosine", train_steps=10), "local"
    )
    lrs = _learning_rates(model, 10)
    assert lrs[:3] == pytest.approx([0.0, 1e-3, 2e-3])  # warm-up, then the peak lr
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:], strict=False)) and lrs[-1] < 1e-4


def test_ema_leaves_the_averaged_weights_and_survives_a_checkpoint():
    """Same seed with and without EMA: the optimiser's path is the same, so the EMA run must
    end on different weights that lag behind (closer to the start) the raw ones."""
    batch, ends = fixed_batch(), {}
    for decay in (None, 0.9):
        L.seed_everything(0)
        model = DiffusionDecoder.from_config(tiny_cfg(ema_decay=decay), "local")
        start = torch.cat([p.detach().flatten().clone() for p in model.unet.parameters()])
        fit(model, batch, steps=15)
        ends[decay] = (model, torch.cat([p.detach().flatten() for p in model.unet.parameters()]))
    raw, ema = ends[None][1], ends[0.9][1]
    assert not torch.equal(raw, ema) and not torch.equal(start, ema)
    assert (ema - start).norm() < (raw - start).norm()
    checkpoint: dict = {}
    ends[0.9][0].on_save_checkpoint(checkpoint)
    resumed = DiffusionDecoder.from_config(tiny_cfg(ema_decay=0.9), "local")
    resumed.on_load_checkpoint(checkpoint)
    resumed.on_fit_start()
    for a, b in zip(resumed.ema.shadow_params, ends[0.9][0].ema.shadow_params, strict=True):
        assert torch.equal(a, b)
    assert resumed.ema.optimization_step == ends[0.9][0].ema.optimization_step == 15


def test_local_model_from_the_shared_one_starts_where_it_was():
    """init_from: the background input starts at zero, so the local model computes what the
    shared model did, whatever the background; a decoder of another size is refused."""
    torch.manual_seed(0)
    shared = DiffusionDecoder.from_config(tiny_cfg(), "shared").eval()
    local = DiffusionDecoder.from_config(tiny_cfg(), "local").eval()
    local.init_from(shared.state_dict())
    batch = fixed_batch(b=2)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([400, 900])
    with torch.no_grad():
        expected = shared(x, t, batch["layout"])
        torch.testing.assert_close(local(x, t, batch["layout"], batch["background"]), expected)
        torch.testing.assert_close(local(x, t, batch["layout"], -batch["background"]), expected)
    other = DiffusionDecoder.from_config(tiny_cfg(block_out_channels=[8, 8, 16]), "local")
    with pytest.raises(ValueError, match="differ in size"):
        local.init_from(other.state_dict())


def test_channels_last_is_the_same_network():
    torch.manual_seed(0)
    plain = DiffusionDecoder.from_config(tiny_cfg(channels_last=False), "local").eval()
    fast = DiffusionDecoder.from_config(tiny_cfg(channels_last=True), "local").eval()
    fast.load_state_dict(plain.state_dict())
    batch = fixed_batch(b=2)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([10, 700])
    with torch.no_grad():
        a = plain(x, t, batch["layout"], batch["background"])
        b = fast(x, t, batch["layout"], batch["background"])
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert b.is_contiguous()
