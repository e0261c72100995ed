"""``validate_config(cfg)``: the composed config against the schema, before any work.

Hydra has already refused misspelled keys in the YAML files and values of the wrong type; this
refuses keys added with ``+`` to a typed node and runs every field's ``check``, so a bad value
fails fast as ConfigError (exit 2, one line naming the key and what is allowed) and nothing is
written to the cache.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf

from semcom_exp.config_utils import to_plain
from semcom_exp.errors import ConfigError


def validate_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first unknown key or value a check refuses."""
    try:  # interpolation errors name the key themselves
        OmegaConf.to_container(
            OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True
        )
    except Exception as exc:
        raise ConfigError(getattr(exc, "full_key", "?") or "?", str(exc).splitlines()[0]) from None
    from semcom_exp.schema.experiments import RootConfig

    _check_node(cfg, "", RootConfig)


def _check_node(node: DictConfig, prefix: str, cls: Any = None) -> None:
    cls = cls or OmegaConf.get_type(node)
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    if fields:
        unknown = sorted(
            str(k) for k in node.keys() if k not in fields and (prefix or k != "hydra")
        )
        if unknown:
            raise ConfigError(f"{prefix}{unknown[0]}", f"unknown key; known keys: {sorted(fields)}")
    for key in node.keys():
        if not prefix and key == "hydra":
            continue
        full_key = f"{prefix}{key}"
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_none():
            _check_node(child, full_key + ".")
            continue
        field = fields.get(str(key))
        check = field.metadata.get("check") if field is not None else None
        if check is not None:
            check(full_key, _value(node, key))


def _value(node: DictConfig, key: Any) -> Any:
    return to_plain(node[key])
