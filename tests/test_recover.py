"""Receiver-side recovery (end2end.recover): text -> speech with a tiny random VITS model by
path, read back by the tiny ASR of tests/test_mma.py; the unavailable backends (no espeak-ng,
no text-to-video, an oracle MMA that cannot read a generated sample) reported as such, never
as a number; missing model folders refused by key before any work. The image path runs
through the CLI in tests/test_mma.py (test_end2end_runs_the_hf_captioner_on_real_format_images)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from semcom_exp.cache import ArtifactCache
from semcom_exp.errors import ConfigError
from semcom_exp.experiments.lam_msc.end2end import check_end2end_config
from semcom_exp.experiments.lam_msc.end2end_recover import run_recovery
from semcom_exp.runner import RunContext
from semcom_exp.semantics import recover
from semcom_exp.semantics.recover import build_reader, build_recoverers, build_speech

from . import test_mma
from .conftest import REPO
from .test_mma import ASR_CHARS, FIXTURES, _mma

asr_dir = test_mma.asr_dir  # the tiny ASR fixture, shared

TTS_CHARS = " abcdefghijklmnopqrstuvwxyz'"


@pytest.fixture(scope="module")
def tts_dir(tmp_path_factory) -> Path:
    """A tiny random VITS text-to-speech model + character tokenizer, built from config."""
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    out = tmp_path_factory.mktemp("tts")
    vocab = {c: i for i, c in enumerate(TTS_CHARS)}
    vocab["<unk>"] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab))
    tok = VitsTokenizer(str(out / "vocab.json"), language=None, add_blank=True, phonemize=False)
    config = VitsConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        ffn_dim=32, flow_size=16, spectrogram_bins=17, upsample_initial_channel=16,
        upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8], resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1, duration_predictor_filter_channels=16,
        depth_separable_num_layers=1, sampling_rate=16000,
    )  # fmt: skip
    torch.manual_seed(0)
    VitsModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _cfg(tmp_path: Path, recover_node: dict, mma: dict) -> OmegaConf:
    """The slice of the end2end config recovery reads: its node, the data nodes, the MMA."""
    from semcom_exp.schema import option

    audio = OmegaConf.to_container(option("data", "librispeech"))
    audio["root"] = str(FIXTURES / "librispeech")
    node = {"image": None, "audio": None, "video": False, "variant": "no_lkb"}
    node.update({"snr_db": None, "num_examples": 4, **recover_node})
    return OmegaConf.create({"end2end": {"recover": node, "data": {"audio": audio}}, "mma": mma})


def _picked(texts: list[str]) -> dict:
    return {"index": list(range(len(texts))), "mma_text": texts, "sent": texts, "recovered": texts}


def test_speech_recovery_by_model_path_is_saved_and_read_back(
    tmp_path: Path, tts_dir: Path, asr_dir: Path
):
    from semcom_exp.stages.sc import TextScorer

    mma = _mma(audio={"backend": "hf", "model": str(asr_dir)})
    cfg = _cfg(tmp_path, {"audio": str(tts_dir), "video": True}, mma)
    ctx = RunContext(run_dir=tmp_path / "run", cache=ArtifactCache(tmp_path / "cache"))
    texts = ["a dog on the hill", "three cars and a bus", "the captain walked home"]
    scorer = TextScorer("all-MiniLM-L6-v2", ctx.cache.root, 0.6)
    summary = run_recovery(cfg, ctx, {"audio": _picked(texts)}, scorer, seed=0)

    assert summary["recover_audio"] == f"ok: {tts_dir}" and summary["recover_audio_examples"] == 3
    table = pd.read_csv(ctx.run_dir / "recovered" / "recovery.csv", keep_default_na=False)
    assert list(table["recovered_text"]) == texts and list(table["modality"]) == ["audio"] * 3
    import soundfile

    for _, row in table.iterrows():
        audio, rate = soundfile.read(ctx.run_dir / row["file"])
        assert row["file"].endswith(".wav") and rate == 16000 and len(audio) > 0
        heard = row["round_trip_text"].replace("<unk>", "")  # random CTC weights emit <unk> too
        assert set(heard) <= set(ASR_CHARS.lower() + " ")
    assert summary["recover_audio_round_trip"] == "scored"
    cosines = table["cosine_round_trip"].astype(float)
    assert summary["recover_audio_round_trip_cosine_mean"] == pytest.approx(cosines.mean())
    assert 0.0 <= summary["recover_audio_round_trip_accuracy_shuffled"] <= 1.0
    # same text, same waveform: the TTS is seeded per call
    make = build_recoverers(cfg.end2end.recover, mma)["audio"]
    assert np.array_equal(make(texts[0])[0], make(texts[0])[0])
    # no video backend: a reason, no number
    assert summary["recover_video"].startswith("unavailable: no text-to-video backend")
    assert not [k for k in summary if k.startswith("recover_video_")]


def test_missing_espeak_and_oracle_reader_are_reported_unavailable(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(recover.shutil, "which", lambda name: None)
    cfg = _cfg(tmp_path, {"audio": "espeak", "video": True}, _mma())
    ctx = RunContext(run_dir=tmp_path / "run", cache=ArtifactCache(tmp_path / "cache"))
    summary = run_recovery(cfg, ctx, {"audio": _picked(["a dog", "a cat"])}, None, seed=0)
    assert summary == {
        "recover_audio": summary["recover_audio"],
        "recover_video": summary["recover_video"],
    }  # reasons only: no counts, no scores
    assert summary["recover_audio"].startswith("unavailable: espeak-ng is not installed")
    assert "end2end.recover.audio" in summary["recover_audio"]
    assert not (ctx.run_dir / "recovered" / "recovery.csv").exists()
    # the oracle MMA reads a data set's annotations, not a generated sample
    reason = build_reader("image", _mma())
    assert reason.startswith("unavailable: mma.image.backend=oracle")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed here")
def test_espeak_speaks_when_installed():
    audio, rate = build_speech("espeak")("a dog on the hill")
    assert rate > 0 and audio.dtype == np.float32 and np.abs(audio).max() > 0


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_missing_model_folder_names_the_key(tmp_path: Path, modality: str):
    missing = str(tmp_path / "no" / "such" / "model")
    with pytest.raises(ConfigError) as err:
        recover.check_recover({"image": None, "audio": None, modality: missing})
    assert err.value.key == f"end2end.recover.{modality}" and "does not exist" in str(err.value)
    recover.check_recover({"image": None, "audio": "espeak"})  # a binary: reported, not refused


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"variant": "ls"}, "end2end.recover.variant"),
        ({"variant": "no_lkb", "snr_db": 7}, "end2end.recover.snr_db"),
    ],
)
def test_recovery_point_must_be_evaluated(override: dict, key: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "experiment=lam_msc/end2end",
                "end2end.variants=[no_lkb]",
                "end2end.snr_db=[0,20]",
                "end2end.recover.video=true",
                *(f"end2end.recover.{k}={v}" for k, v in override.items()),
            ],
        )
    with pytest.raises(ConfigError) as err:
        check_end2end_config(cfg)
    assert err.value.key == key
