"""LAM-MSC bits table (``lam_msc/bits``): what a sample costs raw, as text and on the SC link.

For each modality (image VOC2012, audio LibriSpeech, video UCF101; the data node of each is
``bits.data.<modality>``, a data-group config) and each sample: the decoded sample's bits
(``dataset.raw_bits``), the stored file's bits (compressed), the semantic text's UTF-8 bits
(text from the MMA backend ``mma.<modality>``) and the bits the SC link sends for that text
(:class:`~semcom_exp.semantics.bit_accounting.LinkBudget`, ``bits.link``). results.json adds
per-modality means and the derivation of the paper's video figure (3,114,800 -> 32,768).
No training, nothing cached beyond the synthetic data sets: seconds on a CPU.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from semcom_exp.data import open_dataset
from semcom_exp.errors import ConfigError
from semcom_exp.runner import RunContext, RunOutput
from semcom_exp.schema import checked
from semcom_exp.schema.experiments import BitsConfig
from semcom_exp.semantics.bit_accounting import (
    PAPER_VIDEO_RAW_BITS,
    LinkBudget,
    paper_video_arithmetic,
    text_bits,
)
from semcom_exp.semantics.mma import MMABackend, build_mma

log = logging.getLogger(__name__)

COLUMNS = (
    "modality",
    "sample",
    "sample_id",
    "raw_bits",
    "file_bits",
    "text_bits",
    "transmitted_bits",
    "messages",
    "compression",
    "text_compression",
    "text",
)
MEAN_COLUMNS = ("raw_bits", "file_bits", "text_bits", "transmitted_bits", "messages")


def check_bits_config(cfg: DictConfig) -> tuple[list[str], LinkBudget]:
    """(modalities, link budget) from ``cfg.bits``, checked by the schema (BitsConfig)."""
    if cfg.get("bits") is None:
        raise ConfigError("bits", "missing; use experiment=lam_msc/bits")
    bits = checked(BitsConfig, cfg.bits, "bits", root=cfg)
    return list(bits.modalities), LinkBudget.from_cfg(bits.link, "bits.link")


# ---------------------------------------------------------------------- per-sample facts
def sample_id(dataset: Any, index: int) -> str:
    """The data set's own name of a sample (VOC image id, utterance id, clip path)."""
    if hasattr(dataset, "image_id"):
        return str(dataset.image_id(index))
    if hasattr(dataset, "utterances"):
        return str(dataset.utterances[index].utt_id)
    if hasattr(dataset, "videos"):
        return str(dataset.videos[index].rel_path)
    return str(index)


def stored_path(dataset: Any, index: int) -> Path | None:
    """The file a sample is stored in, when the reader says."""
    for attr, field in (("images", "image_path"), ("utterances", "path"), ("videos", "path")):
        items = getattr(dataset, attr, None)
        if items is not None and hasattr(items[index], field):
            return Path(getattr(items[index], field))
    return None


def file_bits(dataset: Any, index: int) -> int | None:
    """The stored (compressed) file's size in bits: JPEG, FLAC, AVI."""
    path = stored_path(dataset, index)
    return path.stat().st_size * 8 if path is not None and path.exists() else None


def raw_bits(dataset: Any, index: int, video_max_frames: int | None = None) -> int:
    """Decoded size as stored (``dataset.raw_bits``); video: the first ``video_max_frames``."""
    if video_max_frames is not None and hasattr(dataset, "videos"):
        return int(dataset.raw_bits(index, max_frames=video_max_frames))
    return int(dataset.raw_bits(index))


def measure(
    modality: str,
    dataset: Any,
    index: int,
    backend: MMABackend,
    link: LinkBudget,
    video_max_frames: int | None = None,
) -> dict[str, Any]:
    """One results.csv row: the sample's raw, file, text and transmitted bits."""
    text = backend.to_text(dataset, index)
    raw = raw_bits(dataset, index, video_max_frames)
    tbits = text_bits(text)
    sent = link.transmitted_bits(text)
    return {
        "modality": modality,
        "sample": index,
        "sample_id": sample_id(dataset, index),
        "raw_bits": raw,
        "file_bits": file_bits(dataset, index),
        "text_bits": tbits,
        "transmitted_bits": sent,
        "messages": link.messages(text),
        "compression": raw / sent,
        "text_compression": raw / tbits if tbits else None,
        "text": text,
    }


def paper_file_matches(dataset: Any, bits: int = PAPER_VIDEO_RAW_BITS) -> list[str]:
    """Samples whose stored file is exactly ``bits`` (stat only: cheap on the whole set)."""
    hits = []
    for i in range(len(dataset)):
        path = stored_path(dataset, i)
        if path is not None and path.exists() and path.stat().st_size * 8 == bits:
            hits.append(sample_id(dataset, i))
    return hits


def _summary(modality: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {f"{modality}_num_samples": len(rows)}
    for col in MEAN_COLUMNS:
        values = [r[col] for r in rows if r[col] is not None]
        out[f"{modality}_{col}_mean"] = float(np.mean(values)) if values else None
    raw, sent = out[f"{modality}_raw_bits_mean"], out[f"{modality}_transmitted_bits_mean"]
    text = out[f"{modality}_text_bits_mean"]
    out[f"{modality}_compression"] = raw / sent  # ratio of means
    out[f"{modality}_text_compression"] = raw / text if text else None
    return out


# -------------------------------------------------------------------------------- run
def run(cfg: DictConfig, ctx: RunContext) -> RunOutput:
    modalities, link = check_bits_config(cfg)
    bits = cfg.bits
    max_samples = bits.get("max_samples")
    video_frames = bits.get("video_max_frames")
    mma_cfg = cfg.get("mma") or {}
    summary: dict[str, Any] = {
        "num_symbols": link.num_symbols,
        "bits_per_real": link.bits_per_real,
        "tokens_per_message": link.tokens_per_message,
        "bits_per_message": link.bits_per_message,
    }
    rows: list[dict[str, Any]] = []
    for modality in modalities:
        backend = build_mma(modality, mma_cfg)  # loads models first: fail before any data work
        dataset = open_dataset(bits.data[modality], ctx.cache)
        n = len(dataset) if max_samples is None else min(len(dataset), int(max_samples))
        start = time.perf_counter()
        mrows = [measure(modality, dataset, i, backend, link, video_frames) for i in range(n)]
        summary[f"{modality}_mma_seconds"] = time.perf_counter() - start
        summary[f"mma_{modality}"] = backend.name
        summary[f"{modality}_data_root"] = str(dataset.root)
        summary.update(_summary(modality, mrows))
        if modality == "video":
            summary["paper_video_file_matches"] = paper_file_matches(dataset)
        log.info(
            "%s: %d samples, mean raw %.0f bits, text %.0f bits, sent %.0f bits",
            modality,
            n,
            summary[f"{modality}_raw_bits_mean"],
            summary[f"{modality}_text_bits_mean"],
            summary[f"{modality}_transmitted_bits_mean"],
        )
        rows.extend(mrows)
    summary.update(paper_video_arithmetic())
    return RunOutput(rows=[{c: r[c] for c in COLUMNS} for r in rows], summary=summary)
