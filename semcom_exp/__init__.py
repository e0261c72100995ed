"""semcom_exp: a Hydra + Lightning runner that reproduces LAM-MSC and M2GSC experiments."""

from omegaconf import OmegaConf

__version__ = "0.1.0"


# `${semcom_run_name:${task},${hydra:runtime.choices.experiment}}` (conf/config.yaml): a run is
# named after its experiment (the path Hydra chose under conf/experiment), a preflight after the
# experiment it checks, an evaluation after the one it evaluates, the other tasks after themselves.
def _run_name(task: str, experiment: str) -> str:
    named = {"run": experiment, "preflight": f"preflight/{experiment}", "eval": f"eval/{experiment}"}  # fmt: skip
    return named.get(task, task)


OmegaConf.register_new_resolver("semcom_run_name", _run_name, replace=True)

# The typed config schema, in Hydra's ConfigStore before anything composes (conf/ extends it).
from semcom_exp.schema import register as _register_schema  # noqa: E402

_register_schema()
