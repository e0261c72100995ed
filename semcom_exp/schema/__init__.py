"""The typed config schema: every node's keys, types, defaults and allowed values, in one place.

Why: a setting is declared once, as a dataclass field (``setting(default, check)``); the YAML
files under conf/ only choose group options and override. ``register()`` puts the dataclasses in
Hydra's ConfigStore (group ``schema/...``), which the YAML files extend, so a misspelled key in
a file is refused when Hydra composes, and ``.hydra/config.yaml`` and ``--cfg job`` show every
default. ``validate_config`` then runs each field's check on the composed values and refuses
keys added with ``+``.
"""

from __future__ import annotations

import dataclasses

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from semcom_exp.schema import channel, data, experiments, mma, model
from semcom_exp.schema.validate import checked, validate_config

#: group -> {option: dataclass}; conf/GROUP/OPTION.yaml extends ``/schema/GROUP@_here_: OPTION``
OPTIONS: dict[str, dict[str, type]] = {
    "channel": {
        "awgn": channel.AwgnConfig,
        "rayleigh": channel.RayleighConfig,
        "ofdm": channel.OfdmConfig,
    },
    "data": {
        "ua_detrac": data.UaDetracConfig,
        "voc2012": data.Voc2012Config,
        "librispeech": data.LibriSpeechConfig,
        "ucf101": data.Ucf101Config,
        "text_corpus": data.TextCorpusConfig,
    },
    "model": {
        "ddpm_decoder": model.DdpmDecoderConfig,
        "cge": model.CgeConfig,
        "sc": model.ScModelConfig,
        "lkb": model.LkbModelConfig,
    },
    "mma": {"default": mma.MmaConfig},
    # each experiment's own node: conf/experiment/X.yaml places ``/schema/experiment@NODE: NAME``
    "experiment": {
        "m2gsc": experiments.M2gscConfig,
        "sanity": experiments.SanityConfig,
        "cge_eval": experiments.CgeEvalConfig,
        "sc": experiments.ScLinkConfig,
        "lkb": experiments.LkbEvalConfig,
        "end2end": experiments.End2endConfig,
        "bits": experiments.BitsConfig,
    },
}


def option(group: str, name: str) -> DictConfig:
    """A group option's node with its defaults (typed), e.g. ``option("model", "cge")``: what
    conf/GROUP/NAME.yaml composes to, for code and tests that build a node outside a run."""
    try:
        return OmegaConf.structured(OPTIONS[group][name])
    except KeyError:
        known = {g: sorted(o) for g, o in OPTIONS.items()}
        raise KeyError(f"no schema option {group}/{name}; known: {known}") from None


def root_defaults() -> DictConfig:
    """The root's settings without its slots (an untyped root, so experiments can place their
    nodes; ``validate_config`` checks its keys against RootConfig)."""
    plain = OmegaConf.to_container(OmegaConf.structured(experiments.RootConfig), resolve=False)
    out = {}
    for f in dataclasses.fields(experiments.RootConfig):
        if f.metadata.get("slot"):
            continue
        typed = (
            dataclasses.is_dataclass(f.default_factory) if callable(f.default_factory) else False
        )
        out[f.name] = OmegaConf.structured(f.default_factory) if typed else plain[f.name]
    return OmegaConf.create(out)


def register() -> None:
    """Store the schema in Hydra's ConfigStore (before Hydra composes; idempotent)."""
    store = ConfigStore.instance()
    store.store(name="semcom_schema", node=root_defaults())
    for group, options in OPTIONS.items():
        for name, cls in options.items():
            store.store(group=f"schema/{group}", name=name, node=cls)


__all__ = ["OPTIONS", "checked", "option", "register", "validate_config"]
