"""Layout-conditioned DDPM decoder (M2GSC semantic decoder) as a LightningModule.

One class serves both roles of the paper's case study:

- the SHARED (edge) model: input x_t + the message's box raster, trained only on the
  timesteps the edge ever runs, t in [T - K_max, T);
- a LOCAL (receiver) model: input x_t + box raster + the receiver's static background,
  trained on every t in [0, T).

The network predicts the configured target (``epsilon``, ``v_prediction`` or ``sample``).
Because the three targets have different scales, every step also logs the *implied*
epsilon-MSE, so the shared and local losses can be compared in one unit. The sampling loop
lives in :mod:`semcom_exp.models.split_inference`; this module only trains and predicts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel

from semcom_exp.config_utils import to_plain
from semcom_exp.errors import ConfigError, TrainingDivergedError
from semcom_exp.schema import checked
from semcom_exp.schema.model import DdpmDecoderConfig

log = logging.getLogger(__name__)

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
ROLES = ("shared", "local")
LR_SCHEDULES = ("constant", "cosine")  # diffusers.optimization names (+ warmup_steps)
EMA_POWER = 0.75  # diffusers' EMA warm-up: decay = min(ema_decay, 1 - (1 + step) ** -0.75)


def _bcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-sample scalars (B,) -> (B, 1, 1, 1) on ``like``'s device and dtype."""
    return values.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def alpha_bar(alphas_cumprod: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """a_t = alphas_cumprod[t] per sample, broadcast like ``like``; t = -1 means a = 1 (x_0)."""
    t = t.to(alphas_cumprod.device).long()
    a = torch.where(t >= 0, alphas_cumprod[t.clamp(min=0)], torch.ones_like(alphas_cumprod[0]))
    return _bcast(a, like)


def training_target(
    x0: torch.Tensor, noise: torch.Tensor, a: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """What the network regresses, given x_0, epsilon and a_t (broadcast)."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    if prediction_type == "v_prediction":
        return a.sqrt() * noise - (1 - a).sqrt() * x0
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def to_epsilon(
    output: torch.Tensor, x_t: torch.Tensor, a: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """The epsilon estimate implied by a network output (same unit for every target).

    For ``sample`` this divides by sqrt(1 - a_t), so near t = 0 small x_0 errors become large
    epsilon errors: that is what the unit means, not a bug.
    """
    if prediction_type == "epsilon":
        return output
    if prediction_type == "sample":
        return (x_t - a.sqrt() * output) / (1 - a).sqrt()
    if prediction_type == "v_prediction":
        return a.sqrt() * output + (1 - a).sqrt() * x_t
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


def to_x0(
    output: torch.Tensor, x_t: torch.Tensor, a: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """The x_0 estimate implied by a network output (as in DDPMScheduler.step, unclipped)."""
    if prediction_type == "epsilon":
        return (x_t - (1 - a).sqrt() * output) / a.sqrt()
    if prediction_type == "sample":
        return output
    if prediction_type == "v_prediction":
        return a.sqrt() * x_t - (1 - a).sqrt() * output
    raise ValueError(f"unknown prediction_type {prediction_type!r}")


class DiffusionDecoder(L.LightningModule):
    """UNet2DModel + DDPMScheduler conditioned on a box raster (and, for locals, a background).

    Training batches are dicts: ``image`` (B,3,H,W) in [-1, 1], ``layout`` (B,C_l,H,W) and,
    when ``use_background``, ``background`` (B,3,H,W) in [-1, 1].
    """

    def __init__(
        self,
        image_size: int = 32,
        block_out_channels: Sequence[int] = (32, 64, 64),
        layers_per_block: int = 1,
        down_block_types: Sequence[str] | None = None,
        up_block_types: Sequence[str] | None = None,
        norm_num_groups: int | None = None,
        num_layout_channels: int = 4,
        use_background: bool = True,
        prediction_type: str = "v_prediction",
        num_train_timesteps: int = 1000,
        beta_schedule: str = "linear",
        t_min: int = 0,
        lr: float = 2e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        lr_schedule: str = "constant",
        train_steps: int | None = None,
        ema_decay: float | None = None,
        channels_last: bool = False,
        name: str = "decoder",
    ):
        super().__init__()
        if prediction_type not in PREDICTION_TYPES:
            raise ConfigError(
                "model.prediction_type", f"got {prediction_type!r}; use one of {PREDICTION_TYPES}"
            )
        if lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                "model.lr_schedule", f"got {lr_schedule!r}; use one of {list(LR_SCHEDULES)}"
            )
        if lr_schedule == "cosine" and not train_steps:
            raise ConfigError("model.train_steps", "the cosine schedule needs the step count")
        if ema_decay is not None and not 0.0 <= float(ema_decay) < 1.0:
            raise ConfigError(
                "model.ema_decay", f"got {ema_decay!r}; use null (off) or a decay in [0, 1)"
            )
        if not 0 <= t_min < num_train_timesteps:
            raise ConfigError(
                "model.max_offload_steps",
                f"training t range [{t_min}, {num_train_timesteps}) is empty; "
                f"max_offload_steps must be in 1..{num_train_timesteps}",
            )
        block_out_channels = tuple(int(c) for c in block_out_channels)
        n_levels = len(block_out_channels)
        down_block_types = tuple(down_block_types or ("DownBlock2D",) * n_levels)
        up_block_types = tuple(up_block_types or ("UpBlock2D",) * n_levels)
        if norm_num_groups is None:  # largest group count <= 32 dividing every width
            norm_num_groups = math.gcd(*block_out_channels, 32)
        self.save_hyperparameters()
        self.image_size = int(image_size)
        self.num_layout_channels = int(num_layout_channels)
        self.use_background = bool(use_background)
        self.prediction_type = prediction_type
        self.num_train_timesteps = int(num_train_timesteps)
        self.t_min = int(t_min)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.warmup_steps = int(warmup_steps)
        self.lr_schedule = lr_schedule
        self.train_steps = int(train_steps) if train_steps else None
        self.ema_decay = float(ema_decay) if ema_decay else None
        self.channels_last = bool(channels_last)
        self.ema: EMAModel | None = None
        self._ema_state: dict | None = None  # from a resume checkpoint, loaded at fit start
        self.name = name
        in_channels = 3 + self.num_layout_channels + (3 if self.use_background else 0)
        self.unet = UNet2DModel(
            sample_size=self.image_size,
            in_channels=in_channels,
            out_channels=3,
            block_out_channels=block_out_channels,
            layers_per_block=int(layers_per_block),
            down_block_types=down_block_types,
            up_block_types=up_block_types,
            norm_num_groups=int(norm_num_groups),
        )
        self.scheduler = DDPMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=beta_schedule,
            prediction_type=prediction_type,
            timestep_spacing="trailing",
        )
        # Plain CPU float64 tensor, not a buffer: a bf16-true trainer must not round it (the
        # SNR-aware hand-off searches it); alpha_bar() moves the values it picks.
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(torch.float64)
        self.loss_history: list[dict[str, float]] = []
        if self.channels_last:  # faster convolutions on CPU (oneDNN); same maths
            self.unet.to(memory_format=torch.channels_last)

    # ----------------------------------------------------------------------------- config
    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], role: str, name: str | None = None
    ) -> DiffusionDecoder:
        """Build the ``shared`` or ``local`` model from the ``model`` config group.

        shared: no background input, t in [T - max_offload_steps, T); local: background, all t.
        """
        if role not in ROLES:
            raise ConfigError("role", f"got {role!r}; use one of {ROLES}")
        cfg = to_plain(checked(DdpmDecoderConfig, cfg, "model"))  # the schema's defaults
        T, k_max = int(cfg["num_train_timesteps"]), int(cfg["max_offload_steps"])
        if not 0 < k_max < T:
            raise ConfigError("model.max_offload_steps", f"got {k_max}; must be in 1..{T - 1}")
        keys = (
            "image_size",
            "block_out_channels",
            "layers_per_block",
            "down_block_types",
            "up_block_types",
            "norm_num_groups",
            "num_layout_channels",
            "prediction_type",
            "num_train_timesteps",
            "beta_schedule",
            "lr",
            "weight_decay",
            "warmup_steps",
            "lr_schedule",
            "train_steps",
            "ema_decay",
            "channels_last",
        )
        kwargs = {k: cfg[k] for k in keys if cfg[k] is not None}  # None: the model's own choice
        for k in ("block_out_channels", "down_block_types", "up_block_types"):
            if k in kwargs:
                kwargs[k] = list(kwargs[k])
        return cls(
            **kwargs,
            use_background=(role == "local"),
            t_min=T - k_max if role == "shared" else 0,
            name=name or role,
        )

    @property
    def max_offload_steps(self) -> int:
        """The most reverse steps (counted on T) this model may run: T - t_min."""
        return self.num_train_timesteps - self.t_min

    # ---------------------------------------------------------------------------- predict
    def _conditioning(self, layout: torch.Tensor, background: torch.Tensor | None) -> torch.Tensor:
        if layout.shape[1] != self.num_layout_channels:
            raise ValueError(
                f"{self.name}: layout has {layout.shape[1]} channels, model expects "
                f"{self.num_layout_channels}"
            )
        if self.use_background:
            if background is None:
                raise ValueError(f"{self.name}: this local model needs the background image")
            return torch.cat([layout, background], dim=1)
        return layout

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        layout: torch.Tensor,
        background: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw network output (in the configured parameterisation) for x_t at timestep(s) t."""
        t = torch.as_tensor(t, device=x_t.device).long().expand(x_t.shape[0])
        inp = torch.cat([x_t, self._conditioning(layout, background).to(x_t)], dim=1)
        if self.channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        return self.unet(inp, t).sample.contiguous()

    def predict_x0(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        layout: torch.Tensor,
        background: torch.Tensor | None = None,
        clip: bool = True,
    ) -> torch.Tensor:
        """x_0 estimate from x_t (clipped to [-1, 1] like DDPMScheduler's clip_sample)."""
        t = torch.as_tensor(t, device=x_t.device).long().expand(x_t.shape[0])
        out = self(x_t, t, layout, background)
        x0 = to_x0(out, x_t, alpha_bar(self.alphas_cumprod, t, x_t), self.prediction_type)
        return x0.clamp(-1, 1) if clip else x0

    # --------------------------------------------------------------------------- training
    def _losses(
        self, batch: Mapping[str, torch.Tensor], t: torch.Tensor, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(target MSE with grad, implied epsilon-MSE detached) for given t and noise."""
        x0 = batch["image"]
        a = alpha_bar(self.alphas_cumprod, t, x0)
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
        out = self(x_t, t, batch["layout"], batch.get("background"))
        loss = F.mse_loss(out, training_target(x0, noise, a, self.prediction_type))
        with torch.no_grad():
            loss_eps = F.mse_loss(to_epsilon(out.detach(), x_t, a, self.prediction_type), noise)
        return loss, loss_eps

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x0 = batch["image"]
        t = torch.randint(self.t_min, self.num_train_timesteps, (x0.shape[0],), device=x0.device)
        loss, loss_eps = self._losses(batch, t, torch.randn_like(x0))
        step = int(self.global_step)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"model '{self.name}': training loss is {loss.item()} at step {step} "
                f"(lr={self.lr:g}, prediction_type={self.prediction_type}); lower model.lr "
                "(or add model.warmup_steps) and check the batch for NaNs"
            )
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/loss_eps", loss_eps, on_step=True, on_epoch=False)
        self.loss_history.append({"step": step, "loss": loss.item(), "loss_eps": loss_eps.item()})
        return loss

    @torch.no_grad()
    def eval_loss(
        self,
        batch: Mapping[str, torch.Tensor],
        t_range: tuple[int, int],
        generator: torch.Generator | None = None,
    ) -> dict[str, float]:
        """Mean target-MSE and implied epsilon-MSE with t uniform in [t_range[0], t_range[1]).

        t and the noise come from ``generator`` (CPU), so two models scored with equal seeds
        see the same draws (the pipeline's ``loss_local_same_t``).
        """
        lo, hi = int(t_range[0]), int(t_range[1])
        if not 0 <= lo < hi <= self.num_train_timesteps:
            raise ValueError(
                f"t_range {t_range} must satisfy 0 <= lo < hi <= {self.num_train_timesteps}"
            )
        x0 = batch["image"]
        dev = generator.device if generator is not None else torch.device("cpu")
        t = torch.randint(lo, hi, (x0.shape[0],), generator=generator, device=dev).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=dev, dtype=x0.dtype).to(x0.device)
        loss, loss_eps = self._losses(batch, t, noise)
        return {"loss": loss.item(), "loss_eps": loss_eps.item()}

    # ------------------------------------------------------------- init, EMA, checkpoints
    def init_from(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Start from another decoder's weights (a local model from the shared one, or a
        receiver's from the pooled local model). Input channels the source lacks (the shared
        model has no background input) start at zero, so the start computes what the source
        computed."""
        own = self.state_dict()
        for key, value in state_dict.items():
            if key not in own:
                raise ValueError(f"{self.name}: cannot initialise from a state with {key!r}")
            if own[key].shape == value.shape:
                own[key] = value
            elif key == "unet.conv_in.weight" and own[key].shape[1] > value.shape[1]:
                own[key] = torch.zeros_like(own[key])
                own[key][:, : value.shape[1]] = value
            else:
                raise ValueError(
                    f"{self.name}: {key} has shape {tuple(own[key].shape)}, the source "
                    f"{tuple(value.shape)}: the two decoders differ in size"
                )
        self.load_state_dict(own)

    def on_fit_start(self) -> None:
        if self.ema_decay is not None:
            self.ema = EMAModel(
                self.unet.parameters(), decay=self.ema_decay, use_ema_warmup=True, power=EMA_POWER
            )
            if self._ema_state is not None:
                self.ema.load_state_dict(self._ema_state)
            self.ema.to(self.device)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimiser step, then the EMA's: inside the batch, so a checkpoint saved at the
        batch's end (callbacks run before this module's ``on_train_batch_end``) holds an EMA
        that has seen that step, and a resumed run averages the very steps an uninterrupted
        one does."""
        super().optimizer_step(*args, **kwargs)
        if self.ema is not None:
            self.ema.step(self.unet.parameters())

    def on_train_end(self) -> None:
        """With EMA on, the trained decoder IS the averaged weights."""
        if self.ema is not None:
            self.ema.copy_to(self.unet.parameters())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the per-step loss history (and the EMA) in checkpoints, so a resumed stage is whole."""
        checkpoint["loss_history"] = list(self.loss_history)
        if self.ema is not None:
            checkpoint["ema"] = self.ema.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.loss_history = list(checkpoint.get("loss_history", []))
        self._ema_state = checkpoint.get("ema")

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.warmup_steps <= 0 and self.lr_schedule == "constant":
            return opt
        sched = get_scheduler(
            "constant_with_warmup" if self.lr_schedule == "constant" else "cosine",
            opt,
            num_warmup_steps=self.warmup_steps,
            num_training_steps=self.train_steps,
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
