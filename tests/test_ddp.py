"""Multi-process (DDP) training: each batch split over the ranks (map-style loaders and the CGE
channel stream)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from semcom_exp import training
from semcom_exp.channels import OfdmConfig
from semcom_exp.errors import SemcomError
from semcom_exp.stages import cge as cge_stage
from semcom_exp.stages.cge import ChannelStream

from .test_cge import TINY_CHANNEL


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
