"""Sweeps: ``glob()`` over nested experiments, and the Optuna example at debug size."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, main_in_process, read_json, run_cli

EXPERIMENTS = sorted(
    str(p.relative_to(REPO / "semcom_exp" / "conf" / "experiment").with_suffix(""))
    for p in (REPO / "semcom_exp" / "conf" / "experiment").rglob("*.yaml")
)


def _jobs(*args: str) -> list[list[str]]:
    """Hydra's own job list (BasicSweeper.split_arguments) for a command line's overrides,
    after the entry point's glob expansion."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from semcom_exp.__main__ import CONF_DIR
    from semcom_exp.sweep_glob import expand_nested_globs

    expanded = expand_nested_globs(list(args), CONF_DIR)
    overrides = OverridesParser.create().parse_overrides(expanded)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def test_glob_star_sweeps_every_experiment_nested_ones_included():
    assert len(EXPERIMENTS) >= 11 and "lam_msc/cge" in EXPERIMENTS and "m2gsc/fig5" in EXPERIMENTS
    jobs = _jobs("experiment=glob(*)", "seed=0,1")
    assert sorted({job[0].split("=", 1)[1] for job in jobs}) == EXPERIMENTS
    assert len(jobs) == 2 * len(EXPERIMENTS)
    lam = _jobs("experiment=glob(lam_msc/*,exclude=[*_paper,*_authors])")
    assert [j[0] for j in lam] == [
        f"experiment=lam_msc/{n}" for n in ("bits", "cge", "end2end", "lkb", "sc")
    ]
    from semcom_exp.__main__ import CONF_DIR
    from semcom_exp.sweep_glob import expand_nested_globs

    flat = ["-m", "data=glob(*)", "seed=0,1"]  # a flat group: left to Hydra's own glob
    assert expand_nested_globs(flat, CONF_DIR) == flat


def test_glob_matching_nothing_is_one_line_and_status_2(monkeypatch, capsys):
    code, err = main_in_process(monkeypatch, capsys, "-m", "experiment=glob(nope*)")
    assert code == 2 and "matches no option of 'experiment'" in err and "lam_msc/cge" in err


def test_the_entry_point_hands_hydra_the_expanded_sweep(monkeypatch, capsys):
    """`semcom-exp -m experiment=glob(*)`: what Hydra receives lists every experiment."""
    import sys

    import semcom_exp.__main__ as entry

    seen: list[str] = []
    monkeypatch.setattr(entry, "main", lambda: seen.extend(sys.argv[1:]))
    code, _ = main_in_process(monkeypatch, capsys, "-m", "experiment=glob(*)", "debug=default")
    assert code == 0 and seen[0] == "-m" and seen[2] == "debug=default"
    assert seen[1] == "experiment=" + ",".join(EXPERIMENTS)


@pytest.mark.slow
def test_optuna_quickstart_two_trials_on_the_validation_draw(tmp_path: Path):
    """hparams_search=quickstart_optuna at debug size, 2 trials: each trial runs on the
    validation draw (data.synthetic.seed=1), and the best value is the best trial's ssim."""
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "hparams_search=quickstart_optuna",
        "debug=default",
        "hydra.sweeper.n_trials=2",
        "model.train_steps=choice(2,3)",  # the command line narrows the search to debug size
        "offload_steps=[0]",
        "handoff=[plain]",
        "channel.snr_db=[15]",
        f"hydra.sweep.dir={sweep}",
        tmp=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = sorted(d for d in sweep.iterdir() if d.is_dir())
    assert [d.name for d in trials] == ["0", "1"]
    scores = []
    for trial in trials:
        config = yaml.safe_load((trial / ".hydra" / "config.yaml").read_text())
        assert config["data"]["synthetic"]["seed"] == 1  # never the reported seed-0 set
        assert config["model"]["train_steps"] in (2, 3) and 3e-4 <= config["model"]["lr"] <= 6e-3
        results = read_json(trial / "results.json")
        assert results["experiment"] == "quickstart"
        scores.append(results["ssim"])
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(scores))
