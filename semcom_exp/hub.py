"""Offline access to Hugging Face models: nothing is downloaded at run time. A model is named
by a local folder or by a hub id already in the local Hugging Face cache.

``load_offline`` (and ``offline_source`` for a check before any work) is the one way every
model of the project is found: the MMA captioners and ASR, the text-to-image pipeline, the SC
link's pretrained encoder, the LKB's language model and the sentence embedder. Its errors name
the config key and say what to download, where, and how to point the key at it.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _advice(key: str, hub_id: str, what: str, where: str, otherwise: str) -> str:
    return (
        f"nothing is downloaded at run time. On a machine with network run "
        f"`huggingface-cli download {hub_id} --local-dir {where}` ({what}), copy the folder here "
        f"and set {key}=<that folder>" + (f"; {otherwise}" if otherwise else "")
    )


def offline_source(
    name: Any,
    *,
    key: str,
    what: str,
    suggest: str = "ORG/MODEL",
    otherwise: str = "",
    error: type[ConfigError] = ConfigError,
) -> str:
    """The folder to load ``name`` from: the local folder itself, or the local HF-cache snapshot
    of a hub id. Otherwise ``error`` naming ``key``: what is wrong and what to download
    (``suggest``: the hub id to name when ``name`` is a folder), and ``otherwise``: another way."""
    if name is None or str(name).strip() == "":
        raise error(key, f"needs a model: a local {what} folder or a cached hub id")
    name = str(name)
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if looks_like_path(name):
        advice = _advice(key, suggest, what, str(path), otherwise)
        raise error(key, f"folder {path} does not exist; {advice}")
    try:
        return cached_snapshot(name)
    except Exception:  # LocalEntryNotFoundError, HFValidationError, ...
        advice = _advice(key, name, what, "DIR", otherwise)
        raise error(
            key,
            f"{name!r} is not a local folder and not in the local Hugging Face cache; {advice}",
        ) from None


def load_offline(
    name: Any,
    loader: Callable[[str], T],
    *,
    key: str,
    what: str,
    suggest: str = "ORG/MODEL",
    otherwise: str = "",
    error: type[ConfigError] = ConfigError,
) -> T:
    """``loader(folder)`` for ``name`` found by ``offline_source``; a folder the loader cannot
    read (a library's OSError / ValueError) is ``error`` naming ``key`` too."""
    source = offline_source(
        name, key=key, what=what, suggest=suggest, otherwise=otherwise, error=error
    )
    try:
        return loader(source)
    except ConfigError:
        raise
    except Exception as exc:
        detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}" if str(exc) else ""
        advice = _advice(key, suggest, what, "DIR", otherwise)
        raise error(key, f"{source} is not a loadable {what} ({detail}); {advice}") from None


__all__ = ["cached_snapshot", "load_offline", "looks_like_path", "offline_source"]
