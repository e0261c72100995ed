"""A killed training stage resumes from the last checkpoint in its cache work dir; a checkpoint
that cannot be read, or that another stage or older code wrote, is set aside and the stage
restarts; ``force`` clears the work dir. (Exact resume: tests/test_resume_exact.py.)"""

from __future__ import annotations

import logging

import pytest
import torch
from hydra import compose, initialize_config_dir

from semcom_exp.cache import ArtifactCache
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.resume import RESUME_KEY, checkpoint_problem, usable_checkpoint
from semcom_exp.training import build_trainer, fit_resumable

from .conftest import REPO

MODEL_CFG = {"image_size": 16, "block_out_channels": [8, 8]}


def _loader():
    data = [
        {"image": torch.rand(3, 16, 16) * 2 - 1, "layout": torch.zeros(4, 16, 16)} for _ in range(8)
    ]
    return torch.utils.data.DataLoader(data, batch_size=4)


def _cfg():
    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        return compose(
            "config",
            overrides=["logger=none", "callbacks=none", "trainer.enable_progress_bar=false"],
        )


def _fit(cfg, work, steps: int) -> DiffusionDecoder:
    model = DiffusionDecoder.from_config(MODEL_CFG, role="shared")
    trainer = build_trainer(cfg, "shared", max_steps=steps, work_dir=work, checkpoint_every=2)
    fit_resumable(trainer, model, _loader(), work)
    return model


def test_fit_resumes_from_last_checkpoint(tmp_path):
    cfg = _cfg()
    torch.manual_seed(0)
    first = _fit(cfg, tmp_path, 4)  # "killed" after 4 of 6 steps
    assert (tmp_path / "last.ckpt").exists() and len(first.loss_history) == 4
    resumed = _fit(cfg, tmp_path, 6)
    steps = [row["step"] for row in resumed.loss_history]
    assert steps == [0, 1, 2, 3, 4, 5]  # history restored from the checkpoint, 2 new steps run
    assert resumed.loss_history[:4] == first.loss_history


def _damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"not a checkpoint\n" * 100)


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage"])
def test_unreadable_checkpoint_is_set_aside_and_the_stage_restarts(tmp_path, caplog, how):
    cfg = _cfg()
    work = tmp_path / "key.work"
    _fit(cfg, work, 2)
    _damage(work / "last.ckpt", how)
    with caplog.at_level(logging.WARNING, logger="semcom_exp"):
        model = _fit(cfg, work, 3)
    # from scratch: 3 steps of its own, none restored
    assert [row["step"] for row in model.loss_history] == [0, 1, 2]
    (aside,) = work.glob("last.ckpt.corrupt-*")
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and str(work / "last.ckpt") in lines[0] and aside.name in lines[0]
    assert "unreadable" in lines[0] and "restarts from scratch" in lines[0]
    assert checkpoint_problem(work / "last.ckpt", "") is not None  # the new one is ours


def test_checkpoint_of_another_fingerprint_is_not_resumed(tmp_path, caplog):
    """A last.ckpt written for another artifact key (a work dir renamed or copied), or by
    code that stored no fingerprint (older code), is set aside, not resumed."""
    cfg = _cfg()
    _fit(cfg, tmp_path / "old.work", 2)
    work = tmp_path / "new.work"
    (tmp_path / "old.work").rename(work)
    with caplog.at_level(logging.WARNING, logger="semcom_exp"):
        model = _fit(cfg, work, 3)
    assert [row["step"] for row in model.loss_history] == [0, 1, 2]
    (aside,) = work.glob("last.ckpt.stale-*")
    assert any("old.work" in r.getMessage() for r in caplog.records)

    # no fingerprint at all: a checkpoint from before fingerprints existed
    ckpt = torch.load(work / "last.ckpt", weights_only=False)
    del ckpt[RESUME_KEY]
    torch.save(ckpt, work / "last.ckpt")
    assert usable_checkpoint(work / "last.ckpt", "anything") is None
    assert not (work / "last.ckpt").exists() and len(list(work.glob("last.ckpt.stale-*"))) == 2


def test_force_clears_the_work_dir(tmp_path):
    """``force=true`` recomputes a stage from scratch: the work dir an interrupted attempt left
    (its last.ckpt) is gone before ``compute`` runs; without force it is kept for the resume."""
    seen: list[list[str]] = []

    def compute(out, work):
        seen.append(sorted(p.name for p in work.iterdir()))
        (out / "x").write_text("1")

    cache = ArtifactCache(tmp_path)
    work = cache.path("s", {"a": 1}, "1").parent / (cache.path("s", {"a": 1}, "1").name + ".work")
    work.mkdir(parents=True)
    (work / "last.ckpt").write_text("from an interrupted attempt")
    cache.get_or_compute("s", {"a": 1}, "1", compute)
    assert seen[-1] == ["last.ckpt"]  # no force: kept, the stage resumes from it

    work.mkdir()
    (work / "last.ckpt").write_text("from an interrupted attempt")
    ArtifactCache(tmp_path, force=True).get_or_compute("s", {"a": 1}, "1", compute)
    assert seen[-1] == []
