"""A killed training stage resumes from the last checkpoint in its cache work dir."""

from __future__ import annotations

import torch
from hydra import compose, initialize_config_dir

from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.training import build_trainer, fit_resumable

from .conftest import REPO


def _loader():
    data = [
        {"image": torch.rand(3, 16, 16) * 2 - 1, "layout": torch.zeros(4, 16, 16)} for _ in range(8)
    ]
    return torch.utils.data.DataLoader(data, batch_size=4)


def test_fit_resumes_from_last_checkpoint(tmp_path):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["logger=none", "callbacks=none", "trainer.enable_progress_bar=false"],
        )
    model_cfg = {"image_size": 16, "block_out_channels": [8, 8]}
    torch.manual_seed(0)
    first = DiffusionDecoder.from_config(model_cfg, role="shared")
    trainer = build_trainer(cfg, "shared", max_steps=4, work_dir=tmp_path, checkpoint_every=2)
    fit_resumable(trainer, first, _loader(), tmp_path)  # "killed" after 4 of 6 steps
    assert (tmp_path / "last.ckpt").exists() and len(first.loss_history) == 4

    resumed = DiffusionDecoder.from_config(model_cfg, role="shared")
    trainer = build_trainer(cfg, "shared", max_steps=6, work_dir=tmp_path, checkpoint_every=2)
    fit_resumable(trainer, resumed, _loader(), tmp_path)
    assert trainer.global_step == 6
    steps = [row["step"] for row in resumed.loss_history]
    assert steps == [0, 1, 2, 3, 4, 5]  # history restored from the checkpoint, 2 new steps run
    assert resumed.loss_history[:4] == first.loss_history
