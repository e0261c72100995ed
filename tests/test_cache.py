"""Artifact cache: reuse, one computation under concurrency, nothing half-written survives."""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from semcom_exp.cache import ArtifactCache, stage_key
from semcom_exp.errors import SemcomError


def _write(value: str):
    def compute(out: Path, work: Path) -> None:
        (out / "value.txt").write_text(value)

    return compute


def test_key_depends_on_config_and_version():
    base = stage_key("s", {"a": 1, "b": [1, 2]}, "1")
    assert base == stage_key("s", {"b": [1, 2], "a": 1}, "1")  # order-free
    assert base != stage_key("s", {"a": 2, "b": [1, 2]}, "1")
    assert base != stage_key("s", {"a": 1, "b": [1, 2]}, "2")
    assert base != stage_key("t", {"a": 1, "b": [1, 2]}, "1")


def test_second_call_reuses_artifact(tmp_path):
    cache = ArtifactCache(tmp_path)
    calls = []

    def compute(out, work):
        calls.append(1)
        (out / "x").write_text("1")

    p1 = cache.get_or_compute("stage", {"a": 1}, "1", compute)
    p2 = ArtifactCache(tmp_path).get_or_compute("stage", {"a": 1}, "1", compute)
    assert p1 == p2 and len(calls) == 1
    assert (p1 / "artifact.json").exists()


def test_force_recomputes_once_per_run(tmp_path):
    ArtifactCache(tmp_path).get_or_compute("stage", {}, "1", _write("old"))
    forced = ArtifactCache(tmp_path, force=True)
    calls = []

    def compute(out, work):
        calls.append(1)
        (out / "value.txt").write_text("new")

    p = forced.get_or_compute("stage", {}, "1", compute)
    forced.get_or_compute("stage", {}, "1", compute)
    assert (p / "value.txt").read_text() == "new" and len(calls) == 1
    assert not list(p.parent.glob(".old-*")) and not list(p.parent.glob(".tmp-*"))


def test_interrupted_stage_leaves_nothing_complete(tmp_path):
    cache = ArtifactCache(tmp_path)

    def boom(out, work):
        (out / "partial").write_text("half")
        (work / "last.ckpt").write_text("resume me")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("stage", {"a": 1}, "1", boom)
    final = cache.path("stage", {"a": 1}, "1")
    assert not final.exists()
    assert (final.parent / f"{final.name}.work" / "last.ckpt").exists()  # kept for resuming

    seen = {}

    def resume(out, work):
        seen["ckpt"] = (work / "last.ckpt").read_text()
        (out / "value.txt").write_text("done")

    p = cache.get_or_compute("stage", {"a": 1}, "1", resume)
    assert seen["ckpt"] == "resume me" and (p / "value.txt").read_text() == "done"
    assert not (final.parent / f"{final.name}.work").exists()


def _killed_worker(root: str) -> None:
    import os
    import signal

    def compute(out, work):
        (out / "partial").write_text("half")
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-stage: no cleanup code runs

    ArtifactCache(root).get_or_compute("stage", {"a": 1}, "1", compute)


def test_killed_process_leaves_no_complete_artifact(tmp_path):
    import signal

    proc = mp.get_context("spawn").Process(target=_killed_worker, args=(str(tmp_path),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL  # it died of the kill, not of an import error
    cache = ArtifactCache(tmp_path)
    final = cache.path("stage", {"a": 1}, "1")
    left = list(final.parent.glob(f".tmp-{final.name}-*"))
    assert not final.exists() and [p.name for p in left[0].iterdir()] == ["partial"]
    p = cache.get_or_compute("stage", {"a": 1}, "1", _write("ok"))
    assert (p / "value.txt").read_text() == "ok" and not list(p.parent.glob(".tmp-*"))


def _slow_worker(root: str, log: str, name: str, lock: str = "hard") -> None:
    """Computes the artifact slowly (writing ``inside`` first), or waits for it; appends
    'NAME computed' / 'NAME returned' lines to ``log``."""

    def note(text: str) -> None:
        with open(log, "a") as fh:
            fh.write(f"{name} {text}\n")

    def compute(out, work):
        note("computed")
        (Path(root) / "inside").write_text(name)
        time.sleep(1.5)
        (out / "value.txt").write_text("done")

    ArtifactCache(root, lock=lock).get_or_compute("stage", {"a": 1}, "1", compute)
    note("returned")


@pytest.mark.parametrize("lock", ["hard", "soft"])  # paths.cache_lock: both serialise the jobs
def test_concurrent_processes_compute_once(tmp_path, lock):
    """B starts only once A is inside its compute (no artifact yet): with the lock B waits for
    A and reuses A's artifact; without it B would compute too."""
    root, log = tmp_path / "c", tmp_path / "log.txt"
    root.mkdir()
    ctx = mp.get_context("spawn")
    first = ctx.Process(target=_slow_worker, args=(str(root), str(log), "A", lock))
    first.start()
    deadline = time.time() + 60
    while not (root / "inside").exists() and time.time() < deadline:
        time.sleep(0.02)
    second = ctx.Process(target=_slow_worker, args=(str(root), str(log), "B", lock))
    second.start()
    for p in (first, second):
        p.join(60)
    assert first.exitcode == 0 and second.exitcode == 0
    assert sorted(log.read_text().splitlines()) == ["A computed", "A returned", "B returned"]
    assert not list((root / "stage").glob("*.lock")) or lock == "hard"  # soft: removed


# ---------------------------------------------------------------- a non-zero rank of a DDP job


def _publish(final: Path, value: str) -> None:
    """What rank 0 does when its compute ends: a complete temp dir renamed into place (over an
    old artifact under force)."""
    tmp = final.parent / f".tmp-{final.name}-published"
    tmp.mkdir()
    (tmp / "value.txt").write_text(value)
    (tmp / "artifact.json").write_text("{}")
    if final.exists():
        os.rename(final, final.parent / f".old-{final.name}")
    os.rename(tmp, final)


def _in_thread(fn, timeout: float):
    """fn() in a daemon thread: (finished, result or exception); a hang fails, not blocks."""
    out: dict = {}

    def target():
        try:
            out["result"] = fn()
        except BaseException as exc:  # handed to the test
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" in out:
        raise out["error"]
    return not thread.is_alive(), out.get("result")


def test_rank1_reuses_an_existing_artifact(tmp_path, monkeypatch):
    p0 = ArtifactCache(tmp_path).get_or_compute("stage", {"a": 1}, "1", _write("rank0"))
    monkeypatch.setenv("RANK", "1")
    calls = []
    p1 = ArtifactCache(tmp_path).get_or_compute(
        "stage", {"a": 1}, "1", lambda o, w: calls.append(1)
    )
    assert p1 == p0 and not calls and (p1 / "value.txt").read_text() == "rank0"


def test_rank1_computes_alongside_rank0_and_returns_rank0s_artifact(tmp_path, monkeypatch):
    cache = ArtifactCache(tmp_path, follower_timeout_s=30)
    final = cache.path("stage", {"a": 1}, "1")
    final.parent.mkdir(parents=True)
    rank0_tmp = final.parent / f".tmp-{final.name}-0000abcd"  # rank 0's compute in progress
    rank0_tmp.mkdir()
    work = final.parent / f"{final.name}.work"
    work.mkdir()
    (work / "last.ckpt").write_text("step 100")
    seen: dict = {}
    computed = threading.Event()

    def compute(out, work_dir):
        seen.update(out=out, work=work_dir, ckpt=(work_dir / "last.ckpt").read_text())
        (out / "value.txt").write_text("rank1")
        computed.set()

    def rank0():
        computed.wait(20)
        time.sleep(0.3)  # rank 1 is waiting by now
        _publish(final, "rank0")

    monkeypatch.setenv("RANK", "1")
    threading.Thread(target=rank0, daemon=True).start()
    with FileLock(str(final) + ".lock"):  # rank 0 holds the lock all along
        done, path = _in_thread(lambda: cache.get_or_compute("stage", {"a": 1}, "1", compute), 20)
    assert done, "rank 1 blocked (on rank 0's lock?)"
    assert path == final and (final / "value.txt").read_text() == "rank0"
    assert seen["out"].name.startswith(f".rank1-{final.name}-") and seen["work"] == work
    assert seen["ckpt"] == "step 100"  # resumes from the shared last checkpoint
    assert rank0_tmp.is_dir() and (work / "last.ckpt").exists()  # rank 0's files untouched
    assert not list(final.parent.glob(".rank1-*"))  # its own scratch removed


def test_rank1_under_force_waits_for_the_new_artifact(tmp_path, monkeypatch):
    old = ArtifactCache(tmp_path).get_or_compute("stage", {}, "1", _write("old"))
    computed = threading.Event()

    def compute(out, work):
        computed.set()

    def rank0():
        computed.wait(20)
        time.sleep(0.3)
        _publish(old, "new")

    monkeypatch.setenv("RANK", "1")
    threading.Thread(target=rank0, daemon=True).start()
    forced = ArtifactCache(tmp_path, force=True, follower_timeout_s=20)
    path = forced.get_or_compute("stage", {}, "1", compute)
    assert computed.is_set() and (path / "value.txt").read_text() == "new"


def test_rank1_times_out_when_rank0_never_publishes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    cache = ArtifactCache(tmp_path, follower_timeout_s=0.3)
    final = cache.path("stage", {"a": 1}, "1")
    with pytest.raises(SemcomError, match=re.escape(str(final))):
        cache.get_or_compute("stage", {"a": 1}, "1", _write("rank1"))
    assert not final.exists() and not list(final.parent.glob(".rank1-*"))
