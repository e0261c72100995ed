"""SSIM / PSNR / masked PSNR / MS-SSIM on [-1, 1] images against values computed independently."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from semcom_exp.metrics import (
    MetricUnavailable,
    ms_ssim,
    ms_ssim_available,
    ms_ssim_min_size,
    psnr,
    psnr_masked,
    ssim,
    ssim_masked,
)


def _pair(b: int = 2, h: int = 32, w: int = 32, noise: float = 0.1, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    y = (x + noise * torch.randn(b, 3, h, w, generator=g)).clamp(-1, 1)
    return x, y


def _ssim_reference(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, border: str = "valid"
) -> torch.Tensor:
    """Plain SSIM (Wang et al. 2004): 11x11 Gaussian sigma 1.5; "valid" windows inside the image
    only (MATLAB / skimage), or "reflect": reflect-pad by 5 and average all H x W windows."""
    if border == "reflect":
        x, y = (F.pad(t, (5, 5, 5, 5), mode="reflect") for t in (x, y))
    k = torch.arange(11.0) - 5
    g1 = torch.exp(-(k**2) / (2 * 1.5**2))
    g1 = g1 / g1.sum()
    win = (g1[:, None] * g1[None, :]).expand(x.shape[1], 1, 11, 11)

    def blur(t):
        return F.conv2d(t.double(), win.double(), groups=x.shape[1])

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.mean(dim=(1, 2, 3)).float()


def test_psnr_identical_is_inf_or_capped() -> None:
    x, _ = _pair()
    assert torch.isinf(psnr(x, x)).all()
    assert psnr(x, x, cap_db=100.0).tolist() == [100.0, 100.0]


def test_psnr_known_mse_per_image() -> None:
    x = torch.rand(2, 3, 16, 16) - 0.5  # in [-0.5, 0.5] so the offsets stay in range
    y = x.clone()
    y[0] += 0.1  # MSE 0.01 -> 10 log10(4 / 0.01)
    y[1] -= 0.2  # MSE 0.04 -> 10 log10(4 / 0.04) = 20 dB
    v = psnr(x, y)
    assert v.shape == (2,)
    assert v.tolist() == pytest.approx([10 * math.log10(400), 20.0], abs=1e-3)


@pytest.mark.parametrize("border", ["reflect", "valid"])
def test_ssim_matches_independent_reference(border: str) -> None:
    x, y = _pair(b=3, h=24, w=20, noise=0.3)
    got = ssim(x, y, border=border)
    assert got.shape == (3,)
    assert got.tolist() == pytest.approx(_ssim_reference(x, y, border=border).tolist(), abs=1e-4)
    # the data range matters: a [0, 1] range would give a different (wrong) number here
    wrong = _ssim_reference(x, y, data_range=1.0, border=border)
    assert not torch.allclose(got, wrong, atol=1e-3)


def test_ssim_border_conventions_differ() -> None:
    x, y = _pair(b=2, h=24, w=24, noise=0.3)
    assert not torch.allclose(ssim(x, y), ssim(x, y, border="valid"), atol=1e-3)
    with pytest.raises(ValueError, match="border"):
        ssim(x, y, border="same")


def test_ssim_identical_and_ordering() -> None:
    x, y = _pair(noise=0.05)
    _, y_worse = _pair(noise=0.5)
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert (ssim(x, y) > ssim(x, y_worse)).all()


def test_psnr_masked_equals_manual() -> None:
    x, y = _pair(b=3, h=16, w=16)
    mask = torch.zeros(3, 16, 16, dtype=torch.bool)
    mask[0, 2:6, 3:11] = True
    mask[1] = True
    got = psnr_masked(x, y, mask)
    sel = mask[0].expand(3, 16, 16)
    mse0 = ((x[0] - y[0])[sel] ** 2).mean()
    assert got[0].item() == pytest.approx(10 * math.log10(4 / mse0.item()), abs=1e-4)
    assert got[1].item() == pytest.approx(psnr(x[1:2], y[1:2]).item(), abs=1e-4)
    assert math.isnan(got[2].item())  # empty mask


def test_psnr_masked_ignores_pixels_outside_mask() -> None:
    x, _ = _pair(b=1, h=8, w=8)
    y = x.clone()
    y[..., 4:, :] = -x[..., 4:, :]  # damage only the bottom half
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, :4] = True
    assert torch.isinf(psnr_masked(x, y, mask)).all()
    assert psnr_masked(x, y, mask, cap_db=80.0).item() == 80.0


@pytest.mark.parametrize(
    "mask, match",
    [
        (torch.ones(2, 1, 16, 16, dtype=torch.bool), r"\(B, H, W\)"),
        (torch.ones(2, 16, 16), "bool"),
    ],
)
def test_psnr_masked_bad_mask(mask: torch.Tensor, match: str) -> None:
    x, y = _pair(h=16, w=16)
    with pytest.raises(ValueError, match=match):
        psnr_masked(x, y, mask)


def test_range_is_checked() -> None:
    x, y = _pair()
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        psnr(x * 127.5 + 127.5, y)
    with pytest.raises(ValueError, match="same shape"):
        ssim(x, y[:1])


def test_ms_ssim_small_images_unavailable() -> None:
    assert ms_ssim_min_size() == 176
    x, y = _pair(h=64, w=64)
    assert not ms_ssim_available(64, 64)[0]
    with pytest.raises(MetricUnavailable, match="176"):
        ms_ssim(x, y)


def test_ms_ssim_at_minimum_size() -> None:
    x, y = _pair(b=2, h=176, w=176, noise=0.2)
    assert ms_ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    v = ms_ssim(x, y)
    assert v.shape == (2,) and ((v > 0.5) & (v < 0.999)).all()


def test_ssim_masked_averages_the_ssim_map_over_the_mask():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    y = x.clone()
    y[:, :, :8, :8] = -y[:, :, :8, :8]  # differ only in the top-left corner
    every = torch.ones(2, 32, 32, dtype=torch.bool)
    torch.testing.assert_close(ssim_masked(x, y, every), ssim(x, y))
    far = torch.zeros(2, 32, 32, dtype=torch.bool)
    far[:, 20:, 20:] = True  # more than a window away from the change
    torch.testing.assert_close(ssim_masked(x, y, far), torch.ones(2))
    assert (ssim_masked(x, y, ~far) < ssim(x, y)).all()
    assert ssim_masked(x, y, torch.zeros_like(far)).isnan().all()
    with pytest.raises(ValueError, match="mask"):
        ssim_masked(x, y, far.float())
