"""`task=cache [cache.prune=stale|unreferenced|old] [cache.dry_run=false]`: list the artifact
cache and prune it on request.

Why: artifact keys carry a code hash, so every code edit leaves the old artifacts behind. The
listing gives each artifact's stage, key, code hash, whether that hash is the current code's,
size, age, and whether a run dir's manifest.json under ``cache.outputs_dir`` refers to it.
``cache.prune`` picks what to delete; nothing is deleted unless ``cache.dry_run=false`` too
(the default prints what would go). A deletion takes the artifact's lock, so it never removes
one a job is writing; runs that already hold an artifact's path are not protected.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from semcom_exp.cache import LOCKS, META_FILE, key_code_hash
from semcom_exp.code_hash import code_hash
from semcom_exp.runner import RunContext, RunOutput

log = logging.getLogger(__name__)


def artifact_dirs(root: Path) -> list[Path]:
    """Complete artifacts under the cache root: ``<stage>/<key>/`` holding artifact.json (temp,
    work and lock entries, and folders of other caches, are not artifacts)."""
    if not root.is_dir():
        return []
    return sorted(
        art
        for stage in root.iterdir()
        if stage.is_dir() and not stage.name.startswith(".")
        for art in stage.iterdir()
        if art.is_dir() and "." not in art.name and (art / META_FILE).is_file()
    )


def referenced_artifacts(outputs_dir: Path, cache_root: Path) -> set[Path]:
    """Artifact paths listed by any manifest.json of a run dir under ``outputs_dir`` (the
    cache itself is not walked)."""
    found: set[Path] = set()
    if not outputs_dir.is_dir():
        return found
    for top, dirs, files in os.walk(outputs_dir):
        dirs[:] = [d for d in dirs if Path(top, d).resolve() != cache_root]
        if "manifest.json" in files:
            try:
                manifest = json.loads(Path(top, "manifest.json").read_text())
            except (OSError, ValueError):
                continue  # a half-written or foreign file: it references nothing
            for item in manifest.get("artifacts") or []:
                if isinstance(item, dict) and item.get("path"):
                    found.add(Path(item["path"]).resolve())
    return found


def _size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _current_hash(module: str | None, memo: dict[str, str | None]) -> str | None:
    """The current code's hash for ``module`` (None: unknown, e.g. the module is gone)."""
    if not module:
        return None
    if module not in memo:
        try:
            memo[module] = code_hash(module)
        except (ValueError, SyntaxError, OSError):
            memo[module] = None
    return memo[module]


def list_artifacts(root: Path, outputs_dir: Path) -> list[dict[str, Any]]:
    """One row per artifact: stage, key, code_hash, current (built by the current code),
    size_mb, age_days, created, referenced, path."""
    referenced = referenced_artifacts(outputs_dir, root)
    memo: dict[str, str | None] = {}
    now = time.time()
    rows = []
    for art in artifact_dirs(root):
        meta_file = art / META_FILE
        try:
            meta = json.loads(meta_file.read_text())
        except ValueError:
            meta = {}
        recorded = key_code_hash(art.name)
        current = _current_hash(meta.get("code_module"), memo)
        rows.append(
            {
                "stage": art.parent.name,
                "key": art.name,
                "code_hash": recorded,
                "current": recorded is not None and recorded == current,
                "size_mb": round(_size_bytes(art) / 1e6, 3),
                "age_days": round((now - meta_file.stat().st_mtime) / 86400, 2),
                "created": meta.get("created"),
                "referenced": art.resolve() in referenced,
                "path": str(art),
            }
        )
    return rows


def to_prune(rows: list[dict[str, Any]], prune: str | None, older_than_days: float | None):
    """The rows ``cache.prune`` selects: stale (not the current code's), unreferenced, old."""
    if prune == "stale":
        return [r for r in rows if not r["current"]]
    if prune == "unreferenced":
        return [r for r in rows if not r["referenced"]]
    if prune == "old":
        return [r for r in rows if r["age_days"] > float(older_than_days or 0)]
    return []


def delete_artifact(path: Path, lock: str) -> None:
    """Remove one artifact under its lock: renamed away first, so no reader ever finds a
    half-deleted one, then removed."""
    with LOCKS[lock](str(path) + ".lock"):
        if not path.is_dir():
            return
        trash = path.parent / f".old-{path.name}-{uuid.uuid4().hex[:8]}"
        os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    root = Path(cfg.paths.cache_dir).expanduser().resolve()
    outputs = Path(cfg.cache.outputs_dir).expanduser().resolve()
    rows = list_artifacts(root, outputs)
    prune, dry_run = cfg.cache.prune, bool(cfg.cache.dry_run)
    chosen = to_prune(rows, prune, cfg.cache.older_than_days)
    for r in rows:
        r["pruned"] = ""
    columns = ("stage", "key", "current", "referenced", "size_mb", "age_days")
    print(f"artifact cache {root}: {len(rows)} artifacts, {sum(r['size_mb'] for r in rows):.1f} MB")
    for r in rows:
        mark = "  <- pruned" if any(r is c for c in chosen) else ""
        print("  " + "  ".join(f"{c}={r[c]}" for c in columns) + mark)
    for r in chosen:
        if dry_run:
            log.info(
                "would delete %s (cache.prune=%s; cache.dry_run=false deletes)", r["path"], prune
            )
        else:
            delete_artifact(Path(r["path"]), str(cfg.paths.cache_lock))
            log.info("deleted %s (cache.prune=%s)", r["path"], prune)
        r["pruned"] = "would delete" if dry_run else "deleted"
    if prune and not chosen:
        log.info("cache.prune=%s: nothing to delete", prune)
    summary = {
        "cache_dir": str(root),
        "num_artifacts": len(rows),
        "size_mb": round(sum(r["size_mb"] for r in rows), 3),
        "num_stale": sum(not r["current"] for r in rows),
        "num_unreferenced": sum(not r["referenced"] for r in rows),
        "prune": prune,
        "dry_run": dry_run,
        ("num_would_delete" if dry_run else "num_deleted"): len(chosen),
        ("mb_would_delete" if dry_run else "mb_deleted"): round(
            sum(r["size_mb"] for r in chosen), 3
        ),
    }
    return RunOutput(rows=rows, summary=summary)
