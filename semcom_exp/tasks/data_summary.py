"""`task=data_summary data=NAME [data.root=PATH]`: how many samples a reader yields, and examples.

Why: a check of a data set before a long run. The readers open every file at load time
(``data.verify=header``, the default; ``full`` decodes them), so an unreadable one stops the
summary naming it, or with ``data.on_error=skip`` is counted here (``num_skipped``, ``skipped``).
"""

from __future__ import annotations

from omegaconf import DictConfig

from semcom_exp.data import open_dataset
from semcom_exp.errors import ConfigError
from semcom_exp.runner import RunContext, RunOutput

MAX_LISTED = 20  # skipped items named in results.json (all are counted)


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
    if hasattr(dataset, "num_skipped"):  # readers with data.on_error (ReportsSkips)
        summary["num_skipped"] = int(dataset.num_skipped)
        summary["skipped"] = list(dataset.skipped)[:MAX_LISTED]
    return RunOutput(rows=rows, summary=summary)
