"""Semantic message (boxes <-> text) and layout rasters."""

from __future__ import annotations

import pytest
import torch

from semcom_exp.data.box_text import (
    MessageError,
    encode_boxes,
    image_bits,
    message_bits,
    parse_cells,
    parse_message,
    quantize_box,
)
from semcom_exp.semantics.layout import VEHICLE_CLASSES, object_mask, rasterize, rasterize_batch

BOXES = [
    ("bus", 0.63, 0.13, 0.99, 0.36),
    ("car", 0.10, 0.38, 0.30, 0.49),
    ("van", 0.0, 0.0, 0.05, 0.04),
    ("others", 0.5, 0.9, 1.0, 1.0),
]


def test_encode_is_reading_order_and_exact():
    text = encode_boxes(BOXES, grid=32)
    assert text == "van 0 0 1 1; bus 20 4 31 11; car 3 12 9 15; others 16 28 31 31"
    # Input order does not matter.
    assert encode_boxes(list(reversed(BOXES)), grid=32) == text
    assert encode_boxes([], grid=32) == ""


def test_round_trip_text_and_boxes():
    for grid in (8, 32, 64):
        text = encode_boxes(BOXES, grid)
        decoded = parse_message(text, grid)
        assert encode_boxes(decoded, grid) == text  # text -> boxes -> text is the identity
        by_type = {b[0]: b for b in decoded}
        for vtype, x0, y0, x1, y1 in BOXES:
            d = by_type[vtype]
            # The decoded box covers the original one and is at most one cell larger per side.
            assert (
                d[1] <= x0 + 1e-9 and d[2] <= y0 + 1e-9 and d[3] >= x1 - 1e-9 and d[4] >= y1 - 1e-9
            )
            assert x0 - d[1] < 1 / grid + 1e-9 and d[3] - x1 < 1 / grid + 1e-9
            assert y0 - d[2] < 1 / grid + 1e-9 and d[4] - y1 < 1 / grid + 1e-9


def test_quantize_exact_cell_edges_do_not_spill():
    # A box exactly on cells 4..7 (inclusive) stays there.
    assert quantize_box(("car", 4 / 32, 4 / 32, 8 / 32, 8 / 32), 32) == ("car", 4, 4, 7, 7)
    # A degenerate (zero-size) box still gets one cell.
    assert quantize_box(("car", 0.5, 0.5, 0.5, 0.5), 32) == ("car", 16, 16, 16, 16)


def test_message_bits():
    assert message_bits("car 3 12 9 15") == 13 * 8
    assert message_bits("") == 0
    assert message_bits("é") == 16  # UTF-8, not characters
    assert image_bits(960, 540) == 960 * 540 * 3 * 8


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("car 1 2 3", "5 fields"),
        ("car 1 2 3 x", "integers"),
        ("car 1 2 40 5", "< 32"),
        ("car 5 2 3 4", "x0 <= x1"),
        ("car 1 2 3 4;", "5 fields"),
    ],
)
def test_parse_errors_are_clear(text, fragment):
    with pytest.raises(MessageError, match=fragment):
        parse_message(text, 32)
    with pytest.raises(ValueError):  # MessageError is a ValueError
        parse_cells(text, 32)


def test_encode_rejects_bad_boxes():
    with pytest.raises(MessageError, match="one word"):
        encode_boxes([("fire truck", 0.1, 0.1, 0.2, 0.2)])
    with pytest.raises(MessageError, match="x1 < x0"):
        encode_boxes([("car", 0.5, 0.1, 0.2, 0.2)])
    with pytest.raises(MessageError, match="grid"):
        encode_boxes(BOXES, grid=0)


def test_rasterize_shapes_and_values():
    r = rasterize(BOXES, 32)
    assert r.shape == (len(VEHICLE_CLASSES), 32, 32) and r.dtype == torch.float32
    assert set(r.unique().tolist()) == {0.0, 1.0}
    car = r[VEHICLE_CLASSES.index("car")]
    # car x 0.10..0.30 -> columns 3..9, y 0.38..0.49 -> rows 12..15 (floor / ceil).
    rows, cols = torch.nonzero(car, as_tuple=True)
    assert (rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item()) == (
        12,
        15,
        3,
        9,
    )
    assert (
        r[VEHICLE_CLASSES.index("bus"), 6, 25] == 1 and r[VEHICLE_CLASSES.index("car"), 6, 25] == 0
    )
    # Same message rasterised at another size lands on the same place.
    r64 = rasterize(parse_message(encode_boxes(BOXES, 32), 32), 64)
    assert torch.equal(r64[:, ::2, ::2], rasterize(parse_message(encode_boxes(BOXES, 32), 32), 32))


def test_rasterize_unknown_types_and_tiny_boxes():
    r = rasterize([("Taxi", 0.0, 0.0, 0.5, 0.5)], 8)
    assert r[VEHICLE_CLASSES.index("others")].sum() == 16
    assert rasterize([("Taxi", 0.0, 0.0, 0.5, 0.5)], 8, unknown=None).sum() == 0
    tiny = rasterize([("car", 0.51, 0.51, 0.52, 0.52)], 8)
    assert tiny.sum() == 1  # a non-empty box never vanishes
    with pytest.raises(ValueError):
        rasterize(BOXES, 8, classes=("car",), unknown="others")


def test_object_mask_matches_raster_union():
    m = object_mask(BOXES, 32)
    assert m.dtype == torch.bool and m.shape == (32, 32)
    assert torch.equal(m, rasterize(BOXES, 32).amax(0) > 0)
    assert not object_mask([], 16).any()
    batch = rasterize_batch([BOXES, []], 16)
    assert batch.shape == (2, 4, 16, 16) and batch[1].sum() == 0
