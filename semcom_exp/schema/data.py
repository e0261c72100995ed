"""The ``data`` group: the readers' settings and their synthetic sets' (docs/data_*.md).

Every reader takes ``root: null`` (generate the synthetic set in the real layout into the
artifact cache, from ``synthetic``) or ``root: PATH`` (read a real copy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from semcom_exp.errors import ConfigError
from semcom_exp.schema.fields import (
    int_at_least,
    list_of,
    node,
    non_negative_int,
    number_in,
    one_of,
    optional,
    positive_int,
    seed_value,
    setting,
)

#: what the synthetic writers can draw (each has its own shape / motion / voice code)
VEHICLE_TYPES = ("car", "bus", "van", "others")  # UA-DETRAC's vehicle types
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)  # fmt: skip  (the 20 VOC2012 object classes, in the data set's order)
MOTIONS = ("Basketball", "Biking", "HulaHoop", "JumpingJack", "Rowing")  # UCF101 class names
VOICES = ("auto", "espeak-ng", "tones")  # auto: espeak-ng when installed, else tones

SEED = seed_value  # a data set's own seed, independent of the run's seed
JPEG_QUALITY = number_in(1, 100)
ON_ERROR = one_of("raise", "skip")  # raise | skip (skips are counted and logged)
VERIFY = one_of("header", "full", "none")  # how much of each file is read at load time


def _split_name(key: str, v: Any) -> None:
    if not isinstance(v, str) or not re.fullmatch(r"[\w.-]+", v):
        raise ConfigError(key, f"expected folder names like dev-clean, got {v!r}")


# --------------------------------------------------------------------------- UA-DETRAC
@dataclass
class TrafficSyntheticConfig:
    """Synthetic road-traffic scenes in the UA-DETRAC layout (semcom_exp.data.synthetic_traffic)."""

    num_scenarios: int = setting(3, positive_int)
    # annotated frames per scenario (e.g. local 160 + shared 48 + eval 16); empty ones on top
    frames_per_scenario: int = setting(224, positive_int)
    width: int = setting(192, int_at_least(16))
    height: int = setting(108, int_at_least(16))
    seed: int = setting(0, SEED)
    sim_steps_per_frame: int = setting(5, positive_int)  # simulation steps between two frames
    warmup_steps: int = setting(80, non_negative_int)  # before the first frame (a populated road)
    spawn_rate: float = setting(0.035, number_in(0, 1, open_low=True))  # per lane and step
    # base speed, in road lengths per step at the bottom of the frame
    speed: float = setting(0.012, number_in(0, 0.5, open_low=True, open_high=True))
    noise_std: float = setting(2.0, number_in(0))  # per-pixel sensor noise, 0..255 scale
    brightness_jitter: float = setting(0.01, number_in(0))  # illumination drift (AR(1) innovation)
    type_probs: dict[str, float] = setting({"car": 0.6, "van": 0.15, "bus": 0.1, "others": 0.15})
    jpeg_quality: int = setting(95, JPEG_QUALITY)

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        probs = dict(node.type_probs)
        bad = sorted(set(probs) - set(VEHICLE_TYPES))
        if bad or not probs or any(p < 0 for p in probs.values()) or sum(probs.values()) <= 0:
            raise ConfigError(
                f"{key}.type_probs",
                f"expected non-negative weights (not all zero) for types among {VEHICLE_TYPES}, "
                f"got {probs!r}",
            )


@dataclass
class UaDetracConfig:
    """UA-DETRAC vehicle frames (the M2GSC case study), docs/data_ua_detrac.md. root: the folder
    holding Insight-MVT_Annotation_Train/ and DETRAC-Train-Annotations-XML/, its parent, or one
    of those two folders."""

    name: str = "ua_detrac"
    reader: str = "semcom_exp.data.ua_detrac.open_ua_detrac"
    root: str | None = None
    scenarios: Any = None  # {receiver_name: [MVI_20011, ...]}; null: one scenario per sequence
    subsets: Any = None  # [train] | [test] | null (every subset found)
    on_error: str = setting("raise", ON_ERROR)
    # header: every yielded frame's image is opened at load time (an unreadable or resized one
    # is reported or skipped before any work); full: decoded too; none: the first per sequence
    verify: str = setting("header", VERIFY)
    include_empty_frames: bool = False  # also yield images whose frame is absent from the XML
    vehicle_type_map: Any = None  # e.g. {Sedan: car, Suv: car, Taxi: car} for relabelled copies
    grid: int = setting(32, positive_int)  # message: box corners on a grid x grid cell lattice
    # how split_frames draws the local / shared / eval sets
    split_strategy: str = setting("temporal", one_of("temporal", "random"))
    background_max_frames: int = setting(200, positive_int)  # frames in the median background
    image_cache_mb: int = setting(512, non_negative_int)  # in-memory cache of resized frames
    synthetic: TrafficSyntheticConfig = node(TrafficSyntheticConfig)


# ----------------------------------------------------------------------------- VOC2012
@dataclass
class VocSyntheticConfig:
    """Synthetic scenes in the VOC layout (semcom_exp.data.synthetic_voc)."""

    num_images: int = setting(40, int_at_least(2))
    width: int = setting(128, int_at_least(32))
    height: int = setting(96, int_at_least(32))
    max_objects: int = setting(3, positive_int)
    # drawn uniformly; null: all 20 VOC classes; or e.g. [person, dog, car]
    classes: list[str] | None = setting(None, optional(list_of(one_of(*VOC_CLASSES))))
    val_fraction: float = setting(0.5, number_in(0, 1, open_low=True, open_high=True))
    noise_std: float = setting(4.0, number_in(0))  # pixel noise, 0..255 scale
    jpeg_quality: int = setting(90, JPEG_QUALITY)
    seed: int = setting(0, SEED)


@dataclass
class Voc2012Config:
    """PASCAL VOC2012 images (the LAM-MSC image modality), docs/data_lam_msc.md. root:
    VOCdevkit/VOC2012, VOCdevkit, the folder holding VOCdevkit, or a folder inside VOC2012."""

    name: str = "voc2012"
    reader: str = "semcom_exp.data.voc2012.open_voc2012"
    root: str | None = None
    # ImageSets/<image_set>/<split>.txt: train | val | trainval | [train, val]
    split: Any = "trainval"
    image_set: str = setting("Main", one_of("Main", "Segmentation", "Action", "Layout"))
    include_difficult: bool = True  # list objects flagged <difficult>1</difficult> in the text
    on_error: str = setting("raise", ON_ERROR)
    verify: str = setting("header", VERIFY)
    synthetic: VocSyntheticConfig = node(VocSyntheticConfig)


# ------------------------------------------------------------------------- LibriSpeech
@dataclass
class SpeechSyntheticConfig:
    """Synthetic utterances in the LibriSpeech layout (semcom_exp.data.synthetic_speech)."""

    splits: list[str] = setting(["dev-clean"], list_of(_split_name, distinct=True))
    num_speakers: int = setting(3, positive_int)  # per split (they differ between splits)
    chapters_per_speaker: int = setting(1, positive_int)
    utterances_per_chapter: int = setting(4, positive_int)
    voice: str = setting("auto", one_of(*VOICES))
    sample_rate: int = setting(16000, int_at_least(8000))
    seed: int = setting(0, SEED)


@dataclass
class LibriSpeechConfig:
    """LibriSpeech utterances (the LAM-MSC audio modality), docs/data_lam_msc.md. Synthetic
    speech is espeak-ng when installed, else labelled tones. root: LibriSpeech, the folder
    holding it, or one split folder such as LibriSpeech/dev-clean."""

    name: str = "librispeech"
    reader: str = "semcom_exp.data.librispeech.open_librispeech"
    root: str | None = None
    splits: Any = None  # null: every split found (or the split folder root names); e.g. [dev-clean]
    # load_audio resamples to this (LibriSpeech is 16 kHz); null: as stored
    sample_rate: int | None = setting(16000, optional(positive_int))
    on_error: str = setting("raise", ON_ERROR)
    verify: str = setting("header", VERIFY)
    synthetic: SpeechSyntheticConfig = node(SpeechSyntheticConfig)


# ------------------------------------------------------------------------------ UCF101
@dataclass
class VideoSyntheticConfig:
    """Synthetic clips in the UCF101 layout (semcom_exp.data.synthetic_video)."""

    # from Basketball, Biking, HulaHoop, JumpingJack, Rowing
    classes: list[str] = setting(
        ["Basketball", "Biking", "JumpingJack"], list_of(one_of(*MOTIONS), distinct=True)
    )
    # split N tests on group N (as UCF101's splits hold out groups)
    groups_per_class: int = setting(3, int_at_least(2))
    clips_per_group: int = setting(2, positive_int)
    num_frames: int = setting(16, int_at_least(2))
    width: int = setting(80, int_at_least(32))  # even (yuv420p)
    height: int = setting(60, int_at_least(32))  # even (yuv420p)
    fps: int = setting(25, positive_int)
    bit_rate: int = setting(400000, int_at_least(10_000))
    noise_std: float = setting(3.0, number_in(0))
    seed: int = setting(0, SEED)

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        if node.width % 2 or node.height % 2:
            raise ConfigError(
                f"{key}.width",
                f"width and height must be even (yuv420p), got {node.width}x{node.height}",
            )


@dataclass
class Ucf101Config:
    """UCF101 action videos (the LAM-MSC video modality), docs/data_lam_msc.md. root: the folder
    holding UCF-101/ and ucfTrainTestlist/, its parent, or UCF-101 itself."""

    name: str = "ucf101"
    reader: str = "semcom_exp.data.ucf101.open_ucf101"
    root: str | None = None
    split: int = setting(1, one_of(1, 2, 3))  # ucfTrainTestlist/{train,test}list0N.txt
    subsets: list[str] = setting(["train", "test"])  # which lists of the split, in this order
    # words: "Apply Eye Makeup" | name: "ApplyEyeMakeup" (verbatim)
    text: str = setting("words", one_of("words", "name"))
    on_error: str = setting("raise", ON_ERROR)
    verify: str = setting("header", VERIFY)
    synthetic: VideoSyntheticConfig = node(VideoSyntheticConfig)


# --------------------------------------------------------------------------- text corpus
@dataclass
class TextCorpusConfig:
    """The text corpus the SC model trains on (semcom_exp.data.text_corpus)."""

    # embedded (templated sentences) | a .txt / data set folder | a cached hub id
    corpus: str = "embedded"
    # embedded: training sentences (+ num_test held out, all distinct)
    num_sentences: int = setting(4000, positive_int)
    num_test: int = setting(300, int_at_least(2))  # >= 2: the shuffled-pair chance level
    seed: int = setting(0, SEED)  # sentence draw and train/test split
    text_column: str = "text"  # real corpora: the text field, dotted for nested (translation.en)
    config_name: str | None = None  # hub data set config (e.g. en-fr)
    train_split: str = "train"
    test_split: str = "test"  # cut from the train split when the corpus has none
    max_sentences: int = setting(50000, positive_int)  # cap per split for real corpora
    min_words: int = setting(1, int_at_least(1))
    # drop longer sentences (null: keep; longer than model.max_len are cut)
    max_words: int | None = setting(None, optional(positive_int))
