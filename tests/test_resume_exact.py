"""Exact resume: a training stage stopped after k steps and rerun from its ``last.ckpt`` (in a
new process's worth of objects: new model, new trainer, new stream) gives the very weights of
an uninterrupted run, bitwise (CPU, one thread: the same operations in the same order).

The stop is simulated in-process (an exception from a callback after k steps, as a kill would
leave the cache: the work dir with its checkpoint, no artifact); test_resume_kill.py kills a real
CLI run with SIGKILL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback

from semcom_exp.cache import ArtifactCache
from semcom_exp.resume import RESUME_KEY
from semcom_exp.stages import cge as cge_stage
from semcom_exp.stages import lkb as lkb_stage
from semcom_exp.stages import m2gsc_decoders
from semcom_exp.stages import sc as sc_stage
from semcom_exp.training import build_trainer

from .conftest import REPO
from .test_cge import TINY_CHANNEL, tiny_model_cfg
from .test_sc import compose_sc


class Killed(Exception):
    """Stands in for a SIGKILL: raised after ``after`` training batches."""


class KillAfter(Callback):
    def __init__(self, after: int, sleep: float = 0.0) -> None:
        self.after, self.seen, self.sleep = after, 0, sleep

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(self.sleep)  # a slow first attempt, for train_seconds
        self.seen += 1
        if self.seen == self.after:
            raise Killed(f"killed after {self.after} batches")


def _cfg():
    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        return compose(
            "config",
            overrides=["logger=none", "callbacks=none", "trainer.enable_progress_bar=false"],
        )


def _patch_trainer(monkeypatch, module, every: int, kill: KillAfter | None = None) -> None:
    """``module.build_trainer`` checkpointing every ``every`` optimiser steps, with ``kill``."""
    real = build_trainer

    def patched(*args, **kwargs):
        kwargs["checkpoint_every"] = every
        if kill is not None:
            kwargs["extra_callbacks"] = [*(kwargs.get("extra_callbacks") or []), kill]
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "build_trainer", patched)


def _artifact(path: Path) -> dict:
    """Everything a trained-stage artifact holds but its timings: tensors and text files."""
    out = {}
    for f in sorted(path.iterdir()):
        if f.suffix == ".pt":
            out[f.name] = torch.load(f, weights_only=True)
        elif f.suffix == ".csv":
            out[f.name] = f.read_text()
    return out


def _same_artifact(a: Path, b: Path) -> None:
    one, two = _artifact(a), _artifact(b)
    assert one.keys() == two.keys()
    for name in one:
        if name.endswith(".pt"):
            _same_weights(one[name], two[name])
        else:
            assert one[name] == two[name], f"{name} differs"


def _same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ after resume: {different[:5]}"


def _cge(cache_dir: Path):
    model, path = cge_stage.train_generator(
        tiny_model_cfg(train_steps=7, val_every_steps=2),
        TINY_CHANNEL,
        "cgan",
        ArtifactCache(cache_dir),
    )
    return path


def test_cge_stage_resume_is_exact(tmp_path, monkeypatch):
    """The CGE stage (its ChannelStream, its validation callback, two optimisers) killed after
    5 of 7 iterations and rerun equals an uninterrupted run; its train_seconds counts the
    killed attempt up to its checkpoint."""
    _patch_trainer(monkeypatch, cge_stage, every=4)  # 2 optimiser steps per iteration
    whole = _cge(tmp_path / "whole")
    kill = KillAfter(5, sleep=0.4)  # checkpoint after iteration 4; iteration 5 is lost
    _patch_trainer(monkeypatch, cge_stage, every=4, kill=kill)
    with pytest.raises(Killed):
        _cge(tmp_path / "killed")
    (work,) = (tmp_path / "killed" / cge_stage.STAGE).glob("*.work")
    earlier = torch.load(work / "last.ckpt", weights_only=True)[RESUME_KEY]["seconds"]
    assert earlier >= 4 * 0.4
    _patch_trainer(monkeypatch, cge_stage, every=4)
    resumed = _cge(tmp_path / "killed")
    assert resumed.name == whole.name and not work.exists()
    _same_artifact(whole, resumed)
    summary = json.loads((resumed / "train_summary.json").read_text())
    assert summary["train_seconds"] >= earlier


def _sc(cfg, root: Path) -> Path:
    from semcom_exp.data.text_corpus import load_corpus
    from semcom_exp.runner import RunContext

    node = sc_stage.channel_configs(cfg)["rayleigh"]  # fading: the link's generator matters
    spec = sc_stage.ScModelSpec.of_run(cfg, "rayleigh", node, 0)
    ctx = RunContext(root / "run", ArtifactCache(root / "cache"))
    return sc_stage.train_sc_model(spec, load_corpus(cfg.data), ctx, cfg)[1]


def test_sc_stage_resume_is_exact(tmp_path, monkeypatch):
    """The SC stage (map-style batches over several data epochs, its model's own SNR and
    channel generators) killed after 5 of 9 steps and rerun equals an uninterrupted run."""
    cfg = compose_sc(
        "debug=default",
        "model.train_steps=9",
        "sc.channels=[rayleigh]",
        "logger=none",
        "callbacks=none",
    )
    _patch_trainer(monkeypatch, sc_stage, every=2)
    whole = _sc(cfg, tmp_path / "whole")
    _patch_trainer(monkeypatch, sc_stage, every=2, kill=KillAfter(5))
    with pytest.raises(Killed):
        _sc(cfg, tmp_path / "killed")
    _patch_trainer(monkeypatch, sc_stage, every=2)
    resumed = _sc(cfg, tmp_path / "killed")
    assert resumed.name == whole.name
    _same_artifact(whole, resumed)


def _lkb(cfg, work: Path):
    from semcom_exp.data import personas as P
    from semcom_exp.models import lkb as M

    torch.manual_seed(0)
    tok = M.word_tokenizer(P.vocabulary())
    model = M.tiny_gpt2(tok, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    lines = P.general_corpus(24, seed=0)
    losses = lkb_stage._fit(cfg, model, tok, lines, "lm", 9, 8, 1e-2, 2, 0, 48, work)
    return model, losses


def test_lkb_lm_resume_is_exact(tmp_path, monkeypatch):
    """The LKB LM training (GPT-2 with dropout, map-style batches over several data epochs)
    killed after 5 of 9 steps and rerun equals an uninterrupted run."""
    cfg = _cfg()
    _patch_trainer(monkeypatch, lkb_stage, every=2)
    whole, whole_losses = _lkb(cfg, tmp_path / "a.work")
    _patch_trainer(monkeypatch, lkb_stage, every=2, kill=KillAfter(5))
    with pytest.raises(Killed):
        _lkb(cfg, tmp_path / "b.work")
    _patch_trainer(monkeypatch, lkb_stage, every=2)
    resumed, losses = _lkb(cfg, tmp_path / "b.work")
    assert losses.equals(whole_losses) and len(losses) == 9
    _same_weights(whole.state_dict(), resumed.state_dict())


def _decoder_stage(cfg, root: Path):
    from semcom_exp.runner import RunContext
    from semcom_exp.stages.m2gsc_data import Receiver

    gen = torch.Generator().manual_seed(0)
    receivers = []
    for name in ("a", "b"):
        frames = {
            "image": torch.rand(5, 3, 16, 16, generator=gen) * 2 - 1,
            "layout": torch.zeros(5, 4, 16, 16),
        }
        receivers.append(Receiver(name, {"local": frames}, torch.zeros(3, 16, 16), [], []))
    ctx = RunContext(root / "run", ArtifactCache(root / "cache"))
    job = m2gsc_decoders.DecoderJob("local", receiver=None)  # pooled: 10 frames, background
    return m2gsc_decoders.train_decoder(cfg, ctx, receivers, "data", job).path


def test_m2gsc_decoder_stage_resume_is_exact(tmp_path, monkeypatch):
    """The M2GSC decoder stage (pooled local model: 10 frames in batches of 4, several data
    epochs, diffusion noise and timesteps from torch's generator) killed after 5 of 7 steps
    and rerun equals an uninterrupted run."""
    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "experiment=quickstart",
                "debug=default",
                "model.train_steps=7",
                "logger=none",
                "callbacks=none",
            ],
        )
    _patch_trainer(monkeypatch, m2gsc_decoders, every=2)
    whole = _decoder_stage(cfg, tmp_path / "whole")
    _patch_trainer(monkeypatch, m2gsc_decoders, every=2, kill=KillAfter(5))
    with pytest.raises(Killed):
        _decoder_stage(cfg, tmp_path / "killed")
    _patch_trainer(monkeypatch, m2gsc_decoders, every=2)
    resumed = _decoder_stage(cfg, tmp_path / "killed")
    assert resumed.name == whole.name
    _same_artifact(whole, resumed)
