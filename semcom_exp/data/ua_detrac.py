"""UA-DETRAC reader (real on-disk layout) for the M2GSC case study.

Layout (``ROOT`` = the data set's top folder)::

    ROOT/Insight-MVT_Annotation_Train/MVI_20011/img00001.jpg ...
    ROOT/DETRAC-Train-Annotations-XML/MVI_20011.xml
    ROOT/Insight-MVT_Annotation_Test/...  +  ROOT/DETRAC-Test-Annotations-XML/...  (optional)

One XML per sequence: ``<sequence name>``, ``<sequence_attribute camera_state
sence_weather>`` (sic), ``<ignored_region><box .../></ignored_region>``, and ``<frame density
num>`` (1-based) with ``<target_list><target id><box left top width height/><attribute ...
vehicle_type/>[<occlusion>...]</target>``. Frames without targets are absent from the XML.

A *scenario* is a group of sequences seen by one receiver (``data.scenarios``); without a
grouping each sequence is its own scenario. ``data.root: null`` generates the synthetic
traffic set (``synthetic_traffic.py``) in this very layout into the artifact cache and reads
it with the same code.
"""

from __future__ import annotations

import logging
import math
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcom_exp.data.box_text import NormBox, encode_boxes
from semcom_exp.data.common import (
    VERIFY,
    Malformed,
    OnError,
    ReportsSkips,
    cached_synthetic,
    check_choice,
    config_from_mapping,
    finite_float,
    image_header,
    int_at_least,
    locate_root,
    root_or_synthetic,
    xml_root,
)
from semcom_exp.errors import ConfigError, DataError
from semcom_exp.schema.data import UaDetracConfig

log = logging.getLogger(__name__)
_DEFAULTS = UaDetracConfig()  # the readers' defaults are the config's (semcom_exp/schema/data.py)

# subset -> (image folder, annotation folder). Annotation folders may carry a suffix
# (e.g. "-v3"); the exact name wins when both exist.
SUBSETS: dict[str, tuple[str, str]] = {
    "train": ("Insight-MVT_Annotation_Train", "DETRAC-Train-Annotations-XML"),
    "test": ("Insight-MVT_Annotation_Test", "DETRAC-Test-Annotations-XML"),
}
_IMAGE_RE = re.compile(r"^img(\d+)\.jpe?g$", re.IGNORECASE)
LAYOUT_HELP = (
    "expected ROOT/Insight-MVT_Annotation_Train/<sequence>/img00001.jpg ... and "
    "ROOT/DETRAC-Train-Annotations-XML/<sequence>.xml (the *_Test / *-Test-* folders too, "
    "if present); data.root may be ROOT, its parent, or one of those two folders. "
    "Or set data.root=null to use the built-in synthetic traffic set (written in the same layout)"
)
SPLIT_STRATEGIES = ("temporal", "random")


@dataclass(frozen=True)
class Box:
    """One annotated vehicle, in pixels of the original frame (UA-DETRAC: 960x540, floats)."""

    left: float
    top: float
    width: float
    height: float
    vehicle_type: str
    target_id: int = -1

    def normalized(self, frame_width: int, frame_height: int) -> NormBox | None:
        """(type, x0, y0, x1, y1) clipped to [0, 1]; None when nothing is left inside."""
        x0 = min(max(self.left / frame_width, 0.0), 1.0)
        y0 = min(max(self.top / frame_height, 0.0), 1.0)
        x1 = min(max((self.left + self.width) / frame_width, 0.0), 1.0)
        y1 = min(max((self.top + self.height) / frame_height, 0.0), 1.0)
        if x1 <= x0 or y1 <= y0:
            return None
        return self.vehicle_type, x0, y0, x1, y1


@dataclass(frozen=True)
class Frame:
    """One image of a sequence with its annotations."""

    sequence: str
    scenario: str
    frame_num: int  # 1-based, as in img00001.jpg and <frame num="1">
    image_path: Path
    boxes: tuple[Box, ...]
    width: int
    height: int
    annotated: bool = True  # False: no <frame> in the XML (zero targets)

    def norm_boxes(self) -> list[NormBox]:
        out = [b.normalized(self.width, self.height) for b in self.boxes]
        return [b for b in out if b is not None]


@dataclass(frozen=True)
class SequenceInfo:
    """Per-sequence metadata from the XML header."""

    name: str
    subset: str
    image_dir: Path
    xml_path: Path
    camera_state: str | None
    weather: str | None  # the XML's `sence_weather`
    ignored_regions: tuple[tuple[float, float, float, float], ...]
    width: int
    height: int
    num_images: int


@dataclass
class _ParsedXML:
    name: str | None
    camera_state: str | None
    weather: str | None
    ignored: list[tuple[float, float, float, float]]
    frames: dict[int, list[Box]] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------
# Finding the data set


def _annotation_dir(top: Path, prefix: str) -> Path | None:
    exact = top / prefix
    if exact.is_dir():
        return exact
    try:
        found = sorted(p for p in top.iterdir() if p.is_dir() and p.name.startswith(prefix))
    except OSError:
        return None
    return found[0] if found else None


def _subsets_at(top: Path) -> dict[str, tuple[Path | None, Path | None]]:
    """subset -> (image dir, annotation dir) for the subsets with at least one of them."""
    out = {}
    for subset, (img_name, xml_prefix) in SUBSETS.items():
        img = top / img_name if (top / img_name).is_dir() else None
        xml = _annotation_dir(top, xml_prefix)
        if img is not None or xml is not None:
            out[subset] = (img, xml)
    return out


def _is_top(path: Path) -> bool:
    return bool(_subsets_at(path))


def _is_part(name: str) -> bool:
    """One of the top folder's sub-folders (annotation folders may carry a suffix)."""
    return any(name.startswith(n) for pair in SUBSETS.values() for n in pair)


def find_root(root: str | Path) -> Path:
    """The UA-DETRAC top folder, given it, its parent, or one of its sub-folders."""
    return locate_root(root, _is_top, what="UA-DETRAC", layout_help=LAYOUT_HELP, parts=_is_part)


# ------------------------------------------------------------------------------------------
# Parsing one annotation file


def _float_attr(el: ET.Element, name: str, where: str) -> float:
    raw = el.get(name)
    if raw is None:
        raise Malformed(f"{where}: <{el.tag}> lacks attribute '{name}'")
    return finite_float(raw, f"{where}: <{el.tag} {name}={raw!r}>")


def _ltwh(el: ET.Element, where: str) -> tuple[float, float, float, float]:
    return tuple(_float_attr(el, k, where) for k in ("left", "top", "width", "height"))  # type: ignore[return-value]


def parse_annotation_xml(path: Path, type_map: Mapping[str, str] | None = None) -> _ParsedXML:
    """Read one sequence XML; raises DataError naming the file on any structural problem."""
    try:
        root = xml_root(path, "sequence")
        attr = root.find("sequence_attribute")
        camera = attr.get("camera_state") if attr is not None else None
        weather = None
        if attr is not None:  # the data set's own spelling first
            weather = attr.get("sence_weather", attr.get("scene_weather"))
        ignored = []
        for ir in root.findall("ignored_region"):
            for b in ir.findall("box"):
                ignored.append(_ltwh(b, "ignored_region"))
        parsed = _ParsedXML(root.get("name"), camera, weather, ignored)
        for fr in root.findall("frame"):
            raw = fr.get("num")
            try:
                num = int(raw) if raw is not None else None
            except ValueError:
                num = None
            if num is None or num < 1:
                raise Malformed(f"<frame num={raw!r}>: expected a positive integer")
            if num in parsed.frames:
                raise Malformed(f"frame {num} appears twice")
            where = f"frame {num}"
            boxes = []
            for tl in fr.findall("target_list"):
                for tg in tl.findall("target"):
                    tid_raw = tg.get("id", "-1")
                    try:
                        tid = int(tid_raw)
                    except ValueError:
                        raise Malformed(
                            f"{where}: <target id={tid_raw!r}> is not an integer"
                        ) from None
                    twhere = f"{where} target {tid}"
                    box_el, attr_el = tg.find("box"), tg.find("attribute")
                    if box_el is None:
                        raise Malformed(f"{twhere}: no <box>")
                    if attr_el is None or not attr_el.get("vehicle_type"):
                        raise Malformed(f"{twhere}: no <attribute vehicle_type=...>")
                    vtype = attr_el.get("vehicle_type", "").strip()
                    if type_map:
                        vtype = type_map.get(vtype, vtype)
                    if not vtype or re.search(r"[\s;]", vtype):
                        raise Malformed(f"{twhere}: vehicle_type {vtype!r} must be one word")
                    left, top, w, h = _ltwh(box_el, twhere)
                    if w <= 0 or h <= 0:
                        raise Malformed(
                            f"{twhere}: box width/height must be positive, got {w}, {h}"
                        )
                    boxes.append(Box(left, top, w, h, vtype, tid))
            parsed.frames[num] = boxes
        return parsed
    except Malformed as exc:
        raise DataError(f"malformed UA-DETRAC annotation file {path}: {exc}") from None


# ------------------------------------------------------------------------------------------
# The data set


class UADetracDataset(ReportsSkips):
    """Frames of the selected sequences, grouped into scenarios; images load lazily.

    ``len`` is the number of frames yielded: annotated frames by default, every image when
    ``include_empty_frames`` is set.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        scenarios: Mapping[str, Sequence[str]] | None = None,
        subsets: Sequence[str] | None = None,
        on_error: str = _DEFAULTS.on_error,
        verify: str = _DEFAULTS.verify,
        include_empty_frames: bool = _DEFAULTS.include_empty_frames,
        grid: int = _DEFAULTS.grid,
        vehicle_type_map: Mapping[str, str] | None = None,
        split_strategy: str = _DEFAULTS.split_strategy,
        background_max_frames: int = _DEFAULTS.background_max_frames,
        image_cache_mb: float = _DEFAULTS.image_cache_mb,
        synthetic: bool = False,
    ):
        self._errors = OnError(on_error)
        check_choice("data.split_strategy", split_strategy, SPLIT_STRATEGIES)
        int_at_least("data.grid", grid, 1)
        if subsets is not None:
            bad = [s for s in subsets if s not in SUBSETS]
            if bad or not subsets:
                raise ConfigError(
                    "data.subsets",
                    f"expected a list from {list(SUBSETS)} or null, got {list(subsets)!r}",
                )
        self.root = find_root(root)
        self.synthetic = synthetic  # generated by synthetic_traffic (for hints in messages)
        self.grid = grid
        self.on_error = on_error
        self.verify = check_choice("data.verify", verify, VERIFY)
        self.include_empty_frames = include_empty_frames
        self.split_strategy = split_strategy
        self.background_max_frames = int(background_max_frames)
        self.sequences: dict[str, SequenceInfo] = {}
        self.frames: list[Frame] = []
        self._scenarios: dict[str, list[int]] = {}
        self._image_cache: dict[tuple[int, int], np.ndarray] = {}
        self._image_cache_bytes = 0
        self._image_cache_limit = int(image_cache_mb * 2**20)
        self._backgrounds: dict[tuple, torch.Tensor] = {}
        self._load(scenarios, subsets, dict(vehicle_type_map or {}))

    # -- reading -----------------------------------------------------------------------------

    def _available(self, subsets: Sequence[str] | None) -> dict[str, tuple[str, Path | None, Path]]:
        """sequence name -> (subset, image dir or None, xml path), for every XML found."""
        found = _subsets_at(self.root)
        wanted = list(subsets) if subsets is not None else list(SUBSETS)
        out: dict[str, tuple[str, Path | None, Path]] = {}
        for subset in wanted:
            if subset not in found:
                if subsets is not None:
                    raise DataError(
                        f"data.subsets asks for '{subset}' but {self.root} has no {SUBSETS[subset][1]} folder"
                    )
                continue
            img_root, xml_root = found[subset]
            if xml_root is None:
                log.warning(
                    "%s has %s but no %s folder: its images are ignored",
                    self.root,
                    SUBSETS[subset][0],
                    SUBSETS[subset][1],
                )
                continue
            if img_root is None:
                raise DataError(
                    f"{xml_root} has annotations but the image folder {self.root / SUBSETS[subset][0]} is missing; {LAYOUT_HELP}"
                )
            for xml in sorted(xml_root.glob("*.xml")):
                name = xml.stem
                if name in out:
                    raise DataError(
                        f"sequence {name} appears in two subsets: {out[name][2]} and {xml}"
                    )
                img_dir = img_root / name
                out[name] = (subset, img_dir if img_dir.is_dir() else None, xml)
            orphans = sorted(
                p.name
                for p in img_root.iterdir()
                if p.is_dir() and not (xml_root / f"{p.name}.xml").exists()
            )
            if orphans:
                log.warning(
                    "%d image folders in %s have no annotation file (ignored): %s",
                    len(orphans),
                    img_root,
                    ", ".join(orphans[:5]),
                )
        if not out:
            raise DataError(f"no annotation files (*.xml) under {self.root}; {LAYOUT_HELP}")
        return out

    def _grouping(
        self, scenarios: Mapping[str, Sequence[str]] | None, available: Mapping[str, Any]
    ) -> dict[str, list[str]]:
        if scenarios is None:
            return {name: [name] for name in sorted(available)}
        if not isinstance(scenarios, Mapping) or not scenarios:
            raise ConfigError(
                "data.scenarios", "expected a mapping {scenario: [sequence, ...]} or null"
            )
        seen: dict[str, str] = {}
        groups: dict[str, list[str]] = {}
        for scen, seqs in scenarios.items():
            if isinstance(seqs, str):
                seqs = [seqs]
            if not seqs:
                raise ConfigError(f"data.scenarios.{scen}", "lists no sequences")
            for seq in seqs:
                if seq not in available:
                    sample = ", ".join(sorted(available)[:8])
                    raise DataError(
                        f"data.scenarios.{scen}: unknown sequence '{seq}' under {self.root} "
                        f"(found {len(available)}: {sample}{', ...' if len(available) > 8 else ''})"
                    )
                if seq in seen:
                    raise ConfigError(
                        f"data.scenarios.{scen}",
                        f"sequence '{seq}' is already in scenario '{seen[seq]}'",
                    )
                seen[seq] = str(scen)
            groups[str(scen)] = [str(s) for s in seqs]
        return groups

    def _load(
        self,
        scenarios: Mapping[str, Sequence[str]] | None,
        subsets: Sequence[str] | None,
        type_map: dict[str, str],
    ) -> None:
        available = self._available(subsets)
        groups = self._grouping(scenarios, available)
        for scen, seqs in groups.items():
            indices: list[int] = []
            for seq in seqs:
                indices.extend(self._load_sequence(seq, scen, *available[seq], type_map))
            if not indices:
                raise DataError(
                    f"scenario '{scen}' has no frames (sequences {', '.join(seqs)} under {self.root} "
                    f"yield none{'; some were skipped' if self.num_skipped else ''})"
                )
            self._scenarios[scen] = indices
        self._errors.log_summary("UA-DETRAC")
        log.info(
            "UA-DETRAC at %s: %d sequences, %d scenarios, %d frames",
            self.root,
            len(self.sequences),
            len(self._scenarios),
            len(self.frames),
        )

    def _load_sequence(
        self,
        name: str,
        scenario: str,
        subset: str,
        img_dir: Path | None,
        xml: Path,
        type_map: dict[str, str],
    ) -> list[int]:
        if img_dir is None:
            self._errors.problem(
                f"sequence {name}: image folder {self.root / SUBSETS[subset][0] / name} is missing (annotations: {xml})"
            )
            return []
        try:
            parsed = parse_annotation_xml(xml, type_map)
        except DataError as exc:
            self._errors.problem(str(exc))
            return []
        if parsed.name and parsed.name != name:
            log.warning(
                "%s: <sequence name=%r> differs from the file name; using %r",
                xml,
                parsed.name,
                name,
            )
        try:
            names = os.listdir(img_dir)
        except OSError as exc:
            self._errors.problem(f"cannot list {img_dir}: {exc}")
            return []
        images: dict[int, Path] = {}
        for fname in names:
            m = _IMAGE_RE.match(fname)
            if m:
                images[int(m.group(1))] = img_dir / fname
        if not images:
            self._errors.problem(f"sequence {name}: no img*.jpg images in {img_dir}")
            return []
        yielded = [n for n in sorted(images) if n in parsed.frames or self.include_empty_frames]
        readable = self._readable(images, yielded)
        if readable is None:
            return []
        width, height = readable[1]
        self.sequences[name] = SequenceInfo(
            name,
            subset,
            img_dir,
            xml,
            parsed.camera_state,
            parsed.weather,
            tuple(parsed.ignored),
            width,
            height,
            len(images),
        )
        for num in sorted(set(parsed.frames) - set(images)):
            self._errors.problem(
                f"missing image {img_dir / f'img{num:05d}.jpg'} (frame {num} is annotated in {xml})"
            )
        start = len(self.frames)
        for num in readable[0]:
            annotated = num in parsed.frames
            boxes = tuple(parsed.frames.get(num, ()))
            self.frames.append(
                Frame(name, scenario, num, images[num], boxes, width, height, annotated)
            )
        return list(range(start, len(self.frames)))

    def _readable(
        self, images: Mapping[int, Path], yielded: Sequence[int]
    ) -> tuple[list[int], tuple[int, int]] | None:
        """(the frames of ``yielded`` whose image opens, the sequence's frame size): with
        ``verify`` header / full every one is opened (full: decoded), each failure or size
        change going through ``on_error``; with none only the first is (for the size). None
        when no frame is readable."""
        size: tuple[int, int] | None = None
        kept: list[int] = []
        check = yielded if self.verify != "none" else yielded[:1]
        for num in check or [min(images)]:
            try:
                w, h, _ = image_header(images[num], full=self.verify == "full")
            except DataError as exc:
                self._errors.problem(str(exc))
                continue
            if size is None:
                size = (w, h)
            elif (w, h) != size:
                self._errors.problem(
                    f"image {images[num]} is {w}x{h}, the sequence's frames {size[0]}x{size[1]}"
                )
                continue
            kept.append(num)
        if size is None:
            return None
        return (kept if self.verify != "none" and yielded else list(yielded)), size

    # -- the generic data-set API ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.frames)

    def boxes(self, index: int) -> list[NormBox]:
        """Frame ``index``'s boxes as (type, x0, y0, x1, y1) in [0, 1]."""
        return self.frames[index].norm_boxes()

    def semantic_text(self, index: int) -> str:
        """The M2GSC message for frame ``index``: types + grid-quantised boxes."""
        return encode_boxes(self.boxes(index), self.grid)

    def scenarios(self) -> dict[str, list[int]]:
        """scenario -> frame indices (in sequence, frame order)."""
        return {k: list(v) for k, v in self._scenarios.items()}

    # -- images ------------------------------------------------------------------------------

    def _load_uint8(self, index: int, size: int) -> np.ndarray:
        key = (index, size)
        cached = self._image_cache.get(key)
        if cached is not None:
            return cached
        from PIL import Image, UnidentifiedImageError

        path = self.frames[index].image_path
        try:
            with Image.open(path) as im:
                arr = np.array(
                    im.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.uint8
                )
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None
        if self._image_cache_bytes + arr.nbytes <= self._image_cache_limit:
            self._image_cache[key] = arr
            self._image_cache_bytes += arr.nbytes
        return arr

    def load_image(self, index: int, size: int) -> torch.Tensor:
        """(3, size, size) float in [-1, 1]: the whole frame resized to a square."""
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        arr = self._load_uint8(index, size)
        return torch.from_numpy(arr).permute(2, 0, 1).float().div(127.5).sub(1.0)

    def load_images(self, indices: Sequence[int], size: int) -> torch.Tensor:
        """(N, 3, size, size) stack of ``load_image``."""
        if len(indices) == 0:
            return torch.zeros(0, 3, size, size)
        return torch.stack([self.load_image(i, size) for i in indices])

    def background(
        self, scenario: str, size: int, frame_indices: Sequence[int] | None = None
    ) -> torch.Tensor:
        """(3, size, size) in [-1, 1]: the per-pixel median over the scenario's frames.

        The static background is the receiver's reference image. Pass ``frame_indices`` (e.g.
        the local-training frames) to keep evaluation frames out of it; at most
        ``background_max_frames`` evenly spaced frames are used.
        """
        if scenario not in self._scenarios:
            raise KeyError(f"unknown scenario {scenario!r}; known: {list(self._scenarios)}")
        idx = list(self._scenarios[scenario] if frame_indices is None else frame_indices)
        if not idx:
            raise ValueError(f"background of scenario {scenario!r}: no frames given")
        key = (scenario, size, None if frame_indices is None else tuple(idx))
        if key in self._backgrounds:
            return self._backgrounds[key].clone()
        if len(idx) > self.background_max_frames > 0:
            pick = np.linspace(0, len(idx) - 1, self.background_max_frames).round().astype(int)
            idx = [idx[p] for p in pick]
        stack = np.stack([self._load_uint8(i, size) for i in idx])  # (N, H, W, 3) uint8
        med = np.stack([np.median(stack[..., c], axis=0) for c in range(3)])  # (3, H, W)
        bg = torch.from_numpy(med).float().div(127.5).sub(1.0)
        self._backgrounds[key] = bg
        return bg.clone()

    # -- splits ------------------------------------------------------------------------------

    def split_frames(
        self,
        scenario: str,
        counts: Sequence[int] | Mapping[str, int],
        seed: int = 0,
        strategy: str | None = None,
    ) -> list[list[int]] | dict[str, list[int]]:
        """Disjoint frame-index sets of the given sizes from one scenario, deterministically.

        ``counts`` is e.g. ``{"local": 1000, "shared": 300, "eval": 100}`` (returns a dict) or
        a list (returns a list). ``temporal`` (default): the scenario's timeline is cut into
        consecutive segments in that order, each sized in proportion to its count, and frames
        are taken evenly spaced inside each, so evaluation frames are not the next video
        frames of training ones. ``random``: a seeded random draw without replacement.
        """
        strategy = check_choice(
            "data.split_strategy", strategy or self.split_strategy, SPLIT_STRATEGIES
        )
        if scenario not in self._scenarios:
            raise DataError(
                f"unknown scenario {scenario!r}; this data set has {list(self._scenarios)}"
            )
        names = list(counts) if isinstance(counts, Mapping) else None
        sizes = [int(counts[n]) for n in names] if names is not None else [int(c) for c in counts]
        if any(c < 0 for c in sizes):
            raise ValueError(f"counts must be non-negative, got {sizes}")
        pool = self._scenarios[scenario]
        need = sum(sizes)
        if need > len(pool):
            what = " + ".join(
                f"{n}={c}"
                for n, c in zip(names or [f"set{k}" for k in range(len(sizes))], sizes, strict=True)
            )
            hint = (
                "raise data.synthetic.frames_per_scenario"
                if self.synthetic
                else "add sequences to the scenario (data.scenarios) or set data.include_empty_frames=true"
            )
            raise DataError(
                f"scenario '{scenario}' has {len(pool)} frames but the split needs {what} = {need}; lower the counts or {hint}"
            )
        if strategy == "random":
            perm = np.random.default_rng(seed).permutation(len(pool))
            sets, start = [], 0
            for c in sizes:
                sets.append(sorted(pool[p] for p in perm[start : start + c]))
                start += c
        else:
            n, sets, acc = len(pool), [], 0
            for c in sizes:
                lo = round(n * acc / need) if need else 0
                acc += c
                hi = round(n * acc / need) if need else 0
                span = hi - lo
                sets.append(
                    [pool[lo + math.floor((j + 0.5) * span / c)] for j in range(c)] if c else []
                )
        return dict(zip(names, sets, strict=True)) if names is not None else sets


# ------------------------------------------------------------------------------------------
# Config entry point


def synthetic_root(synth_cfg: Mapping[str, Any] | None, cache: Any) -> Path:
    """Generate (once, cached) the synthetic set for ``data.synthetic`` and return its root."""
    from semcom_exp.data import synthetic_traffic as st

    cfg = config_from_mapping(st.SyntheticTrafficConfig, synth_cfg, "data.synthetic")
    return cached_synthetic(cache, "data_ua_detrac_synthetic", st, cfg)


def open_ua_detrac(data_cfg: Mapping[str, Any], cache: Any = None) -> UADetracDataset:
    """`data.reader` for `data=ua_detrac`: a real copy at `data.root`, or the synthetic set."""
    cfg, root, synthetic = root_or_synthetic(data_cfg, cache, synthetic_root, UaDetracConfig)
    keys = ("scenarios", "subsets", "on_error", "verify", "include_empty_frames", "grid",
            "vehicle_type_map", "split_strategy", "background_max_frames", "image_cache_mb")  # fmt: skip
    return UADetracDataset(root, synthetic=synthetic, **{k: cfg[k] for k in keys})
