"""Input checks shared by the image metrics, so a wrong range or shape fails loudly, not silently."""

from __future__ import annotations

import torch

RANGE_TOL = 1e-3  # decoders with a tanh head may overshoot by float rounding only


def check_image_pair(x: torch.Tensor, y: torch.Tensor, *, channels: int | None = 3) -> None:
    """Raise ValueError unless x, y are same-shape (B, C, H, W) float tensors in [-1, 1]."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 4:
            raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(t.shape)}")
        if channels is not None and t.shape[1] != channels:
            raise ValueError(
                f"{name} must have {channels} channels (B, {channels}, H, W), got {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a float tensor in [-1, 1], got dtype {t.dtype}")
        if t.numel() == 0:
            raise ValueError(f"{name} is empty: shape {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or inf")
        lo, hi = float(t.min()), float(t.max())
        if lo < -1 - RANGE_TOL or hi > 1 + RANGE_TOL:
            raise ValueError(
                f"{name} must be in [-1, 1] (got min {lo:.4g}, max {hi:.4g}); map [0, 1] images "
                "with 2 * x - 1, [0, 255] with x / 127.5 - 1, or clamp(-1, 1) decoder outputs"
            )
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} vs {tuple(y.shape)}"
        )
