"""The LKB of LAM-MSC end2end: the sender's LKB extracts key semantics, the receiver's expands.

In the chain ``MMA text -> sender LKB -> SC link -> receiver LKB`` each modality's data set
has one sending user (the owner of the photos, recordings, videos), and both ends run that
user's LKB: the global LM plus the user's adapter.

- **Task.** *Extract*: MMA text -> its key semantics (the content words,
  :mod:`semcom_exp.semantics.key_semantics`); *expand*: key semantics -> the full text. Both
  are prompts of the persona LKB's format (``extract : TEXT =>``, ``expand : KEYS =>``).
- **Global LM** (stage ``lkb_global_lm``, cached): the tiny GPT-2 of ``lam_msc/lkb`` (or any
  HF causal LM by ``lkb_model.lm``), trained on general, non-personal text: the SC text
  corpus's sentences in both exchange directions, plus as many random word sequences over
  the whole vocabulary, so every word has a trained embedding and the LM learns to copy the
  content words of texts it never saw. The vocabulary spans the corpus and every modality's
  training texts (a general LM knows the words, not the users' sentences).
- **Users' adapters** (stage ``lkb_adapter``, cached; ``end2end.lkb.adapter``, LoRA by
  default, ``none`` = the global LM alone): trained on the user's personal prompt base, the
  exchange lines of the MMA texts of that modality's *training* samples, with
  ``end2end.lkb.replay`` general lines per personal line mixed in (a user has a few dozen
  texts; alone they are memorised). Held-out samples never enter any LKB stage.

Both directions decode greedily, so a run is deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from semcom_exp.data import personas as P
from semcom_exp.models import lkb as M
from semcom_exp.runner import RunContext
from semcom_exp.semantics.key_semantics import key_semantics, lm_form, plain_form

log = logging.getLogger(__name__)

ADAPTERS = ("none", *M.TRAINED_ADAPTERS)
PROMPT_WORDS = ("extract", "expand", ":", P.SEP)


def check_lkb_node(e2e: DictConfig) -> str:
    """The configured adapter kind (checked by the schema, End2endLkbConfig); what it cannot
    say: the LKB's language model can be found offline."""
    M.preflight_lm(e2e.lkb_model.lm, "end2end.lkb_model.lm")
    return str(e2e.lkb.adapter)


def exchange(text: str) -> list[str]:
    """The extract and expand lines of one text (LM form)."""
    return P.exchange_lines(key_semantics(text), lm_form(text))


def general_documents(
    sentences: Sequence[str], vocabulary: Sequence[str], count: int, seed: int
) -> list[str]:
    """Exchange lines of the corpus sentences plus ``count`` random word sequences."""
    lines = [line for s in sentences for line in exchange(s)]
    rng = np.random.default_rng(seed)
    words = [w for w in vocabulary if w not in PROMPT_WORDS]
    for _ in range(count):
        seq = rng.choice(words, size=int(rng.integers(1, 13))).tolist()
        lines += exchange(" ".join(seq) + (" ." if rng.random() < 0.5 else ""))
    return lines


def prompt_base(texts: Sequence[str], general: Sequence[str], replay: int, seed: int) -> list[str]:
    """A user's exchange lines plus ``replay`` general lines per line of them (sampled with
    ``seed``): a handful of personal texts alone would be memorised, not generalised from."""
    own = [line for t in texts for line in exchange(t)]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(general), size=min(len(general), replay * len(own)), replace=False)
    return own + [general[i] for i in sorted(picks)]


def _digest(lines: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


class MmaKnowledgeBase:
    """Per modality (= user): the LM with that user's adapter; extract and expand in plain text."""

    def __init__(self, models: dict[str, tuple[Any, Any]], max_new_tokens: int) -> None:
        self.models = models
        self.max_new_tokens = int(max_new_tokens)

    def _generate(self, modality: str, prompts: list[str]) -> list[str]:
        model, tokenizer = self.models[modality]
        return M.generate(model, tokenizer, prompts, self.max_new_tokens)

    def extract(self, modality: str, texts: Sequence[str]) -> list[str]:
        """The sender's LKB: key semantics of each text."""
        prompts = [P.extract_prompt(lm_form(t)) for t in texts]
        return [plain_form(k) for k in self._generate(modality, prompts)]

    def expand(self, modality: str, keywords: Sequence[str]) -> list[str]:
        """The receiver's LKB: a full text from each (possibly corrupted) key-semantics string."""
        prompts = [P.expand_prompt(lm_form(k)) for k in keywords]
        return [plain_form(t) for t in self._generate(modality, prompts)]


def build_knowledge_base(
    cfg: DictConfig,
    ctx: RunContext,
    corpus_sentences: Sequence[str],
    texts: dict[str, dict],
    modalities: Sequence[str],
) -> tuple[MmaKnowledgeBase, dict[str, Any]]:
    """Train (or reuse) the global LM and every user's adapter; the KB and a summary."""
    from semcom_exp.stages.lkb import (
        global_stage_config,
        quiet_lm_warnings,
        train_adapter,
        train_lm,
        user_model,
    )

    quiet_lm_warnings()

    e2e = cfg.end2end
    kind = check_lkb_node(e2e)
    m = e2e.lkb_model
    seed = int(cfg.seed)
    train_texts = [t for mod in modalities for t in texts[mod]["train"]]
    vocab_texts = list(corpus_sentences) + train_texts
    vocabulary = list(PROMPT_WORDS) + sorted(
        {w for t in vocab_texts for w in lm_form(t).split()} - set(PROMPT_WORDS)
    )
    count = int(e2e.lkb.random_sequences)
    stage = global_stage_config(m, seed)
    for unused in ("general_documents", "context_share"):  # the persona corpus's settings
        stage.pop(unused)
    docs = general_documents(corpus_sentences, vocabulary, count, seed)
    stage["documents"] = f"end2end:{_digest(docs)}:{_digest(vocabulary)}"
    global_path = train_lm(cfg, ctx, stage, lambda: vocabulary, lambda: docs)

    models: dict[str, tuple[Any, Any]] = {}
    summary: dict[str, Any] = {"lkb_adapter": kind, "lkb_global_documents": len(docs)}
    for mod in modalities:
        adapter_path: Path | None = None
        if kind != "none":
            base = prompt_base(texts[mod]["train"], docs, int(e2e.lkb.replay), seed)
            adapter_path = train_adapter(cfg, ctx, global_path, f"{mod}_user", base, kind, m)
            summary[f"lkb_prompt_base_{mod}"] = len(base)
        models[mod] = user_model(global_path, adapter_path)
    return MmaKnowledgeBase(models, int(m.max_new_tokens)), summary
