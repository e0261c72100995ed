"""The LAM-MSC authors' CGE networks (``model.arch=authors``, ``experiment=lam_msc/cge_authors``).

Their design, rebuilt from the description of the authors' released code (not copied):

- generator: two Conv1d encoders, one for the pilot symbols x and one for the received pilots
  y, averaged, a middle Conv1d block, and a ConvTranspose1d decoder back to the grid. The 1-D
  axis is the OFDM symbols; the channels are the real and imaginary parts of every subcarrier
  (2K). Encoder widths 4w, 2w, w (the authors' 64, 32, 16 at the default w = 16), kernel 3,
  stride 2, BatchNorm + LeakyReLU; no SNR input and no first guess: it maps (x, y) to H.
- discriminator: Conv1d 2K -> 4w -> 2w -> w -> 1 (kernel 3, ReLU), then a linear layer over the
  OFDM symbols to one logit. It judges the CSI alone (the authors' D never sees the pilots).

Departures (docs/cge.md): the discriminator's logit goes to BCE-with-logits without the
sigmoid the authors apply first; the linear layer has S inputs (the authors' ``Linear(16, 1)``
does not match their own 8-symbol output); the decoder's output is cropped to S symbols, so
grids whose S is not a multiple of 8 work too.
"""

from __future__ import annotations

import torch
from torch import nn


def _grid_to_seq(maps: torch.Tensor) -> torch.Tensor:
    """(B, 2, S, K) real maps -> (B, 2K, S): the subcarriers' real and imaginary parts as
    channels, the OFDM symbols as the sequence."""
    B, C, S, K = maps.shape
    return maps.permute(0, 1, 3, 2).reshape(B, C * K, S)


def _seq_to_grid(seq: torch.Tensor, num_subcarriers: int) -> torch.Tensor:
    """Inverse of ``_grid_to_seq``: (B, 2K, S) -> (B, 2, S, K)."""
    B, _, S = seq.shape
    return seq.reshape(B, 2, num_subcarriers, S).permute(0, 1, 3, 2)


def _encoder(channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [
            nn.Conv1d(channels, width, 3, stride=2, padding=1),
            nn.BatchNorm1d(width),
            nn.LeakyReLU(),
        ]
        channels = width
    return nn.Sequential(*layers)


class AuthorsGenerator(nn.Module):
    """(pilot symbols, received pilots) -> H over the (S, K) grid: the authors' Conv1d
    encoder-decoder. Same interface as :class:`semcom_exp.models.cge.Generator`: ``condition``
    builds the input maps (the discriminator is shown none of them: ``obs_channels = 0``)."""

    obs_channels = 0

    def __init__(self, mask: torch.Tensor, width: int = 16) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        self.register_buffer("mask", mask.clone())
        S, K = mask.shape
        self.num_symbols, self.num_subcarriers = S, K
        widths = (4 * width, 2 * width, width)
        self.encode_pilots = _encoder(2 * K, widths)
        self.encode_received = _encoder(2 * K, widths)
        self.middle = nn.Sequential(
            nn.Conv1d(width, width, 3, padding=1), nn.BatchNorm1d(width), nn.LeakyReLU()
        )
        up: list[nn.Module] = []
        for c_in, c_out in ((width, 2 * width), (2 * width, 4 * width)):
            up += [
                nn.ConvTranspose1d(c_in, c_out, 3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm1d(c_out),
                nn.LeakyReLU(),
            ]
        up.append(nn.ConvTranspose1d(4 * width, 2 * K, 3, stride=2, padding=1, output_padding=1))
        self.decode = nn.Sequential(*up)

    def condition(self, ls: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(B, 4, S, K): pilot symbols (re, im; unit pilots on the mask) and received pilots
        (re, im; zero off the mask). With unit pilots the received pilot IS the LS estimate."""
        ls = ls * self.mask
        pilots = self.mask.to(ls.real.dtype).expand(ls.shape[0], -1, -1)
        return torch.stack([pilots, torch.zeros_like(pilots), ls.real, ls.imag], dim=1), None

    def forward(self, cond: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        x = _grid_to_seq(cond[:, :2])
        y = _grid_to_seq(cond[:, 2:4])
        z = (self.encode_pilots(x) + self.encode_received(y)) / 2
        out = self.decode(self.middle(z))[..., : self.num_symbols]
        return _seq_to_grid(out, self.num_subcarriers)

    def use_batch_stats(self) -> None:
        """Normalise with each batch's statistics in eval mode too (``norm_stats: batch``).
        The pilot encoder's input is the same for every grid, so its BatchNorm running
        statistics track a near-zero variance that lags the changing weights: in eval mode
        they blow the estimate up (docs/cge.md). Batch statistics make one grid's estimate
        depend on the others in its batch, so this is a diagnosis, not a deployable receiver."""
        for module in self.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.track_running_stats = False
                module.running_mean = module.running_var = None

    def estimate(self, ls: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        maps = self(self.condition(ls, no)[0]).float()
        return torch.complex(maps[:, 0], maps[:, 1])


class AuthorsDiscriminator(nn.Module):
    """CSI (B, 2, S, K) -> one logit per grid: the authors' Conv1d stack and linear layer
    (no sigmoid: the loss takes logits). ``cond`` is accepted for the shared interface and
    must be empty (the authors' D judges the CSI alone)."""

    def __init__(self, num_symbols: int, num_subcarriers: int, width: int = 16) -> None:
        super().__init__()
        chans = (2 * num_subcarriers, 4 * width, 2 * width, width, 1)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv1d(c_in, c_out, 3, padding=1), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(num_symbols, 1)

    def forward(self, cond: torch.Tensor, csi: torch.Tensor) -> torch.Tensor:
        if cond.shape[1]:
            raise ValueError("the authors' discriminator judges the CSI alone")
        return self.out(self.net(_grid_to_seq(csi.float())).flatten(1))
