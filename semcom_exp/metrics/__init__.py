"""Image quality metrics for images in [-1, 1]: LPIPS (real v0.1 weights), SSIM, PSNR, MS-SSIM.

Every function returns one value per image, shape (B,). A metric that cannot be computed here
raises MetricUnavailable(reason); report it as unavailable with that reason, never a number.
"""

from semcom_exp.metrics.errors import MetricUnavailable
from semcom_exp.metrics.image import (
    DATA_RANGE,
    ms_ssim,
    ms_ssim_available,
    ms_ssim_min_size,
    psnr,
    psnr_masked,
    ssim,
    ssim_masked,
)
from semcom_exp.metrics.lpips import LPIPS, lpips_available

__all__ = [
    "DATA_RANGE",
    "LPIPS",
    "MetricUnavailable",
    "lpips_available",
    "ms_ssim",
    "ms_ssim_available",
    "ms_ssim_min_size",
    "psnr",
    "psnr_masked",
    "ssim",
    "ssim_masked",
]
