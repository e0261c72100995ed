"""``task=preflight experiment=X``: X's models at their configured sizes, a few real training
steps and one truncated evaluation, and the projected wall time of the full experiment.

The experiment module (the one holding X's ``run``) provides ``preflight(cfg, pf)``; what it
measures and how is in :mod:`semcom_exp.preflight`. Nothing is written to the artifact cache
(a throw-away one under the run dir, removed afterwards). The table goes to the log, to
``preflight.md`` in the run dir and, row by row, to results.csv.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from semcom_exp.cache import ArtifactCache
from semcom_exp.errors import ConfigError
from semcom_exp.preflight import Preflight
from semcom_exp.results import atomic_write_text
from semcom_exp.runner import RunContext, RunOutput

log = logging.getLogger(__name__)

CONTEXT_GB = 1.0  # CUDA context and allocator slack beside the estimate

COLUMNS = (
    ("part", "part", "{}"),
    ("kind", "kind", "{}"),
    ("params_m", "params (M)", "{:.2f}"),
    ("batch", "batch", "{}"),
    ("seconds_per_unit", "s / unit here", "{:.4g}"),
    ("units_measured", "units run", "{:g}"),
    ("units_configured", "units configured", "{:g}"),
    ("hours_here", "h here", "{:.3g}"),
    ("hours_faster", "h at speedup", "{:.3g}"),
    ("activations_gb", "activations (GB)", "{:.3g}"),
    ("gpu_mem_est_gb", "GPU mem est. (GB)", "{:.3g}"),
    ("gpu_peak_gb", "GPU peak (GB)", "{:.3g}"),
    ("note", "note", "{}"),
)


def _device_config(cfg: DictConfig) -> tuple[DictConfig, str]:
    """The config the preflight runs with: one device; on a machine without CUDA the CPU at
    32-bit (the configured precision is named in the device line)."""
    run_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    trainer = run_cfg.trainer
    trainer.devices = 1
    trainer.num_nodes = 1
    trainer.pop("strategy", None)
    accel = str(trainer.get("accelerator", "auto"))
    if accel in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return run_cfg, f"cuda ({torch.cuda.get_device_name(0)}), precision {trainer.precision}"
    trainer.accelerator = "cpu"
    configured = str(cfg.trainer.get("precision", "32-true"))
    trainer.precision = "32-true"
    threads = torch.get_num_threads()
    return run_cfg, f"cpu ({threads} threads), 32-true (configured: {configured})"


def _with_projection(rows: list[dict[str, Any]], speedup: float | None) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        row = dict(row)
        if row.get("kind") in ("train", "eval", "data"):
            row["hours_here"] = row["seconds_per_unit"] * row["units_configured"] / 3600
            if speedup:
                row["hours_faster"] = row["hours_here"] / speedup
        out.append(row)
    return out


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return fmt.format(value)


def format_table(rows: list[dict[str, Any]], speedup: float | None) -> str:
    """The preflight table as markdown (columns without any value are left out)."""
    cols = [c for c in COLUMNS if any(_cell(r, c[0], c[2]) for r in rows)]
    head = [c[1] if c[0] != "hours_faster" else f"h at {speedup:g}x" for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r, k, f) for k, _, f in cols) + " |" for r in rows]
    return "\n".join(lines)


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    """Run the experiment's preflight; return the table's rows and the projected totals."""
    name = str(cfg.get("experiment_name") or "")
    experiment = name.removeprefix("preflight/")
    pipeline = cfg.get("pipeline")
    if not pipeline:
        raise ConfigError("experiment", "task=preflight needs an experiment with a pipeline")
    target = str(pipeline).rsplit(".", 1)[0] + ".preflight"
    try:
        measure = get_method(target)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(
            "task", f"experiment {experiment!r} has no preflight ({target} is missing)"
        ) from None
    pcfg = cfg.preflight
    run_cfg, device = _device_config(cfg)
    scratch = Path(tempfile.mkdtemp(prefix="preflight-cache-", dir=ctx.run_dir))
    pf = Preflight(
        cfg=run_cfg,
        ctx=RunContext(ctx.run_dir, ArtifactCache(scratch)),
        steps=int(pcfg.steps),
        eval_steps=int(pcfg.eval_steps),
    )
    try:
        with ctx.timed("preflight"):
            measure(run_cfg, pf)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    speedup = None if pcfg.speedup is None else float(pcfg.speedup)
    rows = _with_projection(pf.rows, speedup)
    limit = float(pcfg.gpu_memory_gb)
    for row in rows:
        if row.get("gpu_mem_est_gb") is not None and row["gpu_mem_est_gb"] + CONTEXT_GB > limit:
            row["note"] = (
                f"OUT-OF-MEMORY RISK: estimate + {CONTEXT_GB:g} GB context > "
                f"preflight.gpu_memory_gb={limit:g}; lower the batch or use more GPUs. "
                + str(row.get("note") or "")
            )
            log.warning("preflight: %s: %s", row["part"], row["note"])
    total = sum(r.get("hours_here", 0.0) for r in rows)
    table = format_table(rows, speedup)
    footer = f"projected wall time of {experiment} on this device ({device}): {total:.3g} h"
    if speedup:
        footer += f"; at {speedup:g}x: {total / speedup:.3g} h"
    text = f"# Preflight: {experiment}\n\n{table}\n\n{footer}\n"
    atomic_write_text(ctx.run_dir / "preflight.md", text)
    log.info("preflight of %s\n%s\n%s", experiment, table, footer)
    print(text)
    summary: dict[str, Any] = {
        "experiment": f"preflight/{experiment}",
        "device": device,
        "projected_hours_here": total,
        "training_steps_run": pf.steps,
    }
    if speedup:
        summary["speedup"] = speedup
        summary["projected_hours_at_speedup"] = total / speedup
    peak = [r["gpu_mem_est_gb"] for r in rows if r.get("gpu_mem_est_gb") is not None]
    if peak:
        summary["gpu_mem_est_gb_max"] = max(peak)
        summary["gpu_memory_risk"] = max(peak) + CONTEXT_GB > float(pcfg.gpu_memory_gb)
    return RunOutput(rows=[{"experiment": experiment, **r} for r in rows], summary=summary)
