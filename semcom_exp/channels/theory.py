"""Closed-form references the simulations are checked against (SNR = Es/N0, see snr.py)."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erfc


def q_function(x: float | np.ndarray) -> float | np.ndarray:
    """Gaussian tail probability Q(x) = P(N(0,1) > x)."""
    return 0.5 * erfc(np.asarray(x, dtype=np.float64) / math.sqrt(2.0))


def ber_bpsk_awgn(snr_db: float | np.ndarray) -> float | np.ndarray:
    """BPSK over AWGN: Q(sqrt(2 Eb/N0)), with Eb/N0 = Es/N0 for one bit per symbol."""
    g = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)
    return q_function(np.sqrt(2.0 * g))


def ber_bpsk_rayleigh(snr_db: float | np.ndarray) -> float | np.ndarray:
    """BPSK over flat Rayleigh with coherent detection: 0.5 (1 - sqrt(g / (1 + g))), g = mean SNR."""
    g = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)
    return 0.5 * (1.0 - np.sqrt(g / (1.0 + g)))


def nmse_ls_pilots_db(snr_db: float | np.ndarray) -> float | np.ndarray:
    """LS at unit pilots: error variance no, channel power 1 -> NMSE = 1/SNR = -snr_db dB."""
    return -np.asarray(snr_db, dtype=np.float64)


def linear_estimator_nmse(
    w: np.ndarray, cov: np.ndarray, pilot_index: np.ndarray, no: float
) -> float:
    """NMSE of H_hat = W (H_p + n) for any (N, P) W: tr(E[(H_hat-H)(H_hat-H)^H]) / tr(R)."""
    r_pp = cov[np.ix_(pilot_index, pilot_index)] + no * np.eye(len(pilot_index))
    r_hp = cov[:, pilot_index]
    err = (
        np.trace(cov)
        - 2.0 * np.real(np.trace(w @ r_hp.conj().T))
        + np.real(np.trace(w @ r_pp @ w.conj().T))
    )
    return float(np.real(err) / np.real(np.trace(cov)))


def lmmse_nmse(cov: np.ndarray, pilot_index: np.ndarray, no: float) -> float:
    """LMMSE with true statistics: tr(R - R_hp (R_pp + no I)^-1 R_ph) / tr(R)."""
    r_pp = cov[np.ix_(pilot_index, pilot_index)] + no * np.eye(len(pilot_index))
    r_hp = cov[:, pilot_index]
    gain = np.linalg.solve(r_pp, r_hp.conj().T)  # (P, N)
    err = np.trace(cov) - np.trace(r_hp @ gain)
    return float(np.real(err) / np.real(np.trace(cov)))


def lmmse_nmse_db(cov: np.ndarray, pilot_index: np.ndarray, no: float) -> float:
    """:func:`lmmse_nmse` in dB."""
    return 10.0 * math.log10(lmmse_nmse(cov, pilot_index, no))


def ser_qam_rayleigh(snr_db: float | np.ndarray, bits_per_symbol: int) -> float | np.ndarray:
    """SER of coherent square M-QAM over flat Rayleigh fading with perfect CSI (closed form).

    With q = 1 - 1/sqrt(M), c = 3 / (2 (M - 1)), a = sqrt(c g / (1 + c g)) and g the mean
    Es/N0: P_s = 2 q (1 - a) - q^2 (1 - (4 / pi) a atan(1 / a)) (Simon & Alouini).
    """
    M = 2**bits_per_symbol
    g = 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0)
    q = 1.0 - 1.0 / math.sqrt(M)
    c = 3.0 / (2.0 * (M - 1))
    a = np.sqrt(c * g / (1.0 + c * g))
    return 2 * q * (1 - a) - q**2 * (1 - (4 / np.pi) * a * np.arctan(1 / a))
