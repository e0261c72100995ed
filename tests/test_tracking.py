"""Trackers (TensorBoard, CSV, offline W&B): the config as hyper-parameters, one tracked run per
trained stage, a reference run on a cache hit, the run's summary; progress bars."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from semcom_exp import progress as P
from semcom_exp.progress_bar import StepProgressBar
from semcom_exp.tracking import TrackedCache, log_run
from semcom_exp.training import build_trainer, fit_resumable

MARKER = "config-marker-5e1f"


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(2, 1)

    def training_step(self, batch, i):
        loss = self.w(batch).pow(2).mean()
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader():  # 2 batches an epoch: a fit of 5 steps spans 3 epochs
    return torch.utils.data.DataLoader(torch.randn(8, 2), batch_size=4)


def _cfg(run_dir: Path) -> OmegaConf:
    save = str(run_dir)
    return OmegaConf.create(
        {
            "experiment_name": "test/tiny",
            "marker": MARKER,
            "paths": {"output_dir": save},
            "trainer": {
                "_target_": "lightning.Trainer",
                "accelerator": "cpu",
                "devices": 1,
                "max_epochs": -1,
                "log_every_n_steps": 1,
                "enable_progress_bar": False,
                "enable_model_summary": False,
                "enable_checkpointing": False,
            },
            "callbacks": {},
            "logger": {
                "csv": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": save, "name": "csv"},
                "tensorboard": {"_target_": "lightning.pytorch.loggers.TensorBoardLogger", "save_dir": save, "name": "tensorboard"},
                "wandb": {"_target_": "lightning.pytorch.loggers.WandbLogger", "save_dir": save, "project": "semcom_test", "offline": True, "log_model": False},
            },
        }
    )  # fmt: skip


def _stage(cache: TrackedCache, cfg, lr: int) -> Path:
    def compute(out: Path, work: Path) -> None:
        trainer = build_trainer(cfg, f"tiny_{lr}", max_steps=3, work_dir=work)
        fit_resumable(trainer, Tiny(), _loader(), work)
        (out / "losses.csv").write_text("step,loss\n")

    return cache.get_or_compute("tiny", {"lr": lr}, "1", compute)


def _wandb_runs(run_dir: Path) -> list[bytes]:
    """Each offline W&B run's record file (config, name, group, job type are in it)."""
    return [p.read_bytes() for p in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """Two trained stages in one run, then a second run that reuses both (cache hits) and
    ends with the run's summary; shared by the tests below."""
    tmp = tmp_path_factory.mktemp("tracking")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
            mp.setenv(var, str(tmp / "wandb_home"))
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        first = _cfg(tmp / "run1")
        cache = TrackedCache(tmp / "cache", run_cfg=first)
        keys = [_stage(cache, first, lr).name for lr in (1, 2)]
        second = _cfg(tmp / "run2")
        cache2 = TrackedCache(tmp / "cache", run_cfg=second)
        for lr in (1, 2):
            _stage(cache2, second, lr)
        log_run(second, {"accuracy": 0.75, "experiment": "test/tiny"}, cache2.used)
    return tmp, keys


def test_each_trained_stage_is_its_own_tracked_run_with_the_config(tracked):
    tmp, keys = tracked
    run = tmp / "run1"
    wandb_runs = _wandb_runs(run)
    assert len(wandb_runs) == 2  # not one W&B run reused by the second stage
    for key, record in zip(keys, wandb_runs, strict=True):
        assert key.encode() in record and MARKER.encode() in record and b"test/tiny" in record
    for lr, key in zip((1, 2), keys, strict=True):
        for logger in ("tensorboard", "csv"):
            hparams = yaml.safe_load(
                (run / logger / f"tiny_{lr}" / f"tiny-{key}" / "hparams.yaml").read_text()
            )
            assert hparams["marker"] == MARKER
            assert hparams["tracking"] == {"trainer": f"tiny_{lr}", "stage": "tiny", "artifact_key": key, "status": "trained"}  # fmt: skip
    assert json.loads((tmp / "cache" / "tiny" / keys[0] / "tracked_runs.json").read_text()) == ["tiny_1"]  # fmt: skip


def test_a_cache_hit_logs_a_reference_to_the_artifact(tracked):
    tmp, keys = tracked
    run = tmp / "run2"
    for lr, key in zip((1, 2), keys, strict=True):
        meta = json.loads((tmp / "cache" / "tiny" / key / "artifact.json").read_text())
        hparams = yaml.safe_load(
            (run / "tensorboard" / f"tiny_{lr}" / f"tiny-{key}-reused" / "hparams.yaml").read_text()
        )
        ref = hparams["tracking"]
        assert (ref["status"], ref["artifact_key"], ref["trained_at"]) == ("reused", key, meta["created"])  # fmt: skip
        assert ref["artifact_dir"] == str(tmp / "cache" / "tiny" / key)
        assert hparams["marker"] == MARKER
    records = _wandb_runs(run)
    assert len(records) == 3  # two references and the run's summary
    references = [r for r in records if b"artifacts_used" not in r]
    assert all(b"reused" in r for r in references)
    # one reference run per reused artifact (the run dirs' order is not defined: same-second
    # timestamps sort by W&B's random id)
    assert [sum(key.encode() in r for r in references) for key in keys] == [1, 1]


def test_the_run_summary_goes_to_every_logger(tracked):
    tmp, keys = tracked
    run = tmp / "run2"
    metrics = (run / "csv" / "run" / "summary" / "metrics.csv").read_text()
    assert "accuracy" in metrics and "0.75" in metrics
    hparams = yaml.safe_load((run / "tensorboard" / "run" / "summary" / "hparams.yaml").read_text())
    assert hparams["marker"] == MARKER
    assert {a["how"] for a in hparams["artifacts_used"].values()} == {"reused"}
    assert any(b"accuracy" in r and b"artifacts_used" in r for r in _wandb_runs(run))


def test_the_training_bar_counts_steps_up_to_max_steps():
    bar = StepProgressBar()
    trainer = L.Trainer(
        max_steps=5, max_epochs=-1, accelerator="cpu", logger=False, callbacks=[bar],
        enable_checkpointing=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(Tiny(), _loader())
    assert trainer.current_epoch >= 2  # several epochs, one bar
    assert (bar.train_progress_bar.total, bar.train_progress_bar.n) == (5, 5)


def test_progress_is_silent_off_a_terminal_and_when_turned_off(monkeypatch):
    fake = io.StringIO()
    monkeypatch.setattr(sys, "stderr", fake)
    assert list(P.progress(range(3), "grid-a")) == [0, 1, 2]
    assert fake.getvalue() == ""  # StringIO is not a terminal
    monkeypatch.setattr(fake, "isatty", lambda: True, raising=False)
    assert list(P.progress(range(3), "grid-b")) == [0, 1, 2]
    assert "grid-b" in fake.getvalue()
    P.configure(False)  # trainer.enable_progress_bar=false (debug=default)
    try:
        assert list(P.progress(range(3), "grid-c")) == [0, 1, 2]
    finally:
        P.configure(True)
    assert "grid-c" not in fake.getvalue()
