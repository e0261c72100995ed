"""UA-DETRAC reader (real layout fixture), synthetic generator round trip, CLI data_summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from semcom_exp.cache import ArtifactCache
from semcom_exp.data import synthetic_traffic as st
from semcom_exp.data.box_text import parse_message
from semcom_exp.data.common import config_from_mapping
from semcom_exp.data.ua_detrac import UADetracDataset, find_root, open_ua_detrac
from semcom_exp.errors import ConfigError, DataError
from semcom_exp.semantics.layout import VEHICLE_CLASSES, object_mask

FIXTURE = Path(__file__).parent / "fixtures" / "ua_detrac"
REPO = Path(__file__).resolve().parent.parent
SMALL = {"num_scenarios": 2, "frames_per_scenario": 30, "width": 64, "height": 36, "seed": 3}


@pytest.fixture(autouse=True)
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture
def top(tmp_path: Path) -> Path:
    """A writable copy of the fixture, as `<tmp>/UA-DETRAC/`."""
    dst = tmp_path / "UA-DETRAC"
    shutil.copytree(FIXTURE, dst)
    return dst


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    st.generate(out, SMALL)
    return out


# ---------------------------------------------------------------------------- real layout


def test_reads_fixture_with_its_quirks(top):
    ds = open_ua_detrac({"root": str(top)})
    assert ds.root == top.resolve()
    assert len(ds) == 6  # annotated frames: 1, 2, 4 of MVI_40001 and 1..3 of MVI_40002
    assert ds.scenarios() == {"MVI_40001": [0, 1, 2], "MVI_40002": [3, 4, 5]}
    assert [f.frame_num for f in ds.frames[:3]] == [1, 2, 4]  # frame 3 has no targets
    f1 = ds.frames[1]
    assert (f1.sequence, f1.scenario, f1.width, f1.height) == ("MVI_40001", "MVI_40001", 960, 540)
    assert f1.image_path.name == "img00002.jpg"
    assert [b.vehicle_type for b in f1.boxes] == ["car", "bus", "others"]
    assert f1.boxes[0].left == 600.0 and f1.boxes[1].target_id == 2
    info = ds.sequences["MVI_40001"]
    assert (info.weather, info.camera_state, len(info.ignored_regions)) == ("sunny", "unstable", 2)
    assert ds.sequences["MVI_40002"].ignored_regions == ()
    assert ds.num_skipped == 0


def test_semantic_text_of_fixture(top):
    ds = open_ua_detrac({"root": str(top), "grid": 32})
    assert ds.semantic_text(0) == "bus 10 5 12 8; car 19 22 25 31"
    # Target 3 runs past the right edge (880 + 120 > 960): clipped to the frame.
    assert ds.semantic_text(1) == "bus 10 6 12 9; car 20 21 25 31; others 29 23 31 29"
    decoded = parse_message(ds.semantic_text(1), 32)
    assert [d[0] for d in decoded] == ["bus", "car", "others"] and decoded[2][3] == 1.0
    assert (
        open_ua_detrac({"root": str(top), "grid": 8}).semantic_text(0) == "bus 2 1 3 2; car 4 5 6 7"
    )


def test_include_empty_frames(top):
    ds = open_ua_detrac({"root": str(top), "include_empty_frames": True})
    assert len(ds) == 7
    f3 = ds.frames[2]
    assert (f3.frame_num, f3.annotated, f3.boxes) == (3, False, ())
    assert ds.semantic_text(2) == ""


@pytest.mark.parametrize("where", ["top", "above", "below_images", "below_xml"])
def test_root_is_found_from_top_above_or_below(top, where):
    given = {
        "top": top,
        "above": top.parent,
        "below_images": top / "Insight-MVT_Annotation_Train",
        "below_xml": top / "DETRAC-Train-Annotations-XML",
    }[where]
    assert find_root(given) == top.resolve()
    assert len(open_ua_detrac({"root": str(given)})) == 6


def test_missing_or_empty_root_says_what_to_do(tmp_path, top):
    with pytest.raises(DataError) as err:
        open_ua_detrac({"root": str(tmp_path / "nope")})
    msg = str(err.value)
    assert "nope" in msg and "Insight-MVT_Annotation_Train" in msg and "data.root=null" in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no UA-DETRAC data"):
        open_ua_detrac({"root": str(empty)})
    shutil.copytree(top, tmp_path / "copy2")
    with pytest.raises(DataError, match="several UA-DETRAC copies"):
        open_ua_detrac({"root": str(tmp_path)})


def test_test_split_folder_names(top):
    (top / "Insight-MVT_Annotation_Train").rename(top / "Insight-MVT_Annotation_Test")
    (top / "DETRAC-Train-Annotations-XML").rename(top / "DETRAC-Test-Annotations-XML")
    ds = open_ua_detrac({"root": str(top)})
    assert len(ds) == 6 and ds.sequences["MVI_40001"].subset == "test"
    with pytest.raises(DataError, match="train"):
        open_ua_detrac({"root": str(top), "subsets": ["train"]})


def test_annotations_without_images_folder(top):
    shutil.rmtree(top / "Insight-MVT_Annotation_Train")
    with pytest.raises(DataError, match="Insight-MVT_Annotation_Train"):
        open_ua_detrac({"root": str(top)})


def test_scenario_grouping(top):
    ds = open_ua_detrac({"root": str(top), "scenarios": {"r1": ["MVI_40002", "MVI_40001"]}})
    assert list(ds.scenarios()) == ["r1"] and ds.scenarios()["r1"] == list(range(6))
    assert ds.frames[0].sequence == "MVI_40002" and ds.frames[0].scenario == "r1"
    only = open_ua_detrac({"root": str(top), "scenarios": {"a": ["MVI_40002"]}})
    assert len(only) == 3  # sequences outside every scenario are not read
    with pytest.raises(DataError, match="unknown sequence 'MVI_99999'"):
        open_ua_detrac({"root": str(top), "scenarios": {"a": ["MVI_99999"]}})
    with pytest.raises(ConfigError, match="already in scenario"):
        open_ua_detrac({"root": str(top), "scenarios": {"a": ["MVI_40001"], "b": ["MVI_40001"]}})
    with pytest.raises(ConfigError, match="data.scenarios.a"):
        open_ua_detrac({"root": str(top), "scenarios": {"a": []}})


def test_scenario_without_frames_is_an_error(top):
    xml = top / "DETRAC-Train-Annotations-XML" / "MVI_40002.xml"
    xml.write_text(
        '<?xml version="1.0"?>\n<sequence name="MVI_40002"><ignored_region/></sequence>\n'
    )
    with pytest.raises(DataError, match="scenario 'MVI_40002' has no frames"):
        open_ua_detrac({"root": str(top)})
    # With empty frames included, its 3 images count.
    assert len(open_ua_detrac({"root": str(top), "include_empty_frames": True})) == 7


def test_missing_image_raises_or_is_skipped(top):
    (top / "Insight-MVT_Annotation_Train" / "MVI_40001" / "img00002.jpg").unlink()
    with pytest.raises(DataError, match=r"img00002\.jpg"):
        open_ua_detrac({"root": str(top)})
    ds = open_ua_detrac({"root": str(top), "on_error": "skip"})
    assert len(ds) == 5 and ds.num_skipped == 1 and "img00002.jpg" in ds.skipped[0]


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda s: s[: len(s) // 2], "not well-formed"),
        (lambda s: s.replace('width="80"', 'width="wide"', 1), "frame 1 target 7"),
        (lambda s: s.replace('num="2"', 'num="x"'), "num='x'"),
        (lambda s: s.replace('vehicle_type="bus"', ""), "vehicle_type"),
    ],
)
def test_malformed_xml_names_the_file(top, mutate, fragment):
    xml = top / "DETRAC-Train-Annotations-XML" / "MVI_40002.xml"
    xml.write_text(mutate(xml.read_text()))
    with pytest.raises(DataError) as err:
        open_ua_detrac({"root": str(top)})
    assert "MVI_40002.xml" in str(err.value) and fragment in str(err.value)
    with pytest.raises(DataError, match="has no frames"):  # its scenario is now empty
        open_ua_detrac({"root": str(top), "on_error": "skip"})
    ds = open_ua_detrac(
        {"root": str(top), "on_error": "skip", "scenarios": {"r": ["MVI_40001", "MVI_40002"]}}
    )
    assert len(ds) == 3 and ds.num_skipped == 1


def test_bad_on_error_value(top):
    with pytest.raises(ConfigError, match="data.on_error"):
        open_ua_detrac({"root": str(top), "on_error": "ignore"})


def test_load_image_and_background(top):
    ds = open_ua_detrac({"root": str(top)})
    img = ds.load_image(0, 32)
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32
    assert img.min() >= -1 and img.max() <= 1
    # The red car of frame 1 (x 0.62..0.78, y 0.70..1.0) is red in the loaded image.
    r, g, b = img[:, 27, 22]
    assert r > 0.3 and g < -0.5 and b < -0.5
    assert ds.load_images([0, 1], 16).shape == (2, 3, 16, 16)
    # The blue bus shows only in frame 2 of MVI_40002: the median background does not hold it.
    bus_frame = ds.load_image(4, 16)[:, 10, 8]
    bg = ds.background("MVI_40002", 16)
    assert bg.shape == (3, 16, 16)
    assert bus_frame[2] > bus_frame[0]  # blue
    road = torch.tensor([80, 110, 70]) / 127.5 - 1
    assert torch.allclose(bg[:, 10, 8], road, atol=0.1)
    assert torch.equal(ds.background("MVI_40002", 16), bg)  # cached, and a copy
    only_bus = ds.background("MVI_40002", 16, frame_indices=[4])
    assert torch.allclose(only_bus[:, 10, 8], bus_frame, atol=1e-6)


def test_unreadable_image_is_a_data_error(top):
    ds = open_ua_detrac({"root": str(top)})
    ds.frames[3].image_path.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="img00001.jpg"):
        ds.load_image(3, 8)


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_round_trip(synth_root):
    ds = UADetracDataset(synth_root)
    assert len(ds) == SMALL["num_scenarios"] * SMALL["frames_per_scenario"]
    assert list(ds.scenarios()) == ["SYN_0001", "SYN_0002"]
    types = set()
    for f in ds.frames:
        assert (f.width, f.height) == (64, 36) and f.annotated and f.boxes
        types.update(b.vehicle_type for b in f.boxes)
        for b in f.boxes:
            assert 0 <= b.left and b.left + b.width <= 64 + 1e-6 and b.top + b.height <= 36 + 1e-6
    assert types <= set(VEHICLE_CLASSES) and "car" in types
    for info in ds.sequences.values():
        assert info.weather in ("sunny", "cloudy") and info.ignored_regions
    xml = (synth_root / st.XML_DIR / "SYN_0001.xml").read_text()
    assert "sence_weather" in xml and "<ignored_region>" in xml and 'density="' in xml


def test_synthetic_boxes_hold_the_vehicles(synth_root):
    """Annotations match the pixels: frames differ from the background inside boxes, not outside."""
    ds = UADetracDataset(synth_root)
    size = 32
    for scen, idx in ds.scenarios().items():
        bg = ds.background(scen, size)
        inside, outside = [], []
        for i in idx[:20]:
            diff = (ds.load_image(i, size) - bg).abs().mean(0)
            mask = object_mask(ds.boxes(i), size)
            if mask.any():
                inside.append(diff[mask].mean())
            outside.append(diff[~mask].mean())
        assert torch.stack(inside).mean() > 4 * torch.stack(outside).mean(), scen
    # Scenarios have distinct backgrounds.
    b1, b2 = (ds.background(s, size) for s in ds.scenarios())
    assert (b1 - b2).abs().mean() > 0.1


def test_synthetic_is_deterministic(tmp_path):
    cfg = {**SMALL, "num_scenarios": 1, "frames_per_scenario": 8}
    st.generate(tmp_path / "a", cfg)
    st.generate(tmp_path / "b", cfg)
    st.generate(tmp_path / "c", {**cfg, "seed": 4})
    rel = Path(st.XML_DIR) / "SYN_0001.xml"
    img = Path(st.IMAGE_DIR) / "SYN_0001" / "img00005.jpg"
    assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert (tmp_path / "a" / img).read_bytes() == (tmp_path / "b" / img).read_bytes()
    assert (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()


def test_synthetic_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="data.synthetic.frames"):
        config_from_mapping(st.SyntheticTrafficConfig, {"frames": 10}, "data.synthetic")
    with pytest.raises(ConfigError, match="data.synthetic.width"):
        config_from_mapping(st.SyntheticTrafficConfig, {"width": 4}, "data.synthetic")
    with pytest.raises(ConfigError, match="type_probs"):
        config_from_mapping(
            st.SyntheticTrafficConfig, {"type_probs": {"truck": 1.0}}, "data.synthetic"
        )


def test_null_root_generates_into_the_cache_once(tmp_path, monkeypatch):
    cache = ArtifactCache(tmp_path / "cache")
    calls = []
    real = st.generate
    monkeypatch.setattr(st, "generate", lambda out, cfg: calls.append(1) or real(out, cfg))
    cfg = {"root": None, "synthetic": {**SMALL, "frames_per_scenario": 6}}
    ds = open_ua_detrac(cfg, cache)
    assert ds.synthetic and len(ds) == 12
    assert (tmp_path / "cache" / "data_ua_detrac_synthetic") in ds.root.parents
    again = open_ua_detrac(cfg, cache)
    assert again.root == ds.root and calls == [1]
    other = open_ua_detrac({**cfg, "synthetic": {**cfg["synthetic"], "seed": 9}}, cache)
    assert other.root != ds.root and calls == [1, 1]


def test_split_frames(synth_root):
    ds = UADetracDataset(synth_root)
    counts = {"local": 16, "shared": 8, "eval": 4}
    sets = ds.split_frames("SYN_0001", counts, seed=0)
    assert {k: len(v) for k, v in sets.items()} == counts
    pool = set(ds.scenarios()["SYN_0001"])
    flat = [i for v in sets.values() for i in v]
    assert len(set(flat)) == len(flat) and set(flat) <= pool
    # temporal: local frames come first, evaluation frames last in the video.
    assert max(sets["local"]) < min(sets["shared"]) and max(sets["shared"]) < min(sets["eval"])
    assert ds.split_frames("SYN_0001", counts, seed=0) == sets
    rnd = ds.split_frames("SYN_0001", [16, 8, 4], seed=0, strategy="random")
    assert isinstance(rnd, list) and sum(map(len, rnd)) == 28 and len(set(sum(rnd, []))) == 28
    assert rnd == ds.split_frames("SYN_0001", [16, 8, 4], seed=0, strategy="random")
    assert rnd != ds.split_frames("SYN_0001", [16, 8, 4], seed=1, strategy="random")
    with pytest.raises(DataError, match=r"'SYN_0002' has 30 frames .* = 31"):
        ds.split_frames("SYN_0002", {"local": 20, "shared": 10, "eval": 1})


def test_split_hint_for_synthetic(tmp_path):
    ds = open_ua_detrac(
        {"root": None, "synthetic": {**SMALL, "frames_per_scenario": 5}}, ArtifactCache(tmp_path)
    )
    with pytest.raises(DataError, match="frames_per_scenario"):
        ds.split_frames("SYN_0001", [4, 1, 1])


# ---------------------------------------------------------------------------------- CLI


def _cli(tmp: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "semcom_exp",
            "task=data_summary",
            "data=ua_detrac",
            f"hydra.run.dir={tmp}",
            f"paths.cache_dir={tmp}/cache",
            *overrides,
        ],
        cwd=REPO,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_data_summary(top, tmp_path):
    proc = _cli(tmp_path / "run", f"data.root={top}")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["num_samples"] == 6
    assert res["examples"][0] == "bus 10 5 12 8; car 19 22 25 31"


def test_cli_bad_input_is_one_clear_line(top, tmp_path):
    (top / "Insight-MVT_Annotation_Train" / "MVI_40002" / "img00003.jpg").unlink()
    proc = _cli(tmp_path / "run", f"data.root={top}")
    assert proc.returncode != 0
    assert "img00003.jpg" in proc.stderr and "Traceback" not in proc.stderr
    xml = top / "DETRAC-Train-Annotations-XML" / "MVI_40001.xml"
    xml.write_text(xml.read_text()[:300])
    proc = _cli(
        tmp_path / "run2",
        f"data.root={top}",
        "data.on_error=skip",
        "data.scenarios={r: [MVI_40001, MVI_40002]}",
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "run2" / "results.json").read_text())
    assert res["num_samples"] == 2  # MVI_40001 skipped, MVI_40002 lost frame 3
