"""Synthetic action clips written in the UCF101 layout (the embedded default of ``data=ucf101``).

Why: the video modality of LAM-MSC needs clips whose class name is their text. Each class
of a small set has its own motion (``Basketball``: a ball bouncing; ``Biking``: a two-wheeler
crossing the frame; ``JumpingJack``: a figure spreading and jumping; ``HulaHoop``: a disc
circling a figure; ``Rowing``: a boat rocking back and forth). As in UCF101, the clips of one
group (``gXX``) share a scene (background, colours) and its clips (``cYY``) vary the motion's
phase and speed. The generator writes ``UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` (MPEG-4 part 2
with the XVID tag in AVI, like the real files) and ``ucfTrainTestlist/`` (``classInd.txt``,
``trainlist0N.txt`` with ids, ``testlist0N.txt`` without, CRLF line ends; split N holds out
group N), so the reader in ``ucf101.py`` serves both. Deterministic for a seed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from semcom_exp.code_hash import StageVersion
from semcom_exp.data.common import config_from_mapping
from semcom_exp.data.layouts import LISTS_DIR, VIDEO_DIR
from semcom_exp.schema.data import VideoSyntheticConfig as SyntheticVideoConfig

log = logging.getLogger(__name__)

VERSION = StageVersion("1", __name__)
NUM_SPLITS = 3


def video_name(cls: str, group: int, clip: int) -> str:
    return f"v_{cls}_g{group:02d}_c{clip:02d}.avi"


def _scene(
    cfg: SyntheticVideoConfig, rng: np.random.Generator
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A group's static background (H, W, 3 float) and its actor colour."""
    h, w = cfg.height, cfg.width
    sky, ground = rng.integers(60, 230, 3), rng.integers(30, 200, 3)
    horizon = int(h * rng.uniform(0.45, 0.65))
    img = np.empty((h, w, 3), np.float32)
    img[:horizon] = sky
    img[horizon:] = ground
    yy, xx = np.mgrid[0:h, 0:w]
    img += (
        10
        * np.sin(2 * math.pi * (rng.uniform(1, 3) * xx / w + rng.uniform(1, 3) * yy / h))[..., None]
    )
    actor = tuple(int(c) for c in rng.integers(0, 256, 3))
    return img, actor  # type: ignore[return-value]


def _draw_frame(
    draw: ImageDraw.ImageDraw,
    cls: str,
    t: float,
    w: int,
    h: int,
    colour,
    phase: float,
    speed: float,
) -> None:
    """Draw class ``cls``'s actor at time ``t`` (seconds)."""
    s = min(w, h)
    om = 2 * math.pi * speed  # cycles per second -> rad/s
    if cls == "Basketball":
        x = w * (0.3 + 0.4 * ((0.15 * t * speed + phase / (2 * math.pi)) % 1.0))
        y = h * 0.85 - abs(math.sin(om * t + phase)) * h * 0.55
        r = 0.08 * s
        draw.ellipse((x - r, y - 2 * r, x + r, y), fill=(230, 110, 20))
        draw.rectangle((w * 0.08, h * 0.2, w * 0.12, h * 0.9), fill=colour)  # the hoop's post
    elif cls == "Biking":
        x = (w * 1.3 * ((0.5 * t * speed + phase / (2 * math.pi)) % 1.0)) - 0.15 * w
        y, r = h * 0.8, 0.1 * s
        for cx in (x - 1.3 * r, x + 1.3 * r):
            draw.ellipse((cx - r, y - r, cx + r, y + r), outline=(20, 20, 20), width=2)
        draw.polygon(
            [(x - 1.3 * r, y), (x, y - 1.2 * r), (x + 1.3 * r, y)], outline=colour, width=2
        )
        draw.ellipse((x - 0.5 * r, y - 3.2 * r, x + 0.5 * r, y - 1.2 * r), fill=colour)  # rider
    elif cls == "JumpingJack":
        spread = 0.5 + 0.5 * math.sin(om * t + phase)
        cx, top = w * 0.5, h * (0.25 - 0.08 * spread)
        bw = s * (0.1 + 0.25 * spread)
        draw.rectangle((cx - 0.05 * s, top, cx + 0.05 * s, top + 0.45 * h), fill=colour)  # body
        draw.line((cx - bw, top + 0.05 * h, cx + bw, top + 0.05 * h), fill=colour, width=3)  # arms
        draw.line((cx, top + 0.45 * h, cx - bw * 0.7, top + 0.7 * h), fill=colour, width=3)
        draw.line((cx, top + 0.45 * h, cx + bw * 0.7, top + 0.7 * h), fill=colour, width=3)
    elif cls == "HulaHoop":
        cx, cy = w * 0.5, h * 0.55
        draw.rectangle((cx - 0.05 * s, h * 0.2, cx + 0.05 * s, h * 0.9), fill=colour)
        a = om * 2 * t + phase
        x, y, r = cx + 0.3 * s * math.cos(a), cy + 0.08 * s * math.sin(a), 0.06 * s
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(240, 40, 160))
    elif cls == "Rowing":
        x = w * (0.5 + 0.25 * math.sin(om * t + phase))
        y = h * 0.7
        draw.polygon(
            [
                (x - 0.3 * s, y),
                (x + 0.3 * s, y),
                (x + 0.2 * s, y + 0.1 * s),
                (x - 0.2 * s, y + 0.1 * s),
            ],
            fill=colour,
        )
        oar = 0.25 * s * math.cos(om * t + phase)
        draw.line((x, y - 0.1 * s, x + oar, y + 0.12 * s), fill=(90, 60, 30), width=2)
    else:  # pragma: no cover - validated against MOTIONS
        raise ValueError(cls)


def _write_avi(path: Path, frames: list[np.ndarray], cfg: SyntheticVideoConfig) -> None:
    import av

    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=cfg.fps)
        stream.width, stream.height, stream.pix_fmt = cfg.width, cfg.height, "yuv420p"
        stream.bit_rate = cfg.bit_rate
        stream.codec_context.codec_tag = "XVID"
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())


def generate(
    out_dir: str | Path, cfg: SyntheticVideoConfig | Mapping[str, Any] | None = None
) -> Path:
    """Write the synthetic set under ``out_dir`` (``UCF-101/`` and ``ucfTrainTestlist/``); return ``out_dir``."""
    if not isinstance(cfg, SyntheticVideoConfig):
        cfg = config_from_mapping(SyntheticVideoConfig, cfg, "data.synthetic")
    out = Path(out_dir)
    lists = out / LISTS_DIR
    lists.mkdir(parents=True, exist_ok=True)
    classes = sorted(cfg.classes)  # classInd is alphabetical, as in UCF101
    _write_lines(lists / "classInd.txt", [f"{k + 1} {c}" for k, c in enumerate(classes)])
    rng = np.random.default_rng(cfg.seed)
    entries: list[tuple[str, int, int]] = []  # (relative path, class id, group)
    for cid, cls in enumerate(classes, 1):
        (out / VIDEO_DIR / cls).mkdir(parents=True, exist_ok=True)
        for g in range(1, cfg.groups_per_class + 1):
            background, colour = _scene(cfg, rng)
            for c in range(1, cfg.clips_per_group + 1):
                phase, speed = rng.uniform(0, 2 * math.pi), rng.uniform(0.8, 1.6)
                frames = []
                for k in range(cfg.num_frames):
                    img = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
                    _draw_frame(
                        ImageDraw.Draw(img),
                        cls,
                        k / cfg.fps,
                        cfg.width,
                        cfg.height,
                        colour,
                        phase,
                        speed,
                    )
                    arr = np.asarray(img, np.float32) + rng.normal(
                        0, cfg.noise_std, background.shape
                    )
                    frames.append(np.clip(arr, 0, 255).round().astype(np.uint8))
                name = video_name(cls, g, c)
                _write_avi(out / VIDEO_DIR / cls / name, frames, cfg)
                entries.append((f"{cls}/{name}", cid, g))
    for split in range(1, NUM_SPLITS + 1):
        test_group = (split - 1) % cfg.groups_per_class + 1
        _write_lines(
            lists / f"trainlist{split:02d}.txt",
            [f"{p} {cid}" for p, cid, g in entries if g != test_group],
        )
        _write_lines(
            lists / f"testlist{split:02d}.txt", [p for p, _, g in entries if g == test_group]
        )
    log.info("synthetic UCF101: %d videos of %d classes at %s", len(entries), len(classes), out)
    return out
