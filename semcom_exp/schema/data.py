"""The ``data`` group: the readers' settings and their synthetic sets' (docs/data_*.md).

Every reader takes ``root: null`` (generate the synthetic set in the real layout into the
artifact cache, from ``synthetic``) or ``root: PATH`` (read a real copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semcom_exp.schema.fields import (
    int_at_least,
    node,
    non_negative_int,
    one_of,
    optional,
    positive_int,
    setting,
)

ON_ERROR = one_of("raise", "skip")  # raise | skip (skips are counted and logged)
VERIFY = one_of("header", "full", "none")  # how much of each file is read at load time


# --------------------------------------------------------------------------- UA-DETRAC
@dataclass
class TrafficSyntheticConfig:
    """Synthetic road-traffic scenes in the UA-DETRAC layout (semcom_exp.data.synthetic_traffic)."""

    num_scenarios: int = 3
    frames_per_scenario: int = (
        224  # annotated frames per scenario (e.g. local 160 + shared 48 + eval 16)
    )
    width: int = 192
    height: int = 108
    seed: int = 0  # the data's own seed, independent of the run's seed
    sim_steps_per_frame: int = 5
    warmup_steps: int = 80
    spawn_rate: float = 0.035
    speed: float = 0.012
    noise_std: float = 2.0
    brightness_jitter: float = 0.01
    type_probs: dict[str, float] = setting({"car": 0.6, "van": 0.15, "bus": 0.1, "others": 0.15})
    jpeg_quality: int = 95


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

    num_images: int = 40
    width: int = 128
    height: int = 96
    max_objects: int = 3
    classes: list[str] | None = None  # null: all 20 VOC classes; or e.g. [person, dog, car]
    val_fraction: float = 0.5
    noise_std: float = 4.0
    jpeg_quality: int = 90
    seed: int = 0  # the data's own seed, independent of the run's seed


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

    splits: list[str] = setting(["dev-clean"])
    num_speakers: int = 3  # per split
    chapters_per_speaker: int = 1
    utterances_per_chapter: int = 4
    voice: str = "auto"  # auto (espeak-ng if installed, else tones) | espeak-ng | tones
    sample_rate: int = 16000
    seed: int = 0


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
    classes: list[str] = setting(["Basketball", "Biking", "JumpingJack"])
    groups_per_class: int = 3  # split N tests on group N (as UCF101's splits hold out groups)
    clips_per_group: int = 2
    num_frames: int = 16
    width: int = 80
    height: int = 60
    fps: int = 25
    bit_rate: int = 400000
    noise_std: float = 3.0
    seed: int = 0


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
    num_test: int = setting(300, positive_int)
    seed: int = setting(0, non_negative_int)  # sentence draw and train/test split
    text_column: str = "text"  # real corpora: the text field, dotted for nested (translation.en)
    config_name: str | None = None  # hub data set config (e.g. en-fr)
    train_split: str = "train"
    test_split: str = "test"  # cut from the train split when the corpus has none
    max_sentences: int = setting(50000, positive_int)  # cap per split for real corpora
    min_words: int = setting(1, int_at_least(1))
    # drop longer sentences (null: keep; longer than model.max_len are cut)
    max_words: int | None = setting(None, optional(positive_int))
