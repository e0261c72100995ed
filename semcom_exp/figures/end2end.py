"""Figure of `lam_msc/end2end`: accuracy vs SNR per modality and variant (from results.csv)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

MODALITY_ORDER = ("image", "audio", "video")
STYLE = {
    "full": ("C1", "D", "-"),
    "sender_lkb": ("C4", "v", "-."),
    "keywords": ("C8", "x", "-."),
    "conventional": ("C5", "P", "--"),
    "no_lkb": ("C3", "*", "-"),
    "ls": ("C0", "o", "--"),
    "perfect": ("k", "s", "-"),
    "unimodal": ("C2", "^", ":"),
}


def accuracy_vs_snr(run_dir: Path, cfg=None) -> dict[str, Figure]:
    """One panel per modality: accuracy (cosine >= threshold) per variant, chance dotted."""
    frame = pd.read_csv(Path(run_dir) / "results.csv")
    present = list(dict.fromkeys(frame["modality"]))
    mods = [m for m in MODALITY_ORDER if m in present] + [
        m for m in present if m not in MODALITY_ORDER
    ]
    fig, axes = plt.subplots(1, len(mods), figsize=(4.2 * len(mods), 3.4), squeeze=False)
    for ax, modality in zip(axes[0], mods, strict=True):
        part = frame[frame["modality"] == modality]
        for variant, g in part.groupby("variant", sort=False):
            g = g.groupby("snr_db", as_index=False)[["accuracy", "accuracy_shuffled"]].mean()
            color, marker, line = STYLE.get(variant, ("C7", "x", "-"))
            ax.plot(g["snr_db"], g["accuracy"], color=color, marker=marker, ls=line, label=variant)
        chance = part.groupby("snr_db", as_index=False)["accuracy_shuffled"].mean()
        ax.plot(chance["snr_db"], chance["accuracy_shuffled"], color="C7", ls=":", label="chance")
        n = int(part["n"].max()) if len(part) else 0
        ax.set_title(f"{modality} (n = {n} held-out)")
        ax.set_xlabel("SNR (dB)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (cosine >= 0.6)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="center right", fontsize=8
    )  # beside the panels, not on the data
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    return {"end2end_accuracy_vs_snr": fig}


def recovered_images(run_dir: Path, cfg=None) -> dict[str, Figure]:
    """Original vs recovered (``end2end.recover.image``; none when it is off): per example the
    original image under the sender's MMA text, the recovered image under the text the receiver
    recovered, and what the captioner reads back from it where it could."""
    table = Path(run_dir) / "recovered" / "recovery.csv"
    if not table.exists():
        return {}
    frame = pd.read_csv(table, keep_default_na=False)
    frame = frame[frame["modality"] == "image"]
    if frame.empty:
        return {}
    fig, axes = plt.subplots(len(frame), 2, figsize=(6.4, 3.0 * len(frame)), squeeze=False)
    for (left, right), (_, row) in zip(axes, frame.iterrows(), strict=True):
        left.imshow(plt.imread(Path(run_dir) / row["original_file"]))
        left.set_title(f"original\nsent: {_short(row['mma_text'])}", fontsize=8)
        right.imshow(plt.imread(Path(run_dir) / row["file"]))
        caption = f"\nread back: {_short(row['round_trip_text'])}" if row["round_trip_text"] else ""
        right.set_title(f"recovered\ntext: {_short(row['recovered_text'])}{caption}", fontsize=8)
        for ax in (left, right):
            ax.axis("off")
    fig.tight_layout()
    return {"end2end_recovered_images": fig}


def _short(text: str, limit: int = 48) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
