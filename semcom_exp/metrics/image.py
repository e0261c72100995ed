"""Per-image SSIM / PSNR / masked PSNR / MS-SSIM for images in [-1, 1], each returning shape (B,).

Why one place: every image pipeline must use the same `data_range` (2.0 for [-1, 1]) and a
per-image reduction, so that table rows and confidence intervals are comparable.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure as _tm_ms_ssim,
)
from torchmetrics.functional.image import peak_signal_noise_ratio as _tm_psnr
from torchmetrics.functional.image import structural_similarity_index_measure as _tm_ssim

from semcom_exp.metrics.checks import check_image_pair
from semcom_exp.metrics.errors import MetricUnavailable

DATA_RANGE = 2.0  # images live in [-1, 1]
SSIM_KERNEL = 11  # Gaussian window (sigma 1.5), the standard SSIM setting
MS_SSIM_SCALES = 5  # standard MS-SSIM betas (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _cap(v: torch.Tensor, cap_db: float | None) -> torch.Tensor:
    return v if cap_db is None else v.clamp(max=cap_db)


def psnr(x: torch.Tensor, y: torch.Tensor, cap_db: float | None = None) -> torch.Tensor:
    """PSNR in dB per image, data range 2.0; identical images give +inf unless ``cap_db`` is set."""
    check_image_pair(x, y, channels=None)
    v = _tm_psnr(x.float(), y.float(), data_range=DATA_RANGE, reduction="none", dim=(1, 2, 3))
    return _cap(v, cap_db)


def _check_masked(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> None:
    """An image pair (B, C, H, W) and a bool pixel mask (B, H, W) that fits it."""
    check_image_pair(x, y, channels=None)
    b, _, h, w = x.shape
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise ValueError("mask must be a bool tensor of shape (B, H, W)")
    if tuple(mask.shape) != (b, h, w):
        raise ValueError(f"mask must have shape (B, H, W) = {(b, h, w)}, got {tuple(mask.shape)}")


def psnr_masked(
    x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, cap_db: float | None = None
) -> torch.Tensor:
    """PSNR in dB per image over the pixels where the boolean ``mask`` (B, H, W) is True.

    MSE averages all channels of the selected pixels. An empty mask gives NaN for that image
    (there is nothing to score: drop it with nanmean / count it separately); identical selected
    pixels give +inf unless ``cap_db`` is set.
    """
    _check_masked(x, y, mask)
    m = mask.to(x.device).unsqueeze(1).float()
    se = ((x.float() - y.float()) ** 2 * m).sum(dim=(1, 2, 3))
    count = m.sum(dim=(1, 2, 3)) * x.shape[1]
    mse = se / count  # 0/0 = NaN where the mask is empty
    v = 10.0 * torch.log10(DATA_RANGE**2 / mse)
    return _cap(v, cap_db)


def ssim(x: torch.Tensor, y: torch.Tensor, border: str = "reflect") -> torch.Tensor:
    """SSIM per image (Gaussian 11x11, sigma 1.5, data range 2.0); 1 for identical images.

    Range [-1, 1] in principle, in practice about [0, 1]. Needs H, W >= 11.
    ``border="reflect"`` (default) is torchmetrics >= 1.5: the SSIM map of the reflect-padded
    image is averaged over all H x W pixels. ``border="valid"`` averages only the windows that lie
    inside the image (Wang et al.'s MATLAB code, skimage); at 32 px it reads ~0.01-0.02 higher.
    """
    check_image_pair(x, y, channels=None)
    if min(x.shape[-2:]) < SSIM_KERNEL:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_KERNEL}x{SSIM_KERNEL} px, got {tuple(x.shape)}"
        )
    if border not in ("reflect", "valid"):
        raise ValueError(f"border must be 'reflect' or 'valid', got {border!r}")
    if border == "reflect":
        return _tm_ssim(x.float(), y.float(), data_range=DATA_RANGE, reduction="none")
    _, full = _tm_ssim(
        x.float(), y.float(), data_range=DATA_RANGE, reduction="none", return_full_image=True
    )
    p = SSIM_KERNEL // 2
    return full[..., p:-p, p:-p].mean(dim=(1, 2, 3))


def ssim_masked(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """SSIM per image averaged over the pixels where ``mask`` (B, H, W, bool) is True.

    The SSIM map is :func:`ssim`'s (reflect border, so the mean over every pixel equals
    :func:`ssim`); an empty mask gives NaN for that image, as in :func:`psnr_masked`. Used
    with the complement of the message's boxes to see speckle on the static background.
    """
    _check_masked(x, y, mask)
    _, full = _tm_ssim(
        x.float(), y.float(), data_range=DATA_RANGE, reduction="none", return_full_image=True
    )
    m = mask.to(full.device).unsqueeze(1).float().expand_as(full)
    return (full * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))  # 0/0 = NaN: empty mask


def ms_ssim_min_size(scales: int = MS_SSIM_SCALES, kernel: int = SSIM_KERNEL) -> int:
    """Smallest image side torchmetrics' MS-SSIM accepts (176 px for the standard 5 scales)."""
    return max(2**scales, kernel * max(1, scales - 1) ** 2)


def ms_ssim_available(h: int, w: int) -> tuple[bool, str]:
    """(True, "") if MS-SSIM can be computed at h x w, else (False, reason)."""
    need = ms_ssim_min_size()
    if min(h, w) < need:
        return (
            False,
            f"MS-SSIM ({MS_SSIM_SCALES} scales) needs images of at least {need} px; got {h}x{w}",
        )
    return True, ""


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MS-SSIM per image (standard 5 scales, data range 2.0, torchmetrics' 'relu' normalisation).

    Raises MetricUnavailable for images smaller than ``ms_ssim_min_size()`` (176 px): at the
    coarsest scale the 11x11 window would not fit, and fewer scales would not be MS-SSIM.
    """
    check_image_pair(x, y, channels=None)
    ok, reason = ms_ssim_available(*x.shape[-2:])
    if not ok:
        raise MetricUnavailable(reason)
    return _tm_ms_ssim(x.float(), y.float(), data_range=DATA_RANGE, reduction="none")


__all__ = [
    "DATA_RANGE",
    "ms_ssim",
    "ms_ssim_available",
    "ms_ssim_min_size",
    "psnr",
    "psnr_masked",
    "ssim",
    "ssim_masked",
]
