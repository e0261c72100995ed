#!/usr/bin/env bash
# Bounded GPU measurement: `task=preflight` of every paper config on CUDA (its training steps
# are the short timed training at full size), then one table (it/s, peak GPU memory, projected
# hours per figure) in docs/gpu.md. At most ~5 minutes on one GPU; each config has its own time
# limit (LIMITS) and the table is rewritten after each, so it is written even when a step fails.
#
# Starts from a bare GPU machine that has python3 with a CUDA torch: installs what it lacks
# (from wheels in .whl/ when that folder exists, a machine without network; else from the
# package index, keeping the machine's torch), and runs from the source tree (no project
# install). Usage: bash scripts/gpu_check.sh   (STEPS, EVAL_STEPS, LIMIT_S, PY, WORK to change;
# SKIP_INSTALL=1 where the packages are already there)
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python3}
STEPS=${STEPS:-20}
EVAL_STEPS=${EVAL_STEPS:-3}
LIMIT_S=${LIMIT_S:-}  # one limit for every config; default: each config's below
WORK=${WORK:-/tmp/gpu_check}
TABLE=docs/gpu.md
CONFIGS=(m2gsc/fig5 lam_msc/cge_paper lam_msc/sc_paper lam_msc/end2end_paper)
declare -A LIMITS=([m2gsc/fig5]=80 [lam_msc/cge_paper]=60 [lam_msc/sc_paper]=70 [lam_msc/end2end_paper]=150)
mkdir -p "$WORK"
export PYTHONUNBUFFERED=1 HYDRA_FULL_ERROR=1 SEMCOM_ROOT="$WORK" SEMCOM_CACHE_DIR="$WORK/cache"
start=$(date +%s)

# ---- install what is missing (never torch: the machine's CUDA build stays)
if [ -n "${SKIP_INSTALL:-}" ]; then
  :
elif [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$WORK/site" .whl/*.whl >"$WORK/install.log" 2>&1 || echo "install: see $WORK/install.log"
else
  grep -vE '^(torch|torchvision|torchaudio|nvidia-|triton|#|pip|setuptools)' requirements.lock \
    | sed 's/==.*//' >"$WORK/requirements.txt"
  $PY -m pip install -q --target "$WORK/site" -r "$WORK/requirements.txt" \
    >"$WORK/install.log" 2>&1 || echo "install: see $WORK/install.log"
fi
export PYTHONPATH="$PWD:$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
install_s=$(( $(date +%s) - start ))

device=$($PY -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')" 2>&1 | tail -1)
versions=$($PY -c "import torch, lightning, transformers, diffusers; print(f'torch {torch.__version__}, lightning {lightning.__version__}, transformers {transformers.__version__}, diffusers {diffusers.__version__}')" 2>&1 | tail -1)

write_table() {
  $PY - "$WORK" "$TABLE" "$device" "$versions" "$STEPS" "$install_s" "${CONFIGS[@]}" <<'EOF'
import json, sys, time
from pathlib import Path
work, table, device, versions, steps, install_s, *configs = sys.argv[1:]
lines = [
    "# GPU measurements", "",
    f"Measured by `bash scripts/gpu_check.sh` on {time.strftime('%Y-%m-%d')}: {device}; {versions}.",
    f"Each paper config's `task=preflight` on CUDA at its configured sizes and precision, "
    f"{steps} training steps per model (the first is warm-up). it/s = 1 / (median seconds per "
    "step); GPU peak = torch.cuda.max_memory_allocated in training; projected hours = the "
    "preflight's sum over every training and evaluation part of the full figure on this GPU. "
    f"Install took {install_s} s.", "",
    "| config | part | params (M) | batch | it/s | GPU peak (GB) | GPU est. (GB) | projected h (part) |",
    "|---|---|---|---|---|---|---|---|",
]
totals = []
for name in configs:
    run = Path(work) / "runs" / name
    res, summary = run / "results.csv", run / "results.json"
    if not summary.exists():
        err = (run / "stderr.txt").read_text().strip().splitlines()[-1:] if (run / "stderr.txt").exists() else ["not run"]
        lines.append(f"| {name} | FAILED or not run: {err[0][:160] if err else 'no output'} | | | | | | |")
        continue
    import pandas as pd
    rows = pd.read_csv(res)
    for _, r in rows.iterrows():
        if r.get("kind") not in ("train", "eval", "data"):
            continue
        it_s = f"{1 / r['seconds_per_unit']:.3g}" if r["kind"] == "train" else ""
        cell = lambda k, f="{:.3g}": "" if k not in r or pd.isna(r[k]) else f.format(r[k])
        lines.append(
            f"| {name} | {r['part']} | {cell('params_m', '{:.1f}')} | {cell('batch', '{:.0f}')} | {it_s} "
            f"| {cell('gpu_peak_gb')} | {cell('gpu_mem_est_gb')} | {cell('hours_here')} |"
        )
    s = json.loads(summary.read_text())
    totals.append(f"| {name} | {s['projected_hours_here']:.3g} | {s.get('gpu_mem_est_gb_max', float('nan')):.3g} |")
lines += ["", "Projected hours per figure (one seed of the sweep) on this GPU:", "",
          "| config | projected h | max GPU est. (GB) |", "|---|---|---|", *totals, ""]
old = Path(table).read_text() if Path(table).exists() else ""
notes = old[old.index("\n## Notes"):] if "\n## Notes" in old else ""  # kept as written
Path(table).write_text("\n".join(lines) + notes.rstrip("\n") + "\n")
print("\n".join(lines))
EOF
}

for name in "${CONFIGS[@]}"; do
  run="$WORK/runs/$name"
  mkdir -p "$run"
  echo "== $name ($(( $(date +%s) - start )) s)"
  limit=${LIMIT_S:-${LIMITS[$name]}}
  timeout "$limit" $PY -m semcom_exp task=preflight "experiment=$name" \
    "preflight.steps=$STEPS" "preflight.eval_steps=$EVAL_STEPS" "hydra.run.dir=$run" \
    >"$run/stdout.txt" 2>"$run/stderr.txt"
  rc=$?
  [ $rc -eq 124 ] && printf "\ntimed out after %s s\n" "$limit" >>"$run/stderr.txt"
  [ $rc -ne 0 ] && { echo "$name: exit $rc"; tail -3 "$run/stderr.txt"; }
  write_table >/dev/null 2>"$WORK/table_error.txt" || cat "$WORK/table_error.txt"
done
write_table
if [ -n "${OUT:-}" ]; then
  cp "$TABLE" "$OUT/gpu.md"
  tail -c 200000 "$WORK"/runs/*/*/stderr.txt >"$OUT/stderr_tail.txt" 2>/dev/null
  tail -n 400 "$WORK"/runs/*/*/*.log >"$OUT/run_logs.txt" 2>/dev/null
  for name in "${CONFIGS[@]}"; do
    [ -f "$WORK/runs/$name/preflight.md" ] && cat "$WORK/runs/$name/preflight.md"
  done >"$OUT/preflight_tables.md"
fi
echo "gpu_check: $(( $(date +%s) - start )) s"
