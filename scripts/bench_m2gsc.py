"""M2GSC throughput benchmarks, measured side by side in one run (``make bench``).

(a) one decoder's training step through the project's Lightning trainer (built from the
    Hydra config, with its logger and callbacks, as the pipeline builds it) vs a bare PyTorch
    loop on the same model, initial weights and batches: throughput ratio (goal >= 0.95);
(b) the edge phase batched over every receiver's images vs one receiver at a time: throughput
    ratio (the paper's reason for a shared edge model);
(c) the share of a run's wall time spent scoring (SSIM / PSNR / LPIPS), from a run dir's
    ``timings.json`` (``--run-dir``; ``scripts/bench_quickstart.py`` makes one);
(d) training throughput under the CPU settings: 1 vs 2 threads, channels_last, two
    single-threaded processes at once (what ``m2gsc.train_workers=2`` does), torch.compile
    with ``--compile``.

Rounds alternate the two sides of (a) and (b) so machine load affects both alike. Usage:
    python scripts/bench_m2gsc.py [--steps 30] [--rounds 3] [--run-dir outputs/runs/...]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from semcom_exp.models.ddpm_decoder import DiffusionDecoder  # noqa: E402
from semcom_exp.models.split_inference import edge_denoise, inference_timesteps, split_point  # noqa: E402
from semcom_exp.stages.m2gsc_decoders import model_config  # noqa: E402
from semcom_exp.training import build_trainer  # noqa: E402


def quickstart_cfg(tmp: Path):
    with initialize_config_dir(str(REPO / "semcom_exp" / "conf"), version_base=None):
        return compose(
            "config",
            [f"paths.root_dir={tmp}", f"paths.cache_dir={tmp}", f"paths.output_dir={tmp}"],
        )


def batches(cfg, n: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``n`` training batches of the local model's shapes (values do not change the cost)."""
    g = torch.Generator().manual_seed(seed)
    b, s = int(cfg.model.batch_size), int(cfg.model.image_size)
    return [
        {
            "image": torch.rand(b, 3, s, s, generator=g) * 2 - 1,
            "layout": (torch.rand(b, 4, s, s, generator=g) > 0.8).float(),
            "background": torch.rand(b, 3, s, s, generator=g) * 2 - 1,
        }
        for _ in range(n)
    ]


class StepClock(L.Callback):
    """Wall time between consecutive training-batch starts."""

    def __init__(self):
        self.marks: list[float] = []

    def on_train_batch_start(self, *args) -> None:
        self.marks.append(time.perf_counter())

    def on_train_end(self, *args) -> None:
        self.marks.append(time.perf_counter())


def per_step(marks: list[float], warmup: int) -> float:
    return statistics.median(
        [b - a for a, b in zip(marks[warmup:-1], marks[warmup + 1 :], strict=True)]
    )


def lightning_steps(cfg, model, data, warmup: int, tmp: Path) -> float:
    clock = StepClock()
    trainer = build_trainer(cfg, name="bench", max_steps=len(data), extra_callbacks=[clock])
    trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=None))
    return per_step(clock.marks, warmup)


def bare_steps(model, data, warmup: int) -> float:
    model.train()
    model.on_fit_start()
    opt = model.configure_optimizers()
    opt = opt["optimizer"] if isinstance(opt, dict) else opt
    marks = []
    for i, batch in enumerate(data):
        marks.append(time.perf_counter())
        loss = model.training_step(batch, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.on_train_batch_end(None, batch, i)
    marks.append(time.perf_counter())
    return per_step(marks, warmup)


def bench_training(cfg, steps: int, rounds: int, tmp: Path) -> None:
    """Single-threaded on both sides, as the experiment trains (stages.m2gsc_decoders.train_decoder)."""
    mcfg = model_config(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    init = DiffusionDecoder.from_config(mcfg, role="local")
    data = batches(cfg, steps)
    lit, bare = [], []
    for _ in range(rounds):
        bare.append(bare_steps(copy.deepcopy(init), data, warmup=5))
        lit.append(lightning_steps(cfg, copy.deepcopy(init), data, 5, tmp))
    torch.set_num_threads(threads)
    b, li = statistics.median(bare), statistics.median(lit)
    print(f"(a) training step, batch {cfg.model.batch_size}, {cfg.model.image_size}px, "
          f"1 thread: bare {b * 1e3:.1f} ms, Lightning {li * 1e3:.1f} ms"
          f" -> throughput ratio Lightning / bare = {b / li:.3f} (goal >= 0.95)")  # fmt: skip


def bench_edge(cfg, rounds: int) -> None:
    torch.manual_seed(0)
    shared = DiffusionDecoder.from_config(model_config(cfg), role="shared").eval()
    n_rx, per_rx = int(cfg.m2gsc.num_receivers), int(cfg.m2gsc.frames.eval)
    s = int(cfg.model.image_size)
    layout = (torch.rand(n_rx * per_rx, 4, s, s) > 0.8).float()
    ts = inference_timesteps(int(cfg.model.num_inference_steps))
    split = split_point(ts, 650, max_offload_steps=650)
    together, apart = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        edge_denoise(shared, layout, split.edge, split.t_handoff, torch.Generator().manual_seed(0))
        together.append(time.perf_counter() - start)
        start = time.perf_counter()
        for j in range(n_rx):
            part = layout[j * per_rx : (j + 1) * per_rx]
            edge_denoise(
                shared, part, split.edge, split.t_handoff, torch.Generator().manual_seed(j)
            )
        apart.append(time.perf_counter() - start)
    t, a = statistics.median(together), statistics.median(apart)
    print(f"(b) edge, k = 650 ({len(split.edge)} steps), {n_rx} receivers x {per_rx} images: "
          f"batched {t:.2f} s, one receiver at a time {a:.2f} s -> throughput ratio {a / t:.2f}")  # fmt: skip


def _throughput(
    cfg, threads: int, steps: int, channels_last: bool = False, compile_: bool = False
) -> float:
    """Samples per second of the bare training loop with ``threads`` intra-op threads."""
    torch.set_num_threads(threads)
    mcfg = {**model_config(cfg), "channels_last": channels_last}
    torch.manual_seed(0)
    model = DiffusionDecoder.from_config(mcfg, role="local")
    if compile_:
        model.unet = torch.compile(model.unet)
    per = bare_steps(model, batches(cfg, steps), warmup=3 if compile_ else 2)
    return int(cfg.model.batch_size) / per


def _worker(args) -> float:
    cfg_dict, steps = args
    from omegaconf import OmegaConf

    return _throughput(OmegaConf.create(cfg_dict), 1, steps)


def bench_threads(cfg, steps: int, compile_: bool) -> None:
    """(d) CPU throughput settings for decoder training, side by side."""
    import multiprocessing

    from omegaconf import OmegaConf

    rows = {
        "1 thread": _throughput(cfg, 1, steps),
        "2 threads": _throughput(cfg, 2, steps),
        "2 threads + channels_last": _throughput(cfg, 2, steps, channels_last=True),
    }
    if compile_:
        rows["2 threads + torch.compile"] = _throughput(cfg, 2, steps, compile_=True)
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(2) as pool:
        cfg_dict = OmegaConf.to_container(cfg, resolve=True)
        rows["2 processes x 1 thread (sum)"] = sum(pool.map(_worker, [(cfg_dict, steps)] * 2))
    base = rows["1 thread"]
    print(f"(d) training throughput, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}:")
    for name, value in rows.items():
        print(f"    {name:32s} {value:6.1f} samples/s  ({value / base:.2f}x one thread)")


def scoring_share(run_dir: Path) -> None:
    timings = json.loads((run_dir / "timings.json").read_text())
    total = timings["total"]
    print(f"(c) scoring (SSIM / PSNR / LPIPS): {timings.get('score', 0.0):.1f} s of {total:.1f} s "
          f"= {timings.get('score', 0.0) / total:.1%} of the run's wall time ({run_dir})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--compile", action="store_true", help="(d) also torch.compile (slow)")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cfg = quickstart_cfg(Path(tmp))
        bench_training(cfg, args.steps, args.rounds, Path(tmp))
        with torch.no_grad():
            bench_edge(cfg, args.rounds)
        bench_threads(cfg, max(8, args.steps // 2), args.compile)
    if args.run_dir is not None:
        scoring_share(args.run_dir)


if __name__ == "__main__":
    main()
