"""``task=figures run_dir=DIR``: redraw a run's figures from its files alone (no training, no
evaluation): the figure functions its config names (``figures`` in ``DIR/.hydra/config.yaml``),
each called as ``fn(DIR, cfg)``, into ``DIR/figures/``.

DIR may also be a multirun dir merged by ``task=collect``: its figures are drawn from
``collected.csv`` (every job's rows, the overrides as columns) read as the run's results.csv,
with the first job's config, into ``DIR/figures/``. A figure that needs a file a collected dir
does not hold (a job's losses.csv, examples) is skipped and named in the log and results.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from semcom_exp.errors import ConfigError
from semcom_exp.results import save_figure
from semcom_exp.runner import RunContext, RunOutput

log = logging.getLogger(__name__)


def _saved_config(run_dir: Path) -> DictConfig:
    """The config the run (or, for a sweep, its first job) ran with."""
    files = [run_dir / ".hydra" / "config.yaml"]
    files += sorted(run_dir.glob("*/.hydra/config.yaml"), key=lambda p: p.parent.parent.name)
    for path in files:
        if path.is_file():
            return OmegaConf.load(path)  # type: ignore[return-value]
    raise ConfigError(
        "run_dir", f"{run_dir} holds no .hydra/config.yaml (nor a job's): not a run dir"
    )


def _source(run_dir: Path, stage: Path) -> tuple[Path, str]:
    """The dir the figure functions read: the run dir itself, or for a collected sweep a
    staging dir whose results.csv is the sweep's collected.csv."""
    if (run_dir / "results.csv").is_file():
        return run_dir, "run"
    if (run_dir / "collected.csv").is_file():
        shutil.copy(run_dir / "collected.csv", stage / "results.csv")
        return stage, "collected sweep"
    raise ConfigError(
        "run_dir",
        f"{run_dir} holds neither results.csv (a run dir) nor collected.csv (a sweep dir: run "
        "task=collect sweep_dir=DIR first)",
    )


def redraw(run_dir: Path) -> tuple[list[str], dict[str, str]]:
    """Draw ``run_dir``'s figures again: (figure names written, {function: why skipped})."""
    saved = _saved_config(run_dir)
    targets = list(saved.get("figures") or [])
    drawn: list[str] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="semcom-figures-") as tmp:
        source, kind = _source(run_dir, Path(tmp))
        log.info("redrawing %d figure functions of %s (%s)", len(targets), run_dir, kind)
        for target in targets:
            fn = get_method(str(target))
            try:
                figures: dict[str, Any] = fn(source, saved)
            except FileNotFoundError as exc:  # an input a collected dir does not hold
                skipped[str(target)] = f"missing {Path(str(exc.filename)).name}"
                log.warning("figure %s skipped: %s", target, skipped[str(target)])
                continue
            for name, fig in figures.items():
                save_figure(fig, run_dir, name)
                drawn.append(name)
    return drawn, skipped


def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    if not cfg.get("run_dir"):
        raise ConfigError(
            "run_dir", "task=figures needs run_dir=PATH (a run or collected sweep dir)"
        )
    run_dir = Path(cfg.run_dir).expanduser().resolve()
    if not run_dir.is_dir():
        raise ConfigError("run_dir", f"{run_dir} is not a directory")
    drawn, skipped = redraw(run_dir)
    if not drawn:
        raise ConfigError(
            "run_dir", f"no figure could be drawn from {run_dir}: {skipped or 'none configured'}"
        )
    log.info("figures: %s", run_dir / "figures")
    rows = [{"figure": name, "status": "drawn"} for name in drawn]
    rows += [{"figure": t, "status": f"skipped: {why}"} for t, why in skipped.items()]
    return RunOutput(
        rows, {"run_dir": str(run_dir), "num_figures": len(drawn), "num_skipped": len(skipped)}
    )
