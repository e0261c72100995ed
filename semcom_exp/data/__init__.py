"""Data sets: one module each (reader for the real layout + synthetic writer of that layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hydra.utils import get_method
from omegaconf import DictConfig

from semcom_exp.cache import ArtifactCache


class SemanticDataset(Protocol):
    """What every reader offers to generic tasks: a size, a root and the semantic text per sample."""

    root: Path

    def __len__(self) -> int: ...

    def semantic_text(self, index: int) -> str: ...


def open_dataset(data_cfg: DictConfig, cache: ArtifactCache) -> SemanticDataset:
    """Open the configured data set: `data.reader` is the module function that does it."""
    return get_method(data_cfg.reader)(data_cfg, cache)
