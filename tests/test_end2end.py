"""LAM-MSC end to end: CLI smoke (debug), bad variants, the sample split and the SC corpus."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from semcom_exp.data.text_corpus import TextCorpus
from semcom_exp.errors import ConfigError
from semcom_exp.experiments.lam_msc.end2end import (
    check_end2end_config,
    csi_of,
    sc_corpus,
    split_indices,
)
from tests.conftest import read_json, run_cli


def test_cli_smoke_debug(smoke_run):
    proc = smoke_run("lam_msc/end2end")  # the CLI smoke run, shared with tests/test_cli.py
    tmp_path = proc.tmp
    assert proc.returncode == 0, proc.stderr[-3000:]
    frame = pd.read_csv(tmp_path / "run" / "results.csv")
    for col in (
        "modality",
        "variant",
        "snr_db",
        "accuracy",
        "accuracy_shuffled",
        "bleu",
        "bleu1",
        "n",
    ):
        assert col in frame.columns
    assert set(frame["modality"]) == {"image", "audio", "video"}
    assert set(frame["variant"]) == {
        "full",
        "sender_lkb",
        "keywords",
        "no_lkb",
        "ls",
        "perfect",
        "unimodal",
        "conventional",
    }
    assert (frame["channel_uses"] > 0).all() and frame["channel_uses"].nunique() == 1
    assert set(frame["snr_db"]) == {0.0, 20.0}
    assert frame[["accuracy", "accuracy_shuffled"]].notna().all().all()
    assert (frame["n"] >= 1).all()
    assert set(frame.loc[frame["variant"] == "ls", "csi"]) == {"ls"}
    summary = read_json(tmp_path / "run" / "results.json")
    assert summary["sc_unimodal_train_modalities"] == "image"
    assert summary["image_num_test"] + summary["image_num_train"] == 6
    assert (tmp_path / "run" / "figures" / "end2end_accuracy_vs_snr.png").exists()
    for m in ("image", "audio", "video"):
        for key in ("lkb_extract_accuracy", "lkb_ideal_accuracy"):
            assert f"{key}_{m}" in summary
        # no training involved: the keywords keep the label words (measured 1.0 everywhere;
        # at debug size every trained variant scores 0, so no trained ordering holds here)
        assert summary[f"keywords_only_accuracy_{m}"] == 1.0
    examples = pd.read_csv(tmp_path / "run" / "examples.csv", keep_default_na=False)
    # the conventional link at 20 dB delivers its information bits error-free: the text cut to
    # what fits at debug size (measured "po" for "pottedplant, ...", "the", "B")
    conv = examples[(examples["variant"] == "conventional") & (examples["snr_db"] == 20.0)]
    pairs = list(zip(conv["original"], conv["recovered"], strict=True))
    assert pairs and all(len(r) >= 1 and o.startswith(r) for o, r in pairs), pairs
    plain = examples[examples["variant"] == "no_lkb"]
    assert (plain["sent"] == plain["original"]).all()  # without an LKB the MMA text is sent
    keys = examples[examples["variant"] == "keywords"]
    assert (keys["sent"].str.len() < keys["original"].str.len()).any()  # function words dropped


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("end2end.variants=[ls,telepathy]", "end2end.variants", "telepathy"),
        ("end2end.lkb.adapter=in_context", "end2end.lkb.adapter", "in_context"),
        ("end2end.conventional.bits_per_symbol=3", "end2end.conventional.bits_per_symbol", "3"),
        ("end2end.lkb_model.lm=/no/such/lm", "end2end.lkb_model.lm", "/no/such/lm"),
        ("end2end.recover.image=/no/such/pipeline", "end2end.recover.image", "/no/such/pipeline"),
    ],
)
def test_cli_bad_setting_exits_2_naming_the_key(tmp_path: Path, override: str, key: str, value):
    proc = run_cli("experiment=lam_msc/end2end", override, tmp=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert key in proc.stderr and value in proc.stderr
    assert "Traceback" not in proc.stderr
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.rglob("*"))  # failed before any data work


@pytest.mark.parametrize(
    ("key", "value"),
    [("variants", ["telepathy"]), ("modalities", ["smell"]), ("unimodal_modality", "audio")],
)
def test_bad_settings_name_the_key(key: str, value):
    node = {
        "modalities": ["image"],
        "data": {"image": {}},
        "variants": ["no_lkb", "unimodal"],
        "channel": "ofdm",
        "unimodal_modality": "image",
        "test_fraction": 0.5,
        "max_samples": 4,
        "mma_train_copies": 1,
        "snr_db": [0],
    }
    node[key] = value
    with pytest.raises(ConfigError) as err:
        check_end2end_config(OmegaConf.create({"end2end": node}))
    assert err.value.key == f"end2end.{key}"


def test_split_is_deterministic_disjoint_and_complete():
    train, test = split_indices(10, 0.5, seed=3)
    assert split_indices(10, 0.5, seed=3) == (train, test)
    assert not set(train) & set(test) and sorted(train + test) == list(range(10))
    assert len(test) == 5
    assert split_indices(2, 0.9, seed=0)[0]  # one training sample is always kept


def test_sc_corpus_adds_only_training_texts():
    base = TextCorpus(train=["a cat"], test=["a dog"], source="x")
    texts = {
        "image": {"train": ["person, dog"], "test": ["cow"]},
        "video": {"train": ["biking"], "test": ["rowing"]},
    }
    corpus = sc_corpus(base, texts, ["image"], copies=2)
    assert corpus.train == ["a cat", "person, dog", "person, dog"]
    assert "cow" not in corpus.train and "biking" not in corpus.train
    keyed = sc_corpus(
        base, {"image": {"train": ["a dog on the sofa"], "test": []}}, ["image"], 1, True
    )
    assert keyed.train == ["a cat", "a dog on the sofa", "dog sofa"]  # the link's LKB strings too


def test_cge_falls_back_to_perfect_off_the_ofdm_grid():
    assert csi_of("no_lkb", "ofdm") == "cge"
    assert csi_of("no_lkb", "awgn") == "perfect"
    assert csi_of("ls", "rayleigh") == "ls"


def test_paper_config_without_its_models_fails_fast_naming_what_to_fetch(tmp_path: Path):
    proc = run_cli("experiment=lam_msc/end2end_paper", tmp=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert "huggingface-cli download" in proc.stderr and "Traceback" not in proc.stderr
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.rglob("*"))  # nothing trained, nothing cached
