"""Dump every experiment's composed, resolved config (``debug`` none and default) as JSON.

Why: a config refactor (a typed schema, moved defaults, new group options) must compose to the
same values, types included (``5`` and ``5.0`` hash to different cache keys). Run it on two
checkouts and diff the files: ``python scripts/dump_configs.py > before.json``.

Usage: python scripts/dump_configs.py [--tree DIR]   (default: this checkout)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
    tree = parser.parse_args().tree.resolve()
    sys.path.insert(0, str(tree))
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    import semcom_exp  # noqa: F401  (registers the resolvers and any schema)

    conf = tree / "semcom_exp" / "conf"
    if not conf.is_dir():  # a tree from before the config moved into the package
        conf = tree / "conf"
    names = sorted(
        str(p.relative_to(conf / "experiment").with_suffix(""))
        for p in (conf / "experiment").rglob("*.yaml")
    )
    out = {}
    for name in names:
        for debug in ("none", "default"):
            with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
                cfg = compose(
                    "config",
                    overrides=[f"experiment={name}", f"debug={debug}"],
                    return_hydra_config=True,
                )
            HydraConfig.instance().set_config(cfg)
            del cfg.hydra
            out[f"{name} debug={debug}"] = OmegaConf.to_container(cfg, resolve=True)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
