"""Synthetic spoken sentences written in the LibriSpeech layout (the default of ``data=librispeech``).

Why: the audio modality of LAM-MSC needs utterances with known transcripts. Sentences come
from a small seeded grammar ("THE OLD MAN WALKED SLOWLY TO THE RIVER"). The audio is speech
from ``espeak-ng`` when that program is installed (one voice, pitch and rate per speaker,
resampled to 16 kHz), otherwise a clearly labelled stand-in: one harmonic tone per word whose
pitch follows the word and whose length follows its spelling (``tones``). Which one was used
is written to ``LibriSpeech/SYNTHETIC.json`` and shows up as ``dataset.audio_source``.

Files: ``LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` (16-bit
FLAC), ``<speaker>-<chapter>.trans.txt`` in upper case, and ``SPEAKERS.TXT``, as in the real set.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import re
import shutil
import subprocess
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semcom_exp.code_hash import StageVersion
from semcom_exp.data.common import config_from_mapping, resample
from semcom_exp.data.layouts import MARKER
from semcom_exp.errors import ConfigError, DataError
from semcom_exp.schema.data import SpeechSyntheticConfig as SyntheticSpeechConfig

log = logging.getLogger(__name__)

VERSION = StageVersion("1", __name__)
TOP = "LibriSpeech"
ESPEAK_VARIANTS = ("en-us+m3", "en-us+f2", "en-gb+m1", "en-us+f4", "en-gb+f3", "en-us+m7")

# A small grammar: determiner, optional adjective, noun, verb, optional adverb, place.
_ADJ = ("OLD", "YOUNG", "LITTLE", "TALL", "QUIET", "BRAVE", "TIRED", "HAPPY")
_NOUN = ("MAN", "WOMAN", "BOY", "GIRL", "DOG", "CAPTAIN", "FARMER", "TEACHER", "HORSE", "KING")
_OWNER = ("KING", "CAPTAIN", "FARMER", "TEACHER", "GIRL", "BOY")
_OWNED = ("DOG", "HORSE", "SON", "DAUGHTER", "FRIEND", "SERVANT")
_VERB = ("WALKED", "RAN", "LOOKED", "CAME", "SPOKE", "WENT", "TURNED", "WAITED")
_ADV = ("SLOWLY", "QUICKLY", "SOFTLY", "AGAIN", "AT ONCE")
_PREP = ("TO", "TOWARD", "INTO", "ACROSS", "AWAY FROM", "BACK TO")
_PLACE = (
    "RIVER",
    "GARDEN",
    "HOUSE",
    "FOREST",
    "VILLAGE",
    "CASTLE",
    "SHIP",
    "MARKET",
    "ROAD",
    "HILL",
)


@functools.lru_cache(maxsize=1)
def espeak_version() -> str | None:
    """espeak-ng's version string, or None when the program is not installed."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+\.\d+[\w.+-]*)", out)
    return m.group(1) if m else "unknown"


def resolve_voice(voice: str) -> str:
    """The audio source ``voice`` gives on this machine: ``espeak-ng <version>`` or ``tones``."""
    if voice == "tones":
        return "tones"
    version = espeak_version()
    if version is not None:
        return f"espeak-ng {version}"
    if voice == "espeak-ng":
        raise ConfigError(
            "data.synthetic.voice",
            "espeak-ng is not installed (apt-get install -y espeak-ng); use voice=auto or voice=tones",
        )
    return "tones"


def sentence(rng: np.random.Generator) -> str:
    """One upper-case sentence from the grammar."""

    def pick(words: tuple[str, ...]) -> str:
        return words[int(rng.integers(len(words)))]

    subject = ["THE"] + ([pick(_ADJ)] if rng.random() < 0.6 else []) + [pick(_NOUN)]
    if rng.random() < 0.2:  # a possessive, as in "THE KING'S HORSE"
        subject = ["THE", pick(_OWNER) + "'S", pick(_OWNED)]
    verb = [pick(_VERB)] + ([pick(_ADV)] if rng.random() < 0.4 else [])
    place = [pick(_PREP), "THE"] + ([pick(_ADJ)] if rng.random() < 0.3 else []) + [pick(_PLACE)]
    return " ".join(subject + verb + place)


def _tones(text: str, sr: int, base_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Stand-in audio: per word a 3-harmonic tone (pitch from the word, length from its letters)."""
    gap = np.zeros(int(0.06 * sr), np.float32)
    parts = [np.zeros(int(0.1 * sr), np.float32)]
    for word in text.split():
        f0 = base_hz * 2 ** ((zlib.crc32(word.encode()) % 24) / 12)
        n = int(np.clip(0.07 * len(word), 0.12, 0.6) * sr)
        t = np.arange(n) / sr
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3))
        ramp = min(int(0.02 * sr), n // 2)
        env = np.ones(n)
        env[:ramp] = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        env[n - ramp :] = env[:ramp][::-1]
        parts += [(0.25 * tone * env).astype(np.float32), gap]
    parts.append(np.zeros(int(0.1 * sr), np.float32))
    audio = np.concatenate(parts)
    return audio + rng.normal(0, 1e-3, audio.shape).astype(np.float32)


def _espeak(text: str, sr: int, variant: str, pitch: int, rate: int) -> np.ndarray:
    """espeak-ng speech of ``text``, mono float32 resampled to ``sr``."""
    import soundfile as sf

    cmd = [
        shutil.which("espeak-ng") or "espeak-ng",
        "-v",
        variant,
        "-p",
        str(pitch),
        "-s",
        str(rate),
        "--stdout",
        text.lower(),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, check=True)
        x, native = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        raise DataError(f"espeak-ng failed for {text!r} ({' '.join(cmd[:7])}): {exc}") from None
    if x.ndim > 1:
        x = x.mean(axis=1)
    return resample(x, native, sr) if native != sr else x


def _speaker_voice(rng: np.random.Generator, k: int) -> dict[str, Any]:
    return {
        "variant": ESPEAK_VARIANTS[k % len(ESPEAK_VARIANTS)],
        "pitch": int(rng.integers(25, 75)),
        "rate": int(rng.integers(140, 180)),
        "base_hz": float(rng.uniform(110, 220)),
        "sex": "F" if "+f" in ESPEAK_VARIANTS[k % len(ESPEAK_VARIANTS)] else "M",
    }


def generate(
    out_dir: str | Path, cfg: SyntheticSpeechConfig | Mapping[str, Any] | None = None
) -> Path:
    """Write the synthetic set under ``out_dir/LibriSpeech``; return that folder."""
    import soundfile as sf

    if not isinstance(cfg, SyntheticSpeechConfig):
        cfg = config_from_mapping(SyntheticSpeechConfig, cfg, "data.synthetic")
    source = resolve_voice(cfg.voice)
    use_espeak = source.startswith("espeak-ng")
    top = Path(out_dir) / TOP
    top.mkdir(parents=True, exist_ok=True)
    # Separate streams: the transcripts and voices do not depend on the audio source.
    text_rng, voice_rng, noise_rng = (np.random.default_rng([cfg.seed, k]) for k in range(3))
    speakers_txt = [";ID  |SEX| SUBSET           |MINUTES| NAME"]
    speaker_no, chapter_no = 0, 0
    for split in cfg.splits:
        for _ in range(cfg.num_speakers):
            speaker = str(9001 + speaker_no)
            voice = _speaker_voice(voice_rng, speaker_no)
            speaker_no += 1
            seconds = 0.0
            for _ in range(cfg.chapters_per_speaker):
                chapter = str(90001 + chapter_no)
                chapter_no += 1
                chapter_dir = top / split / speaker / chapter
                chapter_dir.mkdir(parents=True, exist_ok=True)
                lines = []
                for u in range(cfg.utterances_per_chapter):
                    utt_id = f"{speaker}-{chapter}-{u:04d}"
                    text = sentence(text_rng)
                    if use_espeak:
                        audio = _espeak(
                            text, cfg.sample_rate, voice["variant"], voice["pitch"], voice["rate"]
                        )
                    else:
                        audio = _tones(text, cfg.sample_rate, voice["base_hz"], noise_rng)
                    peak = float(np.abs(audio).max())
                    if peak > 0.7:  # espeak-ng is loud and resampling overshoots: keep headroom
                        audio = audio * (0.7 / peak)
                    sf.write(
                        str(chapter_dir / f"{utt_id}.flac"),
                        audio,
                        cfg.sample_rate,
                        subtype="PCM_16",
                        format="FLAC",
                    )
                    seconds += len(audio) / cfg.sample_rate
                    lines.append(f"{utt_id} {text}\n")
                (chapter_dir / f"{speaker}-{chapter}.trans.txt").write_text("".join(lines))
            name = (
                f"Synthetic {voice['variant']}"
                if use_espeak
                else f"Synthetic tones {voice['base_hz']:.0f} Hz"
            )
            speakers_txt.append(
                f"{speaker:<5}| {voice['sex']} | {split:<16} | {seconds / 60:5.2f} | {name}"
            )
    (top / "SPEAKERS.TXT").write_text("\n".join(speakers_txt) + "\n")
    marker = {
        "generator": "semcom_exp.data.synthetic_speech",
        "version": str(VERSION),
        "audio_source": "espeak-ng" if use_espeak else "tones",
        "audio_source_detail": source
        if use_espeak
        else "tones: one harmonic tone per word (NOT speech; espeak-ng was not used)",
        "config": dataclasses.asdict(cfg),
    }
    (top / MARKER).write_text(json.dumps(marker, indent=2))
    log.info(
        "synthetic LibriSpeech (%s): %d speakers at %s", marker["audio_source"], speaker_no, top
    )
    return top
