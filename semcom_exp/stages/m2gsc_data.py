"""M2GSC stage 1 (cached): per receiver (scenario) three disjoint frame sets — local-training,
shared-training, held-out evaluation — as tensors. The layout raster is built from the PARSED
semantic message (what the receiver actually gets); the background reference is the median of
the receiver's local-training frames. Used by the decoders' training and the evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from semcom_exp.code_hash import StageVersion
from semcom_exp.data import open_dataset
from semcom_exp.data.box_text import message_bits, parse_message
from semcom_exp.errors import ConfigError
from semcom_exp.runner import RunContext
from semcom_exp.semantics.layout import object_mask, rasterize

DATA_VERSION = StageVersion("1", __name__)
FRAME_SETS = ("local", "shared", "eval")


@dataclass
class Receiver:
    """One receiver's tensors: images in [-1, 1], layout rasters, background, eval metadata."""

    name: str
    sets: dict[str, dict[str, torch.Tensor]]
    background: torch.Tensor
    eval_texts: list[str]
    eval_bits: list[int]


def data_config(cfg: DictConfig) -> DictConfig:
    """cfg.data, with a synthetic set (data.root null) sized to the requested frame sets."""
    data = OmegaConf.create(OmegaConf.to_container(cfg.data, resolve=True))
    if data.get("root") is None and data.get("synthetic") is not None:
        needed = sum(int(cfg.m2gsc.frames[name]) for name in FRAME_SETS)
        synth = data.synthetic
        synth.frames_per_scenario = max(int(synth.get("frames_per_scenario") or 0), needed)
        synth.num_scenarios = max(
            int(synth.get("num_scenarios") or 0), int(cfg.m2gsc.num_receivers)
        )
    return data


def _data_stage_config(cfg: DictConfig) -> dict:
    return {
        "data": OmegaConf.to_container(data_config(cfg)),
        "frames": OmegaConf.to_container(cfg.m2gsc.frames, resolve=True),
        "num_receivers": int(cfg.m2gsc.num_receivers),
        "image_size": int(cfg.model.image_size),
        "split_seed": int(cfg.m2gsc.split_seed),
    }


def prepare_receivers(cfg: DictConfig, ctx: RunContext) -> tuple[list[Receiver], str]:
    """Stage 1 (cached): the receivers' frame sets as tensors. Returns (receivers, stage key)."""
    stage_cfg = _data_stage_config(cfg)

    def compute(out: Path, work: Path) -> None:
        dataset = open_dataset(data_config(cfg), ctx.cache)
        scenarios = list(dataset.scenarios())
        wanted = stage_cfg["num_receivers"]
        if len(scenarios) < wanted:
            raise ConfigError(
                "m2gsc.num_receivers",
                f"{wanted} receivers need {wanted} scenarios; the data set has {len(scenarios)} "
                f"({scenarios}); group sequences with data.scenarios or lower m2gsc.num_receivers",
            )
        size, grid = stage_cfg["image_size"], int(stage_cfg["data"]["grid"])
        payload = []
        for scenario in scenarios[:wanted]:
            idx = dataset.split_frames(scenario, stage_cfg["frames"], seed=stage_cfg["split_seed"])
            sets = {}
            for name in FRAME_SETS:
                texts = [dataset.semantic_text(i) for i in idx[name]]
                boxes = [parse_message(t, grid) for t in texts]
                sets[name] = {
                    "image": dataset.load_images(idx[name], size),
                    "layout": torch.stack([rasterize(b, size) for b in boxes]),
                    "mask": torch.stack([object_mask(b, size) for b in boxes]),
                    "texts": texts,
                }
            payload.append(
                {
                    "name": str(scenario),
                    "sets": sets,
                    "background": dataset.background(scenario, size, frame_indices=idx["local"]),
                }
            )
        torch.save(payload, out / "receivers.pt")

    path = ctx.cache.get_or_compute("m2gsc_data", stage_cfg, DATA_VERSION, compute)
    receivers = []
    for item in torch.load(path / "receivers.pt", weights_only=False):
        texts = item["sets"]["eval"]["texts"]
        sets = {n: {k: v for k, v in s.items() if k != "texts"} for n, s in item["sets"].items()}
        receivers.append(
            Receiver(
                item["name"], sets, item["background"], texts, [message_bits(t) for t in texts]
            )
        )
    return receivers, path.name
