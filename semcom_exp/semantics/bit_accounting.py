"""Bit accounting for LAM-MSC: what a sample costs raw, as text, and on the SC link.

- text bits: the UTF-8 bytes of the semantic text x 8;
- transmitted bits: SC messages x complex channel symbols per message x 2 reals x
  ``bits_per_real`` (32 for float32 analog symbols, or a quantiser's bits); a text longer than
  one message (``tokens_per_message`` positions, one of them the end token) takes several;
- the paper's video figure (3,114,800 raw bits -> 32,768 transmitted bits), checked against
  natural settings by :func:`paper_video_arithmetic`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from semcom_exp.models.sc_tokenizer import split_words
from semcom_exp.schema import checked
from semcom_exp.schema.experiments import LinkBudgetConfig

PAPER_VIDEO_RAW_BITS = 3_114_800
PAPER_VIDEO_TRANSMITTED_BITS = 32_768

# Frame geometries (W, H) a UCF101 clip is stored or processed at.
VIDEO_GEOMETRIES: dict[str, tuple[int, int]] = {
    "UCF101 native 320x240": (320, 240),
    "half 160x120": (160, 120),
    "C3D resize 171x128": (171, 128),
    "C3D / VideoMAE crop 112x112": (112, 112),
    "ViT / CLIP 224x224": (224, 224),
    "CoDi / SD 256x256": (256, 256),
    "128x128": (128, 128),
    "64x64": (64, 64),
    "synthetic default 80x60": (80, 60),
}
# Bits per pixel of decoded frame formats.
PIXEL_FORMATS: dict[str, int] = {
    "RGB 8-bit (24 bpp)": 24,
    "grey 8-bit (8 bpp)": 8,
    "YUV 4:2:0 8-bit (12 bpp)": 12,
    "YUV 4:2:2 8-bit (16 bpp)": 16,
    "RGBA 8-bit (32 bpp)": 32,
}
# Reals per SC message and bits per real worth trying for the transmitted figure.
MESSAGE_REALS = (64, 128, 256, 512, 768, 1024)
REAL_BITS = (8, 16, 32)
AUTHORS_REALS_PER_MESSAGE = 128  # jiangfeibo/LAMMSC channel_net(mid_dims=128): 64 complex symbols


def text_bits(text: str) -> int:
    """Bits of the text as UTF-8."""
    return len(text.encode("utf-8")) * 8


@dataclass(frozen=True)
class LinkBudget:
    """What one sample costs on the SC link (see module doc)."""

    num_symbols: int  # complex channel symbols per SC message
    bits_per_real: int  # 32: float32 analog symbols; else a quantiser's bits per real
    tokens_per_message: int | None  # SC positions per message, end token included; None: 1 message

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any], prefix: str = "bits.link") -> LinkBudget:
        """Checked settings (the schema's LinkBudgetConfig); a bad value is a ConfigError
        naming ``prefix.<key>``."""
        node = checked(LinkBudgetConfig, cfg, prefix)
        return cls(int(node.num_symbols), int(node.bits_per_real), node.tokens_per_message)

    @property
    def bits_per_message(self) -> int:
        """Complex symbols x 2 reals x bits per real."""
        return self.num_symbols * 2 * self.bits_per_real

    def messages(self, text: str) -> int:
        """SC messages needed to carry ``text`` whole (at least one: the end token)."""
        if self.tokens_per_message is None:
            return 1
        tokens = len(split_words(text))
        return max(1, math.ceil(tokens / (self.tokens_per_message - 1)))

    def transmitted_bits(self, text: str) -> int:
        return self.messages(text) * self.bits_per_message


# ----------------------------------------------------------------------- paper arithmetic
def factorize(n: int) -> dict[int, int]:
    """Prime factors of ``n`` > 0 with multiplicities."""
    if n < 1:
        raise ValueError("factorize needs a positive integer")
    out: dict[int, int] = {}
    p = 2
    while p * p <= n:
        while n % p == 0:
            out[p] = out.get(p, 0) + 1
            n //= p
        p += 1
    if n > 1:
        out[n] = out.get(n, 0) + 1
    return out


def format_factors(factors: Mapping[int, int]) -> str:
    return " x ".join(f"{p}^{k}" if k > 1 else str(p) for p, k in sorted(factors.items()))


def frame_decompositions(
    bits: int,
    geometries: Mapping[str, tuple[int, int]] = VIDEO_GEOMETRIES,
    formats: Mapping[str, int] = PIXEL_FORMATS,
) -> list[dict[str, Any]]:
    """Every (geometry, pixel format) for which ``bits`` is a whole number of decoded frames."""
    out = []
    for gname, (w, h) in geometries.items():
        for fname, bpp in formats.items():
            per_frame = w * h * bpp
            if bits % per_frame == 0:
                out.append(
                    {"geometry": gname, "format": fname, "frames": bits // per_frame, "bits": bits}
                )
    return out


def transmitted_decompositions(
    bits: int, reals: Sequence[int] = MESSAGE_REALS, real_bits: Sequence[int] = REAL_BITS
) -> list[dict[str, int]]:
    """Every (messages, reals per message, bits per real) whose product is ``bits``."""
    out = []
    for r in reals:
        for b in real_bits:
            if bits % (r * b) == 0:
                out.append({"messages": bits // (r * b), "reals": r, "bits_per_real": b})
    return out


def paper_video_arithmetic(
    raw_bits: int = PAPER_VIDEO_RAW_BITS, transmitted_bits: int = PAPER_VIDEO_TRANSMITTED_BITS
) -> dict[str, Any]:
    """Which natural settings give the paper's video numbers, as results.json fields."""
    raw_f, tx_f = factorize(raw_bits), factorize(transmitted_bits)
    frames = frame_decompositions(raw_bits)
    tx = transmitted_decompositions(transmitted_bits)
    authors = [d for d in tx if d["reals"] == AUTHORS_REALS_PER_MESSAGE]
    big = max(raw_f)
    raw_text = (
        f"raw {raw_bits:,} bits = {format_factors(raw_f)}. "
        + (
            "Decoded frames give it: "
            + "; ".join(f"{d['frames']} frames of {d['geometry']} {d['format']}" for d in frames)
            + ". "
            if frames
            else (
                f"No decoded-frame setting gives it: it has no factor 3, so no count of 8-bit RGB "
                f"pixels (x 24 bits) fits, and its prime factor {big} would have to divide the "
                f"frame count, the pixels per frame or the bits per pixel ({big} frames would "
                f"leave {raw_bits // big:,} bits per frame); none of {len(VIDEO_GEOMETRIES)} geometries x "
                f"{len(PIXEL_FORMATS)} pixel formats tried (320x240 native, 112/224/256 crops, "
                "YUV 4:2:0, grey ...) gives a whole number of frames. "
            )
        )
        + f"It is a whole number of bytes, {raw_bits // 8:,} B ({raw_bits / 8 / 1024:.1f} KiB): "
        "it reads as the size of one ENCODED file (UCF101 clips are XviD AVI files of some "
        "hundred KB; the whole set is about 6.5 GB for 13,320 clips, about 3.9 Mbit per clip), "
        "i.e. the clip as stored, not its decoded pixels. Which clip is not stated; "
        "results.json `paper_video_file_matches` lists the clips of the read set whose file "
        "is exactly that size."
    )
    if authors:
        a = next((d for d in authors if d["bits_per_real"] == 32), authors[0])
        per_msg = a["reals"] * a["bits_per_real"]
        others = [d for d in authors if d is not a]
        tx_text = (
            f"transmitted {transmitted_bits:,} bits = {format_factors(tx_f)}: {len(tx)} settings "
            f"of messages x reals per message {list(MESSAGE_REALS)} x bits per real "
            f"{list(REAL_BITS)} give it (paper_video_transmitted_settings). With the authors' SC "
            f"code (jiangfeibo/LAMMSC channel_net, mid_dims={AUTHORS_REALS_PER_MESSAGE} reals = "
            f"{AUTHORS_REALS_PER_MESSAGE // 2} complex symbols per text message) and "
            f"{a['bits_per_real']}-bit floats, a message costs {per_msg:,} bits and "
            f"{transmitted_bits:,} = {a['messages']} messages x {a['reals']} x {a['bits_per_real']}, "
            f"e.g. one caption per frame of an {a['messages']}-frame clip (CoDi's video model "
            "works on 8 frames); "
            + ", ".join(
                f"{d['messages']} x {d['reals']} x {d['bits_per_real']}-bit" for d in others
            )
            + " fit too (16 is the code's batch size). The paper does not say which; the "
            f"authors' released video2text makes 3 captions per clip (3 x {per_msg:,} = "
            f"{3 * per_msg:,} bits), so the {a['messages']} does not come from that code."
        )
    else:
        tx_text = (
            f"transmitted {transmitted_bits:,} bits = {format_factors(tx_f)}; "
            "no natural setting tried gives it."
        )
    return {
        "paper_video_raw_bits": raw_bits,
        "paper_video_transmitted_bits": transmitted_bits,
        "paper_video_compression": raw_bits / transmitted_bits,
        "paper_video_raw_bytes": raw_bits // 8 if raw_bits % 8 == 0 else raw_bits / 8,
        "paper_video_raw_factors": format_factors(raw_f),
        "paper_video_raw_frame_settings": len(frames),
        "paper_video_transmitted_settings": "; ".join(
            f"{d['messages']}x{d['reals']}x{d['bits_per_real']}" for d in tx
        ),
        "paper_arithmetic": raw_text + " " + tx_text,
    }
