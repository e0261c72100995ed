"""Offline access to Hugging Face models: nothing is downloaded at run time. A model is named
by a local folder or by a hub id already in the local Hugging Face cache.

``ModelLookup.load`` (and ``.source`` for a check before any work) is the one way every
model of the project is found: the MMA captioners and ASR, the text-to-image pipeline, the SC
link's pretrained encoder, the LKB's language model and the sentence embedder. Its errors name
the config key and say what to download, where, and how to point the key at it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from semcom_exp.errors import ConfigError

T = TypeVar("T")


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a folder (``./x``, ``/x``, ``~/x``, ``a/b/c``), not a hub id
    (``org/model``), so a missing folder is reported as a missing folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def cached_snapshot(repo_id: str) -> str:
    """The local HF-cache folder of hub id ``repo_id``; raises when it was never downloaded."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id, local_files_only=True)


@dataclass(frozen=True)
class ModelLookup:
    """How one kind of model is found offline, and what its errors say: ``key`` (the config key
    that names it), ``what`` it is, the hub id to ``suggest`` when a folder is missing,
    ``otherwise`` (another way out) and the ``error`` class (a ConfigError)."""

    key: str
    what: str
    suggest: str = "ORG/MODEL"
    otherwise: str = ""
    error: type[ConfigError] = ConfigError

    def _fail(self, why: str, hub_id: str, where: str) -> ConfigError:
        advice = (
            f"nothing is downloaded at run time. On a machine with network run "
            f"`huggingface-cli download {hub_id} --local-dir {where}` ({self.what}), copy the "
            f"folder here and set {self.key}=<that folder>"
        )
        return self.error(
            self.key, f"{why}; {advice}" + (f"; {self.otherwise}" if self.otherwise else "")
        )

    def source(self, name: Any) -> str:
        """The folder to load ``name`` from: the local folder itself, or the local HF-cache
        snapshot of a hub id; otherwise the error, saying what to download and where."""
        if name is None or str(name).strip() == "":
            raise self.error(
                self.key, f"needs a model: a local {self.what} folder or a cached hub id"
            )
        name = str(name)
        path = Path(name).expanduser()
        if path.exists():
            return str(path)
        if looks_like_path(name):
            raise self._fail(f"folder {path} does not exist", self.suggest, str(path))
        try:
            return cached_snapshot(name)
        except Exception:  # LocalEntryNotFoundError, HFValidationError, ...
            why = f"{name!r} is not a local folder and not in the local Hugging Face cache"
            raise self._fail(why, name, "DIR") from None

    def load(self, name: Any, loader: Callable[[str], T]) -> T:
        """``loader(folder)`` for ``name`` found by ``source``; a folder the loader cannot read
        (a library's OSError / ValueError) is the error too."""
        source = self.source(name)
        try:
            return loader(source)
        except ConfigError:
            raise
        except Exception as exc:
            detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}" if str(exc) else ""
            raise self._fail(
                f"{source} is not a loadable {self.what} ({detail})", self.suggest, "DIR"
            ) from None


__all__ = ["ModelLookup", "cached_snapshot", "looks_like_path"]
