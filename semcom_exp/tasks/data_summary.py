"""`task=data_summary data=NAME [data.root=PATH]`: how many samples a reader yields, and examples."""

from __future__ import annotations

from omegaconf import DictConfig

from semcom_exp.data import open_dataset
from semcom_exp.errors import ConfigError
from semcom_exp.runner import RunContext, RunOutput


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    if cfg.get("data") is None:
        raise ConfigError(
            "data", "task=data_summary needs a data set: data=ua_detrac (or another name)"
        )
    dataset = open_dataset(cfg.data, ctx.cache)
    n_examples = int(cfg.num_examples)
    examples = [dataset.semantic_text(i) for i in range(min(n_examples, len(dataset)))]
    rows = [{"index": i, "text": t} for i, t in enumerate(examples)]
    extras = getattr(dataset, "summary_extras", None)  # reader facts, e.g. audio_source
    summary = {
        "data": cfg.data.name,
        "root": str(dataset.root),
        "num_samples": len(dataset),
        "examples": examples,
        **(extras() if callable(extras) else {}),
    }
    return RunOutput(rows=rows, summary=summary)
