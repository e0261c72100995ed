"""Behaviour regression check for refactors: every experiment at ``debug=default`` (and any
extra command lines), run by two checkouts of the code, must give the same results.json
(timing keys aside) and the same results.csv (timing columns aside).

Why: a structural change (moved modules, a new config layout) must not move a number. The
"before" tree is any checkout, e.g. ``git worktree add /tmp/before HEAD``; each tree runs with
its own code (``python -m semcom_exp`` from the tree's root) and its own empty cache.

Usage: python scripts/regression_check.py BEFORE_DIR AFTER_DIR [--jobs 2] [--only NAME ...]
       [--extra "experiment=quickstart seed=1" ...]
Prints one line per run and exits 1 if any differs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

TIMING = ("wall_seconds", "seconds", "edge_s", "local_s", "sweep_dir")


def experiments(tree: Path) -> list[str]:
    conf = tree / "semcom_exp" / "conf"
    if not conf.is_dir():  # a tree from before the config moved into the package
        conf = tree / "conf"
    root = conf / "experiment"
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def run(tree: Path, args: list[str], out: Path) -> Path:
    """``python -m semcom_exp ARGS`` with the tree's code, a private run dir and cache."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "semcom_exp", *args,
           f"paths.cache_dir={out / 'cache'}", f"hydra.run.dir={out / 'run'}"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return out / "run"


def _timing(key: str) -> bool:
    return any(t in key for t in TIMING)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _results(run_dir: Path) -> dict:
    """results.json with the run's own scratch folder (in data-root paths) as ``<out>``."""
    text = (run_dir / "results.json").read_text().replace(str(run_dir.parent), "<out>")
    return json.loads(text)


def differences(before: Path, after: Path) -> list[str]:
    """What differs between two run dirs' results (timing keys and columns aside)."""
    out = []
    ja, jb = _results(before), _results(after)
    for key in sorted(set(ja) | set(jb)):
        if not _timing(key) and not _same(ja.get(key), jb.get(key)):
            out.append(f"results.json {key}: {ja.get(key)!r} -> {jb.get(key)!r}")
    ca, cb = pd.read_csv(before / "results.csv"), pd.read_csv(after / "results.csv")
    keep = [c for c in ca.columns if not _timing(c)]
    if list(ca.columns) != list(cb.columns):
        out.append(f"results.csv columns: {list(ca.columns)} -> {list(cb.columns)}")
    elif not ca[keep].equals(cb[keep]):
        out.append("results.csv: values differ")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="experiment names (default: every one)")
    parser.add_argument("--extra", nargs="*", default=[], help="more command lines to compare")
    args = parser.parse_args()
    names = args.only or experiments(args.after)
    cases = [[f"experiment={n}", "debug=default"] for n in names]
    cases += [line.split() for line in args.extra]
    scratch = Path(tempfile.mkdtemp(prefix="regression-"))

    def check(i_case: tuple[int, list[str]]) -> tuple[str, list[str]]:
        i, case = i_case
        try:
            a = run(args.before.resolve(), case, scratch / f"{i}-before")
            b = run(args.after.resolve(), case, scratch / f"{i}-after")
            return " ".join(case), differences(a, b)
        except RuntimeError as exc:
            return " ".join(case), [str(exc)]

    failed = 0
    with ThreadPoolExecutor(args.jobs) as pool:
        for name, diffs in pool.map(check, enumerate(cases)):
            failed += bool(diffs)
            print(f"{'same     ' if not diffs else 'DIFFERENT'} {name}", flush=True)
            for line in diffs[:20]:
                print("    " + line)
    print(f"{len(cases) - failed} of {len(cases)} identical (run dirs under {scratch})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
