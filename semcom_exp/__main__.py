"""`python -m semcom_exp [experiment=NAME] [key=value ...]`: the Hydra entry point."""

import os
import sys
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


def composition_error(exc: BaseException) -> str | None:
    """One line for an error Hydra raised while composing (a misspelled key, a value of the
    wrong type, an unknown group option, a bad override), naming the key; None for others."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(exc, HydraException | OmegaConfBaseException):
        return None
    cause = exc.__cause__ if isinstance(exc.__cause__, OmegaConfBaseException) else exc
    text = str(exc).split("Config search path")[0]  # Hydra appends its search path
    line = " ".join(text.split())
    key = getattr(cause, "full_key", None)
    if not key:
        return line
    reason = " ".join(str(getattr(cause, "msg", None) or cause).split("\n")[0].split())
    context = " ".join(text.split("\n")[0].split())
    return f"config key '{key}': {reason}" + (f" ({context})" if cause is not exc else "")


def cli() -> None:
    """``main``, with Hydra's composition errors reported like every config error: one line on
    stderr and exit status 2 (HYDRA_FULL_ERROR=1 keeps Hydra's full report)."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing and exiting 1
    try:
        main()
    except Exception as exc:
        line = composition_error(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    cli()
