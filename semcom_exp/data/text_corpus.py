"""Sentences for the LAM-MSC semantic (SC) link: an embedded default corpus or a real one.

The SC link carries the TEXT that the MMA produced from an image, a clip or an utterance, so
the embedded default is made of templated sentences about the same things the data sets
talk about: VOC2012 object classes in scenes, UCF101 actions performed by people, traffic
counts with the UA-DETRAC vehicle words, and LibriSpeech-like narrative lines. Templates
give sentences with real grammar (better for a sentence-embedding score than box messages)
and a combinatorial space large enough that the held-out test sentences are new
combinations of known words, never copies of training sentences.

A real corpus comes from ``data.corpus``: a local ``.txt`` file (one sentence per line), a
local data set folder (``datasets.save_to_disk`` output, or csv / json / jsonl / parquet
files) or a Hugging Face hub id already in the local cache (e.g. ``europarl_bilingual``);
``data.text_column`` names the text field, dotted for nested fields (``translation.en``).
Nothing is downloaded at run time: a missing path or an uncached hub id raises DataError
saying what to download and where to put it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from semcom_exp.config_utils import to_plain
from semcom_exp.errors import ConfigError, DataError
from semcom_exp.schema import checked
from semcom_exp.schema.data import TextCorpusConfig

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
DATA_FILE_TYPES = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}

# --- vocabulary of the embedded corpus (the data sets' own label words, in plain English) --
#: VOC2012 classes as words (diningtable -> dining table, tvmonitor -> tv monitor, ...)
VOC_WORDS = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "dining table", "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa",
    "train", "tv monitor",
)  # fmt: skip
#: UCF101 classes as verb phrases (ApplyEyeMakeup -> applying eye makeup, ...)
UCF_ACTIONS = (
    "applying eye makeup", "playing basketball", "biking", "rowing", "hula hooping",
    "doing jumping jacks", "playing guitar", "playing the violin", "diving", "skiing",
    "surfing", "typing", "writing on a board", "juggling balls", "brushing teeth",
    "cutting in the kitchen", "walking with a dog", "riding a horse", "skateboarding",
    "playing tennis", "swinging a golf club", "knitting", "playing the piano", "boxing",
    "drumming", "fencing", "kayaking", "mopping the floor", "playing cricket", "skydiving",
    "shaving a beard", "throwing a discus", "doing push ups", "rock climbing", "archery",
)  # fmt: skip
#: UA-DETRAC vehicle types, verbatim, and their plurals
VEHICLES = {"car": "cars", "bus": "buses", "van": "vans", "others": "others"}
COLOURS = ("black", "white", "red", "blue", "green", "brown", "grey", "yellow")
SIZES = ("small", "large", "old", "young", "tall", "little")
PEOPLE = ("man", "woman", "boy", "girl", "child", "student", "player", "teacher", "farmer")
PLACES = (
    "park", "street", "kitchen", "garden", "beach", "field", "room", "gym", "station",
    "river", "lake", "yard", "road", "bridge", "market", "school",
)  # fmt: skip
ROADS = ("road", "highway", "bridge", "street", "crossing", "junction")
POSITIONS = (
    "next to", "behind", "in front of", "near", "under", "beside", "far from", "on top of",
)  # fmt: skip
STILL = ("standing", "sitting", "lying", "waiting", "resting", "sleeping")
MOVES = ("moving", "driving", "waiting", "turning", "stopping", "parked")
COUNTS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
TIMES = ("in the morning", "at night", "in the evening", "at noon", "in the rain", "today")
OWNERS = ("king", "captain", "farmer", "teacher", "girl", "boy", "doctor", "old woman")
OWNED = ("dog", "horse", "son", "daughter", "friend", "servant", "cat", "brother")
PAST = ("walked", "ran", "looked", "came", "spoke", "went", "turned", "waited")
ADVERBS = ("slowly", "quickly", "softly", "again", "at once", "quietly")
DIRECTIONS = ("to", "toward", "into", "across", "away from", "back to")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _np(rng: random.Random, noun: str, adjectives: Sequence[str] = COLOURS + SIZES) -> str:
    """``a red car`` / ``an old dog`` / ``a car``."""
    adj = rng.choice((None, *adjectives))
    phrase = f"{adj} {noun}" if adj else noun
    return f"{_article(phrase)} {phrase}"


def _count(rng: random.Random, vehicle: str) -> str:
    n = rng.randrange(len(COUNTS))
    word = vehicle if n == 0 else VEHICLES[vehicle]
    return f"{COUNTS[n]} {word}"


def _scene(rng: random.Random) -> str:  # VOC: objects in a scene
    a, b = rng.sample(VOC_WORDS, 2)
    return (
        f"{_np(rng, a)} is {rng.choice(STILL)} {rng.choice(POSITIONS)} the {b} "
        f"in the {rng.choice(PLACES)}."
    )


def _pair(rng: random.Random) -> str:  # VOC: a caption listing objects
    a, b = rng.sample(VOC_WORDS, 2)
    return f"there is {_np(rng, a)} and {_np(rng, b)} in the {rng.choice(PLACES)}."


def _action(rng: random.Random) -> str:  # UCF101: a person performing an action
    who = _np(rng, rng.choice(PEOPLE), SIZES)
    return f"{who} is {rng.choice(UCF_ACTIONS)} in the {rng.choice(PLACES)} {rng.choice(TIMES)}."


def _traffic(rng: random.Random) -> str:  # UA-DETRAC: vehicle counts on a road
    a, b = rng.sample(tuple(VEHICLES), 2)
    return (
        f"{_count(rng, a)} and {_count(rng, b)} are {rng.choice(MOVES)} on the "
        f"{rng.choice(ROADS)} {rng.choice(TIMES)}."
    )


def _story(rng: random.Random) -> str:  # LibriSpeech-like narrative line
    return (
        f"the {rng.choice(OWNERS)}'s {rng.choice(OWNED)} {rng.choice(PAST)} "
        f"{rng.choice(ADVERBS)} {rng.choice(DIRECTIONS)} the {rng.choice(PLACES)}."
    )


TEMPLATES = (_scene, _pair, _action, _traffic, _story)


def embedded_sentences(num: int, seed: int = 0) -> list[str]:
    """``num`` distinct templated sentences (lower case, one final period), deterministic."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    tries = 0
    while len(out) < num:
        tries += 1
        if tries > 50 * num + 1000:
            raise ConfigError("data.num_sentences", f"cannot draw {num} distinct sentences")
        out[rng.choice(TEMPLATES)(rng)] = None
    return list(out)


@dataclass
class TextCorpus:
    """Train / test sentences (disjoint as strings) and where they came from."""

    train: list[str]
    test: list[str]
    source: str

    def summary(self) -> dict[str, Any]:
        return {"corpus": self.source, "num_train": len(self.train), "num_test": len(self.test)}


# ------------------------------------------------------------------------------ loading


def _field(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _clean(texts: Sequence[Any], min_words: int, max_words: int | None) -> list[str]:
    """Stripped, non-empty, de-duplicated (order kept), within the word-count bounds."""
    out: dict[str, None] = {}
    for t in texts:
        if not isinstance(t, str):
            continue
        t = " ".join(t.split())
        n = len(t.split())
        if n >= min_words and (max_words is None or n <= max_words):
            out[t] = None
    return list(out)


def _download_hint(name: str) -> str:
    return (
        f'on a machine with network run `python -c "import datasets; '
        f"datasets.load_dataset('{name}').save_to_disk('DIR')\"` (or `huggingface-cli download "
        f"{name} --repo-type dataset --local-dir DIR`), copy DIR here and pass data.corpus=DIR; "
        "a plain .txt file with one sentence per line works too"
    )


def _hf_splits(corpus: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """A DatasetDict (or {split: Dataset}) from a local folder / file or the local HF cache."""
    import datasets

    path = Path(corpus).expanduser()
    config_name = cfg.get("config_name")
    if path.exists():
        if path.is_dir() and (
            (path / "dataset_dict.json").exists() or (path / "dataset_info.json").exists()
        ):
            ds = datasets.load_from_disk(str(path))
        elif path.is_file() and path.suffix in DATA_FILE_TYPES:
            ds = datasets.load_dataset(DATA_FILE_TYPES[path.suffix], data_files=str(path))
        elif path.is_dir():
            ds = datasets.load_dataset(str(path), config_name)
        else:
            raise DataError(
                f"data.corpus: {path} is neither a .txt / .csv / .json / .jsonl / .parquet file "
                "nor a data set folder"
            )
    else:
        if corpus.startswith(("/", ".", "~")):
            raise DataError(
                f"data.corpus: {path} does not exist; put a .txt file (one sentence per line) "
                f"or a saved data set there, or use data.corpus={EMBEDDED}. {_download_hint('europarl_bilingual')}"
            )
        try:
            with _offline():
                ds = datasets.load_dataset(corpus, config_name)
        except Exception as exc:
            raise DataError(
                f"data.corpus: the hub data set {corpus!r} is not available offline "
                f"({type(exc).__name__}); nothing is downloaded at run time. {_download_hint(corpus)}"
            ) from None
    if isinstance(ds, datasets.Dataset):
        return {"train": ds}
    return dict(ds)


class _offline:
    """Force the Hugging Face libraries offline for one call (restores the environment)."""

    KEYS = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")

    def __enter__(self):
        import os

        self.old = {k: os.environ.get(k) for k in self.KEYS}
        for k in self.KEYS:
            os.environ[k] = "1"
        try:
            import datasets.config as dc

            self.old_flag = dc.HF_HUB_OFFLINE
            dc.HF_HUB_OFFLINE = True
        except Exception:  # pragma: no cover - older datasets
            self.old_flag = None
        return self

    def __exit__(self, *exc):
        import os

        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self.old_flag is not None:
            import datasets.config as dc

            dc.HF_HUB_OFFLINE = self.old_flag
        return False


def _column(split: Any, column: str, limit: int | None) -> list[Any]:
    names = list(split.column_names)
    top = column.split(".")[0]
    if top not in names:
        raise ConfigError("data.text_column", f"no column {top!r} in the corpus; it has {names}")
    n = len(split) if limit is None else min(len(split), limit)
    rows = split.select(range(n))[top]
    if "." not in column:
        return list(rows)
    rest = column.split(".", 1)[1]
    return [_field(r, rest) if isinstance(r, Mapping) else None for r in rows]


def _split(texts: list[str], num_test: int, seed: int, key: str) -> tuple[list[str], list[str]]:
    if len(texts) < num_test + 1:
        raise DataError(
            f"{key}: only {len(texts)} usable sentences; need more than data.num_test={num_test}"
        )
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    test = [texts[i] for i in order[:num_test]]
    train = [texts[i] for i in order[num_test:]]
    return train, test


def load_corpus(data_cfg: Mapping[str, Any] | DictConfig) -> TextCorpus:
    """The configured corpus split into train / test sentences (see the module docstring).

    Keys: ``corpus`` (``embedded`` | path | hub id), ``num_sentences`` (embedded size),
    ``num_test``, ``seed`` (sentence draw and split), ``text_column``, ``config_name``,
    ``train_split`` / ``test_split`` (hub / folder split names; a missing test split is cut
    from the train split), ``max_sentences`` (cap per split), ``min_words`` / ``max_words``.
    """
    cfg = to_plain(checked(TextCorpusConfig, data_cfg, "data"))  # the schema's defaults, checked
    corpus, num_test, seed = str(cfg["corpus"]), int(cfg["num_test"]), int(cfg["seed"])
    min_words, max_words = int(cfg["min_words"]), cfg["max_words"]
    if corpus == EMBEDDED:
        num = int(cfg["num_sentences"])
        texts = _clean(embedded_sentences(num + num_test, seed), min_words, max_words)
        train, test = _split(texts, num_test, seed, "data.num_sentences")
        return TextCorpus(train, test, EMBEDDED)
    path = Path(corpus).expanduser()
    limit = cfg["max_sentences"]
    if path.is_file() and path.suffix == ".txt":
        lines = path.read_text(encoding="utf-8").splitlines()[: limit or None]
        texts = _clean(lines, min_words, max_words)
        train, test = _split(texts, num_test, seed, f"data.corpus ({path})")
        return TextCorpus(train, test, str(path))
    splits = _hf_splits(corpus, cfg)
    column = str(cfg["text_column"])
    train_name, test_name = str(cfg["train_split"]), cfg["test_split"]
    if train_name not in splits:
        raise ConfigError(
            "data.train_split", f"no split {train_name!r}; the corpus has {list(splits)}"
        )
    train = _clean(_column(splits[train_name], column, limit), min_words, max_words)
    if test_name and test_name in splits:
        test = _clean(_column(splits[test_name], column, limit), min_words, max_words)[:num_test]
        seen = set(test)
        train = [t for t in train if t not in seen]
    else:
        train, test = _split(train, num_test, seed, f"data.corpus ({corpus})")
    if not train or len(test) < 2:
        raise DataError(f"data.corpus ({corpus}): too few usable sentences after filtering")
    log.info("corpus %s: %d train / %d test sentences", corpus, len(train), len(test))
    return TextCorpus(train, test, corpus)
