"""LAM-MSC CGE: a conditional GAN that estimates the OFDM channel grid from the pilots.

The generator maps the observation (pilot symbols, received pilots, the SNR) to H_hat over the
whole (S, K) grid: a first guess from the pilots (:class:`PilotToGrid`: the LS baseline's
linear interpolation, or a learned linear / noise-aware map starting there) refined by a CNN.
A PatchGAN discriminator judges (observation, CSI) pairs. Loss (pix2pix): BCE on the
discriminator's LOGITS (no sigmoid before the with-logits loss, unlike the authors' code) +
``l1_weight`` * L1. ``loss="l1only"`` trains the same generator with the L1 term alone and
never steps the discriminator.

Complex grids travel as (B, S, K) complex tensors; the networks see (B, C, S, K) real maps.
The mixer blocks of the generator hold a dense map across subcarriers and one across OFDM
symbols, because the MMSE estimator couples every pilot with every resource element (a
small-kernel CNN sees only a neighbourhood); the convolutions handle local structure.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from semcom_exp.channels.estimators import linear_interp_matrix
from semcom_exp.channels.ofdm import PilotObservation
from semcom_exp.distributed import global_mean
from semcom_exp.errors import ConfigError, TrainingDivergedError

log = logging.getLogger(__name__)

LOSSES = ("cgan", "l1only")
LR_SCHEDULES = ("constant", "cosine")
#: model-config keys that build the networks (the rest configure training)
ARCH_KEYS = ("arch", "width", "depth", "disc_width", "noise_input", "base")
#: ours: the mixer CNN + PatchGAN above; authors: their Conv1d networks (models/cge_authors.py)
ARCHS = ("ours", "authors")


def complex_to_maps(z: torch.Tensor) -> torch.Tensor:
    """(B, S, K) complex -> (B, 2, S, K) real (real part, imaginary part)."""
    return torch.stack([z.real, z.imag], dim=1)


def maps_to_complex(x: torch.Tensor) -> torch.Tensor:
    """(B, 2, S, K) real -> (B, S, K) complex."""
    x = x.float()
    return torch.complex(x[:, 0], x[:, 1])


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """BCE of RAW discriminator logits against all-real / all-fake labels.

    The logits go straight into ``binary_cross_entropy_with_logits``; squashing them with a
    sigmoid first (as the authors' code does) would cap the loss and starve the gradients.
    """
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


class MixerBlock(nn.Module):
    """Residual block: 3x3 convolutions, then dense mixing across subcarriers and symbols."""

    def __init__(self, width: int, num_ofdm_symbols: int, num_subcarriers: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1),
        )
        self.freq = nn.Linear(num_subcarriers, num_subcarriers)
        self.time = nn.Linear(num_ofdm_symbols, num_ofdm_symbols)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        x = x + self.act(self.freq(x))  # (B, C, S, K): Linear acts on K
        x = x + self.act(self.time(x.transpose(-1, -2))).transpose(-1, -2)
        return x


class PilotToGrid(nn.Module):
    """The generator's first guess: a map from LS at the pilots (B, P) to the grid (B, S, K).

    ``interp``: the fixed linear interpolation of the ``ls`` baseline. ``linear``: a learned
    complex (N, P) matrix starting there. ``wiener``: a learned noise-aware map
    ``A diag(l / (l + no)) B`` (complex A (N, P), B (P, P), l > 0), starting at the interpolation;
    it is the family LMMSE filters belong to (A = R_hp V L^-1, B = V^H for R_pp = V L V^H), so
    the statistics are learned from data, never given.
    """

    KINDS = ("interp", "linear", "wiener")

    def __init__(self, mask: torch.Tensor, kind: str) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ConfigError("model.base", f"got {kind!r}; use one of {self.KINDS} or none")
        self.kind = kind
        self.shape = tuple(mask.shape)
        interp = torch.as_tensor(linear_interp_matrix(mask), dtype=torch.float32)  # (N, P)
        if kind == "interp":
            self.register_buffer("a_re", interp, persistent=False)
            return
        self.a_re = nn.Parameter(interp.clone())
        self.a_im = nn.Parameter(torch.zeros_like(interp))
        if kind == "wiener":
            P = interp.shape[1]
            self.b_re = nn.Parameter(torch.eye(P))
            self.b_im = nn.Parameter(torch.zeros(P, P))
            self.log_l = nn.Parameter(torch.full((P,), math.log(10.0)))

    @staticmethod
    def _cmul(xr, xi, wr, wi):
        """(xr + j xi) @ (wr + j wi).T for real parts; wi may be None."""
        if wi is None:
            return xr @ wr.T, xi @ wr.T
        return xr @ wr.T - xi @ wi.T, xi @ wr.T + xr @ wi.T

    def forward(self, hp: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        re, im = hp.real, hp.imag
        if self.kind == "wiener":
            re, im = self._cmul(re, im, self.b_re, self.b_im)
            lam = self.log_l.exp()
            gain = lam / (lam + no.to(lam.dtype)[:, None])  # (B, P)
            re, im = re * gain, im * gain
        re, im = self._cmul(re, im, self.a_re, getattr(self, "a_im", None))
        # float32 before building the complex grid (under bf16 autocast the matmuls give bf16)
        return torch.complex(re.float(), im.float()).reshape(hp.shape[0], *self.shape)


class Generator(nn.Module):
    """(LS grid, noise) -> CSI: builds the condition maps, then a mixer CNN predicts H.

    ``condition`` gives the maps the discriminator sees too. With a ``base`` (see
    :class:`PilotToGrid`) the network is fed that first guess and predicts a correction to it.
    """

    def __init__(
        self,
        mask: torch.Tensor,
        width: int,
        depth: int,
        noise_input: bool = True,
        base: str | None = "interp",
    ) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        S, K = mask.shape
        self.noise_input = bool(noise_input)
        self.register_buffer("mask", mask.clone())
        self.base = None if base in (None, "none") else PilotToGrid(mask, str(base))
        self.obs_channels = 4 + int(self.noise_input)  # what the discriminator is shown
        self.cond_channels = self.obs_channels + 2 * int(self.base is not None)
        self.stem = nn.Conv2d(self.cond_channels, width, 3, padding=1)
        self.blocks = nn.Sequential(*[MixerBlock(width, S, K) for _ in range(depth)])
        self.head = nn.Conv2d(width, 2, 1)
        nn.init.zeros_(self.head.weight)  # start as the base estimate (or zero)
        nn.init.zeros_(self.head.bias)

    def condition(
        self, ls: torch.Tensor, no: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(condition maps (B, C, S, K), base estimate maps or None) from LS grid and noise.

        Channels: pilot symbols (re, im; unit pilots on the mask), received pilots (re, im;
        zero off the mask, so data REs never leak in), [SNR dB / 10], [base grid re, im].
        """
        B = ls.shape[0]
        mask = self.mask
        ls = ls * mask  # only the pilot REs are observations
        pilots = mask.to(ls.real.dtype).expand(B, -1, -1)
        maps = [pilots, torch.zeros_like(pilots), ls.real, ls.imag]
        if self.noise_input:
            snr = -10.0 * torch.log10(no.to(ls.real.dtype)) / 10.0
            maps.append(snr.view(B, 1, 1).expand_as(pilots))
        base = None
        if self.base is not None:
            grid = self.base(ls[:, mask], no)
            base = complex_to_maps(grid)
            maps += [grid.real, grid.imag]
        return torch.stack(maps, dim=1), base

    def forward(self, cond: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        out = self.head(self.blocks(self.stem(cond)))
        return out if base is None else base + out

    def estimate(self, ls: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """H_hat (B, S, K) complex."""
        cond, base = self.condition(ls, no)
        return maps_to_complex(self(cond, base))


class Discriminator(nn.Module):
    """PatchGAN on (observation maps, CSI): one logit per patch of the grid, no sigmoid."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=(1, 2), padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=(1, 2), padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, stride=(2, 2), padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, padding=1),
        )

    def forward(self, cond: torch.Tensor, csi: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([cond, csi.to(cond.dtype)], dim=1))


def build_networks(
    arch: str,
    mask: torch.Tensor,
    width: int,
    depth: int,
    disc_width: int,
    noise_input: bool,
    base: str | None,
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of ``model.arch``. The authors' generator takes neither an
    SNR map nor a first guess, so ``authors`` refuses settings that would be silently ignored."""
    if arch == "ours":
        generator = Generator(mask, width, depth, noise_input, base)
        return generator, Discriminator(generator.obs_channels + 2, disc_width)
    if arch != "authors":
        raise ConfigError("model.arch", f"got {arch!r}; use one of {ARCHS}")
    if noise_input or base not in (None, "none"):
        raise ConfigError(
            "model.arch",
            "the authors' generator has no SNR input and no first guess: "
            "set model.noise_input=false model.base=none",
        )
    from semcom_exp.models.cge_authors import AuthorsDiscriminator, AuthorsGenerator

    S, K = mask.shape
    return AuthorsGenerator(mask, width), AuthorsDiscriminator(S, K, disc_width)


class CgeModel(L.LightningModule):
    """Conditional-GAN (or L1-only) channel estimator with manual optimisation.

    Training batches are dicts from :class:`semcom_exp.stages.cge.ChannelStream`:
    ``h`` (B, S, K) true channel, ``ls`` (B, S, K) LS at the pilots (0 elsewhere), ``no`` (B,).
    ``mask`` (S, K) bool is the pilot pattern the model is built for.
    """

    def __init__(
        self,
        mask: torch.Tensor,
        loss: str = "cgan",
        width: int = 32,
        depth: int = 3,
        disc_width: int = 32,
        noise_input: bool = True,
        base: str | None = "interp",
        l1_weight: float = 100.0,
        lr: float = 2e-4,
        disc_lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        lr_schedule: str = "constant",
        train_steps: int = 0,
        l1_noise_power: float = 0.0,
        arch: str = "ours",
        name: str = "cge",
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ConfigError("model.loss", f"got {loss!r}; use one of {LOSSES}")
        if lr_schedule not in LR_SCHEDULES:
            raise ConfigError("model.lr_schedule", f"got {lr_schedule!r}; use {LR_SCHEDULES}")
        self.automatic_optimization = False
        self.loss_kind = loss
        self.l1_noise_power = float(l1_noise_power)
        self.l1_weight = float(l1_weight)
        self.lr, self.disc_lr = float(lr), float(disc_lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.lr_schedule = lr_schedule
        self.train_steps = int(train_steps)
        self.name = name
        self.generator, self.discriminator = build_networks(
            arch, mask, int(width), int(depth), int(disc_width), bool(noise_input), base
        )
        self.loss_history: list[dict[str, float]] = []

    # --------------------------------------------------------------------------- config
    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], mask: torch.Tensor, loss: str, name: str | None = None
    ) -> CgeModel:
        """Build from the ``model`` config group (conf/model/cge.yaml) and a pilot mask."""
        keys = (
            *ARCH_KEYS,
            "l1_weight",
            "l1_noise_power",
            "lr",
            "disc_lr",
            "lr_schedule",
            "train_steps",
        )
        kwargs = {k: cfg[k] for k in keys if k in cfg and cfg[k] is not None}
        if cfg.get("betas") is not None:
            kwargs["betas"] = tuple(cfg["betas"])
        return cls(mask=mask, loss=loss, name=name or loss, **kwargs)

    @property
    def optimizer_steps_per_iteration(self) -> int:
        """Lightning counts every optimiser step in ``global_step``: 2 for the GAN, 1 for L1."""
        return 2 if self.loss_kind == "cgan" else 1

    @property
    def iteration(self) -> int:
        return int(self.global_step) // self.optimizer_steps_per_iteration

    @property
    def mask(self) -> torch.Tensor:
        return self.generator.mask

    def forward(self, ls: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """H_hat (B, S, K) complex from the LS grid and the noise variance per grid."""
        return self.generator.estimate(ls, no)

    # -------------------------------------------------------------------------- training
    def _check(self, name: str, value: torch.Tensor) -> None:
        if not torch.isfinite(value):
            raise TrainingDivergedError(
                f"CGE '{self.name}': {name} is {value.item()} at iteration {self.iteration} "
                f"(lr={self.lr:g}); lower model.lr / model.disc_lr"
            )

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        cond, base = self.generator.condition(batch["ls"], batch["no"])
        target = complex_to_maps(batch["h"])
        opt_g, opt_d = self.optimizers()
        sch = self.lr_schedulers()
        fake = self.generator(cond, base)
        obs = cond[:, : self.generator.obs_channels].detach()  # D judges (observation, CSI)
        row: dict[str, float] = {"step": self.iteration}
        if self.loss_kind == "cgan":
            # discriminator: real pairs -> 1, generated pairs -> 0 (on logits)
            loss_d = 0.5 * (
                adversarial_loss(self.discriminator(obs, target), real=True)
                + adversarial_loss(self.discriminator(obs, fake.detach()), real=False)
            )
            self._check("discriminator loss", loss_d)
            opt_d.zero_grad()
            self.manual_backward(loss_d)
            opt_d.step()
            self.discriminator.requires_grad_(False)
            loss_adv = adversarial_loss(self.discriminator(obs, fake), real=True)
            self.discriminator.requires_grad_(True)
            row.update(loss_d=loss_d.item(), loss_adv=loss_adv.item())
        else:
            loss_adv = torch.zeros((), device=fake.device)
        loss_l1 = self.l1_loss(fake, target, batch["no"])
        loss_g = loss_adv + self.l1_weight * loss_l1
        self._check("generator loss", loss_g)
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        opt_g.step()
        for s in sch if isinstance(sch, list) else [sch] if sch is not None else []:
            s.step()
        row.update(loss_g=loss_g.item(), loss_l1=loss_l1.item())
        self.loss_history.append(row)
        self.log_dict({f"train/{k}": v for k, v in row.items() if k != "step"}, prog_bar=False)

    def l1_loss(self, fake: torch.Tensor, target: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        """Mean absolute error, each grid's weighted by ``no ** -l1_noise_power`` (weights
        normalised to mean 1 over the batch; power 0: plain L1, 0.5: error relative to the
        noise std). Plain L1 is dominated by the low-SNR grids of a wide training range, whose
        errors are orders of magnitude larger, so the high-SNR end is barely learned."""
        if self.l1_noise_power == 0:
            return F.l1_loss(fake.float(), target.float())
        per_grid = (fake.float() - target.float()).abs().mean(dim=(1, 2, 3))
        weight = no.float().pow(-self.l1_noise_power)
        return (per_grid * weight / global_mean(weight)).mean()

    def configure_optimizers(self):
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=self.betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.disc_lr, betas=self.betas)
        if self.lr_schedule == "constant" or self.train_steps <= 0:
            return [opt_g, opt_d]
        t_max = self.train_steps
        scheds = [torch.optim.lr_scheduler.CosineAnnealingLR(opt_g, T_max=t_max)]
        if self.loss_kind == "cgan":
            scheds.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt_d, T_max=t_max))
        return [opt_g, opt_d], scheds

    # ------------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["cge_loss_history"] = self.loss_history

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.loss_history = list(checkpoint.get("cge_loss_history", []))


class CgeEstimator:
    """A trained generator as a channel estimator: ``est(obs, no=None) -> H_hat (B, S, K)``.

    Same interface as the channel layer's estimators (``no`` overrides ``obs.no``); runs the
    generator in eval mode without gradients, in chunks, on ``device`` (default: the
    observation's), and returns the estimate on the observation's device.
    """

    def __init__(
        self,
        model: CgeModel,
        name: str = "cgan",
        chunk: int = 4096,
        device: torch.device | str | None = None,
    ) -> None:
        self.model = model.eval()
        self.name = name
        self.assumed = None
        self.chunk = int(chunk)
        self.device = None if device is None else torch.device(device)

    @torch.no_grad()
    def __call__(
        self, obs: PilotObservation, no: float | torch.Tensor | None = None
    ) -> torch.Tensor:
        if obs.mask.shape != self.model.mask.shape or not torch.equal(
            obs.mask.cpu(), self.model.mask.cpu()
        ):
            raise ValueError(
                f"{self.name}: the observation's pilot pattern differs from the one the "
                "generator was trained on; load the estimator for this channel config"
            )
        y = obs.y
        if no is None:
            no_t = obs.no
        else:
            no_t = torch.as_tensor(no, dtype=y.real.dtype, device=y.device)
            no_t = no_t.expand(y.shape[0]) if no_t.dim() == 0 else no_t
        dev = self.device or y.device
        self.model.to(dev)
        ls = obs.ls_grid().to(dev)
        no_t = no_t.to(dev)
        outs = [
            self.model(ls[i : i + self.chunk], no_t[i : i + self.chunk])
            for i in range(0, y.shape[0], self.chunk)
        ]
        return torch.cat(outs).to(device=y.device, dtype=y.dtype)


class PerSnrEstimator:
    """One trained estimator per SNR, as the authors' code keeps one generator per SNR
    (``G_{snr}``): each observation goes to the estimator trained at its SNR. A batch whose
    grids differ in SNR, or an SNR no estimator was trained at, is refused (no nearest guess).
    """

    def __init__(self, by_snr_db: Mapping[float, CgeEstimator], name: str) -> None:
        self.by_snr_db = {float(s): est for s, est in by_snr_db.items()}
        self.name = name
        self.assumed = None

    def __call__(
        self, obs: PilotObservation, no: float | torch.Tensor | None = None
    ) -> torch.Tensor:
        no_t = torch.as_tensor(obs.no if no is None else no, dtype=torch.float64).reshape(-1)
        snrs = -10.0 * torch.log10(no_t)
        if float(snrs.max() - snrs.min()) > 1e-6:
            raise ValueError(f"{self.name}: one SNR per call, got {snrs.min():g}..{snrs.max():g}")
        snr = float(snrs[0])
        for trained_at, est in self.by_snr_db.items():
            if abs(trained_at - snr) < 1e-6:
                return est(obs, no)
        raise ValueError(
            f"{self.name}: no generator trained at {snr:g} dB (have {sorted(self.by_snr_db)})"
        )
