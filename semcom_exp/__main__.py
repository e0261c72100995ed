"""`python -m semcom_exp [experiment=NAME] [key=value ...]`: the Hydra entry point."""

import os
import sys
import traceback
from pathlib import Path
from typing import Any

# Before torch loads: OpenMP threads that spin-wait make steps 5-10x slower whenever another
# process shares the cores (measured on the 2-core dev/CI machines). Users may override it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

CONF_DIR = str(Path(__file__).resolve().parent / "conf")  # shipped inside the package


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    from semcom_exp.runner import run_job

    return run_job(cfg)


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


class _WithoutHydraJobError:
    """``sys.stderr`` without Hydra's "Error executing job with overrides: [...]" line (written
    when it re-raises a failed job's error): ``cli`` reports each failed job in one line."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        if text.startswith("Error executing job with overrides:"):
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def cli() -> None:
    """``main``, with every error reported in one line on stderr and its exit status: 2 for a
    user error (Hydra's composition errors, SemcomError, an unwritable path), 143 for SIGTERM
    (semcom_exp.runner.job_outcome). After a multirun, one line per job that did not complete
    (its status.json), and a non-zero exit if any. A bug keeps its traceback;
    HYDRA_FULL_ERROR=1 prints every error's traceback first (same exit statuses). A ``glob()``
    sweep sees nested options (``semcom_exp.sweep_glob``)."""
    from semcom_exp.sweep_glob import expand_nested_globs

    sys.argv[1:] = expand_nested_globs(sys.argv[1:], CONF_DIR)
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing and exiting 1
    failure: Exception | None = None
    stderr, sys.stderr = sys.stderr, _WithoutHydraJobError(sys.stderr)
    try:
        main()
    except Exception as exc:
        failure = exc
    finally:
        sys.stderr = stderr
        if before is None:  # as it was (cli may run inside another program, e.g. a test)
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before
    full = before == "1"
    if failure is not None and full:  # the full report, then the same line and exit status
        traceback.print_exception(failure)
    line = composition_error(failure) if failure is not None else None
    if line is not None:
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)
    from semcom_exp.runner import job_outcome, sweep_failures

    failed = sweep_failures()
    if failed:
        for job in failed:
            print(f"error: job {job.name}: {job.problem()}", file=sys.stderr)
        codes = {(job.status or {}).get("exit_code", 1) for job in failed}
        sys.exit(codes.pop() if len(codes) == 1 else 1)
    if failure is None:
        return
    _, code, line = job_outcome(failure)
    if code == 1:
        raise failure  # a bug: its traceback matters
    print(f"error: {line}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    cli()
