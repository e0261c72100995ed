"""The ``model`` group: the M2GSC decoder and the LAM-MSC CGE, SC model and LKB.

Sizes are in optimiser STEPS (so CPU budgets are set in steps); `*_paper` options of the group
(conf/model/) override these for a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semcom_exp.errors import ConfigError
from semcom_exp.schema.fields import (
    betas,
    int_at_least,
    list_of,
    node,
    non_negative,
    non_negative_int,
    number_in,
    one_of,
    optional,
    positive_finite,
    positive_int,
    require_multiple,
    seed_value,
    setting,
    snr_db,
    snr_range,
)

LR_SCHEDULE = one_of("constant", "cosine")
LEARNING_RATE = positive_finite  # > 0 and finite (nan / inf refused)


@dataclass
class DdpmDecoderConfig:
    """M2GSC semantic decoder: layout-conditioned DDPM (diffusers UNet2DModel + DDPMScheduler).
    One group for both roles: the SHARED (edge) model gets x_t + box raster and trains on
    t in [T - max_offload_steps, T); each LOCAL model also gets its scene's background and trains
    on every t. CPU defaults measured in DESIGN.md: 32x32, no attention, v_prediction (epsilon
    learns nothing usable in ~355 steps). experiment=m2gsc/fig5 keeps epsilon and 1000 steps."""

    image_size: int = setting(32, positive_int)
    block_out_channels: list[int] = setting([32, 64, 64], list_of(positive_int))
    layers_per_block: int = setting(1, positive_int)
    down_block_types: list[str] | None = None  # null = DownBlock2D at every level (no attention)
    up_block_types: list[str] | None = None  # null = UpBlock2D at every level
    norm_num_groups: int | None = setting(None, optional(positive_int))  # null: gcd(widths, 32)
    num_layout_channels: int = setting(4, positive_int)  # box raster: car, bus, van, others
    prediction_type: str = setting("v_prediction", one_of("epsilon", "v_prediction", "sample"))
    num_train_timesteps: int = setting(1000, positive_int)  # T
    beta_schedule: str = "linear"
    max_offload_steps: int = setting(
        650, non_negative_int
    )  # K_max: shared trains on t >= T - K_max
    lr: float = setting(2.0e-4, LEARNING_RATE)
    weight_decay: float = setting(0.0, non_negative)
    warmup_steps: int = setting(0, non_negative_int)  # linear warm-up (diffusers.optimization)
    lr_schedule: str = setting("constant", LR_SCHEDULE)  # cosine decays to 0 at train_steps
    # null = off; else the trained weights are an EMA (diffusers EMAModel, warm-up ramp)
    ema_decay: float | None = setting(None, optional(number_in(0, 1, open_high=True)))
    channels_last: bool = False  # channels_last memory format (same maths; make bench, (d))
    batch_size: int = setting(16, positive_int)
    train_steps: int = setting(355, non_negative_int)  # optimiser steps per model
    num_inference_steps: int = setting(20, positive_int)  # strided sampling (1000 = the paper's)
    sampler: str = setting(
        "ddpm", one_of("ddpm", "ddim")
    )  # ddpm ancestral (the paper) | ddim eta 0

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        levels = len(node.block_out_channels)
        for name in ("down_block_types", "up_block_types"):
            types = node.get(name)
            if types is not None and len(types) != levels:
                raise ConfigError(
                    f"{key}.{name}",
                    f"expected {levels} block types (one per block_out_channels entry), "
                    f"got {len(types)}",
                )
        # every down block but the last halves the image (diffusers UNet2DModel)
        factor = 2 ** (levels - 1)
        require_multiple(
            f"{key}.image_size",
            int(node.image_size),
            factor,
            f"the UNet halves the image {levels - 1} times: {levels} block_out_channels",
        )
        groups = node.norm_num_groups
        if groups is not None and any(c % groups for c in node.block_out_channels):
            raise ConfigError(
                f"{key}.norm_num_groups",
                f"{groups} does not divide every block_out_channels entry "
                f"{list(node.block_out_channels)}",
            )


@dataclass
class CgeConfig:
    """LAM-MSC CGE: conditional-GAN channel estimator (semcom_exp.models.cge.CgeModel).
    Generator: (pilots, received pilots, SNR) -> H over the (S, K) grid: a first guess from the
    pilots (`base`) refined by a residual CNN mixing across subcarriers and OFDM symbols.
    Discriminator: PatchGAN on (observation, CSI) pairs. Loss (pix2pix): BCE + l1_weight * L1;
    loss=l1only drops the adversary. Everything except `loss` and `seed` is part of the trained
    generator's cache key, with the channel's grid, profile and pilots (docs/cge.md)."""

    loss: str = setting(
        "cgan", one_of("cgan", "l1only")
    )  # the generator load_cge_estimator returns
    seed: Any = setting(
        "${seed}", seed_value
    )  # training seed (initial weights, training channel draws)
    # ours (mixer CNN + PatchGAN) or authors (their Conv1d networks, experiment lam_msc/cge_authors)
    arch: str = setting("ours", one_of("ours", "authors"))
    width: int = setting(16, positive_int)  # generator CNN channels
    depth: int = setting(2, positive_int)  # mixer blocks
    noise_input: bool = (
        True  # feed the SNR (dB / 10) as a constant map (the LMMSE baselines know it)
    )
    # the first guess the CNN corrects: interp (the `ls` baseline's interpolation), linear (a
    # learned complex map from it), wiener (a learned noise-aware map), none
    base: str = setting("wiener", one_of("interp", "linear", "wiener", "none"))
    disc_width: int = setting(16, positive_int)
    l1_weight: float = setting(
        100.0, non_negative
    )  # lambda of BCE + lambda * L1 (the authors' 100)
    # each grid's L1 weighted by noise_variance ** -power (0: plain L1; 0.5: relative to the
    # noise std, so high-SNR grids are not drowned out by low-SNR ones; docs/cge.md)
    l1_noise_power: float = setting(0.25, number_in(0, 1))
    lr: float = setting(2.0e-3, LEARNING_RATE)  # generator (Adam, pix2pix betas)
    disc_lr: float = setting(2.0e-4, LEARNING_RATE)  # discriminator
    betas: list[float] = setting([0.5, 0.999], betas)
    lr_schedule: str = setting("cosine", LR_SCHEDULE)  # cosine: to zero at train_steps
    # iterations per generator (one D step + one G step, or one G step for l1only)
    train_steps: int = setting(2000, positive_int)
    batch_size: int = setting(32, positive_int)  # grids per iteration, drawn on the fly
    # training SNR, uniform in dB per grid: 5 dB past the evaluation grid's top (-5..30 dB), so
    # 30 dB is not the edge of what the generator saw (docs/cge.md "Levers")
    snr_db_range: Any = setting([-5, 35], snr_range)
    # validation on fresh channels (own seed); the generator with the best mean NMSE is kept
    val_every_steps: int = setting(100, positive_int)
    val_snr_db: Any = setting([-5, 10, 25], snr_db)
    val_num_grids: int = setting(256, positive_int)  # grids per validation SNR
    # the generator an experiment uses: best (by validation NMSE) or last; both are in the
    # artifact, so this is not part of its key
    keep: str = setting("best", one_of("best", "last"))
    # arch=authors at evaluation: BatchNorm with its running statistics (as the authors'
    # inference code) or each batch's own (a diagnosis; docs/cge.md); not part of the key
    norm_stats: str = setting("running", one_of("running", "batch"))


@dataclass
class ScModelConfig:
    """LAM-MSC semantic-communication model (semcom_exp.models.sc_transformer.SCTransformer):
    transformer encoder over tokens -> linear -> channel_dim reals = channel_dim/2 complex
    symbols, power-normalised per message -> channel + CSI + one-tap equaliser -> 2-layer
    transformer decoder with learned position queries (non-autoregressive). Loss: CE +
    mse_weight * feature MSE. Everything here is part of the trained model's cache key."""

    # null: train the small encoder below; minilm: the packaged all-MiniLM-L6-v2 (offline);
    # else a Hugging Face encoder by local path (or a hub id already in the local HF cache),
    # e.g. BERT-base
    encoder: str | None = None
    # {hidden_size: 32, num_hidden_layers: 1, ...}: a random tiny BERT with the corpus words as
    # vocab (tests the pretrained path offline)
    tiny_bert: dict[str, Any] | None = None
    freeze_encoder: bool = False  # pretrained encoder only: keep its weights fixed
    max_len: int = setting(20, int_at_least(2))  # token positions per message (EOS included)
    max_vocab: int = setting(5000, positive_int)  # word tokenizer: most frequent training words
    d_model: int = setting(64, positive_int)  # scratch encoder width = decoder width
    nhead: int = setting(4, positive_int)
    enc_layers: int = setting(2, positive_int)  # scratch encoder
    dec_layers: int = setting(2, positive_int)  # semantic decoder (the authors' 2)
    ff_dim: int = setting(128, positive_int)
    dropout: float = setting(0.0, number_in(0, 1, open_high=True))
    channel_dim: int = setting(128, int_at_least(2))  # reals per message (the authors' 128)
    equalizer: str = setting("mmse", one_of("mmse", "zf"))  # zf: y / h (the authors')
    # CSI used while training (every sc.csi is evaluated); cge: the CGE in the loop, as the
    # authors train (OFDM only)
    train_csi: str = setting("perfect", one_of("perfect", "ls", "cge", "none"))
    # the authors use 1, which measured WORSE here with the scratch encoder (docs/sc.md)
    mse_weight: float = setting(0.0, non_negative)
    lr: float = setting(2.0e-3, LEARNING_RATE)
    encoder_lr: float | None = setting(
        None, optional(LEARNING_RATE)
    )  # pretrained encoder (null: lr)
    weight_decay: float = setting(1.0e-5, non_negative)
    warmup_steps: int = setting(50, non_negative_int)
    train_steps: int = setting(600, non_negative_int)  # per channel kind (and seed)
    batch_size: int = setting(64, positive_int)
    snr_db_range: Any = setting([-5, 20], snr_range)  # training SNR, uniform in dB per message

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        if node.channel_dim % 2:
            raise ConfigError(
                f"{key}.channel_dim",
                f"expected an even number (pairs become complex symbols), got {node.channel_dim}",
            )
        if node.d_model % node.nhead:
            raise ConfigError(
                f"{key}.nhead", f"d_model={node.d_model} is not divisible by nhead={node.nhead}"
            )
        if node.encoder and node.tiny_bert:
            raise ConfigError(
                f"{key}.tiny_bert", "set either encoder (a pretrained model) or tiny_bert, not both"
            )


@dataclass
class TinyLmConfig:
    """The tiny GPT-2 built from config (lm: tiny-gpt2)."""

    n_layer: int = setting(2, positive_int)
    n_embd: int = setting(128, positive_int)
    n_head: int = setting(4, positive_int)
    n_positions: int = setting(128, positive_int)


@dataclass
class VirtualTokensConfig:
    """A soft prompt (prompt tuning) or learned keys / values at every layer (prefix tuning)."""

    num_virtual_tokens: int = setting(8, positive_int)
    lr: float = setting(3.0e-2, LEARNING_RATE)


@dataclass
class LoraConfig:
    r: int = setting(8, positive_int)
    alpha: int = setting(16, positive_int)
    dropout: float = setting(0.0, number_in(0, 1, open_high=True))
    # null = c_attn/c_proj/c_fc on GPT-2, else all-linear
    target_modules: list[str] | None = None
    lr: float = setting(3.0e-3, LEARNING_RATE)


@dataclass
class LkbModelConfig:
    """LAM-MSC personalised knowledge base (LKB): a global causal LM + per-user peft adapters.
    CPU default: a tiny GPT-2 with a word-level tokenizer over the corpus vocabulary,
    pre-trained from scratch on the general corpus. `lm` may be a local folder (or a hub id
    already in the local HF cache) of any HF causal LM; nothing is downloaded at run time."""

    lm: str = "tiny-gpt2"
    tiny: TinyLmConfig = node(TinyLmConfig)
    general_documents: int = setting(20000, positive_int)  # pre-training documents
    context_share: float = setting(0.5, number_in(0, 1))  # documents stating their facts first
    global_steps: int = setting(1000, non_negative_int)  # on the general corpus (0 = lm as is)
    global_batch_size: int = setting(32, positive_int)
    global_lr: float = setting(2.0e-3, LEARNING_RATE)
    warmup_steps: int = setting(100, non_negative_int)
    max_length: int = setting(96, int_at_least(8))  # tokens per training line (longer are cut)
    # per-user adapters, trained on the user's personal prompt base
    adapter_steps: int = setting(300, non_negative_int)
    adapter_batch_size: int = setting(16, positive_int)
    prompt_tuning: VirtualTokensConfig = node(VirtualTokensConfig)  # soft prompt (the paper)
    prefix_tuning: VirtualTokensConfig = node(VirtualTokensConfig)
    lora: LoraConfig = node(LoraConfig)
    max_new_tokens: int = setting(16, positive_int)  # greedy decoding
