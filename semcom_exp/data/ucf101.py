"""UCF101 reader (real on-disk layout): the video modality of LAM-MSC.

Layout (``ROOT`` = the folder holding both archives' contents)::

    ROOT/UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi ...
    ROOT/ucfTrainTestlist/classInd.txt        ("1 ApplyEyeMakeup")
    ROOT/ucfTrainTestlist/trainlist01.txt     ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1")
    ROOT/ucfTrainTestlist/testlist01.txt      ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi")
    (splits 1..3; the list files have CRLF line ends)

Videos are decoded with PyAV. A list path whose file name differs from the disk only in case
is resolved case-insensitively (the real ``HandstandPushups`` folder holds
``v_HandStandPushups_*.avi``). Semantic text: the class name verbatim, split into its
CamelCase words (``ApplyEyeMakeup`` -> ``Apply Eye Makeup``); ``data.text=name`` keeps the
name as one word. ``data.root: null`` generates the synthetic video set
(``synthetic_video.py``) in this layout into the artifact cache.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from semcom_exp.data.common import (
    VERIFY,
    OnError,
    ReportsSkips,
    cached_synthetic,
    check_choice,
    config_from_mapping,
    locate_root,
    root_or_synthetic,
)
from semcom_exp.data.layouts import LISTS_DIR, VIDEO_DIR
from semcom_exp.errors import ConfigError, DataError
from semcom_exp.schema.data import Ucf101Config

log = logging.getLogger(__name__)
_DEFAULTS = Ucf101Config()  # the readers' defaults are the config's (semcom_exp/schema/data.py)

SUBSETS = ("train", "test")
TEXT_STYLES = ("words", "name")
LAYOUT_HELP = (
    f"expected ROOT/{VIDEO_DIR}/<Class>/v_<Class>_gXX_cYY.avi and ROOT/{LISTS_DIR}/"
    "{classInd,trainlist0N,testlist0N}.txt; data.root may be ROOT, the folder holding it, "
    f"or ROOT/{VIDEO_DIR}. Or set data.root=null to use the built-in synthetic video set "
    "(written in the same layout)"
)
_NAME_RE = re.compile(r"^v_(.+)_g(\d+)_c(\d+)\.avi$", re.IGNORECASE)
_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def class_words(name: str) -> str:
    """``ApplyEyeMakeup`` -> ``Apply Eye Makeup`` (the words kept verbatim, case included)."""
    words = _WORD_RE.findall(name)
    return " ".join(words) if words else name


@dataclass(frozen=True)
class Video:
    """One clip of the selected split, with its class and header facts."""

    rel_path: str  # as in the list file, e.g. ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi
    path: Path
    subset: str  # train | test
    class_name: str
    label: int  # 0-based: classInd id - 1
    group: int | None
    clip: int | None
    num_frames: int | None = None  # from the container header (verify=header/full)
    width: int | None = None
    height: int | None = None
    fps: float | None = None


def _is_top(path: Path) -> bool:
    return (path / VIDEO_DIR).is_dir()


def find_root(root: str | Path) -> Path:
    """The folder holding ``UCF-101/`` (and ``ucfTrainTestlist/``), given it, its parent, or one of those two."""
    return locate_root(
        root, _is_top, what="UCF101", layout_help=LAYOUT_HELP, parts=(VIDEO_DIR, LISTS_DIR), depth=1
    )


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines; DataError naming a missing file."""
    if not path.is_file():
        raise DataError(f"missing split file {path}; {LAYOUT_HELP}")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read split file {path}: {exc.strerror or exc}") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def read_class_index(path: Path) -> list[str]:
    """Class names in id order from ``classInd.txt`` (ids must be 1..N)."""
    by_id: dict[int, str] = {}
    for num, line in _lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(
                f"malformed class index {path}, line {num}: expected 'ID ClassName', got {line[:60]!r}"
            )
        cid = int(parts[0])
        if cid in by_id or parts[1] in by_id.values():
            raise DataError(
                f"malformed class index {path}, line {num}: {line!r} repeats an id or a name"
            )
        by_id[cid] = parts[1]
    if sorted(by_id) != list(range(1, len(by_id) + 1)):
        raise DataError(
            f"malformed class index {path}: ids must run 1..{len(by_id)}, got {sorted(by_id)[:10]}"
        )
    return [by_id[k] for k in range(1, len(by_id) + 1)]


def _probe(path: Path, full: bool) -> tuple[int | None, int, int, float | None]:
    """(frames or None when the header does not say, width, height, fps) of a video file."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"cannot read video file {path}: no video stream")
            stream = container.streams.video[0]
            frames = int(stream.frames) or None
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            fps = float(stream.average_rate) if stream.average_rate else None
            if full:
                frames = sum(1 for _ in container.decode(stream))
    except DataError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as exc:
        raise DataError(f"cannot read video file {path}: {exc}") from None
    if width <= 0 or height <= 0 or frames == 0:
        raise DataError(f"cannot read video file {path}: empty video stream")
    return frames, width, height, fps


class UCF101Dataset(ReportsSkips):
    """Videos of the selected split (train list, then test list, in list order).

    ``verify``: ``header`` (default) opens every container at load time (frame count, size),
    so an unreadable file is reported (or skipped) before work starts; ``full`` decodes every
    video; ``none`` only checks that files exist.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        split: int = _DEFAULTS.split,
        subsets: Sequence[str] | None = ("train", "test"),
        text: str = _DEFAULTS.text,
        on_error: str = _DEFAULTS.on_error,
        verify: str = _DEFAULTS.verify,
        synthetic: bool = False,
    ):
        self._errors = OnError(on_error)
        self.verify = check_choice("data.verify", verify, VERIFY)
        self.text_style = check_choice("data.text", text, TEXT_STYLES)
        if isinstance(split, bool) or not isinstance(split, int) or split < 1:
            raise ConfigError(
                "data.split", f"expected 1, 2 or 3 (the list files' number), got {split!r}"
            )
        if isinstance(subsets, str):
            subsets = [subsets]
        subsets = list(subsets) if subsets is not None else list(SUBSETS)
        if not subsets or any(s not in SUBSETS for s in subsets):
            raise ConfigError(
                "data.subsets", f"expected a list from {list(SUBSETS)}, got {subsets!r}"
            )
        self.split, self.subsets, self.synthetic = split, subsets, synthetic
        self.root = find_root(root)
        self.video_root = self.root / VIDEO_DIR
        self.lists_dir = self.root / LISTS_DIR
        self.classes = read_class_index(self.lists_dir / "classInd.txt")
        self._class_id = {name: k for k, name in enumerate(self.classes)}
        self._folder_index: dict[str, dict[str, str] | None] = {}
        self.videos: list[Video] = []
        for subset in self.subsets:
            self._load_list(subset)
        self._errors.finish(
            self.videos,
            "UCF101",
            f"UCF101 split {split} ({'+'.join(self.subsets)}) under {self.root} yields no videos",
            f"UCF101 at {self.root}: split {split} ({'+'.join(self.subsets)}), "
            f"{len(self.videos)} videos of {len({v.label for v in self.videos})} classes",
        )

    def _resolve(self, rel: str) -> Path | None:
        """The file for a list path; a case-insensitive match inside the class folder as fallback."""
        path = self.video_root / rel
        if path.is_file():
            return path
        folder, _, name = rel.rpartition("/")
        if folder not in self._folder_index:
            d = self.video_root / folder
            try:
                self._folder_index[folder] = (
                    {p.name.lower(): p.name for p in d.iterdir()} if d.is_dir() else None
                )
            except OSError:
                self._folder_index[folder] = None
        index = self._folder_index[folder]
        if index and name.lower() in index:
            return self.video_root / folder / index[name.lower()]
        return None

    def _load_list(self, subset: str) -> None:
        list_file = self.lists_dir / f"{subset}list{self.split:02d}.txt"
        for num, line in _lines(list_file):
            parts = line.replace("\\", "/").split()
            where = f"{list_file}, line {num}"
            rel = parts[0]
            folder = rel.rpartition("/")[0]
            if folder not in self._class_id or len(parts) > 2:
                self._errors.problem(
                    f"malformed split file {where}: expected '<Class>/v_<Class>_gXX_cYY.avi[ ID]' with a class "
                    f"from classInd.txt, got {line[:80]!r}"
                )
                continue
            label = self._class_id[folder]
            if len(parts) == 2 and parts[1] != str(label + 1):
                self._errors.problem(
                    f"malformed split file {where}: class id {parts[1]} but {folder} is {label + 1} in classInd.txt"
                )
                continue
            path = self._resolve(rel)
            if path is None:
                self._errors.problem(
                    f"missing video file {self.video_root / rel} (listed in {list_file})"
                )
                continue
            m = _NAME_RE.match(path.name)
            video = Video(
                rel,
                path,
                subset,
                folder,
                label,
                int(m.group(2)) if m else None,
                int(m.group(3)) if m else None,
            )
            if self.verify != "none":
                try:
                    frames, width, height, fps = _probe(path, full=self.verify == "full")
                except DataError as exc:
                    self._errors.problem(str(exc))
                    continue
                video = replace(video, num_frames=frames, width=width, height=height, fps=fps)
            self.videos.append(video)

    # -- the generic data-set API ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.videos)

    def label(self, index: int) -> int:
        """0-based class index (``classInd.txt`` id - 1)."""
        return self.videos[index].label

    def class_name(self, index: int) -> str:
        """The class name verbatim, e.g. ``ApplyEyeMakeup``."""
        return self.videos[index].class_name

    def semantic_text(self, index: int) -> str:
        """``Apply Eye Makeup`` (``data.text=words``) or ``ApplyEyeMakeup`` (``data.text=name``)."""
        name = self.class_name(index)
        return class_words(name) if self.text_style == "words" else name

    def load_video(self, index: int, max_frames: int | None = None) -> np.ndarray:
        """(T, H, W, 3) uint8 RGB frames, the first ``max_frames`` when given."""
        import av

        if max_frames is not None and (
            isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1
        ):
            raise ValueError(f"max_frames must be a positive integer or None, got {max_frames!r}")
        path = self.videos[index].path
        frames: list[np.ndarray] = []
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise DataError(f"cannot read video file {path}: no video stream")
                for frame in container.decode(container.streams.video[0]):
                    frames.append(frame.to_ndarray(format="rgb24"))
                    if max_frames is not None and len(frames) >= max_frames:
                        break
        except DataError:
            raise
        except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            raise DataError(f"cannot read video file {path}: {exc}") from None
        if not frames:
            raise DataError(f"cannot read video file {path}: no frames decoded")
        return np.stack(frames).astype(np.uint8, copy=False)

    def _header(self, index: int) -> Video:
        video = self.videos[index]
        if video.num_frames is None:  # verify=none, or a header without a frame count
            frames, width, height, fps = _probe(video.path, full=False)
            if frames is None:
                frames = _probe(video.path, full=True)[0]
            video = replace(video, num_frames=frames, width=width, height=height, fps=fps)
            self.videos[index] = video
        return video

    def num_frames(self, index: int) -> int:
        """Frames in video ``index`` (from the header; decoded and counted if it does not say)."""
        return int(self._header(index).num_frames)  # type: ignore[arg-type]

    def raw_bits(self, index: int, max_frames: int | None = None) -> int:
        """Size of the decoded video in bits: frames x H x W x 3 x 8 (first ``max_frames`` frames)."""
        v = self._header(index)
        frames = (
            int(v.num_frames) if max_frames is None else min(int(v.num_frames), int(max_frames))
        )  # type: ignore[arg-type]
        return frames * int(v.height) * int(v.width) * 3 * 8  # type: ignore[arg-type]

    def summary_extras(self) -> dict[str, Any]:
        """Extra scalars for ``task=data_summary``."""
        return {
            "split": self.split,
            "subsets": ",".join(self.subsets),
            "num_classes": len({v.label for v in self.videos}),
            "synthetic": self.synthetic,
            "num_skipped": self.num_skipped,
        }


# ------------------------------------------------------------------------------------------
# Config entry point


def synthetic_root(synth_cfg: Mapping[str, Any] | None, cache: Any) -> Path:
    """Generate (once, cached) the synthetic video set for ``data.synthetic``; return its folder."""
    from semcom_exp.data import synthetic_video as sv

    cfg = config_from_mapping(sv.SyntheticVideoConfig, synth_cfg, "data.synthetic")
    return cached_synthetic(cache, "data_ucf101_synthetic", sv, cfg)


def open_ucf101(data_cfg: Mapping[str, Any], cache: Any = None) -> UCF101Dataset:
    """`data.reader` for `data=ucf101`: a real copy at `data.root`, or the synthetic set."""
    cfg, root, synthetic = root_or_synthetic(data_cfg, cache, synthetic_root, Ucf101Config)
    keys = ("split", "subsets", "text", "on_error", "verify")
    return UCF101Dataset(root, synthetic=synthetic, **{k: cfg[k] for k in keys})
