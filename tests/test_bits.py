"""Bits table `lam_msc/bits`: the CLI smoke run, raw / file / text / transmitted bits of known
fixture samples checked against an independent decode, the paper's video arithmetic, and bad
settings failing with the key named (exit 2, no traceback)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semcom_exp.cache import ArtifactCache
from semcom_exp.errors import ConfigError
from semcom_exp.semantics.bit_accounting import (
    LinkBudget,
    factorize,
    frame_decompositions,
    paper_video_arithmetic,
    text_bits,
    transmitted_decompositions,
)

from .conftest import REPO, read_json, run_cli

FIXTURES = REPO / "tests" / "fixtures"


def _compose(*overrides: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        return compose("config", overrides=["experiment=lam_msc/bits", *overrides])


def test_cli_smoke_debug(smoke_run):
    proc = smoke_run("lam_msc/bits")  # the CLI smoke run, shared with tests/test_cli.py
    tmp_path = proc.tmp
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    frame = pd.read_csv(run / "results.csv")
    for col in ("modality", "sample", "raw_bits", "text_bits", "transmitted_bits", "compression"):
        assert col in frame.columns
    assert frame.groupby("modality").size().to_dict() == {"audio": 3, "image": 3, "video": 3}
    assert (frame["transmitted_bits"] == 64 * 2 * 32 * frame["messages"]).all()
    assert np.allclose(frame["compression"], frame["raw_bits"] / frame["transmitted_bits"])
    video = frame[frame["modality"] == "video"]
    assert (video["raw_bits"] == 16 * 80 * 60 * 3 * 8).all()  # synthetic default clips
    summary = read_json(run / "results.json")
    assert summary["paper_video_raw_bits"] == 3_114_800
    assert summary["paper_video_transmitted_bits"] == 32_768
    assert "389,350" in summary["paper_arithmetic"]
    assert summary["video_raw_bits_mean"] == pytest.approx(video["raw_bits"].mean())
    assert (run / "figures" / "bits.png").exists() and (run / "figures" / "bits.pdf").exists()


def test_fixture_bits_match_an_independent_decode(tmp_path: Path):
    import av
    import soundfile as sf
    from PIL import Image

    from semcom_exp.experiments.lam_msc import bits
    from semcom_exp.runner import RunContext

    cfg = _compose(
        f"bits.data.image.root={FIXTURES / 'voc2012'}",
        f"bits.data.audio.root={FIXTURES / 'librispeech'}",
        f"bits.data.video.root={FIXTURES / 'ucf101'}",
        "bits.link.num_symbols=8",
        "bits.link.bits_per_real=4",
        "bits.link.tokens_per_message=3",
    )
    out = bits.run(cfg, RunContext(run_dir=tmp_path, cache=ArtifactCache(tmp_path / "cache")))
    rows = {(r["modality"], r["sample_id"]): r for r in out.rows}

    voc = FIXTURES / "voc2012" / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_000032.jpg"
    with Image.open(voc) as im:
        w, h = im.size
        assert im.mode == "RGB"
    row = rows[("image", "2007_000032")]
    assert row["raw_bits"] == w * h * 3 * 8
    assert row["file_bits"] == os.path.getsize(voc) * 8

    flac = next((FIXTURES / "librispeech").rglob("1272-128104-0000.flac"))
    info = sf.info(str(flac))
    row = rows[("audio", "1272-128104-0000")]
    assert row["raw_bits"] == info.frames * info.channels * 16
    assert row["text_bits"] == 8 * len(row["text"].encode("utf-8"))
    words = len(row["text"].split())
    assert row["messages"] == -(-words // 2)  # 3 positions per message, one is the end token
    assert row["transmitted_bits"] == row["messages"] * 8 * 2 * 4

    rel = "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"
    avi = FIXTURES / "ucf101" / "UCF101" / "UCF-101" / rel
    with av.open(str(avi)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    t, fh, fw, c = np.stack(frames).shape
    row = rows[("video", rel)]
    assert row["raw_bits"] == t * fh * fw * c * 8 and row["text"] == "Apply Eye Makeup"
    assert row["text_bits"] == len("Apply Eye Makeup") * 8
    assert out.summary["paper_video_file_matches"] == []


def test_link_budget():
    link = LinkBudget.from_cfg({"num_symbols": 64, "bits_per_real": 32, "tokens_per_message": 20})
    assert link.bits_per_message == 4096
    nineteen = " ".join(["word"] * 19)
    assert link.messages(nineteen) == 1 and link.messages(nineteen + " more") == 2
    assert link.messages("") == 1 and link.transmitted_bits("") == 4096
    assert link.messages("dog, person") == 1  # 3 tokens: dog , person
    one = LinkBudget.from_cfg({"num_symbols": 4, "bits_per_real": 8, "tokens_per_message": None})
    assert one.messages(nineteen * 5) == 1 and one.transmitted_bits("x") == 64
    assert text_bits("héllo") == 48  # UTF-8: é is two bytes


def test_paper_video_arithmetic():
    assert factorize(3_114_800) == {2: 4, 5: 2, 13: 1, 599: 1}
    assert factorize(32_768) == {2: 15}
    assert frame_decompositions(3_114_800) == []  # no decoded-frame setting gives it
    found = frame_decompositions(25 * 320 * 240 * 24)  # 25 native RGB frames
    assert {"geometry": "UCF101 native 320x240", "format": "RGB 8-bit (24 bpp)", "frames": 25,
            "bits": 25 * 320 * 240 * 24} in found  # fmt: skip
    tx = transmitted_decompositions(32_768)
    assert {"messages": 8, "reals": 128, "bits_per_real": 32} in tx
    assert all(d["messages"] * d["reals"] * d["bits_per_real"] == 32_768 for d in tx)
    assert transmitted_decompositions(32_768 + 8) == []
    facts = paper_video_arithmetic()
    assert facts["paper_video_raw_bytes"] == 389_350
    assert facts["paper_video_raw_frame_settings"] == 0
    assert "No decoded-frame setting gives it" in facts["paper_arithmetic"]
    assert "8 messages x 128 x 32" in facts["paper_arithmetic"]
    other = paper_video_arithmetic(raw_bits=10 * 80 * 60 * 24)
    assert other["paper_video_raw_frame_settings"] > 0
    assert "Decoded frames give it" in other["paper_arithmetic"]


@pytest.mark.parametrize(
    "link,key",
    [
        ({"num_symbols": 64, "bits_per_real": -8, "tokens_per_message": 20}, "bits.link.bits_per_real"),
        ({"num_symbols": 0, "bits_per_real": 32, "tokens_per_message": 20}, "bits.link.num_symbols"),
        ({"num_symbols": 64, "bits_per_real": True, "tokens_per_message": 20}, "bits.link.bits_per_real"),
        ({"num_symbols": 64, "bits_per_real": 32, "tokens_per_message": 1}, "bits.link.tokens_per_message"),
    ],
)  # fmt: skip
def test_bad_link_settings_name_the_key(link, key):
    with pytest.raises(ConfigError) as err:
        LinkBudget.from_cfg(link)
    assert err.value.key == key


def test_bad_modality_names_the_key():
    from semcom_exp.experiments.lam_msc.bits import check_bits_config

    with pytest.raises(ConfigError) as err:
        check_bits_config(_compose("bits.modalities=[image,smell]"))
    assert err.value.key == "bits.modalities"


def test_cli_negative_bits_per_real_exits_2_naming_the_key(tmp_path: Path):
    proc = run_cli(
        "experiment=lam_msc/bits", "bits.link.bits_per_real=-1", tmp=tmp_path, timeout=120
    )
    assert proc.returncode == 2
    assert "bits.link.bits_per_real" in proc.stderr and "Traceback" not in proc.stderr
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.rglob("*"))  # failed before any data work
