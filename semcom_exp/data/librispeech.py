"""LibriSpeech reader (real on-disk layout): the audio modality of LAM-MSC.

Layout (``ROOT`` = the ``LibriSpeech`` folder)::

    ROOT/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    ROOT/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   ("<utt-id> TRANSCRIPT" lines)
    ROOT/SPEAKERS.TXT, CHAPTERS.TXT, ... (ignored)

Splits are the folders that hold ``<speaker>/<chapter>/*.trans.txt`` (``dev-clean``,
``train-clean-100``, ...); every split found is read unless ``data.splits`` names some, and
``data.root`` pointing at one split folder reads that split. Audio is 16 kHz 16-bit mono FLAC,
read with soundfile. Semantic text: the transcript in lower case. ``data.root: null`` generates
the synthetic speech set (``synthetic_speech.py``) in this layout into the artifact cache.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from semcom_exp.data.common import (
    VERIFY,
    OnError,
    ReportsSkips,
    cached_synthetic,
    check_choice,
    config_from_mapping,
    locate_root,
    resample,
    root_or_synthetic,
)
from semcom_exp.data.layouts import MARKER
from semcom_exp.errors import ConfigError, DataError
from semcom_exp.schema.data import LibriSpeechConfig

log = logging.getLogger(__name__)
_DEFAULTS = (
    LibriSpeechConfig()
)  # the readers' defaults are the config's (semcom_exp/schema/data.py)

BITS_PER_SAMPLE = 16
LAYOUT_HELP = (
    "expected ROOT/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac and "
    "<speaker>-<chapter>.trans.txt with ROOT = LibriSpeech; data.root may be ROOT, the "
    "folder holding it, or one split folder (e.g. LibriSpeech/dev-clean). "
    "Or set data.root=null to use the built-in synthetic speech set (written in the same layout)"
)
_UTT_RE = re.compile(r"^(\d+)-(\d+)-(\d+)$")


@dataclass(frozen=True)
class Utterance:
    """One utterance: its FLAC file and transcript (as stored, upper case in the real set)."""

    utt_id: str
    split: str
    speaker: str
    chapter: str
    path: Path
    transcript: str
    num_frames: int | None = None  # from the FLAC header (verify=header/full)
    sample_rate: int | None = None
    channels: int | None = None


def _digit_dirs(path: Path) -> list[Path]:
    try:
        return sorted(
            (p for p in path.iterdir() if p.is_dir() and p.name.isdigit()),
            key=lambda p: int(p.name),
        )
    except OSError:
        return []


def _is_split(path: Path, probe: int = 3) -> bool:
    """A split folder: ``<speaker>/<chapter>/`` with a ``.trans.txt`` or ``.flac`` below it
    (the first few speakers and chapters probed)."""
    for speaker in _digit_dirs(path)[:probe]:
        for chapter in _digit_dirs(speaker)[:probe]:
            if any(chapter.glob("*.trans.txt")) or any(chapter.glob("*.flac")):
                return True
    return False


def _splits_at(top: Path) -> list[str]:
    try:
        return sorted(p.name for p in top.iterdir() if p.is_dir() and _is_split(p))
    except OSError:
        return []


def _is_top(path: Path) -> bool:
    return bool(_splits_at(path))


def find_root(root: str | Path) -> tuple[Path, str | None]:
    """(the LibriSpeech folder, the split when ``root`` is one split folder, else None)."""
    path = Path(root).expanduser()
    if path.is_dir() and _is_split(path.resolve()) and not _is_top(path.resolve()):
        path = path.resolve()
        return path.parent, path.name
    return locate_root(root, _is_top, what="LibriSpeech", layout_help=LAYOUT_HELP, depth=1), None


def read_transcripts(path: Path, prefix: str) -> list[tuple[str, str]]:
    """(utt-id, transcript) pairs of one ``.trans.txt``; ids must start with ``prefix-``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read transcript file {path}: {exc}") from None
    out = []
    for num, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        m = _UTT_RE.match(parts[0])
        if len(parts) < 2 or m is None or not parts[0].startswith(prefix + "-"):
            raise DataError(
                f"malformed transcript file {path}, line {num}: expected '{prefix}-NNNN TRANSCRIPT', got {line.strip()[:60]!r}"
            )
        out.append((parts[0], parts[1].strip()))
    return out


def _audio_header(path: Path, full: bool) -> tuple[int, int, int]:
    """(frames, sample rate, channels) from the FLAC header; ``full`` decodes the samples too."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if full:
            sf.read(str(path), dtype="int16")
    except (RuntimeError, OSError, ValueError, TypeError) as exc:
        raise DataError(f"cannot read audio file {path}: {exc}") from None
    if info.frames <= 0:
        raise DataError(f"audio file {path} holds no samples")
    return int(info.frames), int(info.samplerate), int(info.channels)


class LibriSpeechDataset(ReportsSkips):
    """Utterances of the selected splits (split, speaker, chapter, utterance order).

    ``verify``: ``header`` (default) reads every FLAC header at load time, so an unreadable
    file is reported (or skipped) before work starts and ``raw_bits`` needs no decoding;
    ``full`` decodes every file; ``none`` only checks that files exist.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        splits: Sequence[str] | None = None,
        on_error: str = _DEFAULTS.on_error,
        verify: str = _DEFAULTS.verify,
        sample_rate: int | None = _DEFAULTS.sample_rate,
        synthetic: bool = False,
    ):
        self._errors = OnError(on_error)
        self.verify = check_choice("data.verify", verify, VERIFY)
        if sample_rate is not None and (
            isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0
        ):
            raise ConfigError(
                "data.sample_rate", f"expected a positive integer or null, got {sample_rate!r}"
            )
        self.sample_rate = sample_rate
        if isinstance(splits, str):
            splits = [splits]
        self.synthetic = synthetic
        self.root, given_split = find_root(root)
        found = _splits_at(self.root)
        if splits is None:
            self.splits = [given_split] if given_split else found
        else:
            self.splits = list(splits)
            missing = [s for s in self.splits if s not in found]
            if missing or not self.splits:
                raise DataError(
                    f"data.splits asks for {missing or self.splits} but {self.root} has no such split "
                    f"folder (with <speaker>/<chapter>/*.flac, *.trans.txt); splits found: {', '.join(found) or 'none'}"
                )
        self.audio_source, self.generator_info = self._audio_source()
        self.utterances: list[Utterance] = []
        for split in self.splits:
            self._load_split(split)
        self._errors.finish(
            self.utterances,
            "LibriSpeech",
            f"LibriSpeech splits {', '.join(self.splits)} under {self.root} yield no utterances",
            f"LibriSpeech at {self.root}: splits {', '.join(self.splits)}, "
            f"{len(self.utterances)} utterances, audio: {self.audio_source}",
        )

    def _audio_source(self) -> tuple[str, dict[str, Any]]:
        """``recorded`` for a real copy; the generator's marker says ``espeak-ng`` or ``tones``."""
        marker = self.root / MARKER
        if not marker.is_file():
            return "recorded", {}
        try:
            info = json.loads(marker.read_text())
            return str(info["audio_source"]), info
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"malformed synthetic-set marker {marker}: {exc}") from None

    def _load_split(self, split: str) -> None:
        for speaker_dir in _digit_dirs(self.root / split):
            for chapter_dir in _digit_dirs(speaker_dir):
                self._load_chapter(split, speaker_dir.name, chapter_dir)

    def _load_chapter(self, split: str, speaker: str, chapter_dir: Path) -> None:
        prefix = f"{speaker}-{chapter_dir.name}"
        trans = chapter_dir / f"{prefix}.trans.txt"
        flacs = {p.stem for p in chapter_dir.glob("*.flac")}
        if not trans.is_file():
            if flacs:
                self._errors.problem(
                    f"missing transcript file {trans} ({len(flacs)} FLAC files beside it)"
                )
            return
        try:
            pairs = read_transcripts(trans, prefix)
        except DataError as exc:
            self._errors.problem(str(exc))
            return
        listed = set()
        for utt_id, text in sorted(pairs, key=lambda p: int(p[0].rsplit("-", 1)[1])):
            listed.add(utt_id)
            path = chapter_dir / f"{utt_id}.flac"
            if utt_id not in flacs:
                self._errors.problem(f"missing audio file {path} (listed in {trans})")
                continue
            utt = Utterance(utt_id, split, speaker, chapter_dir.name, path, text)
            if self.verify != "none":
                try:
                    frames, sr, ch = _audio_header(path, full=self.verify == "full")
                except DataError as exc:
                    self._errors.problem(str(exc))
                    continue
                utt = replace(utt, num_frames=frames, sample_rate=sr, channels=ch)
            self.utterances.append(utt)
        extra = flacs - listed
        if extra:
            log.warning(
                "%s: %d FLAC files have no transcript line; ignored", chapter_dir, len(extra)
            )

    # -- the generic data-set API ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.utterances)

    def semantic_text(self, index: int) -> str:
        """The transcript in lower case."""
        return self.utterances[index].transcript.lower()

    def load_audio(self, index: int) -> tuple[np.ndarray, int]:
        """(samples float32 in [-1, 1], mono, sample rate); resampled to ``sample_rate`` when set."""
        import soundfile as sf

        path = self.utterances[index].path
        try:
            x, sr = sf.read(str(path), dtype="float32", always_2d=True)
        except (RuntimeError, OSError, ValueError, TypeError) as exc:
            raise DataError(f"cannot read audio file {path}: {exc}") from None
        if x.shape[0] == 0:
            raise DataError(f"audio file {path} holds no samples")
        audio = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
        if self.sample_rate is not None and sr != self.sample_rate:
            audio, sr = resample(audio, sr, self.sample_rate), self.sample_rate
        return np.ascontiguousarray(audio, dtype=np.float32), int(sr)

    def _header(self, index: int) -> Utterance:
        utt = self.utterances[index]
        if utt.num_frames is None:
            frames, sr, ch = _audio_header(utt.path, full=False)
            utt = replace(utt, num_frames=frames, sample_rate=sr, channels=ch)
            self.utterances[index] = utt
        return utt

    def duration(self, index: int) -> float:
        """Seconds of audio in utterance ``index``."""
        utt = self._header(index)
        return utt.num_frames / utt.sample_rate  # type: ignore[operator]

    def raw_bits(self, index: int) -> int:
        """Size of the stored audio in bits: samples x channels x 16 (LibriSpeech is 16-bit)."""
        utt = self._header(index)
        return int(utt.num_frames) * int(utt.channels) * BITS_PER_SAMPLE  # type: ignore[arg-type]

    def summary_extras(self) -> dict[str, Any]:
        """Extra scalars for ``task=data_summary``: where the audio comes from, splits, skips."""
        return {
            "audio_source": self.audio_source,
            "splits": ",".join(self.splits),
            "synthetic": self.synthetic,
            "num_skipped": self.num_skipped,
        }


# ------------------------------------------------------------------------------------------
# Config entry point


def synthetic_root(synth_cfg: Mapping[str, Any] | None, cache: Any) -> Path:
    """Generate (once, cached) the synthetic speech set for ``data.synthetic``; return its folder.

    The cache key includes the resolved audio source (and espeak-ng's version), so installing
    espeak-ng later produces a new set instead of reusing the tone one.
    """
    from semcom_exp.data import synthetic_speech as ss

    cfg = config_from_mapping(ss.SyntheticSpeechConfig, synth_cfg, "data.synthetic")
    key = {**dataclasses.asdict(cfg), "resolved_voice": ss.resolve_voice(cfg.voice)}
    return cached_synthetic(cache, "data_librispeech_synthetic", ss, cfg, key)


def open_librispeech(data_cfg: Mapping[str, Any], cache: Any = None) -> LibriSpeechDataset:
    """`data.reader` for `data=librispeech`: a real copy at `data.root`, or the synthetic set."""
    cfg, root, synthetic = root_or_synthetic(data_cfg, cache, synthetic_root, LibriSpeechConfig)
    keys = ("splits", "on_error", "verify", "sample_rate")
    return LibriSpeechDataset(root, synthetic=synthetic, **{k: cfg[k] for k in keys})
