"""Config nodes as plain Python: the one conversion every module uses to read a config value
(OmegaConf nodes resolved, mappings copied, None kept), so all of them behave alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import OmegaConf

from semcom_exp.errors import ConfigError


def to_plain(node: Any) -> Any:
    """An OmegaConf node as resolved python containers; a mapping as a dict copy; else as is."""
    if OmegaConf.is_config(node):
        return OmegaConf.to_container(node, resolve=True)
    if isinstance(node, Mapping):
        return dict(node)
    return node


def as_dict(node: Any) -> dict[str, Any]:
    """A config mapping as a plain dict; None is an empty one."""
    return {} if node is None else dict(to_plain(node))


def as_list(value: Any) -> list:
    """A scalar or a list from the config as a python list; None is an empty list."""
    value = to_plain(value)
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def members(key: str, value: Any, allowed: Any, what: str) -> list:
    """The config list ``value`` (at ``key``) as a non-empty list whose entries are all in
    ``allowed``; otherwise a ConfigError naming the key, the bad entry and the choices."""
    values, choices = as_list(value), list(allowed)
    if not values:
        raise ConfigError(key, f"the list is empty; give at least one {what} of {choices}")
    for v in values:
        if v not in choices:
            raise ConfigError(key, f"unknown {what} {v!r}; use one of {choices}")
    return values
