"""Offline access to Hugging Face models: nothing is downloaded at run time. A model is named
by a local folder or by a hub id already in the local Hugging Face cache."""

from __future__ import annotations


def looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a folder (``./x``, ``/x``, ``~/x``, ``a/b/c``), not a hub id
    (``org/model``), so a missing folder is reported as a missing folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def cached_snapshot(repo_id: str) -> str:
    """The local HF-cache folder of hub id ``repo_id``; raises when it was never downloaded."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id, local_files_only=True)
