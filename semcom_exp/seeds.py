"""One way to derive a seed for each random stream of a run from the run's ``seed``.

Why: a run draws from several streams (initial weights, training channels, validation
channels, evaluation noise per grid point, ...). Each gets ``derive_seed(seed, "stage/stream",
*index)``: streams with different names or indices get unrelated seeds (numpy's SeedSequence
hashes them), a stream's seed does not depend on which other streams a run uses or in which
order it draws them, and nobody invents offsets per file.
"""

from __future__ import annotations

import zlib

import numpy as np


def _word(part: object) -> int:
    """A 32-bit word for a stream name or index; 5 and 5.0 are the same index."""
    text = part if isinstance(part, str) else f"{float(part):.12g}"  # type: ignore[arg-type]
    return zlib.crc32(text.encode("utf-8"))


def derive_seed(seed: int, stream: str, *index: object) -> int:
    """The seed of stream ``stream`` (e.g. ``"cge/validation"``) at ``index`` (e.g. a channel
    kind and an SNR) for a run with ``seed``: a non-negative 63-bit integer, valid for torch
    generators and numpy alike."""
    words = [int(seed), _word(stream), *(_word(i) for i in index)]
    return int(np.random.SeedSequence(words).generate_state(1, np.uint64)[0] >> np.uint64(1))
