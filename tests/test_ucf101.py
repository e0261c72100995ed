"""UCF101 reader (real-layout fixture), root finding, bad input, synthetic clips, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from semcom_exp.cache import ArtifactCache
from semcom_exp.data import synthetic_video as sv
from semcom_exp.data.common import config_from_mapping
from semcom_exp.data.ucf101 import UCF101Dataset, class_words, find_root, open_ucf101
from semcom_exp.errors import ConfigError, DataError

from .conftest import main_in_process, read_json, run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "ucf101"
SMALL = {
    "classes": ["Basketball", "Biking", "Rowing"],
    "groups_per_class": 2,
    "clips_per_group": 1,
    "num_frames": 8,
    "width": 48,
    "height": 32,
    "seed": 3,
}
FIXTURE_TEXTS = ["Apply Eye Makeup", "Handstand Pushups", "Apply Eye Makeup", "Handstand Pushups"]


@pytest.fixture
def above(tmp_path: Path) -> Path:
    """A writable copy of the fixture: ``<tmp>/data/UCF101/{UCF-101,ucfTrainTestlist}``."""
    shutil.copytree(FIXTURE, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def top(above: Path) -> Path:
    return above / "UCF101"


def test_reads_fixture_split_1(top):
    ds = open_ucf101({"root": str(top)})
    assert ds.root == top.resolve() and len(ds) == 4 and ds.num_skipped == 0
    assert ds.classes == ["ApplyEyeMakeup", "ApplyLipstick", "HandstandPushups"]
    assert [v.subset for v in ds.videos] == ["train", "train", "test", "test"]
    assert [ds.label(i) for i in range(4)] == [0, 2, 0, 2]
    assert [ds.class_name(i) for i in range(2)] == ["ApplyEyeMakeup", "HandstandPushups"]
    assert [ds.semantic_text(i) for i in range(4)] == FIXTURE_TEXTS
    # The real quirk: folder HandstandPushups, files v_HandStandPushups_*; the folder names the class.
    v = ds.videos[3]
    assert v.path.name == "v_HandStandPushups_g01_c02.avi" and (v.group, v.clip) == (1, 2)
    assert [v.num_frames for v in ds.videos] == [6, 4, 5, 7] and ds.videos[0].fps == 25.0
    names = open_ucf101({"root": str(top), "text": "name"})
    assert names.semantic_text(1) == "HandstandPushups"


def test_frames_and_raw_bits(top):
    ds = open_ucf101({"root": str(top)})
    video = ds.load_video(0)
    assert video.dtype == np.uint8 and video.shape == (6, 24, 32, 3)
    # The fixture's red patch moves 3 px right per frame.
    for t in (0, 5):
        patch = video[t, 9:15, 4 + 3 * t : 8 + 3 * t].reshape(-1, 3).mean(0)
        assert patch[0] > 180 and patch[1] < 100, (t, patch)
    assert ds.load_video(3, max_frames=2).shape == (2, 24, 32, 3)
    assert (
        ds.raw_bits(0) == 6 * 24 * 32 * 3 * 8 and ds.raw_bits(0, max_frames=2) == 2 * 24 * 32 * 24
    )
    lazy = open_ucf101({"root": str(top), "verify": "none"})
    assert lazy.videos[3].num_frames is None and lazy.raw_bits(3) == 7 * 24 * 32 * 24
    with pytest.raises(ValueError, match="max_frames"):
        ds.load_video(0, max_frames=0)


def test_other_splits_and_subsets(top):
    ds = open_ucf101({"root": str(top), "split": 2, "subsets": ["test"]})
    assert [v.rel_path for v in ds.videos] == [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "HandstandPushups/v_HandStandPushups_g08_c01.avi",
    ]
    with pytest.raises(DataError, match="missing split file .*trainlist03.txt"):
        open_ucf101({"root": str(top), "split": 3})
    with pytest.raises(ConfigError, match="data.subsets"):
        open_ucf101({"root": str(top), "subsets": ["validation"]})
    (top / "ucfTrainTestlist" / "classInd.txt").unlink()
    with pytest.raises(DataError, match="missing split file .*classInd.txt"):
        open_ucf101({"root": str(top)})


@pytest.mark.parametrize("where", ["top", "above", "videos", "lists"])
def test_root_is_found_from_top_above_or_below(top, where):
    given = {
        "top": top,
        "above": top.parent,
        "videos": top / "UCF-101",
        "lists": top / "ucfTrainTestlist",
    }[where]
    assert find_root(given) == top.resolve()
    assert len(open_ucf101({"root": str(given)})) == 4


def test_missing_root_says_what_to_do(tmp_path):
    with pytest.raises(DataError) as err:
        open_ucf101({"root": str(tmp_path / "nope")})
    msg = str(err.value)
    assert "nope" in msg and "ucfTrainTestlist" in msg and "data.root=null" in msg


def test_class_words():
    cases = {
        "ApplyEyeMakeup": "Apply Eye Makeup",
        "YoYo": "Yo Yo",
        "HandstandPushups": "Handstand Pushups",
        "CleanAndJerk": "Clean And Jerk",
        "Skijet": "Skijet",
        "PlayingDaf": "Playing Daf",
        "TVShow": "TV Show",
    }
    assert {k: class_words(k) for k in cases} == cases


def test_corrupt_missing_or_misnamed_files(top):
    bad = top / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi"
    bad.write_bytes(b"RIFF" + b"\x00" * 100)
    with pytest.raises(DataError, match="v_ApplyEyeMakeup_g01_c01.avi"):
        open_ucf101({"root": str(top)})
    ds = open_ucf101({"root": str(top), "on_error": "skip"})
    assert len(ds) == 3 and ds.num_skipped == 1 and "g01_c01" in ds.skipped[0]
    lazy = open_ucf101({"root": str(top), "verify": "none"})
    with pytest.raises(DataError, match="v_ApplyEyeMakeup_g01_c01.avi"):
        lazy.load_video(2)
    bad.unlink()
    with pytest.raises(DataError, match="missing video file .*v_ApplyEyeMakeup_g01_c01.avi"):
        open_ucf101({"root": str(top)})
    # A copy whose file names differ in case from the lists is still read.
    folder = top / "UCF-101" / "HandstandPushups"
    (folder / "v_HandStandPushups_g08_c01.avi").rename(folder / "v_handstandpushups_g08_c01.avi")
    ds = open_ucf101({"root": str(top), "subsets": ["train"]})
    assert ds.videos[1].path.name == "v_handstandpushups_g08_c01.avi"


def test_malformed_list_lines(top):
    lists = top / "ucfTrainTestlist"
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 2\r\nHandstandPushups/v_HandStandPushups_g08_c01.avi 3\r\n"
    )
    with pytest.raises(
        DataError, match=r"trainlist01.txt, line 1: class id 2 but ApplyEyeMakeup is 1"
    ):
        open_ucf101({"root": str(top)})
    (lists / "testlist01.txt").write_text("Juggling/v_Juggling_g01_c01.avi\r\n")
    ds = open_ucf101({"root": str(top), "on_error": "skip"})
    assert len(ds) == 1 and ds.num_skipped == 2 and "testlist01.txt, line 1" in ds.skipped[1]


# --------------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return sv.generate(tmp_path_factory.mktemp("synth_ucf"), SMALL)


def test_synthetic_round_trip(synth):
    ds = UCF101Dataset(synth)
    assert ds.classes == ["Basketball", "Biking", "Rowing"] and len(ds) == 6
    assert [v.group for v in ds.videos] == [2, 2, 2, 1, 1, 1]  # split 1 tests on group 1
    assert [ds.semantic_text(i) for i in range(3)] == ["Basketball", "Biking", "Rowing"]
    assert (
        len(UCF101Dataset(synth, split=2)) == 6
        and UCF101Dataset(synth, split=2).videos[0].group == 1
    )
    for i in range(len(ds)):
        video = ds.load_video(i)
        assert video.shape == (8, 32, 48, 3) and ds.raw_bits(i) == 8 * 32 * 48 * 24
        # Something moves: pixels change by far more than the noise (std 3) between frames.
        v = video.astype(int)
        moved = max((np.abs(v[t] - v[0]).max(-1) > 60).mean() for t in range(1, len(v)))
        assert moved > 0.01, (i, moved)


def test_synthetic_is_deterministic_and_cached(tmp_path, monkeypatch):
    cfg = {**SMALL, "classes": ["HulaHoop", "JumpingJack"], "num_frames": 4}
    a, b = (UCF101Dataset(sv.generate(tmp_path / k, cfg)) for k in "ab")
    c = UCF101Dataset(sv.generate(tmp_path / "c", {**cfg, "seed": 9}))
    assert np.array_equal(a.load_video(1), b.load_video(1))
    assert not np.array_equal(a.load_video(1), c.load_video(1))
    cache = ArtifactCache(tmp_path / "cache")
    calls = []
    real = sv.generate
    monkeypatch.setattr(sv, "generate", lambda out, cfg: calls.append(1) or real(out, cfg))
    ds = open_ucf101({"root": None, "synthetic": cfg}, cache)
    again = open_ucf101({"root": None, "synthetic": cfg}, cache)
    assert ds.synthetic and len(ds) == 4 and again.root == ds.root and calls == [1]
    assert ds.semantic_text(0) == "Hula Hoop"
    assert (tmp_path / "cache" / "data_ucf101_synthetic") in ds.root.parents


def test_synthetic_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="data.synthetic.classes"):
        config_from_mapping(sv.SyntheticVideoConfig, {"classes": ["Surfing"]}, "data.synthetic")
    with pytest.raises(ConfigError, match="data.synthetic.width"):
        config_from_mapping(sv.SyntheticVideoConfig, {"width": 47}, "data.synthetic")
    with pytest.raises(ConfigError, match="data.synthetic.groups_per_class"):
        config_from_mapping(sv.SyntheticVideoConfig, {"groups_per_class": 1}, "data.synthetic")


# --------------------------------------------------------------------------------------- CLI


def test_cli_data_summary(above, tmp_path):
    proc = run_cli("task=data_summary", "data=ucf101", f"data.root={above}", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    res = read_json(tmp_path / "run" / "results.json")
    assert res["num_samples"] == 4 and res["examples"] == FIXTURE_TEXTS


def test_cli_bad_input_is_one_clear_line(above, tmp_path, monkeypatch, capsys):
    bad = above / "UCF101" / "UCF-101" / "HandstandPushups" / "v_HandStandPushups_g08_c01.avi"
    bad.write_bytes(bad.read_bytes()[:300])
    args = (
        "task=data_summary",
        "data=ucf101",
        f"data.root={above}",
        f"paths.cache_dir={tmp_path}/c",
    )
    code, err = main_in_process(monkeypatch, capsys, *args, f"hydra.run.dir={tmp_path}/bad")
    assert code == 2 and "v_HandStandPushups_g08_c01.avi" in err and "Traceback" not in err
    (above / "UCF101" / "ucfTrainTestlist" / "testlist01.txt").unlink()
    code, err = main_in_process(
        monkeypatch, capsys, *args, "data.on_error=skip", f"hydra.run.dir={tmp_path}/x"
    )
    assert code == 2 and "testlist01.txt" in err and "Traceback" not in err
    code, err = main_in_process(
        monkeypatch,
        capsys,
        *args,
        "data.on_error=skip",
        "data.subsets=[train]",
        f"hydra.run.dir={tmp_path}/skip",
    )
    assert code == 0, err
    res = read_json(tmp_path / "skip" / "results.json")
    assert res["num_samples"] == 1 and res["examples"] == ["Apply Eye Makeup"]
