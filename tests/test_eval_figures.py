"""task=eval (given trained artifacts, new evaluation settings, no training) and task=figures
(redraw from a run's or a collected sweep's files), both from the shared lam_msc/cge smoke run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import main_in_process


@pytest.fixture
def smoke(smoke_run):
    proc = smoke_run("lam_msc/cge")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.tmp


def test_eval_runs_the_given_artifacts_under_new_settings_without_training(
    smoke, tmp_path, monkeypatch, capsys
):
    code, err = main_in_process(
        monkeypatch, capsys, "task=eval", "experiment=lam_msc/cge", "debug=default",
        f"artifacts={smoke / 'run'}", "channel.snr_db=[5,12]",
        f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'eval'}",
    )  # fmt: skip
    assert code == 0, err[-3000:]
    run = tmp_path / "eval"
    frame = pd.read_csv(run / "results.csv")
    assert set(frame["snr_db"]) == {5.0, 12.0}  # the new grid, not the smoke run's
    assert {"cgan", "cgan_l1only"} <= set(frame["estimator"])
    used = json.loads((run / "manifest.json").read_text())["artifacts"]
    assert {a["how"] for a in used} == {"given"} and len(used) == 2
    assert all(Path(a["path"]).parent.parent == smoke / "cache" for a in used)
    assert not (tmp_path / "cache" / "cge_generator").exists()  # nothing trained or cached
    assert (run / "figures" / "cge_nmse_vs_snr.png").is_file()


def test_eval_refuses_to_train_a_stage_it_was_not_given(smoke, tmp_path, monkeypatch, capsys):
    # a given artifact of another stage: the CGE generators have none, and the cache is empty
    src = next(smoke.glob("cache/cge_generator/*/artifact.json")).parent
    other = tmp_path / "given" / "other_stage" / src.name
    shutil.copytree(src, other)
    meta = json.loads((other / "artifact.json").read_text())
    (other / "artifact.json").write_text(json.dumps({**meta, "stage": "other_stage"}))
    code, err = main_in_process(
        monkeypatch, capsys, "task=eval", "experiment=lam_msc/cge", "debug=default",
        f"artifacts=[{other}]", f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'eval'}",
    )  # fmt: skip
    assert code == 2
    assert "task=eval would train stage cge_generator" in err and "Traceback" not in err
    assert not list((tmp_path / "cache").glob("cge_generator/*/artifact.json"))


def test_eval_names_a_path_that_is_no_artifact(tmp_path, monkeypatch, capsys):
    code, err = main_in_process(
        monkeypatch, capsys, "task=eval", "experiment=lam_msc/cge", f"artifacts={tmp_path}",
        f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'eval'}",
    )  # fmt: skip
    assert code == 2 and "neither an artifact dir" in err and str(tmp_path) in err


def test_figures_are_redrawn_from_a_run_dir(smoke, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(smoke / "run", run, ignore=shutil.ignore_patterns("figures"))
    code, err = main_in_process(
        monkeypatch, capsys, "task=figures", f"run_dir={run}", f"hydra.run.dir={tmp_path / 'fig'}"
    )
    assert code == 0, err[-3000:]
    drawn = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert drawn == sorted(p.name for p in (smoke / "run" / "figures").glob("*.png"))
    assert set(pd.read_csv(tmp_path / "fig" / "results.csv")["status"]) == {"drawn"}


def test_figures_of_a_collected_sweep(smoke, tmp_path, monkeypatch, capsys):
    sweep = tmp_path / "sweep"
    for job in (0, 1):  # two jobs as a multirun leaves them
        shutil.copytree(
            smoke / "run", sweep / str(job), ignore=shutil.ignore_patterns("figures", "csv")
        )
        (sweep / str(job) / ".hydra" / "overrides.yaml").write_text(f"- seed={job}\n")
    code, err = main_in_process(
        monkeypatch, capsys, "task=collect", f"sweep_dir={sweep}", f"hydra.run.dir={tmp_path / 'c'}"
    )
    assert code == 0, err[-3000:]
    code, err = main_in_process(
        monkeypatch, capsys, "task=figures", f"run_dir={sweep}", f"hydra.run.dir={tmp_path / 'f'}"
    )
    assert code == 0, err[-3000:]
    assert (sweep / "figures" / "cge_nmse_vs_snr.png").is_file()
    assert (sweep / "figures" / "cge_ser_vs_snr.png").is_file()


def test_figures_name_a_dir_that_is_no_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    code, err = main_in_process(
        monkeypatch, capsys, "task=figures", f"run_dir={tmp_path / 'empty'}",
        f"hydra.run.dir={tmp_path / 'f'}",
    )  # fmt: skip
    assert code == 2 and "no .hydra/config.yaml" in err
