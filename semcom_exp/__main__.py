"""`python -m semcom_exp [experiment=NAME] [key=value ...]`: the Hydra entry point."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    from semcom_exp.runner import run_or_exit

    return run_or_exit(cfg)


if __name__ == "__main__":
    main()
