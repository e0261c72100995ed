"""LightningModules and samplers: M2GSC diffusion decoders and their split-inference loop."""

from semcom_exp.errors import TrainingDivergedError
from semcom_exp.models.ddpm_decoder import DiffusionDecoder
from semcom_exp.models.samplers import ReverseStep
from semcom_exp.models.split_inference import (
    Split,
    check_offload_steps,
    default_step,
    edge_denoise,
    handoff,
    inference_timesteps,
    local_denoise,
    local_schedule,
    snr_aware_timestep,
    split_point,
    split_sample,
)

__all__ = [
    "DiffusionDecoder",
    "Split",
    "TrainingDivergedError",
    "check_offload_steps",
    "ReverseStep",
    "default_step",
    "edge_denoise",
    "handoff",
    "inference_timesteps",
    "local_denoise",
    "local_schedule",
    "snr_aware_timestep",
    "split_point",
    "split_sample",
]
