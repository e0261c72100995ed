"""Artifact cache: reuse, one computation under concurrency, nothing half-written survives."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from semcom_exp.cache import ArtifactCache, stage_key


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

    def compute(out, work):
        (out / "partial").write_text("half")
        os._exit(9)  # like SIGKILL mid-stage: no cleanup code runs

    ArtifactCache(root).get_or_compute("stage", {"a": 1}, "1", compute)


def test_killed_process_leaves_no_complete_artifact(tmp_path):
    proc = mp.get_context("spawn").Process(target=_killed_worker, args=(str(tmp_path),))
    proc.start()
    proc.join(60)
    cache = ArtifactCache(tmp_path)
    assert not cache.path("stage", {"a": 1}, "1").exists()
    p = cache.get_or_compute("stage", {"a": 1}, "1", _write("ok"))
    assert (p / "value.txt").read_text() == "ok" and not list(p.parent.glob(".tmp-*"))


def _slow_worker(root: str, counter: str) -> None:
    def compute(out, work):
        with open(counter, "a") as fh:
            fh.write("x")
        time.sleep(1.0)
        (out / "value.txt").write_text("done")

    ArtifactCache(root).get_or_compute("stage", {"a": 1}, "1", compute)


def test_concurrent_processes_compute_once(tmp_path):
    counter = tmp_path / "count.txt"
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_slow_worker, args=(str(tmp_path / "c"), str(counter))) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert counter.read_text() == "x"
