"""PASCAL VOC2012 reader (real on-disk layout): the image modality of LAM-MSC.

Layout (``ROOT`` = ``VOCdevkit/VOC2012``)::

    ROOT/JPEGImages/2007_000032.jpg ...
    ROOT/Annotations/2007_000032.xml
    ROOT/ImageSets/Main/{train,val,trainval}.txt   (+ <class>_<split>.txt, ignored)

One XML per image: ``<annotation><filename/><size><width/><height/><depth/></size>`` and per
object ``<object><name/><pose/><truncated/><difficult/><bndbox><xmin/><ymin/><xmax/><ymax/>
</bndbox>[<part>...</part>][<actions>...</actions>]</object>``. Coordinates are 1-based pixels,
integers in most files and decimals in a few; ``<part>`` (head, hand, foot of a person) has its
own ``<name>`` and is not an object.

Semantic text: every object's class name, verbatim, sorted alphabetically and joined with
", " (``"dog, person, person"``); an image without objects gives ``""``. ``data.root: null``
generates the synthetic VOC set (``synthetic_voc.py``) in this layout into the artifact cache.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
    locate_root,
    root_or_synthetic,
    xml_root,
)
from semcom_exp.data.layouts import VOC_CLASSES
from semcom_exp.errors import ConfigError, DataError
from semcom_exp.schema.data import Voc2012Config

log = logging.getLogger(__name__)
_DEFAULTS = Voc2012Config()  # the readers' defaults are the config's (semcom_exp/schema/data.py)

IMAGE_SETS = ("Main", "Segmentation", "Action", "Layout")
LAYOUT_HELP = (
    "expected ROOT/JPEGImages/<id>.jpg, ROOT/Annotations/<id>.xml and "
    "ROOT/ImageSets/Main/<split>.txt with ROOT = VOCdevkit/VOC2012; data.root may be ROOT, "
    "VOCdevkit, the folder holding VOCdevkit, or a folder inside ROOT. "
    "Or set data.root=null to use the built-in synthetic VOC set (written in the same layout)"
)


@dataclass(frozen=True)
class VOCObject:
    """One annotated object; box in the file's 1-based pixel coordinates."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    pose: str = "Unspecified"
    truncated: bool = False
    difficult: bool = False


@dataclass(frozen=True)
class VOCImage:
    """One image of the split with its annotation."""

    image_id: str
    image_path: Path
    annotation_path: Path
    width: int
    height: int
    depth: int  # channels as stored (header when verified, else the XML's <depth>)
    objects: tuple[VOCObject, ...]


def _is_top(path: Path) -> bool:
    return (path / "JPEGImages").is_dir() and (path / "Annotations").is_dir()


def find_root(root: str | Path) -> Path:
    """The ``VOC2012`` folder, given it, ``VOCdevkit``, the folder above, or a folder inside."""
    return locate_root(
        root,
        _is_top,
        what="VOC",
        layout_help=LAYOUT_HELP,
        parts=("JPEGImages", "Annotations", "ImageSets", "SegmentationClass", "SegmentationObject"),
        depth=2,
    )


# ------------------------------------------------------------------------------------------
# Parsing


def _text(el: ET.Element, tag: str, where: str, default: str | None = None) -> str:
    child = el.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if default is not None:
            return default
        raise Malformed(f"{where}: no <{tag}>")
    return child.text.strip()


def _number(el: ET.Element, tag: str, where: str) -> float:
    raw = _text(el, tag, where)
    return finite_float(raw, f"{where}: <{tag}>{raw}</{tag}>")


def _flag(el: ET.Element, tag: str, where: str) -> bool:
    raw = _text(el, tag, where, default="0")
    if raw not in ("0", "1"):
        raise Malformed(f"{where}: <{tag}>{raw}</{tag}>, expected 0 or 1")
    return raw == "1"


def parse_annotation(path: Path) -> tuple[tuple[int, int, int] | None, list[VOCObject]]:
    """((width, height, depth) or None when <size> is absent, objects) of one VOC XML.

    Raises DataError naming the file on any structural problem.
    """
    try:
        root = xml_root(path, "annotation")
        size = None
        size_el = root.find("size")
        if size_el is not None:
            dims = [_number(size_el, t, "<size>") for t in ("width", "height")]
            depth = _number(size_el, "depth", "<size>") if size_el.find("depth") is not None else 3
            if min(dims) <= 0 or depth <= 0:
                raise Malformed(f"<size> must be positive, got {dims + [depth]}")
            size = (int(dims[0]), int(dims[1]), int(depth))
        objects = []
        for k, obj in enumerate(root.findall("object")):
            where = f"object {k + 1}"
            name = _text(obj, "name", where)
            where = f"object {k + 1} ({name})"
            box = obj.find("bndbox")
            if box is None:
                raise Malformed(f"{where}: no <bndbox>")
            x0, y0, x1, y1 = (_number(box, t, where) for t in ("xmin", "ymin", "xmax", "ymax"))
            if x1 < x0 or y1 < y0:
                raise Malformed(f"{where}: box ({x0}, {y0}, {x1}, {y1}) has max < min")
            objects.append(
                VOCObject(
                    name,
                    x0,
                    y0,
                    x1,
                    y1,
                    _text(obj, "pose", where, default="Unspecified"),
                    _flag(obj, "truncated", where),
                    _flag(obj, "difficult", where),
                )
            )
        return size, objects
    except Malformed as exc:
        raise DataError(f"malformed VOC annotation file {path}: {exc}") from None


def read_split_ids(path: Path) -> list[str]:
    """Image ids of one ``ImageSets/<set>/<split>.txt`` (first token per line, order kept)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise DataError(f"cannot read split file {path}: {exc.strerror or exc}") from None
    ids: list[str] = []
    seen: set[str] = set()
    for line in lines:
        parts = line.split()
        if parts and parts[0] not in seen:
            seen.add(parts[0])
            ids.append(parts[0])
    return ids


# ------------------------------------------------------------------------------------------
# The data set


class VOC2012Dataset(ReportsSkips):
    """Images of the selected split(s) with their objects; pixels load lazily.

    ``verify``: ``header`` (default) opens every image's header at load time, so an unreadable
    file is reported (or skipped) before any work starts; ``full`` decodes every image;
    ``none`` only checks that files exist.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        split: str | Sequence[str] = _DEFAULTS.split,
        image_set: str = _DEFAULTS.image_set,
        on_error: str = _DEFAULTS.on_error,
        verify: str = _DEFAULTS.verify,
        include_difficult: bool = _DEFAULTS.include_difficult,
        synthetic: bool = False,
    ):
        self._errors = OnError(on_error)
        self.verify = check_choice("data.verify", verify, VERIFY)
        self.image_set = check_choice("data.image_set", image_set, IMAGE_SETS)
        splits = [split] if isinstance(split, str) else list(split or [])
        if not splits or not all(isinstance(s, str) and s for s in splits):
            raise ConfigError(
                "data.split", f"expected a split name or a list of them, got {split!r}"
            )
        self.splits = splits
        self.include_difficult = bool(include_difficult)
        self.synthetic = synthetic
        self.root = find_root(root)
        self.images: list[VOCImage] = []
        self._load()

    def _split_file(self, split: str) -> Path:
        sets = self.root / "ImageSets" / self.image_set
        path = sets / f"{split}.txt"
        if not path.is_file():
            found = (
                sorted(p.stem for p in sets.glob("*.txt") if "_" not in p.stem)
                if sets.is_dir()
                else []
            )
            raise DataError(
                f"missing split file {path} (data.split={split!r}); splits found in {sets}: "
                f"{', '.join(found) or 'none'}"
            )
        return path

    def _load(self) -> None:
        ids: list[str] = []
        seen: set[str] = set()
        for split in self.splits:
            for image_id in read_split_ids(self._split_file(split)):
                if image_id not in seen:
                    seen.add(image_id)
                    ids.append(image_id)
        unknown: set[str] = set()
        for image_id in ids:
            xml = self.root / "Annotations" / f"{image_id}.xml"
            jpg = self.root / "JPEGImages" / f"{image_id}.jpg"
            if not xml.is_file():
                self._errors.problem(
                    f"missing annotation file {xml} (image {image_id} is in the split)"
                )
                continue
            if not jpg.is_file():
                self._errors.problem(f"missing image {jpg} (image {image_id} is in the split)")
                continue
            try:
                size, objects = parse_annotation(xml)
                if self.verify != "none" or size is None:
                    size = image_header(jpg, full=self.verify == "full")
            except DataError as exc:
                self._errors.problem(str(exc))
                continue
            unknown.update(o.name for o in objects if o.name not in VOC_CLASSES)
            self.images.append(VOCImage(image_id, jpg, xml, *size, tuple(objects)))
        if unknown:
            log.warning(
                "VOC: class names outside the 20 VOC classes (kept verbatim): %s", sorted(unknown)
            )
        self._errors.finish(
            self.images,
            "VOC",
            f"VOC split {'+'.join(self.splits)} under {self.root} yields no images",
            f"VOC at {self.root}: split {'+'.join(self.splits)}, {len(self.images)} images",
        )

    # -- the generic data-set API ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.images)

    def image_id(self, index: int) -> str:
        return self.images[index].image_id

    def objects(self, index: int) -> list[VOCObject]:
        """Image ``index``'s objects (difficult ones only when ``include_difficult``)."""
        objs = self.images[index].objects
        return [o for o in objs if self.include_difficult or not o.difficult]

    def semantic_text(self, index: int) -> str:
        """Class names of the objects, verbatim, sorted, one entry per object: ``"dog, person, person"``."""
        return ", ".join(sorted(o.name for o in self.objects(index)))

    def load_image(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB pixels of image ``index``."""
        from PIL import Image, UnidentifiedImageError

        path = self.images[index].image_path
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None

    def raw_bits(self, index: int) -> int:
        """Size of the decoded image in bits: width x height x channels x 8."""
        im = self.images[index]
        return im.width * im.height * im.depth * 8

    def summary_extras(self) -> dict[str, Any]:
        """Extra scalars for ``task=data_summary``."""
        return {
            "split": "+".join(self.splits),
            "synthetic": self.synthetic,
            "num_skipped": self.num_skipped,
        }


# ------------------------------------------------------------------------------------------
# Config entry point


def synthetic_root(synth_cfg: Mapping[str, Any] | None, cache: Any) -> Path:
    """Generate (once, cached) the synthetic VOC set for ``data.synthetic``; return its folder."""
    from semcom_exp.data import synthetic_voc as sv

    cfg = config_from_mapping(sv.SyntheticVOCConfig, synth_cfg, "data.synthetic")
    return cached_synthetic(cache, "data_voc2012_synthetic", sv, cfg)


def open_voc2012(data_cfg: Mapping[str, Any], cache: Any = None) -> VOC2012Dataset:
    """`data.reader` for `data=voc2012`: a real copy at `data.root`, or the synthetic set."""
    cfg, root, synthetic = root_or_synthetic(data_cfg, cache, synthetic_root, Voc2012Config)
    keys = ("split", "image_set", "on_error", "verify", "include_difficult")
    return VOC2012Dataset(root, synthetic=synthetic, **{k: cfg[k] for k in keys})
