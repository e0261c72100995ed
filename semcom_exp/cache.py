"""Content-addressed artifact cache for pipeline stages.

A stage's output lives in ``<root>/<stage>/<key>/`` where ``key`` hashes the stage's resolved
config, the package version and the stage's own ``VERSION``. It is computed into a temporary
directory and renamed into place only when complete, under a file lock, so parallel jobs of a
multirun compute each artifact once and never read a half-written one; a killed stage leaves
only a temp dir that the next run discards. ``work_dir`` survives interruption, so a training
stage can keep its last checkpoint there and resume from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from semcom_exp import __version__

log = logging.getLogger(__name__)

META_FILE = "artifact.json"


def _canonical(obj: Any) -> Any:
    """Turn a config (OmegaConf containers included) into plain, hashable JSON data."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(obj, DictConfig | ListConfig):
            obj = OmegaConf.to_container(obj, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def stage_key(stage: str, config: Mapping[str, Any], version: str) -> str:
    """Hash of the stage name, its resolved config, the package version and the stage version."""
    payload = json.dumps(
        {"stage": stage, "config": _canonical(config), "package": __version__, "version": version},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class ArtifactCache:
    """Computes each stage artifact at most once per key; see the module docstring."""

    def __init__(self, root: str | Path, force: bool = False):
        self.root = Path(root).expanduser().resolve()
        self.force = force
        self._forced_this_run: set[Path] = set()

    def note_computed(self, path: Path) -> None:
        """Record that ``path`` was computed during this run by a worker process, so
        ``force`` does not compute it a second time here."""
        self._forced_this_run.add(Path(path).resolve())

    def path(self, stage: str, config: Mapping[str, Any], version: str) -> Path:
        return self.root / stage / stage_key(stage, config, version)

    def get_or_compute(
        self,
        stage: str,
        config: Mapping[str, Any],
        version: str,
        compute: Callable[[Path, Path], None],
    ) -> Path:
        """Return the artifact dir for (stage, config, version), computing it if needed.

        ``compute(out_dir, work_dir)`` writes the artifact into ``out_dir`` (a temp dir renamed
        into place on success); ``work_dir`` persists across interrupted attempts (e.g. for a
        last checkpoint) and is removed once the artifact is complete.
        """
        final = self.path(stage, config, version)
        recompute = self.force and final not in self._forced_this_run
        if final.is_dir() and not recompute:
            log.info("stage %s: reusing %s", stage, final)
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(final) + ".lock"):
            if final.is_dir() and not recompute:  # another process finished it meanwhile
                log.info("stage %s: reusing %s (computed by another job)", stage, final)
                return final
            for stale in final.parent.glob(f".tmp-{final.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a killed attempt
            tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            work = final.parent / f"{final.name}.work"
            work.mkdir(exist_ok=True)
            log.info("stage %s: computing %s", stage, final)
            start = time.perf_counter()
            try:
                compute(tmp, work)
                meta = {
                    "stage": stage,
                    "version": version,
                    "package_version": __version__,
                    "config": _canonical(config),
                    "compute_seconds": time.perf_counter() - start,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                }
                (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            if final.exists():  # force: swap the old artifact out only once the new one is whole
                trash = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
                os.rename(final, trash)
                os.rename(tmp, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.rename(tmp, final)
            shutil.rmtree(work, ignore_errors=True)
            self._forced_this_run.add(final)
        return final
