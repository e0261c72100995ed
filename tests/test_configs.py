"""Every experiment config composes; bad overrides fail fast, name the key, write no cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from semcom_exp.errors import ConfigError
from semcom_exp.schema import validate_config

from .conftest import REPO, main_in_process, run_cli

CONF = REPO / "semcom_exp" / "conf"
EXPERIMENTS = sorted(
    str(p.relative_to(CONF / "experiment").with_suffix(""))
    for p in (CONF / "experiment").rglob("*.yaml")
)


def compose_cfg(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_there_are_experiments():
    assert "channels_sanity" in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("debug", [False, True])
def test_every_experiment_composes(experiment, debug):
    overrides = [f"experiment={experiment}"] + (["debug=default"] if debug else [])
    cfg = compose_cfg(*overrides)
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)  # so ${hydra:...} interpolations resolve
    assert cfg.pipeline and cfg.experiment_name == experiment  # named by Hydra's choice
    assert OmegaConf.select(cfg, "figures") is not None
    validate_config(cfg)
    if debug:  # debug sizes only resize or fill a null: a misspelled key would add one
        plain = _keys(compose_cfg(f"experiment={experiment}"))
        nulls = {k for k, v in plain.items() if v is None}
        added = [
            k for k in set(_keys(cfg)) - set(plain) if not any(k.startswith(n + ".") for n in nulls)
        ]
        assert not added, f"conf/debug_sizes/{experiment}/default.yaml adds {added}"


def _keys(cfg) -> dict[str, object]:
    """Every dotted key of a config (hydra's own node aside) with its unresolved value."""
    out, todo = {}, [("", OmegaConf.to_container(cfg, resolve=False))]
    while todo:
        prefix, node = todo.pop()
        for k, v in node.items():
            if k != "hydra" or prefix:
                out[prefix + str(k)] = v
                if isinstance(v, dict):
                    todo.append((f"{prefix}{k}.", v))
    return out


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["channel.snr_db=abc"], "channel.snr_db"),
        (["channel.snr_db=[]"], "channel.snr_db"),
        (["+m.batch_size=-4"], "m"),  # no such root key
        (["+model.btach_size=4"], "model.btach_size"),  # added with + to a typed node
        (["+data.synthetic.frames=4"], "data.synthetic.frames"),
        (["model.batch_size=0"], "model.batch_size"),
        (["m2gsc.frames.eval=1"], "m2gsc.frames.eval"),  # the chance level needs two
        (["model.prediction_type=x0"], "model.prediction_type"),
        (["seed=x"], "seed"),
        (["seed=-1"], "seed"),
    ],
)
def test_validate_config_names_the_key(overrides, key):
    cfg = compose_cfg(*overrides)
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert err.value.key == key and key in str(err.value)


#: values each refused by a general check of its kind (semcom_exp/schema/fields.py), found by
#: the fault sweep to train or cache something first, or to run with a silently wrong meaning
REFUSED_BEFORE_WORK = [
    (["model.image_size=7"], "model.image_size"),  # not a multiple of the UNet's 2**(levels-1)
    (["model.image_size=36", "model.block_out_channels=[8,8,8,8]"], "model.image_size"),  # 8
    (["model.down_block_types=[DownBlock2D]"], "model.down_block_types"),  # one per level
    (["model.lr=nan"], "model.lr"),
    (["model.lr=inf"], "model.lr"),
    (["model.lr=-0.001"], "model.lr"),
    (["m2gsc.local_lr=inf"], "m2gsc.local_lr"),
    (["experiment=lam_msc/cge", "model.disc_lr=nan"], "model.disc_lr"),
    (["experiment=lam_msc/lkb", "model.lora.lr=inf"], "model.lora.lr"),
    (["channel.snr_db=[nan]"], "channel.snr_db"),
    (["channel.snr_db=[0,inf]"], "channel.snr_db"),
    (["experiment=lam_msc/cge", "model.val_snr_db=[-inf]"], "model.val_snr_db"),
    (["experiment=lam_msc/cge", "model.snr_db_range=[0,inf]"], "model.snr_db_range"),
    (["experiment=lam_msc/sc", "sc.snr_db=[5,nan]"], "sc.snr_db"),
    (["seed=5000000000"], "seed"),  # numpy seeds only 0..2**32-1
    (["seed=-1"], "seed"),
    (["seeds=[0,4294967296]"], "seeds"),
    (["data.synthetic.seed=-3"], "data.synthetic.seed"),
    (["model.prediction_type=bogus"], "model.prediction_type"),
    (["handoff=[]"], "handoff"),  # would drop every k > 0 row
    (["m2gsc.local_init=shared"], "m2gsc.local_steps"),  # the shared model cannot serve as is
    (["offload_steps=[]"], "offload_steps"),
]


@pytest.mark.parametrize(
    "overrides,key", [pytest.param(o, k, id=" ".join(o)) for o, k in REFUSED_BEFORE_WORK]
)
def test_bad_values_are_refused_before_any_work(
    tmp_path: Path, monkeypatch, capsys, overrides, key
):
    """Exit 2, one line naming the key, and the cache holds nothing: the check ran first."""
    cache = tmp_path / "cache"
    code, err = main_in_process(
        monkeypatch,
        capsys,
        *overrides,
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and f"'{key}'" in lines[0], lines
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "override,needle",
    [
        ("channel.snr_db=abc", "channel.snr_db"),  # refused by the schema's check
        ("experiment=no_such_experiment", "no_such_experiment"),  # refused while composing
        ("model.btach_size=3", "model.btach_size"),  # misspelled: refused while composing
        ("model.lr=fast", "model.lr"),  # wrong type: refused while composing
        ("+model.btach_size=3", "model.btach_size"),  # added with +: refused by the schema
    ],
)
def test_bad_override_exits_2_with_one_line_and_writes_no_cache(tmp_path: Path, override, needle):
    proc = run_cli(override, tmp=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.iterdir())


def test_a_misspelled_key_in_a_users_experiment_file_is_refused(tmp_path: Path):
    """A researcher's own experiment file (``--config-dir``) with a typo: Hydra refuses it
    while composing (the schema is struct), reported in the one-line form, exit 2."""
    mine = tmp_path / "conf" / "experiment"
    mine.mkdir(parents=True)
    (mine / "mine.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - /experiment/quickstart\n  - _self_\n"
        "m2gsc:\n  num_recievers: 2\n"
    )
    proc = run_cli("--config-dir", str(tmp_path / "conf"), "experiment=mine", tmp=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "m2gsc.num_recievers" in lines[0], lines
    assert not (tmp_path / "cache").exists()


def test_cfg_job_shows_the_schema_defaults(tmp_path: Path):
    """The option files hold no values: what --cfg job prints comes from the schema."""
    proc = run_cli("--cfg", "job", "experiment=lam_msc/cge", tmp=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cfg = OmegaConf.create(proc.stdout)
    from semcom_exp.schema.model import CgeConfig

    assert cfg.model.width == CgeConfig.width and cfg.model.base == CgeConfig.base
    assert cfg.cge.estimators[0] == "ls" and cfg.channel.kind == "ofdm"


def test_slurm_jobs_are_named_after_the_experiment_and_requeued():
    from hydra.core.hydra_config import HydraConfig

    cfg = compose_cfg("experiment=lam_msc/cge", "hydra/launcher=slurm")
    HydraConfig.instance().set_config(cfg)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.name == "lam_msc/cge"  # not __main__
    assert launcher.max_num_timeout > 0  # a job killed at its time limit is requeued


def test_a_machines_own_settings_come_from_an_uncommitted_local_config(tmp_path: Path):
    """``conf/local/default.yaml`` (gitignored) or a --config-dir's local/default.yaml."""
    local = tmp_path / "conf" / "local"
    local.mkdir(parents=True)
    (local / "default.yaml").write_text("# @package _global_\nseed: 7\n")
    proc = run_cli("--cfg", "job", "--config-dir", str(tmp_path / "conf"), tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert OmegaConf.create(proc.stdout).seed == 7


def test_cuda_install_recipe_composes():
    """docs/cluster.md's GPU install: the locked torch version, the chosen CUDA build's index."""
    import re
    import subprocess

    locked = re.search(r"^torch==([0-9.]+)", (REPO / "requirements.lock").read_text(), re.M)
    out = subprocess.run(
        ["make", "-n", "install-cuda", "CUDA=cu126"], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert f'"torch=={locked.group(1)}+cu126"' in out
    assert "--index-url https://download.pytorch.org/whl/cu126" in out
