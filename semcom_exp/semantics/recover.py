"""Receiver-side recovery: LAM-MSC's receiver maps the recovered text back to the modality
(CoDi in the paper), and, where the sender's MMA can read it, back to text again.

Why a module of its own: the way back has three unrelated backends with their own failure
modes, and a missing one must be reported as ``unavailable: <reason>``, never as a number.

- image: a diffusers text-to-image pipeline by local folder (:class:`~semcom_exp.semantics.mma.
  TextToImage`, sampling settings from ``mma.text_to_image``);
- audio: ``espeak`` (the espeak-ng binary, when on PATH) or a transformers ``text-to-speech``
  model by folder;
- video: no backend exists here: always reported unavailable.

The round trip (generated modality -> text) uses the sender's MMA backend when it is a model
(``mma.<modality>.backend=hf``); the oracle reads a data set's annotations, not a generated
image or waveform, so with it the round trip is unavailable.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from semcom_exp.hub import ModelLookup
from semcom_exp.schema import checked
from semcom_exp.schema.mma import MmaConfig
from semcom_exp.semantics.mma import (
    HFAudioBackend,
    HFImageBackend,
    TextToImage,
    build_mma,
    resolve_device,
)

KEY = "end2end.recover"
ESPEAK = "espeak"
NO_VIDEO = (
    "no text-to-video backend in this project (the paper uses CoDi; none is installed or wired "
    "here)"
)
TTS_SUGGEST = "facebook/mms-tts-eng"
T2I_SUGGEST = "stable-diffusion-v1-5/stable-diffusion-v1-5"

Speech = tuple[np.ndarray, int]  # (float32 mono waveform, sampling rate)


def unavailable(reason: str) -> str:
    """The status a result carries instead of a number when a backend is missing."""
    return f"unavailable: {reason}"


def check_recover(rec: Mapping[str, Any] | DictConfig, key: str = KEY) -> None:
    """Every configured model folder / hub id exists here, before any work (ConfigError naming
    the key otherwise). A missing espeak-ng binary is not an error: it is reported."""
    if rec.get("image") is not None:
        ModelLookup(f"{key}.image", "diffusers text-to-image pipeline", T2I_SUGGEST).source(
            rec["image"]
        )
    audio = rec.get("audio")
    if audio is not None and str(audio) != ESPEAK:
        ModelLookup(f"{key}.audio", "text-to-speech model", TTS_SUGGEST).source(audio)


# --------------------------------------------------------------------- text -> speech
class EspeakSpeech:
    """Text -> speech with the espeak-ng binary (``espeak-ng -w out.wav TEXT``)."""

    name = "espeak-ng"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def __call__(self, text: str) -> Speech:
        import soundfile

        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            subprocess.run(
                [self.binary, "-w", str(wav), text or " "],
                check=True,
                capture_output=True,
                timeout=60,
            )
            audio, rate = soundfile.read(wav, dtype="float32", always_2d=False)
        return np.asarray(audio, dtype=np.float32).reshape(-1), int(rate)


class PipelineSpeech:
    """Text -> speech with a transformers ``text-to-speech`` pipeline by folder (VITS / MMS-TTS
    and other models that need no speaker embedding)."""

    def __init__(self, model: str, key: str, device: str = "cpu") -> None:
        from transformers import pipeline

        lookup = ModelLookup(key, "text-to-speech model", TTS_SUGGEST)
        self.pipe = lookup.load(
            model, lambda source: pipeline("text-to-speech", model=source, device=device)
        )
        self.name = f"tts:{Path(str(model)).name}"

    def __call__(self, text: str) -> Speech:
        import torch

        torch.manual_seed(0)  # VITS samples its durations / noise: the same text, the same audio
        out = self.pipe(text or " ")
        audio = np.asarray(out["audio"], dtype=np.float32).reshape(-1)
        return audio, int(out["sampling_rate"])


def build_speech(name: Any, key: str = f"{KEY}.audio", device: str = "cpu") -> Any:
    """The text-to-speech backend ``name`` names, or the reason it is unavailable (a str)."""
    if str(name) == ESPEAK:
        binary = shutil.which("espeak-ng")
        if binary is None:
            return unavailable(
                "espeak-ng is not installed (no espeak-ng on PATH; e.g. apt-get install "
                f"espeak-ng), or set {key}=<a text-to-speech model folder>"
            )
        return EspeakSpeech(binary)
    return PipelineSpeech(str(name), key, device)


# ---------------------------------------------------------------------------- recovery
def build_recoverers(
    rec: Mapping[str, Any] | DictConfig, mma_cfg: Mapping[str, Any] | DictConfig
) -> dict[str, Any]:
    """Per modality switched on in ``rec`` (the ``end2end.recover`` node): a callable
    text -> modality (image: uint8 (H, W, 3); audio: (waveform, rate)), or the reason it is
    unavailable (a str)."""
    check_recover(rec)
    mma = checked(MmaConfig, mma_cfg, "mma")
    device = resolve_device(mma.device)
    out: dict[str, Any] = {}
    if rec.get("image") is not None:
        t2i = mma.text_to_image
        out["image"] = TextToImage(
            str(rec["image"]),
            f"{KEY}.image",
            t2i.num_inference_steps,
            t2i.guidance_scale,
            t2i.height,
            t2i.width,
            t2i.seed,
            device,
        )
    if rec.get("audio") is not None:
        out["audio"] = build_speech(rec["audio"], f"{KEY}.audio", device)
    if rec.get("video"):
        out["video"] = unavailable(NO_VIDEO)
    return out


class _Clip:
    """One waveform dressed as a data set, so the MMA's speech backend can read it."""

    def __init__(self, speech: Speech) -> None:
        self.speech = speech

    def load_audio(self, index: int) -> Speech:
        return self.speech


def build_reader(modality: str, mma_cfg: Mapping[str, Any] | DictConfig) -> Any:
    """The sender MMA's way from a GENERATED ``modality`` back to text (a callable), or the
    reason there is none (a str)."""
    mma = checked(MmaConfig, mma_cfg, "mma")
    if modality == "video":
        return unavailable("nothing was generated to read back")
    if mma[modality].backend != "hf":
        return unavailable(
            f"mma.{modality}.backend={mma[modality].backend} reads the data set's own text, not a "
            f"generated {modality}; set mma.{modality}.backend=hf mma.{modality}.model=<folder>"
        )
    backend = build_mma(modality, mma_cfg)
    if isinstance(backend, HFImageBackend):
        return lambda image: backend.captioner.caption([image])[0]
    assert isinstance(backend, HFAudioBackend)
    return lambda speech: backend.to_text(_Clip(speech), 0)


__all__ = [
    "EspeakSpeech",
    "PipelineSpeech",
    "build_reader",
    "build_recoverers",
    "build_speech",
    "check_recover",
    "unavailable",
]
