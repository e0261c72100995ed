"""Semantic encoder/decoder for traffic frames: vehicle boxes <-> a compact text message.

M2GSC sends each frame's objects (type + bounding box) as text, the prompt of the receiver's
diffusion decoder. Boxes are quantised to a ``grid`` x ``grid`` cell lattice so the message is
short and exactly parseable: ``"car 3 12 9 15; bus 20 4 31 11"`` means a car covering cells
x 3..9, y 12..15 (inclusive). A decoded box covers its original box (quantisation rounds
outwards), so masks built from the message never cut an object.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

# (vehicle_type, x0, y0, x1, y1) with coordinates normalised to [0, 1] of the frame.
NormBox = tuple[str, float, float, float, float]

SEPARATOR = "; "
DEFAULT_GRID = 32
_TYPE_RE = re.compile(r"^[^\s;]+$")


class MessageError(ValueError):
    """A semantic message (or a box to put in one) is not well formed."""


def _check_grid(grid: int) -> int:
    if isinstance(grid, bool) or not isinstance(grid, int) or grid <= 0:
        raise MessageError(f"grid must be a positive integer, got {grid!r}")
    return grid


def quantize_box(box: NormBox, grid: int = DEFAULT_GRID) -> tuple[str, int, int, int, int]:
    """Normalised box -> inclusive cell indices (rounded outwards, clamped to the grid)."""
    _check_grid(grid)
    vtype, x0, y0, x1, y1 = box
    if not isinstance(vtype, str) or not _TYPE_RE.match(vtype):
        raise MessageError(f"vehicle type must be one word without ';', got {vtype!r}")
    coords = (x0, y0, x1, y1)
    if not all(math.isfinite(float(c)) for c in coords):
        raise MessageError(f"box coordinates must be finite, got {coords!r}")
    if x1 < x0 or y1 < y0:
        raise MessageError(f"box has x1 < x0 or y1 < y0: {coords!r}")

    def lo(v: float) -> int:
        return min(grid - 1, max(0, math.floor(float(v) * grid)))

    def hi(v: float, start: int) -> int:
        # ceil(v*grid)-1 is the last cell the box reaches; a tiny tolerance keeps exact cell
        # edges (v = c/grid from a decoded message) from spilling into the next cell.
        return min(grid - 1, max(start, math.ceil(float(v) * grid - 1e-9) - 1))

    cx0, cy0 = lo(x0), lo(y0)
    return vtype, cx0, cy0, hi(x1, cx0), hi(y1, cy0)


def encode_boxes(boxes: Iterable[NormBox], grid: int = DEFAULT_GRID) -> str:
    """Boxes -> message, in reading order (top to bottom, left to right) so it is deterministic."""
    cells = [quantize_box(b, grid) for b in boxes]
    cells.sort(key=lambda c: (c[2], c[1], c[4], c[3], c[0]))
    return SEPARATOR.join(f"{t} {x0} {y0} {x1} {y1}" for t, x0, y0, x1, y1 in cells)


def parse_cells(text: str, grid: int = DEFAULT_GRID) -> list[tuple[str, int, int, int, int]]:
    """Message -> inclusive cell boxes; raises MessageError naming the bad item."""
    _check_grid(grid)
    if not isinstance(text, str):
        raise MessageError(f"message must be a string, got {type(text).__name__}")
    if not text.strip():
        return []
    out = []
    for k, item in enumerate(text.split(";")):
        parts = item.split()
        if len(parts) != 5:
            raise MessageError(
                f"item {k} {item.strip()!r}: expected 'TYPE x0 y0 x1 y1' (5 fields), got {len(parts)}"
            )
        vtype, *nums = parts
        try:
            x0, y0, x1, y1 = (int(n) for n in nums)
        except ValueError:
            raise MessageError(f"item {k} {item.strip()!r}: coordinates must be integers") from None
        if not (0 <= x0 <= x1 < grid and 0 <= y0 <= y1 < grid):
            raise MessageError(
                f"item {k} {item.strip()!r}: need 0 <= x0 <= x1 < {grid} and 0 <= y0 <= y1 < {grid}"
            )
        out.append((vtype, x0, y0, x1, y1))
    return out


def parse_message(text: str, grid: int = DEFAULT_GRID) -> list[NormBox]:
    """Message -> boxes in normalised coordinates (cell i spans [i/grid, (i+1)/grid])."""
    return [
        (t, x0 / grid, y0 / grid, (x1 + 1) / grid, (y1 + 1) / grid)
        for t, x0, y0, x1, y1 in parse_cells(text, grid)
    ]


def message_bits(text: str) -> int:
    """Size of the message as sent: UTF-8 bytes x 8."""
    return 8 * len(text.encode("utf-8"))


def image_bits(width: int, height: int, channels: int = 3, bits_per_value: int = 8) -> int:
    """Raw size of the frame the message replaces, for compression ratios."""
    return int(width) * int(height) * int(channels) * int(bits_per_value)


def vehicle_types(boxes: Sequence[NormBox]) -> list[str]:
    """The type words of a box list, in order (handy for vocabulary checks)."""
    return [b[0] for b in boxes]
