"""LAM-MSC personalised LLM knowledge base (LKB): a global causal LM + per-user peft adapters.

Why: the paper fine-tunes one global LLM per user on a personal prompt base with
parameter-efficient tuning, so the same short message is extracted / recovered in that user's
context. Here:

- the **global LM** is a tiny GPT-2 (``GPT2Config``) with a word-level tokenizer built offline
  from the corpus vocabulary, pre-trained from scratch on a general corpus (CPU default), or
  any Hugging Face causal LM by local path / cached hub id (e.g. a 0.5B instruct model on a
  GPU); nothing is downloaded at run time;
- a **user adapter** is ``none`` (the global LM as is), ``prompt_tuning`` (peft soft prompt
  at the input, the paper's method), ``prefix_tuning`` (peft learned keys / values at every
  layer), ``lora`` (peft LoRA), or ``in_context`` (no training: the user's fact lines are
  prepended to every query — the retrieval baseline);
- adapters are saved with ``save_pretrained`` and loaded with ``PeftModel.from_pretrained``.

Training is a LightningModule over plain text lines (full-sequence causal LM loss);
generation is greedy and batched only over prompts of equal token length (no padding, so
batched and one-by-one outputs are identical).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch

from semcom_exp.errors import ConfigError, TrainingDivergedError
from semcom_exp.hub import ModelLookup
from semcom_exp.resume import StepSampler
from semcom_exp.schema import checked
from semcom_exp.schema.experiments import LKB_ADAPTERS
from semcom_exp.schema.experiments import TRAINED_ADAPTERS as TRAINED
from semcom_exp.schema.model import LoraConfig as LoraSettings
from semcom_exp.schema.model import VirtualTokensConfig

log = logging.getLogger(__name__)

ADAPTERS, TRAINED_ADAPTERS = LKB_ADAPTERS, TRAINED  # the schema's names
TINY = "tiny-gpt2"
SPECIAL_TOKENS = {
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "eos_token": "<eos>",
    "bos_token": "<bos>",
}


class LanguageModelUnavailable(ConfigError):
    """The configured LM cannot be loaded here; the message says what to fetch and where."""


# ------------------------------------------------------------------------------ global LM
def word_tokenizer(vocabulary: Sequence[str]):
    """A word-level ``PreTrainedTokenizerFast`` over ``vocabulary`` (+ pad/unk/eos/bos), offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = list(SPECIAL_TOKENS.values())
    vocab = {
        tok: i for i, tok in enumerate(specials + [w for w in vocabulary if w not in specials])
    }
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)


def tiny_gpt2(
    tokenizer, n_layer: int = 2, n_embd: int = 128, n_head: int = 4, n_positions: int = 128
):
    """A GPT-2 built from config (random init) for ``tokenizer``'s vocabulary."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=int(n_positions),
        n_embd=int(n_embd),
        n_layer=int(n_layer),
        n_head=int(n_head),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return GPT2LMHeadModel(config)


def _lm_lookup(key: str) -> ModelLookup:
    return ModelLookup(
        key=key,
        what="a Hugging Face causal LM: config.json, weights, tokenizer files",
        suggest="HUB_ID",
        otherwise=f"or use {key}={TINY}",
        error=LanguageModelUnavailable,
    )


def preflight_lm(name_or_path: str, key: str = "model.lm") -> None:
    """Fail fast, before any training, when the LM cannot be found offline."""
    if str(name_or_path) != TINY:
        _lm_lookup(key).source(name_or_path)


def load_causal_lm(name_or_path: str, key: str = "model.lm"):
    """(model, tokenizer) from a local folder, or a hub id already in the local HF cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def load(source: str) -> tuple[Any, Any]:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        return AutoModelForCausalLM.from_pretrained(source, local_files_only=True), tokenizer

    model, tokenizer = _lm_lookup(key).load(name_or_path, load)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def load_saved_lm(path: Path):
    """(model, tokenizer) of a global-LM artifact written by ``save_pretrained``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


# ------------------------------------------------------------------------------ adapters
def lora_targets(model) -> list[str] | str:
    """GPT-2's fused Conv1D projections, else every linear layer (peft's ``all-linear``)."""
    if getattr(model.config, "model_type", "") == "gpt2":
        return ["c_attn", "c_proj", "c_fc"]
    return "all-linear"


#: each trained adapter's settings node (model.prompt_tuning, model.prefix_tuning, model.lora)
ADAPTER_SCHEMA = {
    "prompt_tuning": VirtualTokensConfig,
    "prefix_tuning": VirtualTokensConfig,
    "lora": LoraSettings,
}


def attach_adapter(model, kind: str, cfg: Mapping[str, Any]):
    """Wrap ``model`` in a fresh peft adapter of ``kind``; only the adapter's params train."""
    from peft import (
        LoraConfig,
        PrefixTuningConfig,
        PromptTuningConfig,
        PromptTuningInit,
        TaskType,
        get_peft_model,
    )

    if kind not in ADAPTER_SCHEMA:
        raise ConfigError(
            "adapter", f"cannot train adapter {kind!r}; trainable ones: {TRAINED_ADAPTERS}"
        )
    node = checked(ADAPTER_SCHEMA[kind], cfg, f"model.{kind}")  # the schema's defaults
    if kind == "prompt_tuning":
        pc = PromptTuningConfig(
            task_type=TaskType.CAUSAL_LM,
            num_virtual_tokens=int(node.num_virtual_tokens),
            prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB,
        )
    elif kind == "prefix_tuning":
        pc = PrefixTuningConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=int(node.num_virtual_tokens)
        )
    else:
        targets = node.target_modules or lora_targets(model)
        pc = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=int(node.r),
            lora_alpha=int(node.alpha),
            lora_dropout=float(node.dropout),
            target_modules=list(targets) if not isinstance(targets, str) else targets,
            fan_in_fan_out=getattr(model.config, "model_type", "") == "gpt2",
        )
    return get_peft_model(model, pc)


def load_adapter(base_model, path: Path):
    """``PeftModel.from_pretrained``: ``base_model`` (a fresh copy: LoRA edits it) + adapter."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(path), is_trainable=False)


def trainable_parameters(model: torch.nn.Module) -> dict[str, int]:
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": n_train, "total": sum(p.numel() for p in model.parameters())}


# ------------------------------------------------------------------------------ training
class TextLines(torch.utils.data.Dataset):
    """Tokenised text lines, each followed by EOS, truncated to ``max_length`` tokens.

    A line ``PROMPT => ANSWER`` is tokenised as two parts (exactly as :func:`generate` sees the
    prompt) and, with ``answer_only_loss``, only the answer and EOS are scored: the prompt
    (e.g. random facts in the general corpus) is context, not something to predict. Lines
    without the separator (a prompt base's fact lines, ``max is my dog .``) are scored after
    their first word: the topic has no context to predict it from, what follows is the
    knowledge.
    """

    def __init__(
        self,
        lines: Sequence[str],
        tokenizer,
        max_length: int = 128,
        answer_only_loss: bool = True,
        sep: str = "=>",
    ):
        eos = f" {tokenizer.eos_token}" if tokenizer.eos_token else ""
        self.items: list[tuple[list[int], int]] = []  # (ids, number of unscored leading tokens)
        for line in lines:
            head, found, tail = line.partition(f" {sep} ")
            if found:
                prompt = tokenizer(f"{head} {sep}", add_special_tokens=False)["input_ids"]
                answer = tokenizer(f" {tail}{eos}", add_special_tokens=False)["input_ids"]
                ids, skip = prompt + answer, len(prompt) if answer_only_loss else 0
            else:
                first, _, rest = line.partition(" ")
                topic = tokenizer(first, add_special_tokens=False)["input_ids"]
                ids = (
                    topic
                    + tokenizer(f" {rest}{eos}" if rest else eos.strip(), add_special_tokens=False)[
                        "input_ids"
                    ]
                )
                skip = len(topic) if answer_only_loss else 0
            self.items.append((ids[:max_length], skip))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.items[i]

    def collate(self, batch: list[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
        """Right-pad; padded positions are masked out of attention and loss."""
        width = max(len(ids) for ids, _ in batch)
        ids_t = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, (ids, skip) in enumerate(batch):
            ids_t[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
            labels[row, skip : len(ids)] = torch.tensor(ids[skip:])
        return {"input_ids": ids_t, "attention_mask": mask, "labels": labels}


def text_loader(
    lines: Sequence[str],
    tokenizer,
    batch_size: int,
    seed: int,
    max_length: int = 128,
    answer_only_loss: bool = True,
    num_batches: int | None = None,
):
    """A seeded shuffling DataLoader over text lines (see :class:`TextLines`). With
    ``num_batches``: one pass of that many batches indexed by step (``StepSampler``: a
    resumed stage continues the same order); without: per-epoch shuffles."""
    data = TextLines(lines, tokenizer, max_length, answer_only_loss)
    batch = min(int(batch_size), len(data))
    if num_batches is not None:
        order = StepSampler(len(data), batch, int(num_batches), int(seed), "lkb/batches")
        return torch.utils.data.DataLoader(
            data, batch_size=batch, sampler=order, collate_fn=data.collate
        )
    gen = torch.Generator().manual_seed(int(seed))
    return torch.utils.data.DataLoader(
        data, batch_size=batch, shuffle=True, collate_fn=data.collate, generator=gen
    )


class CausalLMModule(L.LightningModule):
    """Trains whatever parameters of ``model`` require grad (all of a global LM, an adapter's own)."""

    def __init__(
        self,
        model: torch.nn.Module,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        name: str = "lm",
    ):
        super().__init__()
        self.model = model
        self.lr, self.weight_decay, self.warmup_steps = (
            float(lr),
            float(weight_decay),
            int(warmup_steps),
        )
        self.name = name
        self.loss_history: list[dict[str, float]] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"{self.name}: training loss is {loss.item()} at step {self.global_step}; lower the lr"
            )
        self.log("train/loss", loss, prog_bar=True)
        self.loss_history.append({"step": int(self.global_step), "loss": float(loss.detach())})
        return loss

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the per-step losses in checkpoints, so a resumed stage reports all of them."""
        checkpoint["lkb_loss_history"] = list(self.loss_history)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.loss_history = list(checkpoint.get("lkb_loss_history", []))

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.warmup_steps <= 0:
            return opt
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / self.warmup_steps)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


# ------------------------------------------------------------------------------ generation
def generation_device() -> torch.device:
    """Like Lightning's ``accelerator=auto`` for inference: the GPU when there is one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def context_length(model) -> int | None:
    """Positions the (base) model can embed: GPT-2's ``n_positions``, else
    ``max_position_embeddings``; None when the config states neither."""
    config = model.get_base_model().config if hasattr(model, "get_base_model") else model.config
    for key in ("n_positions", "max_position_embeddings"):
        if getattr(config, key, None):
            return int(getattr(config, key))
    return None


def virtual_tokens(model) -> int:
    """Positions a peft prompt-learning adapter (prompt / prefix tuning) puts before the
    prompt; 0 for LoRA and plain models."""
    config = getattr(model, "active_peft_config", None)
    if config is not None and getattr(config, "is_prompt_learning", False):
        return int(config.num_virtual_tokens)
    return 0


class ContextOverflow(ConfigError):
    """A prompt plus the tokens to generate does not fit in the LM's positions."""


def check_fits(model, prompt_tokens: int, max_new_tokens: int) -> None:
    """Raise :class:`ContextOverflow` unless virtual + prompt + new tokens fit the context."""
    ctx = context_length(model)
    need = virtual_tokens(model) + int(prompt_tokens) + int(max_new_tokens)
    if ctx is not None and need > ctx:
        raise ContextOverflow(
            "model.max_new_tokens",
            f"a prompt of {prompt_tokens} tokens + {virtual_tokens(model)} virtual tokens + "
            f"{max_new_tokens} new tokens = {need} positions, but the LM has {ctx} "
            "(model.tiny.n_positions for the tiny LM); lower model.max_new_tokens, shorten the "
            "prompt (fewer facts / shorter messages) or use an LM with a longer context",
        )


def _greedy_by_forward(model, ids: torch.Tensor, max_new_tokens: int, eos: int) -> torch.Tensor:
    """Greedy decoding by full forward passes (no KV cache): the exact path training uses.

    Why: peft's ``generate`` for prompt / prefix tuning patches the library's KV-cache
    bookkeeping, which broke when transformers 5.24 renamed ``past_key_values`` to ``cache``
    (the soft prompt was re-inserted at every step). The forward pass has no such coupling.
    """
    seq, done = ids, torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    for _ in range(int(max_new_tokens)):
        logits = model(input_ids=seq, attention_mask=torch.ones_like(seq)).logits[:, -1]
        nxt = torch.where(done, torch.full_like(done, eos, dtype=torch.long), logits.argmax(-1))
        seq = torch.cat([seq, nxt[:, None]], dim=1)
        done |= nxt == eos
        if bool(done.all()):
            break
    return seq[:, ids.shape[1] :]


def _greedy_by_generate(model, tokenizer, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding with the library's ``generate`` (KV cache) for plain and LoRA models."""
    eos = tokenizer.eos_token_id
    gen = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=int(max_new_tokens),
        do_sample=False,
        num_beams=1,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
    )
    return gen[:, ids.shape[1] :]


@torch.no_grad()
def generate(
    model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 16, batch_size: int = 64
) -> list[str]:
    """Greedy continuation of each prompt, decoded and cut at EOS / the first newline.

    Prompts are batched only with prompts of the same token length, so no padding enters the
    computation and results equal one-by-one generation. Every prompt must fit the LM's
    context with the new tokens (:func:`check_fits`), checked before any decoding.
    """
    device = next(model.parameters()).device
    model.eval()
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    if encoded:
        check_fits(model, max(len(ids) for ids in encoded), max_new_tokens)
    groups: dict[int, list[int]] = {}
    for i, ids in enumerate(encoded):
        groups.setdefault(len(ids), []).append(i)
    out: list[str] = [""] * len(prompts)
    eos = tokenizer.eos_token_id
    prompt_learning = virtual_tokens(model) > 0
    for idx in groups.values():
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            ids = torch.tensor([encoded[i] for i in chunk], device=device)
            if prompt_learning:
                new_ids = _greedy_by_forward(model, ids, max_new_tokens, eos)
            else:
                new_ids = _greedy_by_generate(model, tokenizer, ids, max_new_tokens)
            for row, i in enumerate(chunk):
                new = new_ids[row].tolist()
                if eos in new:
                    new = new[: new.index(eos)]
                text = tokenizer.decode(new, skip_special_tokens=True)
                out[i] = " ".join(text.split("\n")[0].split())
    return out
