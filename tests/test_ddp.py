"""Multi-process (DDP) training: each batch split over the ranks (map-style loaders and the CGE
channel stream), and the CLI on two CPU processes (gloo): no deadlock on the cache lock, rank 0
alone writes the cache and the run dir, and the trained weights are those of one process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from semcom_exp import training
from semcom_exp.cache import ArtifactCache
from semcom_exp.channels import OfdmConfig
from semcom_exp.errors import SemcomError
from semcom_exp.stages import cge as cge_stage
from semcom_exp.stages.cge import ChannelStream, train_generator

from .conftest import REPO, read_json
from .test_cge import TINY_CHANNEL
from .test_configs import compose_cfg


def _loader(n: int, batch: int, drop_last: bool = False) -> DataLoader:
    gen = torch.Generator().manual_seed(3)
    data = TensorDataset(torch.arange(n))
    return DataLoader(data, batch_size=batch, shuffle=True, generator=gen, drop_last=drop_last)


def _as_rank(monkeypatch, module, rank: int, world: int) -> None:
    monkeypatch.setattr(module, "group_rank_and_size", lambda: (rank, world))


@pytest.mark.parametrize("n, drop_last", [(22, False), (23, False), (22, True)])
def test_the_ranks_shares_make_up_one_process_batches(monkeypatch, n, drop_last):
    one = [b[0].tolist() for b in _loader(n, 4, drop_last)]
    shares = []
    for rank in (0, 1):
        _as_rank(monkeypatch, training, rank, 2)
        split = training.split_batches(_loader(n, 4, drop_last), 2)
        shares.append([b[0].tolist() for b in split])
        assert len(split) == len(shares[-1])
    joined = [a + b for a, b in zip(*shares, strict=True)]
    # a last partial batch is kept only if it splits evenly (22: 2 left, 23: 3 left)
    keep = len(one) if (n % 4) % 2 == 0 and not drop_last else n // 4
    assert joined == one[:keep]


def test_a_batch_that_does_not_split_is_refused():
    with pytest.raises(SemcomError, match="multiple of trainer.devices"):
        training.split_batches(_loader(20, 5), 2)


def test_one_process_keeps_its_loader():
    loader = _loader(20, 4)
    assert training.split_batches(loader, 1) is loader


def test_channel_stream_shares_make_up_the_one_process_batch(monkeypatch):
    ch = OfdmConfig.from_cfg(TINY_CHANNEL)
    whole = next(iter(ChannelStream(ch, 6, (0.0, 20.0), seed=5)))
    parts = []
    for rank in (0, 1, 2):
        _as_rank(monkeypatch, cge_stage, rank, 3)
        parts.append(next(iter(ChannelStream(ch, 6, (0.0, 20.0), seed=5))))
    for key in ("h", "ls", "no"):
        assert torch.equal(torch.cat([p[key] for p in parts]), whole[key])


# ------------------------------------------------------------------------ the CLI on 2 ranks

CGE_ARGS = ("experiment=lam_msc/cge", "debug=default", "cge.estimators=[ls,cgan]")
DDP_TIMEOUT_S = 180  # measured ~20 s; a deadlock fails the test instead of hanging the suite
ATOL = 1e-5  # 2 ranks vs 1 process differ by float summation order (measured <= 6e-7)


def _run_ddp(*overrides: str) -> subprocess.CompletedProcess:
    """The CLI in a subprocess (Lightning re-executes its command line for rank 1), in its own
    process group so that a timeout kills rank 1 too."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    args = [sys.executable, "-m", "semcom_exp", *overrides]
    proc = subprocess.Popen(
        args, cwd=REPO, env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=DDP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"2-process run did not finish in {DDP_TIMEOUT_S} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _one_process_generator(cache: Path, batch_size: int) -> tuple[dict, Path]:
    """The cgan generator trained in this process, one process, same config as the CLI run."""
    cfg = compose_cfg(*CGE_ARGS, f"model.batch_size={batch_size}")
    run_cfg = OmegaConf.create(
        {
            "trainer": {
                **OmegaConf.to_container(cfg.trainer),
                "accelerator": "cpu",
                "deterministic": True,
                "enable_progress_bar": False,
            },
            "logger": {},
            "callbacks": {},
        }
    )
    _, path = train_generator(cfg.model, cfg.channel, "cgan", ArtifactCache(cache), run_cfg)
    return torch.load(path / "generator_last.pt", weights_only=True), path


@pytest.mark.slow
def test_ddp_cli_two_cpu_ranks_train_once_like_one_process(tmp_path: Path):
    run, cache = tmp_path / "run", tmp_path / "cache"
    proc = _run_ddp(
        *CGE_ARGS,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "trainer.devices=2",
        "trainer.deterministic=true",
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={run}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    # rank 0 wrote the run dir; rank 1 ran the pipeline in a private dir, since removed
    assert read_json(run / "results.json")["experiment"] == "lam_msc/cge"
    assert (run / "results.csv").exists() and (run / "timings.json").exists()
    assert list((run / "figures").glob("*.png")) and (run / ".hydra" / "config.yaml").exists()
    rank1_log = (run / "train_ddp_process_1.log").read_text()  # Hydra's log of rank 1's job
    assert "stage cge_generator: rank 1 computing alongside rank 0" in rank1_log
    assert "rank 1: pipeline done" in rank1_log
    rank1_dir = re.search(r"result rows in (\S+)", rank1_log).group(1)
    assert rank1_dir != str(run) and not Path(rank1_dir).exists()

    # the artifact, written once by rank 0, records the 2-process group that trained it
    (art,) = [p for p in (cache / "cge_generator").iterdir() if p.is_dir()]
    # no temp, scratch or work dir left beside it
    assert sorted(p.name for p in art.parent.iterdir()) == [art.name, f"{art.name}.lock"]
    meta = json.loads((art / "artifact.json").read_text())
    assert meta["world_size"] == 2
    for name in ("generator.pt", "generator_last.pt", "losses.csv", "val_curve.csv"):
        assert (art / name).exists()

    # the same weights as one process on the same batches (8 grids a step; 4 per rank here)
    ddp = torch.load(art / "generator_last.pt", weights_only=True)
    one, one_path = _one_process_generator(tmp_path / "cache1", batch_size=8)
    assert one_path.name == art.name  # same stage key: the process count is not in it
    weights = [k for k, v in one.items() if v.is_floating_point()]
    assert set(ddp) == set(one) and len(weights) > 10
    for key in weights:
        assert torch.allclose(ddp[key], one[key], rtol=0, atol=ATOL), key
    # ... although rank 0 trained on its half of each batch (its losses are of 4 grids) ...
    ddp_l1 = pd.read_csv(art / "losses.csv")["loss_l1"]
    one_l1 = pd.read_csv(one_path / "losses.csv")["loss_l1"]
    assert (ddp_l1 - one_l1).abs().max() > 1e-3
    # ... and the tolerance tells apart a half-batch training (what a rank alone would do)
    half, _ = _one_process_generator(tmp_path / "cache_half", batch_size=4)
    assert max((half[k] - one[k]).abs().max().item() for k in weights) > 100 * ATOL
