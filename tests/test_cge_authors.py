"""The authors' CGE setup (lam_msc/cge_authors): their networks' shapes and interface, the
per-SNR generators, the noise-normalised L1, and the experiment's smoke run."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from semcom_exp.channels import OfdmChannel, OfdmConfig
from semcom_exp.errors import ConfigError
from semcom_exp.models.cge import CgeEstimator, CgeModel, PerSnrEstimator, complex_to_maps

from .conftest import read_json
from .test_cge import TINY_CHANNEL


def _block_channel() -> OfdmChannel:
    cfg = {**TINY_CHANNEL, "num_ofdm_symbols": 8, "pilots": {"pattern": "block"}}
    return OfdmChannel(OfdmConfig.from_cfg(cfg), device="cpu", generator=torch.Generator())


def _authors_model() -> CgeModel:
    ofdm = _block_channel()
    return CgeModel(ofdm.mask, arch="authors", noise_input=False, base="none", width=4)


def test_authors_networks_map_the_grid_and_judge_csi_alone():
    ofdm = _block_channel()
    model = _authors_model()
    h = ofdm.draw_channel(3)
    obs = ofdm.observe_pilots(h, 10.0)
    assert model(obs.ls_grid(), obs.no).shape == h.shape
    cond, base = model.generator.condition(obs.ls_grid(), obs.no)
    assert base is None and model.generator.obs_channels == 0
    logits = model.discriminator(cond[:, :0], complex_to_maps(h))
    assert logits.shape == (3, 1)  # one logit per grid, no sigmoid: any real value
    with pytest.raises(ValueError, match="CSI alone"):
        model.discriminator(cond, complex_to_maps(h))


def test_authors_arch_refuses_settings_it_would_ignore():
    with pytest.raises(ConfigError, match="model.arch"):
        CgeModel(_block_channel().mask, arch="authors")  # noise_input / base left on


def test_per_snr_estimator_routes_each_snr_to_its_generator():
    ofdm = _block_channel()
    a, b = _authors_model(), _authors_model()
    est = PerSnrEstimator({0.0: CgeEstimator(a), 20.0: CgeEstimator(b)}, "per_snr")
    h = ofdm.draw_channel(2)
    for snr, model in ((0.0, a), (20.0, b)):
        obs = ofdm.observe_pilots(h, snr)
        assert torch.equal(est(obs), CgeEstimator(model)(obs))
    with pytest.raises(ValueError, match="no generator trained at 10"):
        est(ofdm.observe_pilots(h, 10.0))


def test_noise_l1_weighs_each_grid_by_its_noise_std():
    model = _authors_model()
    target = torch.zeros(2, 2, 8, 16)
    fake = torch.ones_like(target)  # the same error on both grids
    no = torch.tensor([1.0, 0.01])  # 0 dB and 20 dB
    assert model.l1_loss(fake, target, no).item() == pytest.approx(1.0)
    model.l1_noise_power = 0.5
    fake[1] = 0.0  # only the low-SNR grid errs: its weight is 1 / 10 of the high-SNR one's
    weight = torch.tensor([1.0, 10.0])
    expected = (torch.tensor([1.0, 0.0]) * weight / weight.mean()).mean()
    assert model.l1_loss(fake, target, no).item() == pytest.approx(expected.item())


@pytest.mark.slow
def test_cge_authors_smoke_run_scores_every_setup_on_the_same_draws(smoke_run):
    proc = smoke_run("lam_msc/cge_authors")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = proc.tmp / "run"
    rows = pd.read_csv(run / "results.csv")
    want = {"ls", "lmmse_genie", "lmmse_freq", "cgan", "cgan_authors", "cgan_authors_per_snr"}
    assert want <= set(rows["estimator"])
    assert set(rows["pilot_pattern"]) == {"block"}
    per_snr = rows[rows["estimator"] == "cgan_authors_per_snr"]
    assert len(per_snr) == 2 and per_snr["nmse_db"].notna().all()
    curve = pd.read_csv(run / "val_curve.csv")  # one generator per evaluation SNR
    assert {"cgan_authors_per_snr@0", "cgan_authors_per_snr@20"} <= set(curve["model"])
    summary = read_json(run / "results.json")
    assert summary["train_seconds_cgan_authors_per_snr"] > 0
