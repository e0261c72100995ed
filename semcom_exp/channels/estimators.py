"""Channel estimators for the OFDM grid, as swappable callables ``(obs, no) -> H_hat (B, S, K)``.

- ``ls``: Sionna's LSChannelEstimator at the pilots, then linear interpolation to the grid.
  ``interpolation="linear"`` (default) interpolates across subcarriers inside each pilot symbol,
  then across OFDM symbols, holding the edge values outside the pilots (np.interp semantics; a
  thin BaseChannelInterpolator). ``"sionna_linear"`` is Sionna's LinearInterpolator, which
  extrapolates linearly past the last pilot (noisier on a comb); ``"nearest"`` Sionna's NN.
- ``lmmse_genie``: LMMSE with the true JOINT time-frequency covariance of the grid, i.e. the
  MMSE bound given the same pilot observations (Sionna's LMMSEChannelEstimator is separable
  f-then-t with a diagonal error approximation, so it is not this bound; we solve it directly).
- ``lmmse_freq``: per-OFDM-symbol frequency-only LMMSE (true R_f, pilots of that symbol only);
  symbols without pilots take the linear interpolation in time of the pilot symbols (hold at edges).
- ``lmmse_mismatched``: joint LMMSE with an assumed profile (``flat`` over 0..``max_delay``
  samples, or ``exponential`` with ``rms_delay``), block fading assumed in time. ``max_delay``
  defaults to the CP, capped on a comb to the K/step - 1 delays it can resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sionna.phy.ofdm import BaseChannelInterpolator, LSChannelEstimator

from semcom_exp.channels.ofdm import OfdmChannel, PilotObservation
from semcom_exp.channels.pdp import exponential_pdp, flat_pdp, freq_covariance, grid_covariance
from semcom_exp.errors import ConfigError
from semcom_exp.schema import checked
from semcom_exp.schema.channel import LmmseAssumedConfig

Estimator = Callable[[PilotObservation, "float | torch.Tensor | None"], torch.Tensor]
log = logging.getLogger(__name__)
ESTIMATORS = ("ls", "lmmse_genie", "lmmse_freq", "lmmse_mismatched")


def _pilot_index(mask: torch.Tensor) -> np.ndarray:
    """Flat row-major indices of the pilots."""
    return np.flatnonzero(mask.cpu().numpy().reshape(-1))


def _interp_weights(xp: np.ndarray, n: int) -> np.ndarray:
    """(n, len(xp)) weights of 1-D linear interpolation at 0..n-1, holding edge values."""
    eye = np.eye(len(xp))
    grid = np.arange(n, dtype=np.float64)
    return np.stack([np.interp(grid, xp, eye[j]) for j in range(len(xp))], axis=1)


def linear_interp_matrix(mask: torch.Tensor) -> np.ndarray:
    """M (S*K, P): LS at the pilots -> grid, linear in frequency then time, hold at the edges."""
    m = mask.cpu().numpy()
    S, K = m.shape
    pilot_symbols = np.flatnonzero(m.any(axis=1))
    time_w = _interp_weights(pilot_symbols.astype(np.float64), S)  # (S, Sp)
    out = np.zeros((S, K, int(m.sum())))
    col = 0
    for i, s in enumerate(pilot_symbols):
        ks = np.flatnonzero(m[s])
        freq_w = _interp_weights(ks.astype(np.float64), K)  # (K, len(ks))
        out[:, :, col : col + len(ks)] = time_w[:, i, None, None] * freq_w[None]
        col += len(ks)
    return out.reshape(S * K, -1)


def time_interp_matrix(mask: torch.Tensor) -> np.ndarray:
    """A (S, S): fills symbols without pilots from the pilot symbols (linear, hold at edges)."""
    m = mask.cpu().numpy()
    S = m.shape[0]
    pilot_symbols = np.flatnonzero(m.any(axis=1))
    a = np.zeros((S, S))
    a[:, pilot_symbols] = _interp_weights(pilot_symbols.astype(np.float64), S)
    return a


def _no_tensor(obs: PilotObservation, no: float | torch.Tensor | None) -> torch.Tensor:
    if no is None:
        return obs.no
    no = torch.as_tensor(no, dtype=obs.y.real.dtype, device=obs.y.device)
    return no.expand(obs.y.shape[0]) if no.dim() == 0 else no


class _MatrixInterpolator(BaseChannelInterpolator):
    """Sionna interpolator applying a fixed (S*K, P) weight matrix to pilot estimates."""

    def __init__(
        self, weights: np.ndarray, num_ofdm_symbols: int, num_subcarriers: int, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self._w = torch.tensor(weights, dtype=self.dtype, device=self.device)
        self._shape = (num_ofdm_symbols, num_subcarriers)

    def __call__(
        self, h_hat: torch.Tensor, err_var: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.einsum("...p,np->...n", h_hat, self._w.to(h_hat.dtype))
        e = torch.einsum("...p,np->...n", err_var, self._w)
        return h.reshape(*h.shape[:-1], *self._shape), e.reshape(*e.shape[:-1], *self._shape)


class LSEstimator:
    """Sionna LS at the pilots + interpolation (``linear`` | ``sionna_linear`` | ``nearest``)."""

    name = "ls"

    def __init__(self, ofdm: OfdmChannel, interpolation: str = "linear") -> None:
        rg = ofdm.resource_grid
        kw = {"precision": ofdm.precision, "device": ofdm.device}
        if interpolation == "linear":
            interp = _MatrixInterpolator(
                linear_interp_matrix(ofdm.mask), ofdm.num_ofdm_symbols, ofdm.num_subcarriers, **kw
            )
            self._est = LSChannelEstimator(rg, interpolator=interp, **kw)
        elif interpolation in ("sionna_linear", "nearest"):
            kind = "lin" if interpolation == "sionna_linear" else "nn"
            self._est = LSChannelEstimator(rg, interpolation_type=kind, **kw)
        else:
            raise ConfigError(
                "interpolation", f"unknown {interpolation!r}; use linear, sionna_linear or nearest"
            )
        self.interpolation = interpolation

    def __call__(
        self, obs: PilotObservation, no: float | torch.Tensor | None = None
    ) -> torch.Tensor:
        h, _ = self._est(obs.y[:, None, None], _no_tensor(obs, no))
        return h.reshape(obs.y.shape)


def lmmse_matrix(cov: np.ndarray, pilot_index: np.ndarray, no: float) -> np.ndarray:
    """W (N, P) = R[:, p] (R[p, p] + no I)^-1, the LMMSE map from LS at the pilots to the grid."""
    r_pp = cov[np.ix_(pilot_index, pilot_index)] + no * np.eye(len(pilot_index))
    r_hp = cov[:, pilot_index]
    # W = r_hp r_pp^-1  <=>  r_pp^H W^H = r_hp^H, and r_pp is Hermitian
    return np.linalg.solve(r_pp, r_hp.conj().T).conj().T


class LinearGridEstimator:
    """LMMSE-style estimator ``H_hat = W(no) h_ls`` with W from an assumed covariance ``cov``.

    ``post`` (S, S), if given, mixes OFDM symbols afterwards (used by ``lmmse_freq``).
    Filters are cached per noise level.
    """

    def __init__(
        self,
        ofdm: OfdmChannel,
        cov: np.ndarray,
        name: str,
        post: np.ndarray | None = None,
        assumed: str | None = None,
    ) -> None:
        self.name = name
        self.assumed = assumed  # the assumed profile, for a results column (None: true statistics)
        self.cov = cov
        self.mask = ofdm.mask
        self.pilot_index = _pilot_index(ofdm.mask)
        self.shape = (ofdm.num_ofdm_symbols, ofdm.num_subcarriers)
        self.post = post
        self._cache: dict[float, np.ndarray] = {}

    def matrix(self, no: float) -> np.ndarray:
        """The full (N, P) map at noise variance ``no``, ``post`` included."""
        key = float(no)
        if key not in self._cache:
            w = lmmse_matrix(self.cov, self.pilot_index, key)
            if self.post is not None:
                S, K = self.shape
                w = np.einsum("ts,skp->tkp", self.post, w.reshape(S, K, -1)).reshape(S * K, -1)
            self._cache[key] = w
        return self._cache[key]

    def __call__(
        self, obs: PilotObservation, no: float | torch.Tensor | None = None
    ) -> torch.Tensor:
        no_t = _no_tensor(obs, no)
        out = torch.empty(
            (obs.y.shape[0], self.shape[0] * self.shape[1]), dtype=obs.y.dtype, device=obs.y.device
        )
        for value in torch.unique(no_t.detach().cpu()).tolist():
            rows = (no_t == value).nonzero(as_tuple=True)[0]
            w = torch.as_tensor(self.matrix(value), dtype=obs.y.dtype, device=obs.y.device)
            out[rows] = obs.h_ls[rows] @ w.T
        return out.reshape(obs.y.shape)


def assumed_pdp(profile: str, max_delay: int, rms_delay: float = 2.0):
    """The profile a mismatched LMMSE assumes: ``flat`` or ``exponential``."""
    if profile == "flat":
        return flat_pdp(max_delay)
    if profile == "exponential":
        return exponential_pdp(rms_delay, max_delay)
    raise ConfigError(
        "channel.lmmse_assumed.profile", f"unknown {profile!r}; use flat or exponential"
    )


def default_assumed_max_delay(ofdm: OfdmChannel) -> int:
    """The CP length, capped to the delays a comb can resolve (K / step - 1 samples).

    A flat prior as long as K / step taps aliases on the comb (tap 0 and tap K/step look the
    same at every pilot), which wrecks the interpolation; the cap keeps the robust design valid.
    """
    max_delay = ofdm.cfg.cp_length
    pilots = ofdm.cfg.pilots
    if pilots.pattern == "comb":
        resolvable = ofdm.num_subcarriers // pilots.subcarrier_step - 1
        if resolvable < max_delay:
            log.info(
                "lmmse_mismatched: assumed max delay capped from %d to %d samples (comb step %d)",
                max_delay,
                resolvable,
                pilots.subcarrier_step,
            )
            max_delay = resolvable
    return max_delay


def make_estimator(name: str, ofdm: OfdmChannel, **options: Any) -> Estimator:
    """Build an estimator by name (see module docstring).

    Options: ``interpolation`` for ``ls``; ``profile`` / ``max_delay`` / ``rms_delay`` for
    ``lmmse_mismatched`` (defaults from ``channel.lmmse_assumed``, else flat over the CP).
    """
    S, K = ofdm.num_ofdm_symbols, ofdm.num_subcarriers
    if name == "ls":
        return LSEstimator(ofdm, **options)
    if name == "lmmse_genie":
        return LinearGridEstimator(ofdm, ofdm.covariance(), name)
    if name == "lmmse_freq":
        cov = np.kron(np.eye(S), freq_covariance(ofdm.pdp, K))
        return LinearGridEstimator(ofdm, cov, name, post=time_interp_matrix(ofdm.mask))
    if name == "lmmse_mismatched":
        # call options override the channel config's; the schema fills in the rest
        merged = {**ofdm.cfg.lmmse_assumed, **options}
        assumed = checked(LmmseAssumedConfig, merged, "channel.lmmse_assumed")
        max_delay = assumed.max_delay
        max_delay = default_assumed_max_delay(ofdm) if max_delay is None else int(max_delay)
        profile, rms = str(assumed.profile), float(assumed.rms_delay)
        pdp = assumed_pdp(profile, max_delay, rms)
        label = (
            f"flat 0-{max_delay}"
            if profile == "flat"
            else f"exponential rms {rms:g}, 0-{max_delay}"
        )
        return LinearGridEstimator(ofdm, grid_covariance(pdp, S, K), name, assumed=label)
    raise ConfigError("estimator", f"unknown estimator {name!r}; use one of {ESTIMATORS}")


def estimator_label(estimator: str, assumed: str | None) -> str:
    """Display / summary label: ``lmmse_mismatched`` gets its assumed profile's first word."""
    if estimator == "lmmse_mismatched" and assumed:
        return f"{estimator}_{str(assumed).split()[0]}"
    return estimator
