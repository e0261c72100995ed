"""Pieces every data-set reader shares: root finding, the on_error policy, config plumbing.

Why: each reader accepts ``data.root`` at the data set's top folder or a level above or below
it (or ``null`` for its synthetic set, generated once into the artifact cache), raises or
counts-and-skips bad items the same way (``data.on_error``), reports malformed XML the same
way, and builds its synthetic generator's settings from a partial mapping with errors that
name the key.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from semcom_exp.errors import ConfigError, DataError

log = logging.getLogger(__name__)

ON_ERROR = ("raise", "skip")
VERIFY = ("none", "header", "full")
T = TypeVar("T")


def plain(value: Any) -> Any:
    """An OmegaConf container as plain Python data (anything else unchanged)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, DictConfig | ListConfig):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return value


def is_unset(root: Any) -> bool:
    """``data.root`` null or blank: use the synthetic set."""
    return root is None or str(root).strip() == ""


def default_cache(cache: Any) -> Any:
    """The given artifact cache, or the default one (``SEMCOM_CACHE_DIR`` or outputs/cache)."""
    if cache is not None:
        return cache
    from semcom_exp.cache import ArtifactCache

    return ArtifactCache(os.environ.get("SEMCOM_CACHE_DIR", "outputs/cache"))


def check_choice(key: str, value: Any, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``, else a ConfigError naming ``key``."""
    if value not in choices:
        raise ConfigError(key, f"expected one of {list(choices)}, got {value!r}")
    return value


class OnError:
    """``data.on_error``: raise a DataError, or count and log a skip.

    Readers call ``problem(message)`` for each bad item; with ``skip`` the reader leaves the
    item out and ``num_skipped`` / ``skipped`` record it.
    """

    def __init__(self, on_error: str = "raise"):
        self.mode = check_choice("data.on_error", on_error, ON_ERROR)
        self.num_skipped = 0
        self.skipped: list[str] = []

    def problem(self, message: str) -> None:
        if self.mode == "raise":
            raise DataError(message + " (set data.on_error=skip to skip such items)")
        self.num_skipped += 1
        self.skipped.append(message)
        log.warning("skipped: %s", message)

    def log_summary(self, what: str) -> None:
        """One warning saying how many items were skipped (nothing when none was)."""
        if self.num_skipped:
            log.warning("%s: skipped %d items (data.on_error=skip)", what, self.num_skipped)

    def finish(self, items: Collection[Any], what: str, empty: str, loaded: str) -> None:
        """After loading: a DataError saying ``empty`` when no item was loaded (and whether some
        were skipped), else the skip summary and the ``loaded`` line."""
        if not items:
            raise DataError(empty + ("; some were skipped" if self.num_skipped else ""))
        self.log_summary(what)
        log.info("%s", loaded)


class ReportsSkips:
    """Mixin for a reader that keeps its ``OnError`` in ``self._errors``: the skip counters."""

    _errors: OnError

    @property
    def num_skipped(self) -> int:
        return self._errors.num_skipped

    @property
    def skipped(self) -> list[str]:
        """One reason per skipped item (``data.on_error=skip``), in the order met."""
        return list(self._errors.skipped)


def _child_dirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"cannot list {path}: {exc}") from None


def locate_root(
    given: str | Path,
    is_top: Callable[[Path], bool],
    *,
    what: str,
    layout_help: str,
    parts: Collection[str] | Callable[[str], bool] = (),
    depth: int = 1,
) -> Path:
    """The data set's top folder, given it, a folder up to ``depth`` levels above it, or one of
    its sub-folders named in ``parts``.

    ``is_top(path)`` says whether ``path`` is a top folder. ``parts`` is the sub-folder names,
    or a test on the name (for names that may carry a suffix). Several copies at the same
    depth below ``given`` are an error (the user must pick one); hidden folders are not
    searched.
    """
    path = Path(given).expanduser()
    if not path.is_dir():
        raise DataError(f"data.root={given} does not exist or is not a folder; {layout_help}")
    path = path.resolve()
    if is_top(path):
        return path
    is_part = parts if callable(parts) else parts.__contains__
    if is_part(path.name) and is_top(path.parent):
        return path.parent
    level = [path]
    for _ in range(depth):
        level = [c for p in level for c in _child_dirs(p)]
        tops = [c for c in level if is_top(c)]
        if len(tops) == 1:
            return tops[0]
        if len(tops) > 1:
            names = ", ".join(str(t.relative_to(path)) for t in tops)
            raise DataError(
                f"data.root={path} holds several {what} copies ({names}); point data.root at one of them"
            )
    raise DataError(f"no {what} data under data.root={path}; {layout_help}")


def root_or_synthetic(
    data_cfg: Mapping[str, Any] | None,
    cache: Any,
    synthetic_root: Callable[[Any, Any], Path],
    schema: type,
) -> tuple[dict[str, Any], str | Path, bool]:
    """(``data_cfg`` checked against its ``schema`` dataclass, defaults filled in, as a plain
    dict; the folder to read; whether it is the synthetic set).

    ``data.root`` null or blank: ``synthetic_root(data.synthetic, cache)`` generates the set.
    """
    from semcom_exp.schema import checked

    cfg = plain(checked(schema, data_cfg, "data"))
    root = cfg["root"]
    if is_unset(root):
        return cfg, synthetic_root(cfg["synthetic"], cache), True
    return cfg, root, False


def cached_synthetic(
    cache: Any, stage: str, writer: Any, config: Any, key: Mapping[str, Any] | None = None
) -> Path:
    """The folder of the synthetic set that ``writer`` (a ``synthetic_*`` module: ``VERSION``,
    ``generate(out_dir, config)``) writes for ``config``; generated once per (stage, key,
    version). The key is the config as a dict unless given."""

    def compute(out_dir: Path, work_dir: Path) -> None:
        writer.generate(out_dir, config)

    key = dataclasses.asdict(config) if key is None else key
    return default_cache(cache).get_or_compute(stage, key, writer.VERSION, compute)


# ------------------------------------------------------------------------------------------
# Malformed files


class Malformed(Exception):
    """A file is structurally wrong; the reader re-raises it as a DataError naming the file."""


def xml_root(path: Path, tag: str) -> ET.Element:
    """The root element of XML file ``path``; Malformed unless it parses and is ``<tag>``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise Malformed(f"not well-formed XML ({exc})") from None
    except OSError as exc:
        raise Malformed(f"cannot read ({exc.strerror or exc})") from None
    if root.tag != tag:
        raise Malformed(f"root element is <{root.tag}>, expected <{tag}>")
    return root


def finite_float(raw: str, what: str) -> float:
    """``raw`` as a finite float; Malformed saying ``what`` otherwise."""
    try:
        value = float(raw)
    except ValueError:
        raise Malformed(f"{what} is not a number") from None
    if not math.isfinite(value):
        raise Malformed(f"{what} is not finite")
    return value


def image_header(path: Path, full: bool = False) -> tuple[int, int, int]:
    """(width, height, channels) from an image file's header; ``full`` decodes the pixels too
    (a truncated JPEG has a good header). DataError naming the file when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if full:
                im.load()
            return im.size[0], im.size[1], len(im.getbands())
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


# ------------------------------------------------------------------------------------------
# Generator settings


def config_from_mapping(cls: type[T], cfg: Mapping[str, Any] | None, key: str) -> T:
    """Schema dataclass ``cls`` (e.g. a synthetic set's settings) from a partial mapping, every
    check run (``semcom_exp.schema.checked``): a bad or unknown key is a ConfigError naming it."""
    from omegaconf import OmegaConf

    from semcom_exp.schema import checked

    return OmegaConf.to_object(checked(cls, cfg, key))  # type: ignore[return-value]


def int_at_least(key: str, value: Any, minimum: int) -> None:
    """ConfigError naming ``key`` unless ``value`` is an int >= ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(key, f"expected an integer >= {minimum}, got {value!r}")


def resample(x: Any, sr_in: int, sr_out: int) -> Any:
    """Mono audio (numpy float array) from ``sr_in`` to ``sr_out`` Hz, polyphase (scipy)."""
    import numpy as np
    from scipy.signal import resample_poly

    g = math.gcd(sr_in, sr_out)
    return resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)
