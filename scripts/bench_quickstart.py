"""The main job as a user runs it, timed and checked against its targets (``make bench``).

Runs ``python -m semcom_exp`` (experiment quickstart, plus any overrides given) with an EMPTY
artifact cache, prints where the wall time went (the run's ``timings.json``), the decoders'
scores against the background-only baseline and the chance level, and, with ``--rerun``,
runs again on the same cache to check that every decoder is reused and that results.json is
identical apart from timing keys. Wall-time targets are read from this output, not asserted
in a test (timings on a shared machine vary).

Usage: python scripts/bench_quickstart.py [--rerun] [--keep DIR] [override ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIMING_KEYS = ("wall_seconds",)
TIMING_PREFIXES = ("edge_s_", "local_s_")


def run(overrides: list[str], run_dir: Path, cache: Path) -> float:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    args = [sys.executable, "-m", "semcom_exp", *overrides]
    args += [f"paths.cache_dir={cache}", f"hydra.run.dir={run_dir}"]
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def profile(run_dir: Path, wall: float) -> None:
    timings = json.loads((run_dir / "timings.json").read_text())
    total = timings.pop("total")
    print(f"\nwall time {wall:.1f} s (process, start-up included); run {total:.1f} s")
    print("| phase | seconds | share |\n|---|---|---|")
    for phase, sec in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"| {phase} | {sec:.1f} | {sec / total:.0%} |")
    other = total - sum(timings.values())
    print(
        f"| other (start-up of the run, LPIPS weights, bookkeeping) | {other:.1f} | {other / total:.0%} |"
    )


def targets(run_dir: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(run_dir / "results.csv")
    bg = frame[frame["method"] == "background"]
    split = frame[frame["method"] == "m2gsc"]
    cols = ["ssim", "lpips", "psnr_objects", "ssim_outside", "psnr_outside", "ssim_shuffled"]
    cols = [c for c in cols if c in frame]
    print("\nmeans over the evaluation images (background = the receiver's reference image):")
    print(f"| row | {' | '.join(cols)} |\n|---|{'---|' * len(cols)}")
    print(f"| background | {' | '.join(f'{bg[c].mean():.3f}' for c in cols)} |")
    keys = ["offload_steps", "handoff", "snr_db"]
    for key, g in split.groupby(keys, dropna=False):
        label = f"k={int(key[0])}" + ("" if key[1] == "none" else f" {key[1]} {key[2]:g} dB")
        print(f"| {label} | {' | '.join(f'{g[c].mean():.3f}' for c in cols)} |")
    chance = split["ssim_shuffled"].mean()
    ok = split[split["offload_steps"].isin([0, 350])]
    rows = ok.groupby(keys, dropna=False)[["ssim", "lpips", "psnr_objects"]].mean()
    checks = {
        "SSIM > background": (rows["ssim"] > bg["ssim"].mean()).all(),
        "LPIPS < background": (rows["lpips"] < bg["lpips"].mean()).all(),
        "PSNR in boxes >= background + 2 dB": (
            rows["psnr_objects"] >= bg["psnr_objects"].mean() + 2
        ).all(),
        "SSIM >= chance + 0.10": (rows["ssim"] >= chance + 0.10).all(),
    }
    print(f"\ntargets at k = 0 and k = 350 (every SNR, hand-off); chance level {chance:.3f}:")
    for name, held in checks.items():
        print(f"  {'held' if held else 'NOT held'}: {name}")
    k650 = split[(split["offload_steps"] == 650) & (split["handoff"] == "plain")]
    k0 = split[split["offload_steps"] == 0]["ssim"].mean()
    low = k650[k650["snr_db"] == k650["snr_db"].min()]["ssim"].mean()
    print(f"  k = 650 plain at the lowest SNR vs k = 0: SSIM {low:.3f} vs {k0:.3f} "
          f"(differ by {abs(k0 - low):.3f}; the receiver uses what it receives if >= 0.05)")  # fmt: skip


def same_results(a: Path, b: Path) -> None:
    ra, rb = (json.loads((p / "results.json").read_text()) for p in (a, b))

    def drop(r: dict) -> dict:
        return {
            k: v for k, v in r.items() if k not in TIMING_KEYS and not k.startswith(TIMING_PREFIXES)
        }

    diff = sorted(k for k in set(ra) | set(rb) if drop(ra).get(k) != drop(rb).get(k))
    timings = json.loads((b / "timings.json").read_text())
    trained = {k: round(v, 2) for k, v in timings.items() if k.startswith("train_") and v > 5}
    print(f"\nrerun on the same cache: results.json {'identical' if not diff else 'DIFFERS: ' + str(diff)}"
          f" (timing keys aside); decoders retrained: {trained or 'none'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rerun", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep run dirs and cache here")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_quickstart_"))
    cache = base / "cache"
    for old in (cache, base / "run1", base / "run2"):  # an empty cache, every time
        shutil.rmtree(old, ignore_errors=True)
    wall = run(args.overrides, base / "run1", cache)
    profile(base / "run1", wall)
    targets(base / "run1")
    if args.rerun:
        wall2 = run(args.overrides, base / "run2", cache)
        print(f"\nsecond run (cached decoders): {wall2:.1f} s")
        same_results(base / "run1", base / "run2")
    print(f"\nrun dirs under {base}")


if __name__ == "__main__":
    main()
