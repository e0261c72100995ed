"""The channel layer: AWGN, flat Rayleigh block fading and a multipath OFDM grid (Sionna PHY).

SNR convention (the one place it is defined): SNR = Es/N0 of unit-power complex symbols.
A channel symbol has average energy 1 and complex AWGN of variance ``no = 10**(-snr_db/10)``
(``no/2`` per real dimension) is added. Real tensors are paired into complex symbols and
normalised to unit average symbol power per sample (leading batch index) before the channel;
fading channels have unit average power gain (E|h|^2 = 1), so their mean received SNR is the
same Es/N0. Noise and fading are drawn from Sionna's generators: call :func:`set_seed`.
"""

from semcom_exp.channels import theory  # closed forms, re-exported as a module
from semcom_exp.channels.awgn import AwgnChannel, add_awgn
from semcom_exp.channels.estimators import (
    ESTIMATORS,
    LinearGridEstimator,
    LSEstimator,
    lmmse_matrix,
    make_estimator,
)
from semcom_exp.channels.factory import build_channel, validate_channel_config
from semcom_exp.channels.nmse import nmse, nmse_db
from semcom_exp.channels.ofdm import OfdmChannel, OfdmConfig, PilotObservation
from semcom_exp.channels.packing import (
    analog_awgn,
    complex_to_real,
    denormalize_power,
    normalize_power,
    real_to_complex,
)
from semcom_exp.channels.pdp import (
    PowerDelayProfile,
    TappedDelayLineModel,
    authors_pdp,
    exponential_pdp,
    flat_pdp,
    freq_covariance,
    grid_covariance,
)
from semcom_exp.channels.pilots import PilotSpec, pilot_mask
from semcom_exp.channels.rayleigh import RayleighChannel, draw_rayleigh
from semcom_exp.channels.seeding import set_seed
from semcom_exp.channels.snr import no_to_snr_db, snr_db_to_no, snr_list, snr_range

__all__ = [
    "ESTIMATORS",
    "AwgnChannel",
    "LSEstimator",
    "LinearGridEstimator",
    "OfdmChannel",
    "OfdmConfig",
    "PilotObservation",
    "PilotSpec",
    "PowerDelayProfile",
    "RayleighChannel",
    "TappedDelayLineModel",
    "add_awgn",
    "analog_awgn",
    "authors_pdp",
    "build_channel",
    "complex_to_real",
    "denormalize_power",
    "draw_rayleigh",
    "exponential_pdp",
    "flat_pdp",
    "freq_covariance",
    "grid_covariance",
    "lmmse_matrix",
    "make_estimator",
    "nmse",
    "nmse_db",
    "no_to_snr_db",
    "normalize_power",
    "pilot_mask",
    "real_to_complex",
    "set_seed",
    "snr_db_to_no",
    "snr_list",
    "snr_range",
    "theory",
    "validate_channel_config",
]
