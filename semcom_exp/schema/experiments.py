"""Each experiment's own settings node (``m2gsc:``, ``sc:``, ...) and the root config.

An experiment file (conf/experiment/) places its node (``/schema/experiment@NODE: NAME`` in its
defaults list) and overrides these defaults; a node it does not use is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from semcom_exp.config_utils import as_list
from semcom_exp.errors import ConfigError
from semcom_exp.schema.fields import (
    int_at_least,
    list_of,
    node,
    non_negative_int,
    non_negative_ints,
    number_in,
    one_of,
    optional,
    positive_finite,
    positive_int,
    seed_value,
    seed_values,
    setting,
    slot,
    snr_db,
)
from semcom_exp.schema.model import LkbModelConfig

MODALITIES = ("image", "audio", "video")
THRESHOLD = number_in(0, 1, open_low=True)  # a cosine threshold (the paper's 0.6)
TEXT_MODEL = "all-MiniLM-L6-v2"  # sentence embedder, packaged offline (or a local folder)


def _path(key: str, v: Any) -> None:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(key, f"expected a path, got {v!r}")


def _data_nodes(node: Any, key: str) -> None:
    """A data node for every modality listed (placed by the experiment's defaults)."""
    for m in node.modalities:
        if (node.data or {}).get(m) is None:
            raise ConfigError(
                f"{key}.data.{m}",
                f"missing; add `- /data@{key}.data.{m}: NAME` to the experiment's defaults",
            )


def _name(key: str, v: Any) -> None:
    if not isinstance(v, str) or not v:
        raise ConfigError(key, f"expected a name, got {v!r}")


# ------------------------------------------------------------------------------ M2GSC
@dataclass
class FramesConfig:
    """Frames per receiver (scenario); disjoint sets."""

    local: int = setting(160, positive_int)
    shared: int = setting(48, positive_int)
    eval: int = setting(8, int_at_least(2))  # >= 2: the shuffled-pair chance level


@dataclass
class M2gscConfig:
    """M2GSC split inference (semcom_exp.experiments.m2gsc, docs/m2gsc.md)."""

    num_receivers: int = setting(3, positive_int)
    frames: FramesConfig = node(FramesConfig)
    split_seed: int = setting(0, seed_value)
    lpips_net: str = setting("alex", one_of("alex", "vgg", "squeeze"))
    num_examples: int = setting(3, non_negative_int)
    loss_eval_repeats: int = setting(4, positive_int)
    # decoders of a wave trained at once in this many 1-thread processes
    train_workers: int = setting(2, positive_int)
    shared_steps: int | None = setting(None, optional(non_negative_int))  # null = model.train_steps
    # how each receiver's local model starts (docs/m2gsc.md, "Personalisation")
    local_init: str = setting("pooled", one_of("scratch", "shared", "pooled"))
    # per receiver: training (scratch) or fine-tuning steps; 0 = pooled as is
    local_steps: int = setting(0, non_negative_int)
    local_lr: float | None = setting(None, optional(positive_finite))  # null = model.lr

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        if root is None:
            return
        for name in ("offload_steps", "handoff", "seeds"):
            if root.get(name) is None or OmegaConf.select(root, name) == []:
                raise ConfigError(name, "give at least one value (a list of them for a sweep)")
        model = root.model
        k_max, T = int(model.max_offload_steps), int(model.num_train_timesteps)
        if not 0 < k_max < T:
            raise ConfigError("model.max_offload_steps", f"got {k_max}; must be in 1..{T - 1}")
        for k in as_list(root.offload_steps):
            if k > k_max:
                raise ConfigError(
                    "offload_steps",
                    f"k={k} exceeds model.max_offload_steps={k_max}: the shared model is trained "
                    f"only on t >= {T - k_max}; use k <= {k_max} or retrain with a larger "
                    "model.max_offload_steps",
                )
        if node.local_init in ("scratch", "shared") and node.local_steps == 0:
            raise ConfigError(
                f"{key}.local_steps",
                f"local_init={node.local_init} trains each local model for local_steps: give > 0 "
                "(the shared model has no background input and only saw the first reverse "
                "steps, so it cannot serve a receiver as is; local_init=pooled can)",
            )
        for name, steps in (
            ("model.train_steps", model.train_steps),
            (f"{key}.shared_steps", node.shared_steps),
        ):
            if steps == 0:
                raise ConfigError(name, "a decoder trained from random weights needs > 0 steps")


# --------------------------------------------------------------------- channels_sanity
@dataclass
class SanityConfig:
    """Channel layer against closed form (semcom_exp.experiments.channels_sanity)."""

    awgn_snr_db: Any = setting([0, 2, 4, 6, 8], snr_db)
    rayleigh_snr_db: Any = setting([0, 5, 10, 15, 20], snr_db)
    num_bits: int = setting(1000000, positive_int)  # BPSK bits per SNR point
    num_grids: int = setting(4000, positive_int)  # OFDM channel realisations per SNR point
    batch_size: int = setting(1000, positive_int)  # grids per draw
    min_errors: int = setting(100, non_negative_int)  # BER points expecting fewer are not scored


# ------------------------------------------------------------------------- lam_msc/cge
CGE_ESTIMATORS = (
    "ls", "lmmse_genie", "lmmse_freq", "lmmse_mismatched", "cgan", "cgan_l1only",
    "cgan_authors", "cgan_authors_per_snr", "perfect"
)  # fmt: skip
#: estimators trained from the ``cge_authors`` node (lam_msc/cge_authors, docs/cge.md)
AUTHORS_ESTIMATORS = ("cgan_authors", "cgan_authors_per_snr")


def _even_qam(key: str, v: Any) -> None:
    positive_int(key, v)
    if v % 2:
        raise ConfigError(key, f"square QAM needs an even number of bits, got {v}")


def _assumed_profiles(key: str, v: Any) -> None:
    for i, item in enumerate(v or []):
        if not isinstance(item, dict) or item.get("profile") not in ("flat", "exponential"):
            got = item.get("profile") if isinstance(item, dict) else item
            raise ConfigError(f"{key}[{i}].profile", f"got {got!r}; use flat or exponential")


@dataclass
class CgeEvalConfig:
    """The estimators lam_msc/cge scores on the same channel draws (docs/cge.md)."""

    # default: all but the authors' (they need the cge_authors node: lam_msc/cge_authors)
    estimators: list[str] = setting(
        [e for e in CGE_ESTIMATORS if e not in AUTHORS_ESTIMATORS],
        list_of(one_of(*CGE_ESTIMATORS)),
    )
    # profiles lmmse_mismatched assumes, one set of rows each (`assumed`): flat over
    # 0..max_delay (CP, capped on a comb), exponential with an rms delay
    mismatched: list[Any] = setting(
        [{"profile": "flat"}, {"profile": "exponential", "rms_delay": 2.0}], _assumed_profiles
    )
    num_grids: int = setting(2000, positive_int)  # evaluation draws per SNR, shared by all
    batch_size: int = setting(500, positive_int)
    qam_bits_per_symbol: int = setting(4, _even_qam)  # 16-QAM on the data REs

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        kind = OmegaConf.select(root, "channel.kind") if root is not None else "ofdm"
        if kind != "ofdm":
            raise ConfigError("channel.kind", f"the CGE needs the OFDM channel, got {kind!r}")
        authors = [n for n in node.get("estimators") or [] if n in AUTHORS_ESTIMATORS]
        if authors and root is not None and root.get("cge_authors") is None:
            raise ConfigError(
                f"{key}.estimators",
                f"{authors} need the authors' CGE node: add `- /model@cge_authors: cge_authors` "
                "to the defaults (as experiment=lam_msc/cge_authors does)",
            )


# -------------------------------------------------------------------------- lam_msc/sc
CHANNEL_KINDS = ("awgn", "rayleigh", "ofdm")
CSI_SOURCES = ("perfect", "cge", "ls", "none")  # where the receiver's channel estimate comes from


@dataclass
class ScLinkConfig:
    """The SC link's evaluation (semcom_exp.experiments.lam_msc.sc, docs/sc.md)."""

    # one SC model each
    channels: list[str] = setting(list(CHANNEL_KINDS), list_of(one_of(*CHANNEL_KINDS)))
    # cge only on ofdm
    csi: list[str] = setting(list(CSI_SOURCES), list_of(one_of(*CSI_SOURCES)))
    snr_db: Any = setting(
        [-5, 0, 5, 10, 15, 20], snr_db
    )  # evaluation (training: model.snr_db_range)
    # null: [seed]; a list trains and evaluates a model per seed
    seeds: list[int] | None = setting(None, optional(seed_values))
    flat_pilots: int = setting(
        4, non_negative_int
    )  # awgn / rayleigh: unit pilots per fading block (LS)
    bits_per_symbol: Any = setting(64, number_in(0, open_low=True))  # 2 float32 per symbol
    text_model: str = TEXT_MODEL
    threshold: float = setting(0.6, THRESHOLD)
    eval_batch_size: int = setting(300, positive_int)
    # the channel nodes (conf/channel/*.yaml) by kind, placed by the experiment's defaults
    channel_configs: dict[str, Any] = setting({})

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        channels, csis = list(node.channels), list(node.csi)
        if "cge" in csis and "ofdm" not in channels:
            raise ConfigError(
                f"{key}.csi", "csi=cge is only defined on the OFDM grid; add ofdm to sc.channels"
            )
        for kind in channels:
            found = (node.channel_configs or {}).get(kind)
            if found is None:
                raise ConfigError(
                    f"{key}.channel_configs.{kind}",
                    f"missing; add `- /channel@{key}.channel_configs.{kind}: {kind}` to the "
                    "experiment's defaults",
                )
            if found.get("kind") != kind:
                raise ConfigError(
                    f"{key}.channel_configs.{kind}.kind",
                    f"expected {kind!r}, got {found.get('kind')!r}",
                )
        flat = [c for c in channels if c != "ofdm"]
        train_csi = OmegaConf.select(root, "model.train_csi") if root is not None else None
        if train_csi == "cge" and flat:
            raise ConfigError(
                "model.train_csi",
                f"train_csi=cge trains with the CGE on the OFDM grid; {flat} have none: "
                "set sc.channels=[ofdm] (or another train_csi)",
            )
        if node.flat_pilots == 0 and flat and ("ls" in csis or train_csi == "ls"):
            raise ConfigError(
                f"{key}.flat_pilots", f"csi=ls on {flat} needs at least one pilot symbol per block"
            )
        if root is None:
            return
        data = root.get("data")
        if data is None or "corpus" not in data or "reader" in data:
            raise ConfigError(
                "data.corpus",
                "the SC link reads a TEXT corpus: keep the experiment's data node (data.corpus="
                "embedded | a .txt / data set folder | a cached hub id), not an image/audio "
                "data group",
            )
        if ("cge" in csis or train_csi == "cge") and root.get("cge") is None:
            raise ConfigError(
                "cge", "csi=cge needs the CGE config node; add `- /model@cge: cge` to the defaults"
            )


# ------------------------------------------------------------------------- lam_msc/lkb
TRAINED_ADAPTERS = ("prompt_tuning", "prefix_tuning", "lora")  # peft adapters
LKB_ADAPTERS = ("none", "in_context", *TRAINED_ADAPTERS)  # none: the global LM alone


@dataclass
class LkbEvalConfig:
    """The personalised LKB's evaluation (semcom_exp.experiments.lam_msc.lkb, docs/lkb.md)."""

    # null = every user: the built-in alice, bob, carol, dave, or every folder of personas_root
    users: list[str] | None = setting(None, optional(list_of(_name)))
    adapters: list[str] = setting(list(LKB_ADAPTERS), list_of(one_of(*LKB_ADAPTERS)))
    # null = the synthetic persona set; else a folder <user>/prompt_base.txt + eval.jsonl
    personas_root: str | None = None
    num_eval_predicates: int = setting(4, positive_int)  # held-out predicates (never in a prompt)
    num_eval_times: int = setting(2, positive_int)
    text_model: str = TEXT_MODEL
    threshold: float = setting(0.6, THRESHOLD)


# ---------------------------------------------------------------------- lam_msc/end2end
@dataclass
class End2endLkbConfig:
    """The full / sender_lkb variants (semcom_exp.experiments.lam_msc.end2end_lkb)."""

    # each modality's user adapter: none (global LM alone) | prompt_tuning | prefix_tuning | lora
    adapter: str = setting("lora", one_of("none", *TRAINED_ADAPTERS))
    random_sequences: int = setting(
        6000, non_negative_int
    )  # random word sequences in the LM's documents
    replay: int = setting(4, non_negative_int)  # general lines per personal line in a prompt base


def _square_qam(key: str, v: Any) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 2 or v % 2 or v > 12:
        raise ConfigError(
            key,
            f"square QAM needs an even integer in [2, 12] (2 = QPSK, 4 = 16-QAM, 6 = 64-QAM), "
            f"got {v!r}",
        )


@dataclass
class ConventionalConfig:
    """The conventional baseline (semcom_exp.models.conventional_link) in the SC model's data
    symbols: 16-QAM r=1/2 -> 128 info bits per text on 64 symbols."""

    source: str = setting("huffman", one_of("utf8", "huffman"))  # huffman: from the SC texts
    bits_per_symbol: int = setting(4, _square_qam)  # 2 QPSK | 4 16-QAM | 6 64-QAM | ...
    code_rate: float = setting(0.5, number_in(1 / 5, 948 / 1024))  # the 5G LDPC code's rates
    num_iter: int = setting(20, positive_int)  # belief-propagation iterations


#: the end-to-end variants; full and sender_lkb use the LKB
E2E_VARIANTS = (
    "full", "sender_lkb", "keywords", "no_lkb", "ls", "perfect", "unimodal", "conventional"
)  # fmt: skip
LKB_VARIANTS = ("full", "sender_lkb")


@dataclass
class End2endRecoverConfig:
    """Receiver-side recovery: the recovered text back to the modality
    (semcom_exp.semantics.recover, docs/end2end.md). Every modality null = off (the default)."""

    # null: off | a diffusers text-to-image pipeline folder or cached hub id; its sampling
    # settings are mma.text_to_image.* (steps, guidance, height, width, seed)
    image: str | None = setting(None, optional(_name))
    # null: off | espeak (the espeak-ng binary, when installed) | a transformers text-to-speech
    # model folder or cached hub id (e.g. facebook/mms-tts-eng)
    audio: str | None = setting(None, optional(_name))
    # true: try; reported "unavailable" (this project has no text-to-video backend)
    video: bool = False
    variant: str = setting("full", one_of(*E2E_VARIANTS))  # whose recovered texts are used
    snr_db: float | None = setting(None, optional(number_in()))  # null: the highest of snr_db
    # held-out samples per modality recovered (>= 2: the shuffled-pair chance level)
    num_examples: int = setting(4, int_at_least(2))


@dataclass
class End2endConfig:
    """LAM-MSC end to end (semcom_exp.experiments.lam_msc.end2end, docs/end2end.md)."""

    modalities: list[str] = setting(list(MODALITIES), list_of(one_of(*MODALITIES)))
    variants: list[str] = setting(list(E2E_VARIANTS), list_of(one_of(*E2E_VARIANTS)))
    # awgn | rayleigh | ofdm (CGE rows need ofdm; elsewhere cge -> perfect)
    channel: str = setting("ofdm", one_of("awgn", "rayleigh", "ofdm"))
    snr_db: Any = setting([-5, 5, 15], snr_db)
    max_samples: int | None = setting(80, optional(positive_int))  # per modality, before the split
    data: dict[str, Any] = setting({})  # image / audio / video data nodes, placed by the experiment
    test_fraction: float = setting(0.5, number_in(0, 1, open_low=True, open_high=True))
    mma_train_copies: int = setting(
        50, non_negative_int
    )  # training MMA texts repeated in the corpus
    # the unimodal baseline's SC model sees only this modality's texts
    unimodal_modality: str = setting("image", one_of("image", "audio", "video"))
    text_model: str = TEXT_MODEL
    threshold: float = setting(0.6, THRESHOLD)
    eval_batch_size: int = setting(256, positive_int)
    lkb: End2endLkbConfig = node(End2endLkbConfig)
    conventional: ConventionalConfig = node(ConventionalConfig)
    recover: End2endRecoverConfig = node(End2endRecoverConfig)
    lkb_model: LkbModelConfig | None = None  # the LKB model node, placed by the experiment

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        _data_nodes(node, key)
        if "unimodal" in node.variants and node.unimodal_modality not in node.modalities:
            raise ConfigError(
                f"{key}.unimodal_modality",
                f"expected one of {key}.modalities {list(node.modalities)}, "
                f"got {node.unimodal_modality!r}",
            )
        if any(v in LKB_VARIANTS for v in node.variants) and node.lkb_model is None:
            raise ConfigError(
                f"{key}.lkb_model",
                f"missing; the LKB variants need it (`- /model@{key}.lkb_model: lkb`)",
            )
        _recover_node(node, key)


def _recover_node(node: Any, key: str) -> None:
    """Recovery's variant and SNR must be among those the run evaluates."""
    rec = node.recover
    if rec.image is None and rec.audio is None and not rec.video:
        return
    if rec.variant not in node.variants:
        raise ConfigError(
            f"{key}.recover.variant",
            f"{rec.variant!r} is not among {key}.variants {list(node.variants)}; pick one of them",
        )
    snrs = [float(s) for s in as_list(node.snr_db)]
    if rec.snr_db is not None and float(rec.snr_db) not in snrs:
        raise ConfigError(
            f"{key}.recover.snr_db", f"{rec.snr_db!r} is not among {key}.snr_db {snrs}"
        )


# ------------------------------------------------------------------------ lam_msc/bits
@dataclass
class LinkBudgetConfig:
    """The SC link's cost of one text (conf/model/sc.yaml defaults)."""

    # complex symbols per SC message (model.channel_dim 128 / 2: the authors' 128 reals per text)
    num_symbols: int = setting(64, positive_int)
    # 32: analog symbols as float32; or a quantiser's bits per real, e.g. 8
    bits_per_real: int = setting(32, positive_int)
    # SC positions per message, end token included (model.max_len): longer texts take several
    # messages; null: one message per sample
    tokens_per_message: int | None = setting(20, optional(int_at_least(2)))


@dataclass
class BitsConfig:
    """LAM-MSC bits table (semcom_exp.experiments.lam_msc.bits, docs/mma_bits.md)."""

    modalities: list[str] = setting(list(MODALITIES), list_of(one_of(*MODALITIES)))
    max_samples: int | None = setting(None, optional(positive_int))  # per modality; null: all
    # raw bits of the first N frames of a clip (null: the whole clip)
    video_max_frames: int | None = setting(None, optional(positive_int))
    link: LinkBudgetConfig = node(LinkBudgetConfig)
    data: dict[str, Any] = setting({})  # image / audio / video data nodes, placed by the experiment

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        _data_nodes(node, key)


# -------------------------------------------------------------------------------- root
@dataclass
class PathsConfig:
    """Where things go. The artifact cache is shared by every run (and every job of a sweep)."""

    root_dir: str = "${oc.env:SEMCOM_ROOT,${hydra:runtime.cwd}}"
    cache_dir: str = "${oc.env:SEMCOM_CACHE_DIR,${paths.root_dir}/outputs/cache}"
    output_dir: str | None = "${hydra:runtime.output_dir}"  # this run's directory
    # hard: an OS file lock on the cache (local disk, Lustre, GPFS, NFSv4); soft: a lock file's
    # existence, for shared file systems without working locks (docs/cluster.md)
    cache_lock: str = setting("hard", one_of("hard", "soft"))


#: ``cache.prune``: which artifacts ``task=cache`` deletes (semcom_exp.tasks.cache)
PRUNE = ("stale", "unreferenced", "old")


@dataclass
class CacheConfig:
    """The artifact cache's reuse policy and ``task=cache`` (docs/cache.md)."""

    # reuse an artifact of the same config built by other code (its code hash differs): on
    # purpose only, e.g. after a comment-free refactor; every such reuse is logged as a warning
    reuse_stale: bool = False
    # task=cache: delete artifacts built by other code (stale), listed by no run's manifest.json
    # under outputs_dir (unreferenced), or older than older_than_days (old); null: list only
    prune: str | None = setting(None, optional(one_of(*PRUNE)))
    older_than_days: float | None = setting(None, optional(number_in(0)))
    dry_run: bool = True  # task=cache: print what prune would delete; false: delete it
    outputs_dir: str = "${paths.root_dir}/outputs"  # where run dirs (manifest.json) are looked for

    @staticmethod
    def check(node: Any, key: str, root: Any) -> None:
        if node.prune == "old" and node.older_than_days is None:
            raise ConfigError(f"{key}.older_than_days", "cache.prune=old needs it, e.g. 30")


@dataclass
class PreflightConfig:
    """``task=preflight`` (semcom_exp.preflight): how much of the real work it runs."""

    steps: int = setting(3, positive_int)  # training steps per model (the first is warm-up)
    eval_steps: int = setting(3, positive_int)  # sampling steps / evaluation batches per part
    # also project the wall time on a device this many times faster than this one
    speedup: float | None = setting(None, optional(number_in(0, open_low=True)))
    # the target GPU's memory: a model whose estimate (plus ~1 GB of context) exceeds it is flagged
    gpu_memory_gb: float = setting(40.0, number_in(0, open_low=True))


@dataclass
class CollectConfig:
    """``task=collect`` (semcom_exp.tasks.collect): a sweep with jobs that did not complete
    (failed, interrupted, still running or killed, no results) is refused unless allowed."""

    allow_incomplete: bool = False  # merge the completed jobs anyway; the others are listed


@dataclass
class RootConfig:
    """The root: ``python -m semcom_exp experiment=NAME key=value ...``. Its settings compose
    from ``root_defaults()``; a slot is absent until a group option or an experiment fills it."""

    task: str = setting(
        "run", one_of("run", "preflight", "collect", "data_summary", "eval", "figures", "cache")
    )
    # the chosen experiment's path under conf/experiment (preflight/EXPERIMENT for task=preflight,
    # eval/EXPERIMENT for task=eval, a task's own name for collect, data_summary and figures)
    experiment_name: str = "${semcom_run_name:${task},${hydra:runtime.choices.experiment}}"
    seed: int = setting(0, seed_value)  # always applied, 0 included
    force: bool = False  # recompute every cached stage this run touches
    sweep_dir: str | None = None  # for task=collect
    # task=eval: trained artifacts to evaluate (artifact dirs, or run dirs whose manifest.json
    # lists them), served instead of training; task=figures: the run or sweep dir to redraw
    artifacts: Any = setting(None, optional(list_of(_path)))
    run_dir: str | None = None
    num_examples: int = setting(5, positive_int)  # for task=data_summary
    torch_threads: int | None = setting(None, optional(positive_int))  # e.g. 2 on a shared CPU
    optimized_metric: str | None = None  # a results.json key to return (for the Optuna sweeper)
    pipeline: str | None = None  # the experiment's run(cfg, ctx)
    figures: list[str] | None = None  # figure functions (run_dir, cfg) -> {name: figure}
    # M2GSC sweeps: k on the T = 1000 training schedule (0 = all local); plain = the paper's
    # hand-off, snr_aware = resume at the matching noise level; the evaluation's seeds
    offload_steps: Any = setting(None, optional(non_negative_ints))
    handoff: Any = setting(None, optional(list_of(one_of("plain", "snr_aware"))))
    seeds: Any = setting(None, optional(seed_values))
    paths: PathsConfig = node(PathsConfig)
    preflight: PreflightConfig = node(PreflightConfig)
    cache: CacheConfig = node(CacheConfig)
    collect: CollectConfig = node(CollectConfig)
    # group nodes, present once a group option or an experiment places them (trainer, logger,
    # callbacks: Lightning's own keyword arguments; channel, data, model, mma: typed by option)
    trainer: Any = slot()
    logger: Any = slot()
    callbacks: Any = slot()
    channel: Any = slot()
    data: Any = slot()
    model: Any = slot()
    mma: Any = slot()
    # each experiment's own node, placed by its defaults list (``/schema/experiment@NAME``)
    m2gsc: M2gscConfig | None = slot()
    sanity: SanityConfig | None = slot()
    cge: Any = slot()  # lam_msc/cge: CgeEvalConfig; lam_msc/sc and end2end: the CGE model node
    cge_authors: Any = slot()  # lam_msc/cge_authors: the authors' CGE model node
    sc: ScLinkConfig | None = slot()
    lkb: LkbEvalConfig | None = slot()
    end2end: End2endConfig | None = slot()
    bits: BitsConfig | None = slot()
