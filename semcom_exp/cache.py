"""Content-addressed artifact cache for pipeline stages.

A stage's output lives in ``<root>/<stage>/<key>/`` where ``key`` is ``<config>-<code>``: a
hash of the stage's resolved config, the package version and the stage's own ``VERSION``, then
the hash of the source code the stage runs (``semcom_exp.code_hash``), so a code edit retrains;
``reuse_stale`` takes an artifact of the same config built by other code, and says so. It is
computed into a temporary directory and renamed into place only when complete, under a file
lock, so parallel jobs of a multirun compute each artifact once and never read a half-written
one; a killed stage leaves only a temp dir that the next run discards. ``work_dir`` survives interruption, so a training
stage can keep its last checkpoint there and resume from it.

In a multi-process (DDP) job every rank runs the whole pipeline; rank 0 alone writes the cache
(the protocol above) and the other ranks follow it (``ArtifactCache.get_or_compute``).
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

from filelock import FileLock, SoftFileLock

from semcom_exp import __version__
from semcom_exp.code_hash import StageVersion
from semcom_exp.distributed import global_rank, group_rank_and_size
from semcom_exp.errors import SemcomError

log = logging.getLogger(__name__)

META_FILE = "artifact.json"
#: how long a rank other than 0 waits, after its own compute, for rank 0 to publish the artifact
FOLLOWER_TIMEOUT_S = 1800.0  # torch.distributed's default collective timeout


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


def stage_key(stage: str, config: Mapping[str, Any], version: str | StageVersion) -> str:
    """``<config>-<code>``: a hash of the stage name, its resolved config, the package version
    and the stage version number, then the stage's code hash (``StageVersion.code_hash``). A
    plain string ``version`` (callers outside the package) gives the config half alone."""
    payload = json.dumps(
        {
            "stage": stage,
            "config": _canonical(config),
            "package": __version__,
            "version": str(version),
        },
        sort_keys=True,
        default=str,
    )
    key = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return f"{key}-{version.code_hash()}" if isinstance(version, StageVersion) else key


def code_meta(version: str | StageVersion) -> dict[str, str]:
    """What artifact.json records of the code: its hash and the module it was taken from."""
    if not isinstance(version, StageVersion):
        return {}
    return {"code_hash": version.code_hash(), "code_module": version.module}


def key_code_hash(key: str) -> str | None:
    """The code half of an artifact key (None for a key made before code hashes)."""
    return key.partition("-")[2] or None


#: ``paths.cache_lock``: hard = an OS file lock (fcntl; right on a local disk and on file
#: systems whose locks work across nodes: Lustre / GPFS, NFSv4); soft = the lock file's
#: existence (works on any shared file system, but a job killed while holding it leaves the
#: ``.lock`` file behind: delete it by hand). docs/cluster.md.
LOCKS = {"hard": FileLock, "soft": SoftFileLock}


class ArtifactCache:
    """Computes each stage artifact at most once per key; see the module docstring."""

    def __init__(
        self,
        root: str | Path,
        force: bool = False,
        follower_timeout_s: float = FOLLOWER_TIMEOUT_S,
        lock: str = "hard",
        reuse_stale: bool = False,
    ):
        self.root = Path(root).expanduser().resolve()
        self.force = force
        #: ``cache.reuse_stale``: with no artifact for the current code, reuse one of the same
        #: config built by other code (the newest), with a warning in the log
        self.reuse_stale = reuse_stale
        self._stale: set[Path] = set()
        if lock not in LOCKS:
            raise ValueError(f"lock must be one of {sorted(LOCKS)}, got {lock!r}")
        self._lock = LOCKS[lock]
        self.follower_timeout_s = float(follower_timeout_s)
        self._forced_this_run: set[Path] = set()
        #: every artifact this run used, in order: stage, key, path, computed / reused (the
        #: run dir's manifest.json lists them)
        self.used: list[dict[str, str]] = []

    def _record(self, stage: str, final: Path, how: str) -> None:
        if final in self._stale:
            how += " (stale code: cache.reuse_stale)"
        if all(item["path"] != str(final) for item in self.used):
            self.used.append(
                {
                    "stage": stage,
                    "key": final.name,
                    "code_hash": key_code_hash(final.name),
                    "path": str(final),
                    "how": how,
                }
            )

    def note_computed(self, path: Path) -> None:
        """Record that ``path`` was computed during this run by a worker process, so
        ``force`` does not compute it a second time here."""
        self._forced_this_run.add(Path(path).resolve())
        self._record(Path(path).parent.name, Path(path).resolve(), "computed")

    def path(self, stage: str, config: Mapping[str, Any], version: str | StageVersion) -> Path:
        """The artifact dir for (stage, config, version); under ``reuse_stale`` (and not
        ``force``), when the current code has none, the newest one of the same config."""
        final = self.root / stage / stage_key(stage, config, version)
        if self.reuse_stale and not self.force and not final.is_dir():
            stale = self._newest_same_config(final)
            if stale is not None:
                if stale not in self._stale:
                    log.warning(
                        "stage %s: cache.reuse_stale=true: reusing %s, built by other code "
                        "(code hash %s; the current code's is %s)",
                        stage,
                        stale,
                        key_code_hash(stale.name) or "unrecorded",
                        key_code_hash(final.name),
                    )
                    self._stale.add(stale)
                return stale
        return final

    @staticmethod
    def _newest_same_config(final: Path) -> Path | None:
        """The newest complete artifact whose key has ``final``'s config half."""
        config_half = final.name.partition("-")[0]
        found = [
            d
            for d in final.parent.glob(f"{config_half}*")
            if d.name.partition("-")[0] == config_half
            and "." not in d.name  # not a .work / .lock / temp entry
            and (d / META_FILE).is_file()
        ]
        return max(found, key=lambda d: (d / META_FILE).stat().st_mtime, default=None)

    def get_or_compute(
        self,
        stage: str,
        config: Mapping[str, Any],
        version: str | StageVersion,
        compute: Callable[[Path, Path], None],
    ) -> Path:
        """Return the artifact dir for (stage, config, version), computing it if needed.

        ``compute(out_dir, work_dir)`` writes the artifact into ``out_dir`` (a temp dir renamed
        into place on success); ``work_dir`` persists across interrupted attempts (e.g. for a
        last checkpoint) and is removed once the artifact is complete, or before computing
        under ``force`` (a forced stage starts from scratch, never from an old checkpoint).

        A rank other than 0 of a DDP job (``semcom_exp.distributed.global_rank``) takes the other
        path, :meth:`_follow_rank_zero`: a training stage's ``compute`` runs collectives (DDP
        init, the gradient all-reduce) that need every rank inside it at once, so rank 1 must
        neither wait for rank 0's lock (rank 0 holds it while it waits for rank 1 in ``fit``)
        nor skip the compute.
        """
        final = self.path(stage, config, version)
        recompute = self.force and final not in self._forced_this_run
        if final.is_dir() and not recompute:
            log.info("stage %s: reusing %s", stage, final)
            self._record(stage, final, "reused")
            return final
        rank = global_rank()
        if rank != 0:
            return self._follow_rank_zero(stage, final, compute, rank)
        final.parent.mkdir(parents=True, exist_ok=True)
        with self._lock(str(final) + ".lock"):
            if final.is_dir() and not recompute:  # another process finished it meanwhile
                log.info("stage %s: reusing %s (computed by another job)", stage, final)
                self._record(stage, final, "reused")
                return final
            for stale in final.parent.glob(f".tmp-{final.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a killed attempt
            tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            work = final.parent / f"{final.name}.work"
            if recompute and work.exists():  # force: no resume from an earlier attempt's state
                log.info("stage %s: force clears %s", stage, work)
                shutil.rmtree(work)
            work.mkdir(exist_ok=True)
            log.info("stage %s: computing %s", stage, final)
            start = time.perf_counter()
            try:
                compute(tmp, work)
                meta = {
                    "stage": stage,
                    "version": str(version),
                    **code_meta(version),
                    "package_version": __version__,
                    "config": _canonical(config),
                    "compute_seconds": time.perf_counter() - start,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                }
                world = group_rank_and_size()[1]
                if world > 1:  # computed by a DDP job: that many processes trained it
                    meta["world_size"] = world
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
        self._record(stage, final, "computed")
        return final

    def _follow_rank_zero(
        self, stage: str, final: Path, compute: Callable[[Path, Path], None], rank: int
    ) -> Path:
        """A non-zero rank's ``get_or_compute`` (``final`` missing, or to be replaced by force).

        It runs ``compute`` as rank 0 does, for its collectives, but writes nothing rank 0
        owns: no lock (rank 0 holds it), ``out_dir`` a private scratch dir removed afterwards
        (never rank 0's ``.tmp-*``), and the shared ``work_dir`` left in place (every rank
        resumes from the same ``last.ckpt``; Lightning writes checkpoints on rank 0 only). Then
        it waits for rank 0 to publish ``final`` (a new one, under force) and returns it; a
        SemcomError naming the path if that takes over ``follower_timeout_s``.
        """
        old = _dir_id(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        work = final.parent / f"{final.name}.work"
        work.mkdir(exist_ok=True)
        scratch = final.parent / f".rank{rank}-{final.name}-{uuid.uuid4().hex[:8]}"
        scratch.mkdir()
        log.info("stage %s: rank %d computing alongside rank 0 (scratch %s)", stage, rank, scratch)
        try:
            compute(scratch, work)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        deadline = time.monotonic() + self.follower_timeout_s
        while _dir_id(final) in (None, old) or not (final / META_FILE).is_file():
            if time.monotonic() > deadline:
                raise SemcomError(
                    f"stage {stage}: rank {rank} computed its share but rank 0 did not publish "
                    f"{final} within {self.follower_timeout_s:g} s; see rank 0's log"
                )
            time.sleep(0.2)
        try:
            work.rmdir()  # only if empty: one this rank re-created after rank 0 removed it
        except OSError:
            pass
        self._forced_this_run.add(final)
        log.info("stage %s: rank %d uses rank 0's %s", stage, rank, final)
        self._record(stage, final, "computed by rank 0")
        return final


def _dir_id(path: Path) -> tuple[int, int] | None:
    """The identity of a directory (None if absent): a replaced artifact has a new one."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
