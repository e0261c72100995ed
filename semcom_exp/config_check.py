"""Up-front validation of a composed config, by key-name convention.

One rule set covers every experiment: a key's name says what it must hold (``*snr_db`` a
number or a non-empty list of numbers, ``*batch_size`` a positive integer, ``*steps`` a
non-negative integer, ...). It runs before any work, so a bad override fails fast, names the
key and writes nothing to the cache. Pipeline-specific constraints raise ConfigError too.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from semcom_exp.errors import ConfigError


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _number_or_list(key: str, v: Any) -> None:
    if _is_number(v):
        return
    if isinstance(v, list):
        if not v:
            raise ConfigError(key, "the list is empty; give at least one value, e.g. [0, 10]")
        bad = [x for x in v if not _is_number(x)]
        if not bad:
            return
        raise ConfigError(key, f"expected numbers, got {bad!r}")
    raise ConfigError(key, f"expected a number or a list of numbers (dB), got {v!r}")


def _positive_int(key: str, v: Any) -> None:
    if not _is_int(v) or v <= 0:
        raise ConfigError(key, f"expected a positive integer, got {v!r}")


def _non_negative_int_or_list(key: str, v: Any) -> None:
    values = v if isinstance(v, list) else [v]
    if isinstance(v, list) and not v:
        raise ConfigError(key, "the list is empty")
    for x in values:
        if not _is_int(x) or x < 0:
            raise ConfigError(
                key, f"expected a non-negative integer (or a list of them), got {v!r}"
            )


def _non_negative_number(key: str, v: Any) -> None:
    if not _is_number(v) or v < 0:
        raise ConfigError(key, f"expected a non-negative number, got {v!r}")


# (predicate on the last key component, check). First match wins.
RULES: list[tuple[Callable[[str], bool], Callable[[str, Any], None]]] = [
    (lambda k: k == "snr_db" or k.endswith("_snr_db") or k.startswith("snr_db"), _number_or_list),
    (lambda k: k.endswith("batch_size") or k in {"num_receivers", "image_size"}, _positive_int),
    (
        lambda k: k.endswith("_steps") or k == "steps" or k.startswith("num_"),
        _non_negative_int_or_list,
    ),
    (lambda k: k in {"lr", "learning_rate"} or k.endswith("_lr"), _non_negative_number),
    (
        lambda k: k == "seed",
        lambda key, v: (
            None  # numpy's generators take no negative seed
            if _is_int(v) and v >= 0
            else _raise(key, f"expected a non-negative integer, got {v!r}")
        ),
    ),
]


def _raise(key: str, msg: str) -> None:
    raise ConfigError(key, msg)


def _walk(node: Any, prefix: str):
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            yield key, str(k), v
            if isinstance(v, dict):
                yield from _walk(v, key)


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value that breaks a naming rule."""
    skip = {"hydra"}
    try:
        container = OmegaConf.to_container(
            OmegaConf.masked_copy(cfg, [k for k in cfg if k not in skip]), resolve=True
        )
    except Exception as exc:  # interpolation errors name the key themselves
        raise ConfigError(getattr(exc, "full_key", "?") or "?", str(exc).splitlines()[0]) from None
    for full_key, name, value in _walk(container, ""):
        if value is None or isinstance(value, dict):
            continue
        if name.startswith("_"):
            continue
        for matches, check in RULES:
            if matches(name):
                check(full_key, value)
                break
