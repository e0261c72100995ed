"""``end2end.recover``: the receiver's way back from recovered text to the modality, scored.

For the first ``end2end.recover.num_examples`` held-out samples of each modality switched on,
the texts recovered by ``end2end.recover.variant`` at ``end2end.recover.snr_db`` go through the
backends of :mod:`semcom_exp.semantics.recover`; the generated files land in the run dir
(``recovered/<modality>/<i>.png|wav``, the original image beside it as ``<i>_original.png``)
with ``recovered/recovery.csv``. Where the sender's MMA can read a generated sample (a model
backend), the round trip (generated -> text) is scored against the sender's MMA text with the
run's text scorer, its shuffled-pair chance level beside it; elsewhere the summary says
``unavailable: <reason>``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from semcom_exp.data import open_dataset
from semcom_exp.runner import RunContext
from semcom_exp.semantics.recover import build_reader, build_recoverers, unavailable
from semcom_exp.stages.sc import TextScorer

log = logging.getLogger(__name__)

FOLDER = "recovered"
TABLE = "recovery.csv"


def recovery_on(cfg: DictConfig) -> bool:
    """Whether any modality's recovery is switched on (``end2end.recover``)."""
    rec = cfg.end2end.recover
    return rec.image is not None or rec.audio is not None or bool(rec.video)


def recovery_point(cfg: DictConfig, snrs: list[float]) -> tuple[str, float]:
    """(variant, SNR) whose recovered texts are mapped back (the schema checked both)."""
    rec = cfg.end2end.recover
    return str(rec.variant), float(max(snrs) if rec.snr_db is None else rec.snr_db)


def run_recovery(
    cfg: DictConfig,
    ctx: RunContext,
    picked: dict[str, dict[str, list]],
    scorer: TextScorer,
    seed: int,
) -> dict[str, Any]:
    """Generate, save and score; ``picked[modality]`` holds the held-out samples' ``index``,
    ``mma_text``, ``sent`` and ``recovered`` lists. Returns the summary entries."""
    rec = cfg.end2end.recover
    makers = build_recoverers(rec, cfg.get("mma") or {})
    summary: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for modality, make in makers.items():
        key = f"recover_{modality}"
        if isinstance(make, str):
            summary[key] = make
            log.info("recovery of %s: %s", modality, make)
            continue
        if modality not in picked:
            summary[key] = unavailable(f"{modality} is not in end2end.modalities")
            continue
        sample = picked[modality]
        n = min(int(rec.num_examples), len(sample["recovered"]))
        folder = ctx.run_dir / FOLDER / modality
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        generated = [make(t) for t in sample["recovered"][:n]]
        summary[f"{key}_seconds_per_sample"] = (time.perf_counter() - t0) / max(1, n)
        summary[key] = f"ok: {_backend_name(modality, rec)}"
        dataset = open_dataset(cfg.end2end.data[modality], ctx.cache)
        part = [
            {
                "modality": modality,
                "example": i,
                "sample": int(sample["index"][i]),
                "mma_text": sample["mma_text"][i],
                "sent": sample["sent"][i],
                "recovered_text": sample["recovered"][i],
                "file": _save(folder, i, g),
                "original_file": _save_original(folder, i, dataset, int(sample["index"][i])),
            }
            for i, g in enumerate(generated)
        ]
        refs = [r["mma_text"] for r in part]
        _cosines(scorer, part, "cosine_link", [r["recovered_text"] for r in part], refs)
        reader = build_reader(modality, cfg.get("mma") or {})
        if isinstance(reader, str):
            summary[f"{key}_round_trip"] = reader
            for r in part:
                r["round_trip_text"], r["cosine_round_trip"] = "", None
        else:
            back = [reader(g) for g in generated]
            _cosines(scorer, part, "cosine_round_trip", back, refs)
            for r, b in zip(part, back, strict=True):
                r["round_trip_text"] = b
            score = scorer.score(back, refs, seed)
            summary[f"{key}_round_trip"] = "scored"
            for name in ("accuracy", "accuracy_shuffled", "cosine_mean"):
                summary[f"{key}_round_trip_{name}"] = score[name]
            if modality == "image":  # the reader's own ceiling: the ORIGINAL images read back
                originals = [dataset.load_image(int(r["sample"])) for r in part]
                ceiling = scorer.score([reader(o) for o in originals], refs, seed)
                summary[f"{key}_original_caption_accuracy"] = ceiling["accuracy"]
                summary[f"{key}_original_caption_cosine_mean"] = ceiling["cosine_mean"]
        summary[f"{key}_examples"] = n
        rows += part
        log.info("recovery of %s: %d examples in %s", modality, n, folder)
    if rows:
        pd.DataFrame(rows).to_csv(ctx.run_dir / FOLDER / TABLE, index=False)
    return summary


def _backend_name(modality: str, rec: DictConfig) -> str:
    return str(rec.image if modality == "image" else rec.audio)


def _cosines(
    scorer: TextScorer, rows: list[dict], column: str, texts: list[str], refs: list[str]
) -> None:
    """Per-row cosine of ``texts`` vs ``refs`` (unit-norm sentence embeddings)."""
    cos = np.sum(scorer.embed(texts) * scorer.embed(refs), axis=1)
    for r, c in zip(rows, cos, strict=True):
        r[column] = float(c)


def _save(folder: Path, i: int, generated: Any) -> str:
    """A generated image as ``<i>.png`` or speech as ``<i>.wav``; the path relative to the run."""
    if isinstance(generated, tuple):
        import soundfile

        audio, rate = generated
        path = folder / f"{i}.wav"
        soundfile.write(path, np.asarray(audio, dtype=np.float32), int(rate))
    else:
        from PIL import Image

        path = folder / f"{i}.png"
        Image.fromarray(np.asarray(generated, dtype=np.uint8)).save(path)
    return str(path.relative_to(folder.parent.parent))


def _save_original(folder: Path, i: int, dataset: Any, index: int) -> str:
    """The original image beside its recovery (for the figure); '' for other modalities."""
    if folder.name != "image":
        return ""
    from PIL import Image

    path = folder / f"{i}_original.png"
    Image.fromarray(np.asarray(dataset.load_image(index), dtype=np.uint8)).save(path)
    return str(path.relative_to(folder.parent.parent))
