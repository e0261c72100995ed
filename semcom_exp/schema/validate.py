"""One validation path: a config node against its schema dataclass, before any work.

``validate_config(cfg)`` (the runner, on the composed config) and ``checked(cls, node, key)``
(code handed a node directly, e.g. a stage called from a script) run the same checks: unknown
keys (Hydra already refuses misspelled keys in files; this catches ``+key=``), each field's
``check``, then the dataclass's own ``check(node, key, root)`` for rules across fields or nodes.
A failure is a ConfigError naming the key (exit 2, one line), and nothing is written.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

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

    _check_node(cfg, "", cfg, RootConfig)


def checked(cls: type, node: Any, key: str, root: Any = None) -> DictConfig:
    """``node`` (a mapping, a config node or None) as a checked ``cls`` node: its defaults
    filled in, every check run; ConfigError naming ``key.<field>`` otherwise."""
    typed = _typed(cls, node, key)
    _check_node(typed, f"{key}.", root, cls)
    return typed


def _typed(cls: type, node: Any, key: str) -> DictConfig:
    """``node`` merged into ``cls``'s defaults: unknown keys and wrong types are ConfigErrors."""
    try:
        return OmegaConf.merge(OmegaConf.structured(cls), to_plain(node) or {})
    except OmegaConfBaseException as exc:
        where = f"{key}.{exc.full_key}" if getattr(exc, "full_key", None) else key
        raise ConfigError(where, str(getattr(exc, "msg", exc)).splitlines()[0]) from None


def _node_type(parent: Any, key: str) -> type | None:
    """The dataclass a parent's field declares for ``key`` (``X`` or ``X | None``), if any: an
    untyped node there (placed without its schema) is still checked against it."""
    if not dataclasses.is_dataclass(parent):
        return None
    hint = typing.get_type_hints(parent).get(key)
    for t in (hint, *typing.get_args(hint)):
        if isinstance(t, type) and dataclasses.is_dataclass(t):
            return t
    return None


def _check_node(node: DictConfig, prefix: str, root: Any, declared: Any = None) -> None:
    cls = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(cls) and declared is not None and prefix:
        node, cls = _typed(declared, node, prefix.rstrip(".")), declared  # placed untyped
    elif not dataclasses.is_dataclass(cls):
        cls = declared
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
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_none():
            _check_node(child, f"{prefix}{key}.", root, _node_type(cls, str(key)))
            continue
        field = fields.get(str(key))
        check = field.metadata.get("check") if field is not None else None
        if check is not None:
            check(f"{prefix}{key}", to_plain(node[key]))
    node_check = getattr(cls, "check", None)
    if fields and node_check is not None:
        node_check(node, prefix.rstrip("."), root)
