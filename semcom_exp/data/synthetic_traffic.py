"""Synthetic road-traffic scenes written in the UA-DETRAC on-disk layout (the embedded default).

Why: the M2GSC case study needs a few static camera scenes ("scenarios", one per receiver),
each with its own background and vehicles of the UA-DETRAC types moving along the lanes,
plus the per-frame annotations. The real data set is a large manual download; this generator
writes the same layout (``Insight-MVT_Annotation_Train/<seq>/img00001.jpg`` + one
``DETRAC-Train-Annotations-XML/<seq>.xml`` per sequence, same schema and quirks: the
``sence_weather`` spelling, ``ignored_region``, frames without targets absent from the XML,
``occlusion`` elements) so the one reader in ``ua_detrac.py`` serves both.

Each scenario is one sequence seen by a fixed camera: a road in perspective (vanishing
towards a horizon), two directions of lanes, a scenario-specific roadside (grass and trees,
buildings, a parking lot with parked cars inside an ignored region, ...), and vehicles that
enter, follow their lane with perspective-scaled size and speed, and leave. Deterministic
for a seed; ~1 s for the default 3 x 224 frames at 192x108.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from semcom_exp.code_hash import StageVersion
from semcom_exp.data.common import config_from_mapping
from semcom_exp.errors import ConfigError
from semcom_exp.schema.data import VEHICLE_TYPES
from semcom_exp.schema.data import TrafficSyntheticConfig as SyntheticTrafficConfig

log = logging.getLogger(__name__)

VERSION = StageVersion("1", __name__)
IMAGE_DIR = "Insight-MVT_Annotation_Train"
XML_DIR = "DETRAC-Train-Annotations-XML"


# --------------------------------------------------------------------------------------------
# Scenario styles: geometry in normalised frame coordinates, colours in 0..255 RGB.


@dataclass(frozen=True)
class Style:
    name: str
    weather: str  # written as sence_weather
    ground: tuple[int, int, int]
    road: tuple[int, int, int]
    sky: tuple[int, int, int] | None  # None: the camera looks down, no sky
    horizon: float  # y of the road's far end
    top_x: float  # road centre at the far end
    bottom_x: float  # road centre at the bottom edge
    top_half: float  # road half-width at the far end (fraction of frame width)
    bottom_half: float
    lanes: int  # lanes per direction
    decor: str  # trees | buildings | parking | crosswalk


_K = tuple(f.name for f in dataclasses.fields(Style))[1:]  # every field after `name`
# fmt: off
STYLES: tuple[Style, ...] = tuple(Style(name, **dict(zip(_K, rest, strict=True))) for name, *rest in [
    # name             weather   ground           road            sky              hor.  top_x bot_x t_half b_half lanes decor
    ("highway_trees",   "sunny",  (70, 120, 55),   (95, 95, 100),  (150, 190, 230), 0.18, 0.52, 0.45, 0.05,  0.42,  2,    "trees"),
    ("urban_buildings", "cloudy", (150, 140, 125), (80, 82, 88),   None,            0.08, 0.30, 0.62, 0.06,  0.36,  1,    "buildings"),
    ("parking_side",    "sunny",  (120, 105, 80),  (105, 100, 95), (185, 200, 215), 0.25, 0.70, 0.48, 0.04,  0.30,  2,    "parking"),
    ("crossing",        "cloudy", (60, 90, 70),    (70, 72, 78),   None,            0.05, 0.45, 0.55, 0.10,  0.45,  1,    "crosswalk"),
])
# fmt: on

# (width, height) of the box in vehicle units; a unit is VEHICLE_UNIT x frame height at the
# bottom edge and shrinks with perspective (widths are also capped by the lane width).
VEHICLE_UNIT = 0.17
# Vehicles enter / leave at this far position (inside the ignored region), not at the
# vanishing end where they would crawl for ages.
S_FAR = 0.06
TYPE_SHAPE = {"car": (1.0, 0.95), "van": (1.1, 1.3), "bus": (1.3, 2.4), "others": (1.2, 1.9)}
TYPE_COLOURS = {
    "car": [(190, 35, 35), (35, 65, 180), (185, 185, 190), (30, 30, 35), (200, 120, 30)],
    "van": [(235, 235, 230), (215, 205, 175)],
    "bus": [(235, 190, 30), (225, 120, 25)],
    "others": [(45, 100, 60), (120, 80, 45)],
}


def _style_for(k: int, rng: np.random.Generator) -> Style:
    """Styles cycle; from the second round on, geometry and colours are perturbed."""
    base = STYLES[k % len(STYLES)]
    if k < len(STYLES):
        return base

    def jit(c: tuple[int, int, int]) -> tuple[int, int, int]:
        return tuple(int(np.clip(v + rng.integers(-30, 31), 0, 255)) for v in c)  # type: ignore[return-value]

    return dataclasses.replace(
        base,
        name=f"{base.name}_{k // len(STYLES)}",
        ground=jit(base.ground),
        road=jit(base.road),
        top_x=float(np.clip(base.top_x + rng.uniform(-0.15, 0.15), 0.2, 0.8)),
        bottom_x=float(np.clip(base.bottom_x + rng.uniform(-0.1, 0.1), 0.35, 0.65)),
        horizon=float(np.clip(base.horizon + rng.uniform(-0.05, 0.05), 0.03, 0.3)),
    )


class Road:
    """Perspective road geometry: s in [0, 1] runs from the far end (top) to the bottom edge."""

    def __init__(self, style: Style, width: int, height: int):
        self.st, self.W, self.H = style, width, height

    def y(self, s: float | np.ndarray) -> float | np.ndarray:
        return (self.st.horizon + s * (1.0 - self.st.horizon)) * self.H

    def s_of_y(self, y: np.ndarray) -> np.ndarray:
        return (y / self.H - self.st.horizon) / (1.0 - self.st.horizon)

    def centre(self, s: float | np.ndarray) -> float | np.ndarray:
        return (self.st.top_x + s * (self.st.bottom_x - self.st.top_x)) * self.W

    def half(self, s: float | np.ndarray) -> float | np.ndarray:
        return (self.st.top_half + s * (self.st.bottom_half - self.st.top_half)) * self.W

    def scale(self, s: float) -> float:
        """Apparent size at s relative to the bottom edge."""
        return float(self.half(s) / self.half(1.0))

    def lane_x(self, s: float, u: float) -> float:
        return float(self.centre(s) + u * self.half(s))

    def lane_width(self, s: float) -> float:
        return float(self.half(s) / self.st.lanes)


# --------------------------------------------------------------------------------------------
# Background


def _fill_rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
    H, W = img.shape[:2]
    a, b = max(0, int(round(x0))), min(W, int(round(x1)))
    c, d = max(0, int(round(y0))), min(H, int(round(y1)))
    if b > a and d > c:
        img[c:d, a:b] = colour


def render_background(
    style: Style, width: int, height: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """Static scene (H, W, 3 float 0..255) and its ignored regions (left, top, width, height)."""
    road = Road(style, width, height)
    H, W = height, width
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
    # Textured ground: a few low-frequency waves with scenario-random phases.
    tex = np.zeros((H, W), np.float32)
    for _ in range(4):
        fx, fy, ph = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 2 * math.pi)
        tex += np.sin(2 * math.pi * (fx * xx / W + fy * yy / H) + ph)
    img = np.asarray(style.ground, np.float32)[None, None, :] * (1 + 0.06 * tex[..., None] / 2)
    horizon_y = road.y(0.0)
    if style.sky is not None:
        grad = (yy / max(horizon_y, 1.0))[..., None]
        sky = np.asarray(style.sky, np.float32) * (0.9 + 0.1 * grad)
        img = np.where((yy < horizon_y)[..., None], sky, img)

    s = road.s_of_y(yy)
    on_road = (s >= 0) & (np.abs(xx - road.centre(s)) <= road.half(s))
    img = np.where(
        on_road[..., None], np.asarray(style.road, np.float32) * (1 + 0.02 * tex[..., None]), img
    )

    # Lane markings in road coordinates u in [-1, 1].
    u = (xx - road.centre(s)) / np.maximum(road.half(s), 1e-3)
    line_w = np.maximum(0.6 / np.maximum(road.half(s), 1e-3), 0.015)  # >= ~0.6 px wide
    valid = on_road & (s > 0.02)
    dashes = (np.floor(14 * np.sqrt(np.clip(s, 0, None))) % 2) == 0  # shorter when far
    centre_line = valid & (np.abs(u) < line_w * 1.5)
    edges = valid & (np.abs(np.abs(u) - 0.96) < line_w)
    img[centre_line] = (230, 200, 60)
    img[edges] = (225, 225, 225)
    for j in range(1, style.lanes):
        mark = valid & dashes & (np.abs(np.abs(u) - j / style.lanes) < line_w)
        img[mark] = (225, 225, 225)

    ignored: list[tuple[float, float, float, float]] = []
    # The far end of the road: vehicles there are a few pixels, ignored (as in UA-DETRAC).
    s_far = 0.12
    x_lo = min(road.centre(0.0) - road.half(0.0), road.centre(s_far) - road.half(s_far))
    x_hi = max(road.centre(0.0) + road.half(0.0), road.centre(s_far) + road.half(s_far))
    ignored.append(
        (float(x_lo), float(road.y(0.0)), float(x_hi - x_lo), float(road.y(s_far) - road.y(0.0)))
    )

    def off_road(x0: float, y0: float, x1: float, y1: float) -> bool:
        ys = np.linspace(y0, y1, 4)
        ss = road.s_of_y(ys)
        for sv in ss:
            c, h = road.centre(max(sv, 0)), road.half(max(sv, 0)) + 2
            if not (x1 < c - h or x0 > c + h):
                return False
        return True

    if style.decor == "trees":
        for _ in range(14):
            sv = rng.uniform(0.05, 1.0)
            side = rng.choice([-1, 1])
            r = 0.06 * H * (0.4 + road.scale(sv))
            x = road.lane_x(sv, side * rng.uniform(1.25, 2.2))
            y = float(road.y(sv))
            if not off_road(x - r, y - 2 * r, x + r, y):
                continue
            _fill_rect(img, x - r * 0.15, y - r, x + r * 0.15, y, (90, 60, 35))
            disc = (xx - x) ** 2 + (yy - (y - 1.4 * r)) ** 2 < r**2
            img[disc] = np.asarray((35, 85 + rng.integers(0, 30), 40), np.float32)
    elif style.decor == "buildings":
        for _ in range(9):
            bw, bh = rng.uniform(0.08, 0.2) * W, rng.uniform(0.15, 0.4) * H
            side = rng.choice([-1, 1])
            sv = rng.uniform(0.0, 0.7)
            x = road.lane_x(sv, side * 1.25) + (0 if side > 0 else -bw)
            y = float(road.y(sv)) - bh * 0.3
            if not off_road(x, y, x + bw, y + bh):
                continue
            colour = tuple(int(c) for c in rng.integers(90, 200, 3))
            _fill_rect(img, x, y, x + bw, y + bh, colour)
            for wy in np.arange(y + bh * 0.1, y + bh * 0.9, max(bh / 5, 2)):
                for wx in np.arange(x + bw * 0.1, x + bw * 0.9, max(bw / 4, 2)):
                    _fill_rect(
                        img, wx, wy, wx + max(bw / 10, 1), wy + max(bh / 12, 1), (50, 60, 80)
                    )
    elif style.decor == "parking":
        # A lot beside the road with parked cars: static, hence inside an ignored region.
        side = -1 if style.bottom_x > 0.45 else 1
        sv0, sv1 = 0.35, 0.9
        x_edge = road.lane_x(sv1, side * 1.08)
        lot_w = 0.28 * W
        x0, x1 = (x_edge - lot_w, x_edge) if side < 0 else (x_edge, x_edge + lot_w)
        y0, y1 = float(road.y(sv0)), float(road.y(sv1))
        x0, x1 = max(0.0, x0), min(float(W), x1)
        _fill_rect(img, x0, y0, x1, y1, (125, 125, 128))
        cw, ch = lot_w / 6, (y1 - y0) / 4
        for row in range(3):
            for col in range(5):
                cx = x0 + (col + 0.5) * (x1 - x0) / 5
                cy = y0 + (row + 0.6) * (y1 - y0) / 3.3
                _fill_rect(
                    img,
                    cx - cw * 0.6,
                    cy - ch * 0.55,
                    cx - cw * 0.55,
                    cy + ch * 0.55,
                    (230, 230, 230),
                )
                if rng.random() < 0.7:
                    colour = TYPE_COLOURS["car"][rng.integers(len(TYPE_COLOURS["car"]))]
                    _fill_rect(
                        img, cx - cw * 0.35, cy - ch * 0.4, cx + cw * 0.35, cy + ch * 0.4, colour
                    )
        ignored.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    elif style.decor == "crosswalk":
        s0, s1 = 0.55, 0.62
        stripe = valid & (s >= s0) & (s <= s1) & ((np.floor((u + 1) * 8) % 2) == 0)
        img[stripe] = (235, 235, 235)
        # Sidewalks along both road edges.
        walk = (s > 0) & (np.abs(u) > 1.0) & (np.abs(u) < 1.25)
        img[walk] = (170, 165, 160)
    return np.clip(img, 0, 255).astype(np.float32), ignored


# --------------------------------------------------------------------------------------------
# Vehicles


@dataclass
class Vehicle:
    vid: int
    vtype: str
    lane_u: float
    direction: int  # +1: towards the camera (s grows), -1: away
    s: float
    speed: float
    colour: np.ndarray
    age: int = 0

    def size(self, road: Road, s: float | None = None) -> tuple[float, float]:
        """(width, height) in pixels at position s (default: the vehicle's own)."""
        pos = min(max(self.s if s is None else s, 0.0), 1.0)
        unit = VEHICLE_UNIT * road.H * road.scale(pos)
        rw, rh = TYPE_SHAPE[self.vtype]
        return min(rw * unit, 0.9 * road.lane_width(pos)), rh * unit

    def box(self, road: Road) -> tuple[float, float, float, float]:
        """(left, top, width, height) in pixels; the box's bottom edge sits on position s."""
        w, h = self.size(road)
        cx = road.lane_x(max(self.s, 0.0), self.lane_u)
        bottom = float(road.y(self.s))
        return cx - w / 2, bottom - h, w, h


def _draw_vehicle(img: np.ndarray, v: Vehicle, box: tuple[float, float, float, float]) -> None:
    left, top, w, h = box
    _fill_rect(img, left, top, left + w, top + h, v.colour)
    dark = (40, 45, 55)
    if v.vtype == "bus":  # long row of side windows
        _fill_rect(
            img, left + w * 0.12, top + h * 0.08, left + w * 0.88, top + h * 0.9, v.colour * 0.85
        )
        _fill_rect(img, left + w * 0.15, top + h * 0.12, left + w * 0.85, top + h * 0.22, dark)
    elif v.vtype == "others":  # truck: cab + cargo box
        cab_top = top + h * (0.68 if v.direction > 0 else 0.0)
        _fill_rect(img, left, top, left + w, top + h, (150, 140, 125))
        _fill_rect(img, left, cab_top, left + w, cab_top + h * 0.32, v.colour)
        _fill_rect(
            img, left + w * 0.15, cab_top + h * 0.05, left + w * 0.85, cab_top + h * 0.14, dark
        )
    else:  # car / van: windscreen and roof
        wy = top + h * (0.55 if v.direction > 0 else 0.15)
        _fill_rect(img, left + w * 0.12, wy, left + w * 0.88, wy + h * 0.22, dark)
        roof_y = top + h * (0.25 if v.direction > 0 else 0.4)
        _fill_rect(
            img,
            left + w * 0.15,
            roof_y,
            left + w * 0.85,
            roof_y + h * 0.28,
            np.minimum(v.colour * 1.08 + 8, 255),
        )


def _overlap(a, b) -> tuple[float, float, float, float] | None:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def _inside(point: tuple[float, float], rect: tuple[float, float, float, float]) -> bool:
    return rect[0] <= point[0] <= rect[0] + rect[2] and rect[1] <= point[1] <= rect[1] + rect[3]


class _Traffic:
    """Lane-following traffic with perspective-scaled speeds and no overtaking in a lane."""

    def __init__(self, cfg: SyntheticTrafficConfig, road: Road, rng: np.random.Generator):
        self.cfg, self.road, self.rng = cfg, road, rng
        L = road.st.lanes
        # Traffic keeps to the right: towards the camera on the left half (u < 0) as seen here.
        self.lanes = [(-(j + 0.5) / L, +1) for j in range(L)] + [
            ((j + 0.5) / L, -1) for j in range(L)
        ]
        self.vehicles: list[Vehicle] = []
        self.next_id = 1
        types = [t for t in VEHICLE_TYPES if cfg.type_probs.get(t, 0) > 0]
        probs = np.asarray([cfg.type_probs[t] for t in types], float)
        self.types, self.probs = types, probs / probs.sum()

    def _min_gap(self, leader: Vehicle, follower: Vehicle) -> float:
        """Smallest s distance that keeps the follower's box clear of the leader's box."""
        road = self.road
        # The box hangs above its bottom edge at s: towards the camera the leader's box is the
        # one between them, away from it the follower's.
        between = leader if follower.direction > 0 else follower
        px = between.size(road, follower.s)[1] + 0.25 * VEHICLE_UNIT * road.H * road.scale(
            min(max(follower.s, 0.0), 1.0)
        )
        return px / (road.H * (1.0 - road.st.horizon))

    def step(self) -> None:
        cfg, road = self.cfg, self.road
        for lane_u, direction in self.lanes:
            if self.rng.random() < cfg.spawn_rate:
                s0 = S_FAR if direction > 0 else 1.3
                vtype = str(self.rng.choice(self.types, p=self.probs))
                palette = TYPE_COLOURS[vtype]
                colour = np.asarray(palette[self.rng.integers(len(palette))], np.float32)
                colour = np.clip(colour + self.rng.uniform(-12, 12, 3), 0, 255)
                speed = (
                    cfg.speed
                    * self.rng.uniform(0.7, 1.3)
                    * (0.8 if vtype in ("bus", "others") else 1.0)
                )
                new = Vehicle(self.next_id, vtype, lane_u, direction, s0, speed, colour)
                lane = [v for v in self.vehicles if v.lane_u == lane_u]
                if all(abs(v.s - s0) > self._min_gap(v, new) + 0.02 for v in lane):
                    self.vehicles.append(new)
                    self.next_id += 1
        # Move, front vehicles first, never closer than the gap to the one ahead in the lane.
        for v in sorted(self.vehicles, key=lambda v: -v.s * v.direction):
            # Constant speed on the ground = apparent speed shrinking with distance.
            ds = v.direction * v.speed * road.scale(min(max(v.s, 0.0), 1.0))
            ahead = [
                o
                for o in self.vehicles
                if o is not v and o.lane_u == v.lane_u and (o.s - v.s) * v.direction > 0
            ]
            new_s = v.s + ds
            if ahead:
                leader = min(ahead, key=lambda o: abs(o.s - v.s))
                limit = leader.s - v.direction * self._min_gap(leader, v)
                new_s = min(new_s, limit) if v.direction > 0 else max(new_s, limit)
                if (new_s - v.s) * v.direction < 0:
                    new_s = v.s
            v.s = new_s
            v.age += 1
        self.vehicles = [v for v in self.vehicles if S_FAR <= v.s <= 1.35]


# --------------------------------------------------------------------------------------------
# Writing the UA-DETRAC layout


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _write_sequence(
    out_dir: Path, name: str, k: int, cfg: SyntheticTrafficConfig
) -> dict[str, int]:
    rng = np.random.default_rng([cfg.seed, k])
    style = _style_for(k, rng)
    W, H = cfg.width, cfg.height
    road = Road(style, W, H)
    background, ignored = render_background(style, W, H, rng)
    traffic = _Traffic(cfg, road, rng)
    for _ in range(cfg.warmup_steps):
        traffic.step()

    img_dir = out_dir / IMAGE_DIR / name
    img_dir.mkdir(parents=True, exist_ok=True)
    seq = ET.Element("sequence", name=name)
    ET.SubElement(seq, "sequence_attribute", camera_state="stable", sence_weather=style.weather)
    ign = ET.SubElement(seq, "ignored_region")
    for left, top, w, h in ignored:
        ET.SubElement(ign, "box", left=_fmt(left), top=_fmt(top), width=_fmt(w), height=_fmt(h))

    brightness, annotated, frame_num, n_targets = 1.0, 0, 0, 0
    max_frames = 20 * cfg.frames_per_scenario + 200
    while annotated < cfg.frames_per_scenario:
        if frame_num >= max_frames:
            raise ConfigError(
                "data.synthetic.spawn_rate",
                f"only {annotated} of {cfg.frames_per_scenario} frames had vehicles after {frame_num} frames; raise it",
            )
        for _ in range(cfg.sim_steps_per_frame):
            traffic.step()
        frame_num += 1
        # Slow, mean-reverting illumination drift (AR(1), about 2.3 x jitter standard deviation).
        brightness = 1.0 + 0.9 * (brightness - 1.0) + float(rng.normal(0, cfg.brightness_jitter))
        img = background.copy()
        # Far vehicles first so near ones paint over them (and occlude them).
        order = sorted(traffic.vehicles, key=lambda v: v.s)
        targets = []
        for v in order:
            box = v.box(road)
            _draw_vehicle(img, v, box)
            clipped = _overlap(box, (0.0, 0.0, float(W), float(H)))
            if clipped is None:
                continue
            trunc = 1.0 - (clipped[2] * clipped[3]) / max(box[2] * box[3], 1e-9)
            centre = (clipped[0] + clipped[2] / 2, clipped[1] + clipped[3] / 2)
            if (
                trunc > 0.5
                or clipped[2] < 2
                or clipped[3] < 2
                or any(_inside(centre, r) for r in ignored)
            ):
                continue
            targets.append((v, clipped, trunc))
        img = img * brightness + rng.normal(0, cfg.noise_std, img.shape)
        Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8)).save(
            img_dir / f"img{frame_num:05d}.jpg", quality=cfg.jpeg_quality
        )
        if not targets:  # UA-DETRAC leaves frames without targets out of the XML
            continue
        annotated += 1
        n_targets += len(targets)
        fr = ET.SubElement(seq, "frame", density=str(len(targets)), num=str(frame_num))
        tl = ET.SubElement(fr, "target_list")
        for i, (v, (left, top, w, h), trunc) in enumerate(targets):
            t = ET.SubElement(tl, "target", id=str(v.vid))
            ET.SubElement(t, "box", left=_fmt(left), top=_fmt(top), width=_fmt(w), height=_fmt(h))
            ET.SubElement(
                t,
                "attribute",
                orientation=_fmt(90.0 if v.direction > 0 else 270.0),
                speed=_fmt(v.speed * road.H),
                trajectory_length=str(v.age),
                truncation_ratio=_fmt(round(trunc, 2)),
                vehicle_type=v.vtype,
            )
            # The nearer vehicle (drawn later) hides part of this one.
            regions = []
            for v2, box2, _ in targets[i + 1 :]:
                ov = _overlap((left, top, w, h), box2)
                if ov is not None and v2.s > v.s:
                    regions.append((ov, v2.vid))
            if regions:
                occ = ET.SubElement(t, "occlusion")
                for (ol, ot, ow, oh), oid in regions:
                    ET.SubElement(
                        occ,
                        "region_overlap",
                        left=_fmt(ol),
                        top=_fmt(ot),
                        width=_fmt(ow),
                        height=_fmt(oh),
                        occlusion_id=str(oid),
                        occlusion_status="0",
                    )
    xml_path = out_dir / XML_DIR / f"{name}.xml"
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(seq)
    ET.ElementTree(seq).write(xml_path, encoding="utf-8", xml_declaration=True)
    log.info(
        "synthetic %s (%s): %d images, %d annotated, %d targets",
        name,
        style.name,
        frame_num,
        annotated,
        n_targets,
    )
    return {"images": frame_num, "annotated": annotated, "targets": n_targets}


def sequence_name(k: int) -> str:
    """Name of the k-th synthetic sequence (0-based): SYN_0001, SYN_0002, ..."""
    return f"SYN_{k + 1:04d}"


def generate(
    out_dir: str | Path, cfg: SyntheticTrafficConfig | Mapping[str, Any] | None = None
) -> dict[str, dict[str, int]]:
    """Write ``cfg.num_scenarios`` sequences in the UA-DETRAC layout under ``out_dir``."""
    if not isinstance(cfg, SyntheticTrafficConfig):
        cfg = config_from_mapping(SyntheticTrafficConfig, cfg, "data.synthetic")
    out_dir = Path(out_dir)
    return {
        sequence_name(k): _write_sequence(out_dir, sequence_name(k), k, cfg)
        for k in range(cfg.num_scenarios)
    }
