"""Tokenizers of the SC link: a word-level one built from the corpus, or a Hugging Face one.

Both give fixed-length id tensors (the SC decoder classifies every position of a fixed
``max_len`` grid, so the targets are padded to it) and decode ids back to text, stopping at
the end-of-sentence token. The word tokenizer lower-cases, splits words, punctuation and
the possessive ``'s``, and detokenises so that ``decode(encode(s)) == s`` for the embedded
corpus; on other corpora it is lossy only in case and spacing (the sentence-embedding score
is uncased).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

_TOKEN_RE = re.compile(r"'s\b|\w+|[^\w\s]")
_DETOK_RE = re.compile(r" ([.,!?;:]|'s\b)")


class SCTokenizer(Protocol):
    """What the SC model and pipeline need from a tokenizer."""

    vocab_size: int
    pad_id: int
    max_len: int

    def encode(self, texts: Sequence[str]) -> torch.Tensor: ...

    def decode(self, ids: torch.Tensor) -> list[str]: ...

    def save(self, path: Path) -> None: ...


def split_words(text: str) -> list[str]:
    """Lower-cased word / punctuation / ``'s`` tokens."""
    return _TOKEN_RE.findall(text.lower())


def join_words(words: Sequence[str]) -> str:
    """Inverse of :func:`split_words` on well-formed text (no space before punctuation)."""
    return _DETOK_RE.sub(r"\1", " ".join(words))


class WordTokenizer:
    """Word-level vocabulary from a corpus: ``[PAD]`` 0, ``[UNK]`` 1, ``[EOS]`` 2, then words."""

    PAD, UNK, EOS = "[PAD]", "[UNK]", "[EOS]"
    SPECIALS = (PAD, UNK, EOS)
    FILE = "word_tokenizer.json"

    def __init__(self, words: Sequence[str], max_len: int) -> None:
        self.itos = list(self.SPECIALS) + [w for w in words if w not in self.SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.max_len = int(max_len)
        self.pad_id, self.unk_id, self.eos_id = 0, 1, 2

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, texts: Sequence[str], max_len: int, max_vocab: int) -> WordTokenizer:
        """The ``max_vocab`` most frequent words of ``texts`` (ties alphabetical): deterministic."""
        counts = Counter(w for t in texts for w in split_words(t))
        words = sorted(counts, key=lambda w: (-counts[w], w))[
            : max(0, max_vocab - len(cls.SPECIALS))
        ]
        return cls(words, max_len)

    def ids(self, text: str) -> list[int]:
        """Token ids of one text, truncated to ``max_len - 1`` and closed with ``[EOS]``."""
        ids = [self.stoi.get(w, self.unk_id) for w in split_words(text)][: self.max_len - 1]
        return ids + [self.eos_id]

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """(B, max_len) long: ids, ``[EOS]``, then ``[PAD]``."""
        out = torch.full((len(texts), self.max_len), self.pad_id, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = self.ids(t)
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Texts up to the first ``[EOS]``; ``[PAD]`` skipped, ``[UNK]`` kept as ``[UNK]``."""
        out = []
        for row in ids.tolist():
            words = []
            for i in row:
                if i == self.eos_id:
                    break
                if i != self.pad_id:
                    words.append(self.itos[i] if 0 <= i < len(self.itos) else self.UNK)
            out.append(join_words(words))
        return out

    def unk_rate(self, texts: Sequence[str]) -> float:
        """Share of word tokens of ``texts`` outside the vocabulary."""
        words = [w for t in texts for w in split_words(t)]
        return sum(w not in self.stoi for w in words) / max(1, len(words))

    def truncated(self, texts: Sequence[str]) -> float:
        """Share of ``texts`` longer than ``max_len - 1`` tokens (cut before sending)."""
        return sum(len(split_words(t)) > self.max_len - 1 for t in texts) / max(1, len(texts))

    def save(self, path: Path) -> None:
        data = {"kind": "word", "itos": self.itos, "max_len": self.max_len}
        (Path(path) / self.FILE).write_text(json.dumps(data))

    @classmethod
    def load(cls, path: Path) -> WordTokenizer:
        data = json.loads((Path(path) / cls.FILE).read_text())
        return cls(data["itos"][len(cls.SPECIALS) :], data["max_len"])

    def wordpiece_vocab(self) -> list[str]:
        """A BERT vocab.txt listing (specials first) made of these words, for a tiny BERT."""
        words = [w for w in self.itos if w not in self.SPECIALS]
        return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]


class HFTokenizer:
    """A Hugging Face tokenizer (BERT's) padded / truncated to ``max_len``."""

    DIR = "hf_tokenizer"

    def __init__(self, tokenizer: Any, max_len: int, words: WordTokenizer | None = None) -> None:
        self.tok = tokenizer
        self.words = words  # the corpus vocab a tiny BERT was built from (saved with it)
        self.max_len = int(max_len)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.stop_ids = {
            i for i in (tokenizer.sep_token_id, tokenizer.eos_token_id) if i is not None
        }

    @property
    def vocab_size(self) -> int:
        return len(self.tok)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        enc = self.tok(
            list(texts),
            padding="max_length",
            truncation=True,
            max_length=self.max_len,
            return_tensors="pt",
        )
        return enc["input_ids"].long()

    def decode(self, ids: torch.Tensor) -> list[str]:
        out = []
        for row in ids.tolist():
            keep = []
            for n, i in enumerate(row):
                if i in self.stop_ids and n > 0:
                    break
                keep.append(i)
            out.append(self.tok.decode(keep, skip_special_tokens=True).strip())
        return out

    def unk_rate(self, texts: Sequence[str]) -> float:
        unk = self.tok.unk_token_id
        ids = [i for t in texts for i in self.tok(t, add_special_tokens=False)["input_ids"]]
        return sum(i == unk for i in ids) / max(1, len(ids))

    def truncated(self, texts: Sequence[str]) -> float:
        lengths = [len(self.tok(t)["input_ids"]) for t in texts]
        return sum(n > self.max_len for n in lengths) / max(1, len(lengths))

    def save(self, path: Path) -> None:
        self.tok.save_pretrained(str(Path(path) / self.DIR))
        if self.words is not None:
            self.words.save(path)
