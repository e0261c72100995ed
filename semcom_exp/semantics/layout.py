"""Layout rasters: boxes -> per-class masks, the conditioning input of the DDPM decoders.

Boxes are ``(vehicle_type, x0, y0, x1, y1)`` in normalised [0, 1] frame coordinates (what
``semcom_exp.data.box_text.parse_message`` returns), so the same message rasterises at any image size. A
pixel belongs to a box when the box touches it (floor / ceil), so no non-empty box vanishes
at a small size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from semcom_exp.data.box_text import NormBox

VEHICLE_CLASSES: tuple[str, ...] = ("car", "bus", "van", "others")


def _pixel_span(v0: float, v1: float, size: int) -> tuple[int, int]:
    a = min(size, max(0, math.floor(v0 * size + 1e-9)))
    b = min(size, max(0, math.ceil(v1 * size - 1e-9)))
    return a, b


def rasterize(
    boxes: Iterable[NormBox],
    size: int,
    classes: Sequence[str] = VEHICLE_CLASSES,
    unknown: str | None = "others",
) -> torch.Tensor:
    """One float channel per class, 1.0 inside that class's boxes, 0.0 elsewhere.

    A type not in ``classes`` goes to the ``unknown`` channel (default ``others``, the
    data set's catch-all), or is dropped when ``unknown`` is None.
    """
    classes = tuple(classes)
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if unknown is not None and unknown not in classes:
        raise ValueError(f"unknown={unknown!r} is not one of the classes {classes}")
    index = {c: i for i, c in enumerate(classes)}
    out = torch.zeros(len(classes), size, size)
    for vtype, x0, y0, x1, y1 in boxes:
        ch = index.get(vtype, index.get(unknown) if unknown is not None else None)
        if ch is None:
            continue
        c0, c1 = _pixel_span(x0, x1, size)
        r0, r1 = _pixel_span(y0, y1, size)
        if c1 > c0 and r1 > r0:
            out[ch, r0:r1, c0:c1] = 1.0
    return out


def rasterize_batch(
    batch: Sequence[Iterable[NormBox]], size: int, classes: Sequence[str] = VEHICLE_CLASSES
) -> torch.Tensor:
    """Stack of ``rasterize`` for a list of box lists: (N, len(classes), size, size)."""
    return (
        torch.stack([rasterize(b, size, classes) for b in batch])
        if batch
        else torch.zeros(0, len(tuple(classes)), size, size)
    )


def object_mask(boxes: Iterable[NormBox], size: int) -> torch.Tensor:
    """(size, size) bool: True inside any box (for metrics restricted to the objects)."""
    mask = torch.zeros(size, size, dtype=torch.bool)
    for _vtype, x0, y0, x1, y1 in boxes:
        c0, c1 = _pixel_span(x0, x1, size)
        r0, r1 = _pixel_span(y0, y1, size)
        if c1 > c0 and r1 > r0:
            mask[r0:r1, c0:c1] = True
    return mask
