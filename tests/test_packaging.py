"""A non-editable install runs: the wheel ships the config tree and the ``semcom-exp`` script.

The wheel is built from a copy of the source (no build files land in the checkout), installed
with ``pip install --no-deps --target`` (the dependencies come from the test's own venv), and
run from a directory outside the repo, checking that the installed copy is what runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, read_json

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "semcom_exp")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel, installed into a private folder (its ``bin/`` holds the console script)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "local", "*.egg-info")
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)]
    subprocess.run(build, check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("semcom_exp-*.whl")
    target = tmp / "site"
    install = [*pip, "install", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, text=True, timeout=300)
    return target


def _run(target: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "PYTHONPATH": str(target),
        "OMP_NUM_THREADS": "1",
        "HYDRA_FULL_ERROR": "0",
        **env,
    }
    environ.pop("SEMCOM_ROOT", None)
    return subprocess.run(
        args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.slow  # ~40 s with the wheel build
def test_wheel_install_starts_composes_and_runs(installed: Path, tmp_path: Path):
    work = tmp_path / "elsewhere"  # not the repo: nothing there to fall back on
    work.mkdir()
    proc = _run(
        installed, work, sys.executable, "-c", "import semcom_exp; print(semcom_exp.__file__)"
    )
    assert Path(proc.stdout.strip()).is_relative_to(installed), proc.stdout + proc.stderr
    assert (installed / "semcom_exp" / "conf" / "experiment" / "lam_msc" / "cge.yaml").is_file()

    script = str(installed / "bin" / "semcom-exp")
    proc = _run(installed, work, script, "experiment=lam_msc/cge", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pipeline: semcom_exp.experiments.lam_msc.cge.run" in proc.stdout

    run = tmp_path / "run"
    proc = _run(
        installed,
        work,
        script,
        "experiment=channels_sanity",
        "debug=default",
        f"hydra.run.dir={run}",
        f"paths.cache_dir={tmp_path / 'cache'}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_json(run / "results.json")["experiment"] == "channels_sanity"

    proc = _run(installed, work, script, "experiment=no_such_thing")  # still one clear line
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_console_script_shell_completion(installed: Path, tmp_path: Path):
    script = str(installed / "bin" / "semcom-exp")
    proc = _run(installed, tmp_path, script, "--shell-completion", "install=bash")
    assert proc.returncode == 0 and "complete " in proc.stdout and "semcom-exp" in proc.stdout
    line = "semcom-exp experiment=q"
    proc = _run(
        installed, tmp_path, script, "-sc", "query=bash", COMP_LINE=line, COMP_POINT=str(len(line))
    )
    assert proc.stdout.split() == ["experiment=quickstart"], proc.stdout + proc.stderr
