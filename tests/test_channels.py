"""The channel layer against closed form: packing, analog AWGN, BER, NMSE, configs, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semcom_exp.channels import (
    AwgnChannel,
    OfdmChannel,
    OfdmConfig,
    PilotSpec,
    RayleighChannel,
    analog_awgn,
    build_channel,
    complex_to_real,
    denormalize_power,
    draw_rayleigh,
    freq_covariance,
    make_estimator,
    nmse_db,
    normalize_power,
    real_to_complex,
    set_seed,
    snr_db_to_no,
    snr_list,
    theory,
)
from semcom_exp.channels.bpsk import simulate_bpsk_ber
from semcom_exp.channels.estimators import linear_interp_matrix
from semcom_exp.errors import ConfigError

BLOCK = PilotSpec(pattern="block")
COMB = PilotSpec(pattern="comb", subcarrier_step=4, ofdm_symbols=(2, 5))


@pytest.fixture(autouse=True)
def _sionna_on_cpu():
    """Pin Sionna to the CPU (its default is the GPU when there is one): CPU is deterministic."""
    from sionna.phy import config

    before = config.device
    config.device = "cpu"
    yield
    config.device = before


def pilot_index(ofdm: OfdmChannel) -> np.ndarray:
    return np.flatnonzero(ofdm.mask.cpu().numpy().ravel())


# --- SNR convention and packing -------------------------------------------------------------


def test_snr_convention():
    assert snr_db_to_no(10.0) == pytest.approx(0.1)
    assert snr_db_to_no(-3.0) == pytest.approx(10**0.3)
    assert snr_list(5) == [5.0]
    assert snr_list([0, 10]) == [0.0, 10.0]
    with pytest.raises(ConfigError, match="channel.snr_db"):
        snr_list([])
    with pytest.raises(ConfigError, match="sanity.awgn_snr_db"):
        snr_list(["a"], "sanity.awgn_snr_db")


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 7), (4, 2, 3, 3)])
def test_packing_round_trip(shape):
    x = torch.randn(shape)
    z = real_to_complex(x)
    n = math.prod(shape[1:])
    assert z.shape == (shape[0], math.ceil(n / 2)) and torch.is_complex(z)
    assert torch.equal(complex_to_real(z, x.shape), x)
    # consecutive pairs become one symbol
    assert z[0, 0] == torch.complex(x.reshape(shape[0], -1)[0, 0], x.reshape(shape[0], -1)[0, 1])


def test_power_normalisation_per_sample():
    z = real_to_complex(torch.randn(4, 100) * torch.tensor([0.1, 1.0, 10.0, 0.0])[:, None])
    zn, scale = normalize_power(z)
    power = zn.abs().square().mean(dim=1)
    assert torch.allclose(power[:3], torch.ones(3), atol=1e-5)
    assert scale[3] == 1.0 and power[3] == 0.0  # an all-zero sample is left alone
    assert torch.allclose(denormalize_power(zn, scale), z, atol=1e-6)


def test_analog_awgn_noise_variance_matches_closed_form():
    set_seed(0)
    scales = torch.tensor([0.5, 1.0, 4.0])
    x = torch.randn(3, 2, 50, 100) * scales[:, None, None, None] + 1.0
    snr_db = 5.0
    y, noise_var = analog_awgn(x, snr_db)
    assert y.shape == x.shape and y.dtype == x.dtype and noise_var.shape == (3,)
    # closed form: per real element (no / 2) * mean symbol power = no * mean(x^2)
    expected = snr_db_to_no(snr_db) * x.reshape(3, -1).square().mean(dim=1)
    assert torch.allclose(noise_var, expected, rtol=1e-5)
    empirical = (y - x).reshape(3, -1).var(dim=1)
    assert torch.allclose(empirical, noise_var, rtol=0.05)
    # a higher SNR means less noise; one SNR per sample works too
    _, quieter = analog_awgn(x, snr_db + 10)
    assert torch.allclose(quieter, noise_var / 10, rtol=1e-5)
    _, mixed = analog_awgn(x, torch.tensor([snr_db, snr_db + 10, snr_db]))
    assert torch.allclose(mixed, noise_var * torch.tensor([1.0, 0.1, 1.0]), rtol=1e-5)


def test_analog_awgn_is_deterministic_for_a_seed_and_a_generator():
    x = torch.randn(2, 33)
    set_seed(7)
    a, _ = analog_awgn(x, 0.0)
    set_seed(7)
    b, _ = analog_awgn(x, 0.0)
    c, _ = analog_awgn(x, 0.0)
    assert torch.equal(a, b) and not torch.equal(b, c)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(analog_awgn(x, 0.0, g1)[0], analog_awgn(x, 0.0, g2)[0])


# --- flat channels and BER -----------------------------------------------------------------


@pytest.mark.parametrize("snr_db", [0.0, 4.0])
def test_ber_bpsk_awgn_matches_theory(snr_db):
    set_seed(1)
    errors, bits = simulate_bpsk_ber(AwgnChannel(), snr_db, 200_000)
    ref = theory.ber_bpsk_awgn(snr_db)
    assert ref * bits > 2000  # errors are plentiful
    assert abs(errors / bits - ref) / ref < 0.10


@pytest.mark.parametrize("snr_db", [5.0, 10.0])
def test_ber_bpsk_rayleigh_matches_theory(snr_db):
    set_seed(2)
    errors, bits = simulate_bpsk_ber(RayleighChannel(block_length=1), snr_db, 200_000)
    ref = theory.ber_bpsk_rayleigh(snr_db)
    assert abs(errors / bits - ref) / ref < 0.10
    # and it is far from the AWGN curve
    assert errors / bits > 3 * theory.ber_bpsk_awgn(snr_db)


def test_rayleigh_fading_power_and_blocks():
    set_seed(3)
    h = draw_rayleigh(2000, 12, block_length=4)
    assert h.shape == (2000, 12)
    assert torch.equal(h[:, 0], h[:, 3]) and not torch.equal(h[:, 3], h[:, 4])
    assert h.abs().square().mean().item() == pytest.approx(1.0, rel=0.05)
    y, hh = RayleighChannel()(torch.ones(5, 6, dtype=torch.complex64), 0.0)
    assert torch.allclose(y, hh) and torch.equal(hh[:, :1].expand(-1, 6), hh)  # one fade per sample


# --- OFDM channel --------------------------------------------------------------------------


def test_ofdm_channel_statistics_follow_the_profile():
    set_seed(4)
    ofdm = OfdmChannel(OfdmConfig(pilots=COMB))
    h = ofdm.draw_channel(4000)
    assert h.shape == (4000, 8, 64) and torch.is_complex(h)
    assert torch.equal(h[:, 0], h[:, 7])  # block fading over the grid
    assert h.abs().square().mean().item() == pytest.approx(1.0, rel=0.05)
    emp = (h[:, 0, :, None] * h[:, 0, None, :].conj()).mean(0).numpy()
    ref = freq_covariance(ofdm.pdp, 64)
    assert np.abs(emp - ref).max() < 0.08  # including the sign of the phase ramp


def test_observe_pilots_layout():
    set_seed(5)
    ofdm = OfdmChannel(OfdmConfig(pilots=COMB))
    h = ofdm.draw_channel(3)
    obs = ofdm.observe_pilots(h, 200.0)  # practically noiseless
    assert obs.mask.sum() == 32 == ofdm.num_pilots and obs.h_ls.shape == (3, 32)
    assert torch.allclose(obs.h_ls, h[:, ofdm.mask], atol=1e-4)
    grid = obs.ls_grid()
    assert torch.all(grid[:, ~ofdm.mask] == 0) and obs.no.shape == (3,)
    assert torch.equal(ofdm.data_mask, ~ofdm.mask)
    # noiseless LS + linear interpolation reproduces the pilots exactly
    ls = make_estimator("ls", ofdm)(obs)
    assert torch.allclose(ls[:, ofdm.mask], h[:, ofdm.mask], atol=1e-4)


def test_linear_interpolation_holds_edges():
    mask = torch.zeros(4, 8, dtype=torch.bool)
    mask[1, [1, 5]] = True
    w = linear_interp_matrix(mask).reshape(4, 8, 2)
    assert np.allclose(w[:, 0], [1, 0]) and np.allclose(w[:, 7], [0, 1])  # held, not extrapolated
    assert np.allclose(w[2, 3], [0.5, 0.5])
    assert np.allclose(w.sum(-1), 1.0)


@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_ls_nmse_at_pilots_is_one_over_snr(snr_db):
    set_seed(6)
    ofdm = OfdmChannel(OfdmConfig(pilots=BLOCK))
    h = ofdm.draw_channel(3000)
    obs = ofdm.observe_pilots(h, snr_db)
    assert abs(nmse_db(obs.h_ls, h[:, ofdm.mask]) - theory.nmse_ls_pilots_db(snr_db)) < 0.3
    # with full pilots the interpolating LS estimator is LS itself
    assert abs(nmse_db(make_estimator("ls", ofdm)(obs), h) - theory.nmse_ls_pilots_db(snr_db)) < 0.3


@pytest.mark.parametrize("spec", [BLOCK, COMB], ids=["block", "comb"])
@pytest.mark.parametrize("snr_db", [-5.0, 10.0])
def test_genie_lmmse_nmse_matches_closed_form(spec, snr_db):
    set_seed(7)
    ofdm = OfdmChannel(OfdmConfig(pilots=spec))
    h = ofdm.draw_channel(3000)
    obs = ofdm.observe_pilots(h, snr_db)
    sim = nmse_db(make_estimator("lmmse_genie", ofdm)(obs), h)
    ref = theory.lmmse_nmse_db(ofdm.covariance(), pilot_index(ofdm), snr_db_to_no(snr_db))
    assert abs(sim - ref) < 0.3


def test_estimator_ordering_and_prototype_numbers():
    """Block pilots at 0 dB: genie <= per-symbol <= LS; comb numbers near the prototype's."""
    set_seed(8)
    ofdm = OfdmChannel(OfdmConfig(pilots=BLOCK))
    h = ofdm.draw_channel(800)
    obs = ofdm.observe_pilots(h, 0.0)
    got = {n: nmse_db(make_estimator(n, ofdm)(obs), h) for n in ("ls", "lmmse_freq", "lmmse_genie")}
    assert got["lmmse_genie"] < got["lmmse_freq"] - 3 < got["ls"] - 6
    comb = OfdmChannel(OfdmConfig(pilots=COMB))
    h = comb.draw_channel(1500)
    obs = comb.observe_pilots(h, 10.0)
    assert nmse_db(make_estimator("ls", comb)(obs), h) == pytest.approx(-11.1, abs=0.6)
    assert nmse_db(make_estimator("lmmse_genie", comb)(obs), h) == pytest.approx(-19.1, abs=0.4)


def test_genie_beats_ls_on_a_known_channel():
    set_seed(9)
    ofdm = OfdmChannel(OfdmConfig(pilots=COMB))
    h = ofdm.draw_channel(1).expand(300, -1, -1).contiguous()  # one channel, many noise draws
    obs = ofdm.observe_pilots(h, 5.0)
    ls = nmse_db(make_estimator("ls", ofdm)(obs), h)
    genie = nmse_db(make_estimator("lmmse_genie", ofdm)(obs), h)
    assert genie < ls - 3


@pytest.mark.parametrize("profile", ["flat", "exponential"])
def test_mismatched_lmmse_matches_its_own_closed_form(profile):
    set_seed(10)
    ofdm = OfdmChannel(OfdmConfig(pilots=COMB))
    est = make_estimator("lmmse_mismatched", ofdm, profile=profile)
    assert est.assumed.startswith(profile)
    no = snr_db_to_no(5.0)
    h = ofdm.draw_channel(1500)
    sim = nmse_db(est(ofdm.observe_pilots(h, 5.0)), h)
    ref = 10 * math.log10(
        theory.linear_estimator_nmse(est.matrix(no), ofdm.covariance(), pilot_index(ofdm), no)
    )
    genie = theory.lmmse_nmse_db(ofdm.covariance(), pilot_index(ofdm), no)
    assert abs(sim - ref) < 0.3 and ref > genie + 0.5  # mismatch costs something


def test_per_sample_noise_levels():
    set_seed(11)
    ofdm = OfdmChannel(OfdmConfig(pilots=COMB))
    h = ofdm.draw_channel(4)
    obs = ofdm.observe_pilots(h, torch.tensor([0.0, 0.0, 20.0, 20.0]))
    assert torch.allclose(obs.no, torch.tensor([1.0, 1.0, 0.01, 0.01]))
    est = make_estimator("lmmse_genie", ofdm)
    both = est(obs)
    assert torch.allclose(
        both[2:], est(type(obs)(obs.mask, obs.y[2:], obs.h_ls[2:], obs.no[2:])), atol=1e-5
    )


def test_ofdm_is_deterministic_for_a_seed():
    ofdm = OfdmChannel(OfdmConfig(pilots=COMB))
    set_seed(12)
    a = ofdm.observe_pilots(ofdm.draw_channel(2), 0.0).y
    set_seed(12)
    b = ofdm.observe_pilots(ofdm.draw_channel(2), 0.0).y
    assert torch.equal(a, b)


# --- theory --------------------------------------------------------------------------------


def test_closed_forms():
    assert theory.ber_bpsk_awgn(0.0) == pytest.approx(0.0786496, rel=1e-5)
    assert theory.ber_bpsk_rayleigh(0.0) == pytest.approx(0.5 * (1 - math.sqrt(0.5)))
    assert theory.nmse_ls_pilots_db(7.0) == -7.0
    ofdm = OfdmChannel(OfdmConfig(pilots=BLOCK))
    p, cov = pilot_index(ofdm), ofdm.covariance()
    # 5 taps seen on 512 pilots: error ~ sum_l p_l no / (512 p_l + no) ~ 5 no / 512 at high SNR
    assert theory.lmmse_nmse(cov, p, 1e-3) == pytest.approx(5e-3 / 512, rel=0.05)
    w = make_estimator("lmmse_genie", ofdm).matrix(0.1)
    assert theory.linear_estimator_nmse(w, cov, p, 0.1) == pytest.approx(
        theory.lmmse_nmse(cov, p, 0.1), rel=1e-6
    )


# --- bad configs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides,key",
    [
        ({"pdp_delays": [0, 3, 5, 6, 20]}, "channel.pdp_delays"),
        ({"pdp_delays": [0, 3]}, "channel.pdp_delays"),
        ({"cp_length": 64}, "channel.cp_length"),
        ({"num_subcarriers": 0}, "channel.num_subcarriers"),
        ({"pilots": {"pattern": "comb", "ofdm_symbols": [2, 8]}}, "channel.pilots.ofdm_symbols"),
        ({"pilots": {"pattern": "comb", "ofdm_symbols": []}}, "channel.pilots.ofdm_symbols"),
        ({"pilots": {"pattern": "comb", "subcarrier_step": 0}}, "channel.pilots.subcarrier_step"),
        ({"pilots": {"pattern": "comb", "subcarrier_step": 65}}, "channel.pilots.subcarrier_step"),
        (
            {"pilots": {"pattern": "comb", "subcarrier_offset": 4}},
            "channel.pilots.subcarrier_offset",
        ),
        ({"pilots": {"pattern": "diamond"}}, "channel.pilots.pattern"),
        ({"pilots": {"spacing": 4}}, "channel.pilots.spacing"),
        ({"lmmse_assumed": {"shape": "flat"}}, "channel.lmmse_assumed.shape"),
    ],
)
def test_bad_ofdm_configs_name_the_key(overrides, key):
    with pytest.raises(ConfigError) as info:
        build_channel({"kind": "ofdm", **overrides})
    assert info.value.key == key


def test_bad_kinds_and_options():
    with pytest.raises(ConfigError, match="channel.kind"):
        build_channel({"kind": "satellite"})
    with pytest.raises(ConfigError, match="channel.block_length"):
        build_channel({"kind": "rayleigh", "block_length": 0})
    assert isinstance(build_channel({"kind": "rayleigh", "block_length": None}), RayleighChannel)
    ofdm = OfdmChannel()
    with pytest.raises(ConfigError, match="estimator"):
        make_estimator("oracle", ofdm)
    with pytest.raises(ConfigError, match="lmmse_assumed.profile"):
        make_estimator("lmmse_mismatched", ofdm, profile="cosine")


def test_validate_channel_config_without_building():
    from semcom_exp.channels import validate_channel_config

    validate_channel_config({"kind": "awgn", "snr_db": [0, 10]})
    with pytest.raises(ConfigError, match="channel.snr_db"):
        validate_channel_config({"kind": "awgn", "snr_db": []})
    with pytest.raises(ConfigError, match="channel.pdp_delays"):
        validate_channel_config({"kind": "ofdm", "cp_length": 4})


def test_authors_power_delay_profile_pinned_by_value():
    """The LAM-MSC authors' 5-tap profile (DESIGN.md): [0, -8, -17, -21, -25] dB at delays
    [0, 3, 5, 6, 8] samples, what the default OFDM channel draws (conf and schema alike)."""
    gains, delays = [0, -8, -17, -21, -25], [0, 3, 5, 6, 8]
    ofdm = OfdmChannel(OfdmConfig(pilots=COMB))
    assert list(ofdm.pdp.gains_db) == gains and list(ofdm.pdp.delays) == delays
    from hydra import compose, initialize_config_dir

    from tests.conftest import REPO

    with initialize_config_dir(str(REPO / "semcom_exp" / "conf" / "channel"), version_base=None):
        node = compose("ofdm")
    assert list(node.pdp_gains_db) == gains and list(node.pdp_delays) == delays
    # the frequency correlation at one subcarrier's spacing, by hand from the literal values
    p = 10 ** (np.array(gains) / 10)
    p /= p.sum()
    r1 = np.sum(p * np.exp(-2j * np.pi * np.array(delays) / 64))
    cov = freq_covariance(ofdm.pdp, 64)
    assert cov[0, 1] == pytest.approx(r1) or cov[1, 0] == pytest.approx(r1)
