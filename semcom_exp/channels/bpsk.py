"""BPSK bit-error rate over the flat channels, with Sionna's source, mapper and demapper."""

from __future__ import annotations

import torch
from sionna.phy.mapping import BinarySource, Demapper, Mapper

from semcom_exp.channels.awgn import AwgnChannel
from semcom_exp.channels.rayleigh import RayleighChannel
from semcom_exp.channels.snr import snr_db_to_no


def simulate_bpsk_ber(
    channel: AwgnChannel | RayleighChannel,
    snr_db: float,
    num_bits: int,
    batch_size: int = 1_000_000,
) -> tuple[int, int]:
    """(bit errors, bits) of BPSK (PAM-2, +-1) at Es/N0 = ``snr_db`` with perfect CSI.

    The receiver equalises ``y / h`` (noise ``no / |h|^2``) and hard-decides with Sionna's
    Demapper, i.e. coherent detection; on Rayleigh each symbol may have its own fade
    (``block_length``). Bits are drawn in chunks of ``batch_size`` to bound memory.
    """
    source, mapper = BinarySource(), Mapper("pam", 1)
    demapper = Demapper("app", "pam", 1, hard_out=True)
    no = snr_db_to_no(snr_db)
    errors = done = 0
    while done < num_bits:
        n = min(batch_size, num_bits - done)
        bits = source([1, n])
        x = mapper(bits)
        y, h = channel(x, no)
        no_eff = torch.as_tensor(no, dtype=y.real.dtype) / h.abs().square()
        bits_hat = demapper(y / h, no_eff)
        errors += int((bits_hat != bits).sum())
        done += n
    return errors, done
