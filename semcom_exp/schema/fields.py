"""Settings with their constraints: ``setting(default, check)`` and the checks themselves.

Why: a setting's type and default are its dataclass field; what values it allows is its
``check``, kept beside it in the same line, so the schema is the one place that says all three.
``semcom_exp.schema.validate`` runs every check on the composed config before any work.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any

from semcom_exp.errors import ConfigError

Check = Callable[[str, Any], None]


def setting(default: Any = None, check: Check | None = None) -> Any:
    """A dataclass field with ``default`` (lists and dicts copied per instance) and ``check``."""
    metadata = {"check": check} if check is not None else {}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: _copy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def slot() -> Any:
    """A node another config places (a group option, an experiment's own node): absent from
    the composed config until placed, so an override under an unused one is refused by name."""
    return dataclasses.field(default=None, metadata={"slot": True})


def node(cls: type) -> Any:
    """A nested config node field whose defaults are ``cls``'s."""
    return dataclasses.field(default_factory=cls)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_finite(v: Any) -> bool:
    """A real number, not nan and not +-inf (no setting means anything by those)."""
    return is_number(v) and math.isfinite(v)


def optional(check: Check) -> Check:
    """``check``, or None allowed."""

    def run(key: str, v: Any) -> None:
        if v is not None:
            check(key, v)

    return run


def int_at_least(minimum: int) -> Check:
    def run(key: str, v: Any) -> None:
        if not is_int(v) or v < minimum:
            raise ConfigError(key, f"expected an integer >= {minimum}, got {v!r}")

    return run


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)

#: the largest seed numpy (``np.random.seed``) accepts; torch takes up to 2**64 - 1
MAX_SEED = 2**32 - 1


def seed_value(key: str, v: Any) -> None:
    """A seed every library seeds from: an integer in 0..2**32-1."""
    if not is_int(v) or not 0 <= v <= MAX_SEED:
        raise ConfigError(key, f"expected a seed, an integer in 0..{MAX_SEED} (2**32-1), got {v!r}")


def number_in(low: float | None = None, high: float | None = None, *, open_low: bool = False,
              open_high: bool = False) -> Check:  # fmt: skip
    """A finite number in [low, high] (``open_*``: excluding that end); None = unbounded. nan
    and +-inf are refused whatever the bounds (a learning rate of inf is no setting)."""
    lo = "(" if open_low or low is None else "["
    hi = ")" if open_high or high is None else "]"
    span = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"

    def run(key: str, v: Any) -> None:
        ok = is_finite(v)
        if ok and low is not None:
            ok = v > low if open_low else v >= low
        if ok and high is not None:
            ok = v < high if open_high else v <= high
        if not ok:
            raise ConfigError(key, f"expected a number in {span}, got {v!r}")

    return run


non_negative = number_in(0)
#: learning rates, temperatures, scales: > 0 and finite
positive_finite = number_in(0, open_low=True)


def one_of(*choices: Any) -> Check:
    def run(key: str, v: Any) -> None:
        if v not in choices:
            raise ConfigError(key, f"got {v!r}; use one of {list(choices)}")

    return run


def list_of(
    check: Check, *, min_len: int = 1, distinct: bool = False, example: str | None = None
) -> Check:
    """A list (at least ``min_len`` long, no repeats if ``distinct``) whose every entry passes
    ``check``; a scalar is read as a one-entry list (sweep lists take a single value too). An
    empty sweep list is refused: it would silently drop every row it should have made."""

    def run(key: str, v: Any) -> None:
        values = [] if v is None else v if isinstance(v, list | tuple) else [v]
        if len(values) < min_len:
            hint = f", e.g. {example}" if example else ""
            raise ConfigError(key, f"the list is empty; give at least one value{hint}")
        for x in values:
            try:
                check(key, x)
            except ConfigError as exc:
                raise ConfigError(key, f"{exc.message} (in {list(values)!r})") from None
        if distinct and len(set(values)) != len(values):
            raise ConfigError(key, f"names repeat: {list(values)!r}")

    return run


def _db(key: str, v: Any) -> None:
    if not is_finite(v):
        raise ConfigError(key, f"expected a finite number (dB), got {v!r}")


#: SNR points in dB: a finite number or a non-empty list of them.
snr_db = list_of(_db, example="[0, 10]")
#: steps or counts swept as a list: non-negative integers.
non_negative_ints = list_of(non_negative_int)
#: seeds swept as a list
seed_values = list_of(seed_value)


def snr_range(key: str, v: Any) -> None:
    """[low, high] dB with low <= high, or one number (a fixed training SNR)."""
    pair = [v, v] if is_number(v) else v
    if not isinstance(pair, list | tuple) or len(pair) != 2 or not all(map(is_finite, pair)):
        raise ConfigError(key, f"expected [low, high] in dB, finite (or one number), got {v!r}")
    if pair[0] > pair[1]:
        raise ConfigError(key, f"expected [low, high] in dB with low <= high, got {list(v)!r}")


def integer(key: str, v: Any) -> None:
    if not is_int(v):
        raise ConfigError(key, f"expected an integer, got {v!r}")


def betas(key: str, v: Any) -> None:
    """Adam's (beta1, beta2)."""
    if (
        not isinstance(v, list | tuple)
        or len(v) != 2
        or not all(is_number(b) and 0 <= b < 1 for b in v)
    ):
        raise ConfigError(key, f"expected two numbers in [0, 1), got {v!r}")


def require_multiple(key: str, v: int, factor: int, why: str) -> None:
    """For a node's ``check``: ConfigError naming ``key`` unless ``v`` is a multiple of
    ``factor`` (``why`` says where the factor comes from)."""
    if v % factor:
        lower, upper = v // factor * factor, (v // factor + 1) * factor
        near = f"{lower} or {upper}" if lower else f"{upper}"
        raise ConfigError(key, f"got {v}, not a multiple of {factor} ({why}); use e.g. {near}")
