"""Synthetic scenes written in the PASCAL VOC2012 layout (the embedded default of ``data=voc2012``).

Why: the image modality of LAM-MSC needs images whose content has a known text description.
Each scene is a textured background with one to ``max_objects`` objects of VOC classes, each
class drawn as its own shape and colour (a tall ellipse for ``person``, a wide box with wheels
for ``car``, ...). The generator writes ``VOCdevkit/VOC2012/{JPEGImages,Annotations,
ImageSets/Main}`` with the real schema (1-based integer boxes, ``pose``, ``truncated`` for
objects cut by the frame edge, ``difficult`` for tiny ones, per-class ``<class>_<split>.txt``
files), so the reader in ``voc2012.py`` serves both. Deterministic for a seed.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from semcom_exp.code_hash import StageVersion
from semcom_exp.data.common import config_from_mapping
from semcom_exp.data.layouts import VOC_CLASSES
from semcom_exp.schema.data import VocSyntheticConfig as SyntheticVOCConfig

log = logging.getLogger(__name__)

VERSION = StageVersion("1", __name__)
SUBDIR = Path("VOCdevkit") / "VOC2012"
POSES = ("Frontal", "Left", "Right", "Rear", "Unspecified")
DIFFICULT_BELOW_PX = 10  # objects whose visible box is this small are marked difficult

# class -> (shape, width/height aspect, RGB). Shapes: ellipse, box, wheels (box + two dark
# discs), tri (triangle), diamond, ring.
# fmt: off
CLASS_STYLE: dict[str, tuple[str, float, tuple[int, int, int]]] = {
    "aeroplane":   ("tri",     2.0, (200, 200, 210)),
    "bicycle":     ("ring",    1.6, (30, 140, 200)),
    "bird":        ("tri",     1.0, (240, 200, 40)),
    "boat":        ("tri",     1.8, (250, 250, 250)),
    "bottle":      ("box",     0.35, (40, 160, 60)),
    "bus":         ("wheels",  2.2, (240, 180, 20)),
    "car":         ("wheels",  1.8, (200, 30, 30)),
    "cat":         ("ellipse", 1.3, (150, 100, 60)),
    "chair":       ("box",     0.8, (120, 70, 30)),
    "cow":         ("box",     1.6, (30, 30, 30)),
    "diningtable": ("box",     2.4, (160, 110, 70)),
    "dog":         ("ellipse", 1.5, (190, 140, 80)),
    "horse":       ("ellipse", 1.7, (110, 60, 30)),
    "motorbike":   ("wheels",  1.5, (60, 60, 70)),
    "person":      ("ellipse", 0.4, (230, 170, 140)),
    "pottedplant": ("diamond", 0.8, (30, 120, 30)),
    "sheep":       ("ellipse", 1.4, (235, 235, 225)),
    "sofa":        ("box",     2.0, (120, 40, 120)),
    "train":       ("box",     3.0, (90, 90, 200)),
    "tvmonitor":   ("box",     1.3, (20, 20, 40)),
}
# fmt: on


def image_id(k: int) -> str:
    """Synthetic ids follow the VOC ``YYYY_NNNNNN`` pattern with the year 2099."""
    return f"2099_{k + 1:06d}"


def _background(cfg: SyntheticVOCConfig, rng: np.random.Generator) -> Image.Image:
    h, w = cfg.height, cfg.width
    top, bottom = rng.integers(40, 220, 3), rng.integers(40, 220, 3)
    ramp = np.linspace(0.0, 1.0, h)[:, None, None]
    img = top[None, None, :] * (1 - ramp) + bottom[None, None, :] * ramp
    yy, xx = np.mgrid[0:h, 0:w]
    fx, fy, ph = rng.uniform(1, 4), rng.uniform(1, 4), rng.uniform(0, 2 * np.pi)
    img = img + 12 * np.sin(2 * np.pi * (fx * xx / w + fy * yy / h) + ph)[..., None]
    img = np.broadcast_to(img, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _draw(
    draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, float, float, float], colour
) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if shape == "ellipse":
        draw.ellipse(box, fill=colour)
    elif shape == "box":
        draw.rectangle(box, fill=colour)
    elif shape == "wheels":
        draw.rectangle((x0, y0, x1, y1 - 0.25 * h), fill=colour)
        r = 0.25 * h
        for cx in (x0 + 0.25 * w, x1 - 0.25 * w):
            draw.ellipse((cx - r, y1 - 2 * r, cx + r, y1), fill=(15, 15, 15))
    elif shape == "tri":
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) / 2, y0)], fill=colour)
    elif shape == "diamond":
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=max(2, int(min(w, h) / 5)))
    else:  # pragma: no cover - CLASS_STYLE is closed
        raise ValueError(shape)


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    el = ET.SubElement(parent, tag)
    if text is not None:
        el.text = str(text)
    return el


def _annotation_xml(
    iid: str, cfg: SyntheticVOCConfig, objects: list[dict[str, Any]]
) -> ET.ElementTree:
    root = ET.Element("annotation")
    _sub(root, "folder", "VOC2012")
    _sub(root, "filename", f"{iid}.jpg")
    src = _sub(root, "source")
    _sub(src, "database", "semcom_exp synthetic VOC")
    _sub(src, "annotation", "PASCAL VOC2012 layout (synthetic)")
    _sub(src, "image", "synthetic")
    size = _sub(root, "size")
    _sub(size, "width", cfg.width)
    _sub(size, "height", cfg.height)
    _sub(size, "depth", 3)
    _sub(root, "segmented", 0)
    for o in objects:
        el = _sub(root, "object")
        _sub(el, "name", o["name"])
        _sub(el, "pose", o["pose"])
        _sub(el, "truncated", int(o["truncated"]))
        _sub(el, "difficult", int(o["difficult"]))
        bb = _sub(el, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), o["box"], strict=True):
            _sub(bb, tag, v)
    ET.indent(root, space="\t")
    return ET.ElementTree(root)


def _scene(
    cfg: SyntheticVOCConfig, rng: np.random.Generator
) -> tuple[Image.Image, list[dict[str, Any]]]:
    img = _background(cfg, rng)
    draw = ImageDraw.Draw(img)
    W, H = cfg.width, cfg.height
    objects = []
    for _ in range(int(rng.integers(1, cfg.max_objects + 1))):
        classes = cfg.classes or VOC_CLASSES  # null: all 20
        name = classes[int(rng.integers(len(classes)))]
        shape, aspect, colour = CLASS_STYLE[name]
        colour = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in colour)
        scale = rng.uniform(0.12, 0.55) * min(W, H)  # geometric mean of the box sides
        bw, bh = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
        bw, bh = min(bw, 0.95 * W), min(bh, 0.95 * H)
        if rng.random() < 0.2:  # partly outside the frame -> truncated
            x0, y0 = rng.uniform(-0.4 * bw, W - 0.6 * bw), rng.uniform(-0.4 * bh, H - 0.6 * bh)
        else:
            x0, y0 = rng.uniform(0, W - bw), rng.uniform(0, H - bh)
        box = (x0, y0, x0 + bw, y0 + bh)
        _draw(draw, shape, box, colour)
        # Visible box in VOC's 1-based inclusive pixel coordinates.
        vx0, vy0 = max(int(np.floor(x0)), 0) + 1, max(int(np.floor(y0)), 0) + 1
        vx1, vy1 = min(int(np.ceil(x0 + bw)), W), min(int(np.ceil(y0 + bh)), H)
        truncated = x0 < 0 or y0 < 0 or x0 + bw > W or y0 + bh > H
        small = min(vx1 - vx0, vy1 - vy0) + 1 < DIFFICULT_BELOW_PX
        objects.append(
            {
                "name": name,
                "pose": POSES[int(rng.integers(len(POSES)))],
                "truncated": truncated,
                "difficult": small,
                "box": (vx0, vy0, vx1, vy1),
            }
        )
    arr = np.asarray(img, np.float32) + rng.normal(0, cfg.noise_std, (H, W, 3))
    return Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8)), objects


def generate(
    out_dir: str | Path, cfg: SyntheticVOCConfig | Mapping[str, Any] | None = None
) -> Path:
    """Write the synthetic set under ``out_dir/VOCdevkit/VOC2012``; return that folder."""
    if not isinstance(cfg, SyntheticVOCConfig):
        cfg = config_from_mapping(SyntheticVOCConfig, cfg, "data.synthetic")
    top = Path(out_dir) / SUBDIR
    (top / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (top / "Annotations").mkdir(parents=True, exist_ok=True)
    (top / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    ids, present = [], []
    for k in range(cfg.num_images):
        iid = image_id(k)
        img, objects = _scene(cfg, rng)
        img.save(top / "JPEGImages" / f"{iid}.jpg", quality=cfg.jpeg_quality)
        _annotation_xml(iid, cfg, objects).write(
            top / "Annotations" / f"{iid}.xml", encoding="unicode"
        )
        ids.append(iid)
        present.append(objects)
    n_val = min(max(1, round(cfg.val_fraction * len(ids))), len(ids) - 1)
    val = set(rng.permutation(len(ids))[:n_val].tolist())
    splits = {
        "train": [k for k in range(len(ids)) if k not in val],
        "val": sorted(val),
        "trainval": list(range(len(ids))),
    }
    main = top / "ImageSets" / "Main"
    for split, members in splits.items():
        (main / f"{split}.txt").write_text("".join(f"{ids[k]}\n" for k in members))
        for cls in VOC_CLASSES:  # 1 present, 0 only as difficult, -1 absent (as in VOC)
            lines = []
            for k in members:
                objs = [o for o in present[k] if o["name"] == cls]
                flag = -1 if not objs else (0 if all(o["difficult"] for o in objs) else 1)
                lines.append(f"{ids[k]} {flag:2d}\n")
            (main / f"{cls}_{split}.txt").write_text("".join(lines))
    log.info("synthetic VOC: %d images at %s", len(ids), top)
    return top
