"""`python -m semcom_exp [experiment=NAME] [key=value ...]`: the Hydra entry point."""

import os
from pathlib import Path

# Before torch loads: OpenMP threads that spin-wait make steps 5-10x slower whenever another
# process shares the cores (measured on the 2-core dev/CI machines). Users may override it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    from semcom_exp.runner import run_or_exit

    return run_or_exit(cfg)


if __name__ == "__main__":
    main()
