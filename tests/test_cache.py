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


# ----------------------------------------------------------------------- code hash in the key
STAGE_MODULE = "semcom_exp.stages.cge"  # any stage: its import closure reaches models/channels


@pytest.fixture
def package_copy(tmp_path) -> Path:
    """A scratch copy of the package source, to edit without touching the real one."""
    import shutil

    import semcom_exp

    dest = tmp_path / "src" / "semcom_exp"
    shutil.copytree(
        Path(semcom_exp.__file__).parent, dest, ignore=shutil.ignore_patterns("__pycache__")
    )
    return dest


def _edit(file: Path, old: str, new: str) -> None:
    text = file.read_text()
    assert old in text, f"{old!r} not in {file}"
    file.write_text(text.replace(old, new, 1))


def _train_count(cache: ArtifactCache, version) -> list[int]:
    calls: list[int] = []
    cache.get_or_compute("stage", {"lr": 1e-3}, version, lambda out, work: calls.append(1))
    return calls


def test_code_edit_retrains_docstring_or_comment_edit_does_not(tmp_path, package_copy):
    from semcom_exp.code_hash import StageVersion

    version = StageVersion("1", STAGE_MODULE, root=package_copy)
    cache = ArtifactCache(tmp_path / "cache")
    assert _train_count(cache, version) == [1]
    assert _train_count(cache, version) == []  # same code: reused
    # docstrings, comments and blank lines of the stage and of a module it imports: same key
    stage_file = package_copy / "stages" / "cge.py"
    _edit(stage_file, '"""Stage ``cge_generator``', '"""Reworded. Stage ``cge_generator``')
    _edit(stage_file, "\nlog = logging.getLogger", "\n# a new comment\n\nlog = logging.getLogger")
    _edit(package_copy / "models" / "cge.py", '"""', '"""Reworded. ')
    assert _train_count(cache, version) == []
    # a code edit in a module the stage imports (not the stage itself): retrains
    _edit(
        package_copy / "channels" / "nmse.py",
        "def ",
        "def _unused_helper():\n    return 1\n\n\ndef ",
    )
    assert _train_count(cache, version) == [1]
    # and an edit of the stage module itself
    _edit(stage_file, 'STAGE = "cge_generator"', 'STAGE = "cge_generator"\nEXTRA = 1')
    assert _train_count(cache, version) == [1]
    keys = sorted(p.name for p in (tmp_path / "cache" / "stage").iterdir() if "." not in p.name)
    assert len(keys) == 3 and len({k.partition("-")[0] for k in keys}) == 1  # config half shared


def test_code_hash_ignores_type_checking_imports_and_the_cache_itself(package_copy):
    from semcom_exp.code_hash import code_hash, module_closure

    closure = module_closure(STAGE_MODULE, package_copy)
    assert "semcom_exp.models.cge" in closure and "semcom_exp.channels.nmse" in closure
    assert "semcom_exp.cache" not in closure and "semcom_exp.tasks.collect" not in closure
    before = code_hash(STAGE_MODULE, package_copy)
    _edit(package_copy / "cache.py", "\ndef ", "\nUNUSED = 1\n\n\ndef ")
    assert code_hash(STAGE_MODULE, package_copy) == before


def test_artifact_json_and_used_list_record_the_code_hash(tmp_path):
    import json

    from semcom_exp.code_hash import StageVersion

    version = StageVersion("1", STAGE_MODULE)
    cache = ArtifactCache(tmp_path)
    path = cache.get_or_compute("stage", {"a": 1}, version, _write("x"))
    meta = json.loads((path / "artifact.json").read_text())
    assert meta["code_hash"] == version.code_hash() == path.name.partition("-")[2]
    assert meta["code_module"] == STAGE_MODULE and meta["version"] == "1"
    assert cache.used[0]["code_hash"] == version.code_hash()


def test_reuse_stale_reuses_other_codes_artifact_and_says_so(tmp_path, package_copy, caplog):
    from semcom_exp.code_hash import StageVersion

    version = StageVersion("1", STAGE_MODULE, root=package_copy)
    old = ArtifactCache(tmp_path).get_or_compute("stage", {"a": 1}, version, _write("old"))
    _edit(
        package_copy / "channels" / "nmse.py",
        "def ",
        "def _unused_helper():\n    return 1\n\n\ndef ",
    )
    strict = ArtifactCache(tmp_path)
    assert strict.path("stage", {"a": 1}, version) != old  # the edit changed the key
    stale = ArtifactCache(tmp_path, reuse_stale=True)
    calls = []
    with caplog.at_level("WARNING", logger="semcom_exp.cache"):
        got = stale.get_or_compute("stage", {"a": 1}, version, lambda o, w: calls.append(1))
    assert got == old and calls == []
    assert "cache.reuse_stale=true: reusing" in caplog.text
    assert "stale code" in stale.used[0]["how"]
    # another config is not served by the stale lookup; force ignores it
    assert stale.path("stage", {"a": 2}, version).name.partition("-")[0] != old.name.split("-")[0]
    forced = ArtifactCache(tmp_path, reuse_stale=True, force=True)
    assert forced.path("stage", {"a": 1}, version) != old


# ------------------------------------------------------------------------------ task=cache
def _cache_task(monkeypatch, capsys, tmp_path: Path, *overrides: str) -> tuple[int, dict, str]:
    from tests.conftest import main_in_process, read_json

    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    code, err = main_in_process(
        monkeypatch,
        capsys,
        "task=cache",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"cache.outputs_dir={tmp_path / 'outputs'}",
        f"hydra.run.dir={run}",
        *overrides,
    )
    return code, (read_json(run / "results.json") if code == 0 else {}), err


def test_cache_task_lists_and_prunes_only_on_request(tmp_path, package_copy, monkeypatch, capsys):
    import json

    from semcom_exp.code_hash import StageVersion

    cache = ArtifactCache(tmp_path / "cache")
    now = StageVersion("1", STAGE_MODULE)
    used = cache.get_or_compute("stage", {"a": 1}, now, _write("used"))
    unused = cache.get_or_compute("stage", {"a": 2}, now, _write("unused"))
    _edit(
        package_copy / "channels" / "nmse.py",
        "def ",
        "def _unused_helper():\n    return 1\n\n\ndef ",
    )
    old_code = StageVersion("1", STAGE_MODULE, root=package_copy)
    stale = cache.get_or_compute("stage", {"a": 1}, old_code, _write("stale"))
    (stale.parent / f"{stale.name}.work").mkdir()  # not artifacts: never listed or deleted
    (stale.parent / f".tmp-{stale.name}-x").mkdir()
    run_dir = tmp_path / "outputs" / "runs" / "x"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"artifacts": [{"path": str(used)}]}))

    code, summary, _ = _cache_task(monkeypatch, capsys, tmp_path, "cache.prune=stale")
    assert code == 0 and summary["num_artifacts"] == 3 and summary["num_stale"] == 1
    assert summary["num_unreferenced"] == 2 and summary["num_would_delete"] == 1
    assert stale.is_dir()  # a dry run by default: nothing deleted

    code, summary, _ = _cache_task(
        monkeypatch, capsys, tmp_path, "cache.prune=stale", "cache.dry_run=false"
    )
    assert code == 0 and summary["num_deleted"] == 1
    assert not stale.exists() and used.is_dir() and unused.is_dir()
    assert (stale.parent / f"{stale.name}.work").is_dir()

    code, summary, _ = _cache_task(
        monkeypatch, capsys, tmp_path, "cache.prune=unreferenced", "cache.dry_run=false"
    )
    assert code == 0 and summary["num_deleted"] == 1 and not unused.exists() and used.is_dir()

    code, _, err = _cache_task(monkeypatch, capsys, tmp_path, "cache.prune=old")
    assert code == 2 and "cache.older_than_days" in err and "Traceback" not in err
    two_days_ago = time.time() - 2 * 86400
    os.utime(used / "artifact.json", (two_days_ago, two_days_ago))
    code, summary, _ = _cache_task(
        monkeypatch, capsys, tmp_path, "cache.prune=old", "cache.older_than_days=3"
    )
    assert code == 0 and summary["num_would_delete"] == 0
    code, summary, _ = _cache_task(
        monkeypatch,
        capsys,
        tmp_path,
        "cache.prune=old",
        "cache.older_than_days=1",
        "cache.dry_run=false",
    )
    assert code == 0 and summary["num_deleted"] == 1 and not used.exists()
