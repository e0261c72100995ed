"""VOC2012 reader (real-layout fixture), root finding, bad input, synthetic round trip, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from semcom_exp.cache import ArtifactCache
from semcom_exp.data import synthetic_voc as sv
from semcom_exp.data.common import config_from_mapping
from semcom_exp.data.voc2012 import VOC_CLASSES, VOC2012Dataset, find_root, open_voc2012
from semcom_exp.errors import ConfigError, DataError

from .conftest import main_in_process, read_json, run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "voc2012"
SMALL = {"num_images": 12, "width": 64, "height": 48, "max_objects": 2, "seed": 5}


@pytest.fixture
def above(tmp_path: Path) -> Path:
    """A writable copy of the fixture: ``<tmp>/data/VOCdevkit/VOC2012``; returns ``<tmp>/data``."""
    shutil.copytree(FIXTURE, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def top(above: Path) -> Path:
    return above / "VOCdevkit" / "VOC2012"


def test_reads_fixture_with_its_quirks(top):
    ds = open_voc2012({"root": str(top)})
    assert ds.root == top.resolve() and len(ds) == 3 and ds.num_skipped == 0
    assert [ds.image_id(i) for i in range(3)] == ["2007_000032", "2008_000008", "2010_000002"]
    objs = ds.objects(1)  # 2008_000008: tags in another order, a <part>, a decimal coordinate
    assert [o.name for o in objs] == ["horse", "person"]  # the <part><name>head</name> is no object
    assert (objs[1].xmin, objs[1].xmax, objs[1].truncated, objs[1].pose) == (
        14.0,
        22.5,
        True,
        "Unspecified",
    )
    assert ds.objects(2)[0].pose == "Unspecified"  # action annotation without <pose>
    assert [o.difficult for o in ds.objects(0)] == [False, False, True]
    # 2011_000999 is on disk but in no Main split: not read.
    assert "2011_000999" not in {ds.image_id(i) for i in range(len(ds))}


def test_semantic_text_lists_every_object_sorted(top):
    ds = open_voc2012({"root": str(top)})
    assert [ds.semantic_text(i) for i in range(3)] == [
        "aeroplane, person, person",
        "horse, person",
        "person",
    ]
    easy = open_voc2012({"root": str(top), "include_difficult": False})
    assert easy.semantic_text(0) == "aeroplane, person"


def test_pixels_and_raw_bits(top):
    ds = open_voc2012({"root": str(top)})
    img = ds.load_image(0)
    assert img.dtype == np.uint8 and img.shape == (28, 50, 3)
    plane = ds.objects(0)[0]  # the fixture paints each box; VOC boxes are 1-based
    patch = img[int(plane.ymin) : int(plane.ymax) - 1, int(plane.xmin) : int(plane.xmax) - 1]
    assert np.abs(patch.mean((0, 1)) - (200, 200, 210)).max() < 20
    assert np.abs(img[1, 1].astype(int) - (90, 140, 200)).max() < 20
    assert ds.raw_bits(0) == 50 * 28 * 3 * 8 and ds.raw_bits(2) == 30 * 40 * 3 * 8


def test_splits(top):
    assert len(open_voc2012({"root": str(top), "split": "train"})) == 2
    assert [VOC2012Dataset(top, split="val").image_id(0)] == ["2010_000002"]
    assert len(VOC2012Dataset(top, split=["val", "train"])) == 3
    (top / "ImageSets" / "Main" / "trainval.txt").unlink()
    with pytest.raises(DataError) as err:
        open_voc2012({"root": str(top)})
    msg = str(err.value)
    assert "ImageSets/Main/trainval.txt" in msg and "train, val" in msg
    with pytest.raises(ConfigError, match="data.image_set"):
        VOC2012Dataset(top, image_set="Layouts")
    with pytest.raises(ConfigError, match="data.on_error"):
        open_voc2012({"root": str(top), "on_error": "ignore"})
    with pytest.raises(ConfigError, match="data.verify"):
        open_voc2012({"root": str(top), "verify": "all"})


@pytest.mark.parametrize("where", ["top", "devkit", "above", "below"])
def test_root_is_found_from_top_above_or_below(top, where):
    given = {
        "top": top,
        "devkit": top.parent,
        "above": top.parent.parent,
        "below": top / "JPEGImages",
    }[where]
    assert find_root(given) == top.resolve()
    assert len(open_voc2012({"root": str(given)})) == 3


def test_missing_root_says_what_to_do(tmp_path, above):
    with pytest.raises(DataError) as err:
        open_voc2012({"root": str(tmp_path / "nope")})
    msg = str(err.value)
    assert "nope" in msg and "JPEGImages" in msg and "data.root=null" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no VOC data"):
        open_voc2012({"root": str(tmp_path / "empty")})
    shutil.copytree(above / "VOCdevkit" / "VOC2012", above / "VOCdevkit" / "VOC2007")
    with pytest.raises(DataError, match="several VOC copies"):
        open_voc2012({"root": str(above)})


def test_corrupt_or_missing_files(top):
    bad = top / "JPEGImages" / "2008_000008.jpg"
    bad.write_bytes(b"not a jpeg" * 20)
    with pytest.raises(DataError, match="2008_000008.jpg"):
        open_voc2012({"root": str(top)})
    ds = open_voc2012({"root": str(top), "on_error": "skip"})
    assert len(ds) == 2 and ds.num_skipped == 1 and "2008_000008.jpg" in ds.skipped[0]
    lazy = open_voc2012({"root": str(top), "verify": "none"})  # found only when the pixels load
    assert len(lazy) == 3
    with pytest.raises(DataError, match="2008_000008.jpg"):
        lazy.load_image(1)
    xml = top / "Annotations" / "2010_000002.xml"
    xml.write_text(xml.read_text()[:200])
    with pytest.raises(DataError, match="malformed VOC annotation file .*2010_000002.xml"):
        open_voc2012({"root": str(top), "verify": "none"})
    ds = open_voc2012({"root": str(top), "on_error": "skip"})
    assert [ds.image_id(i) for i in range(len(ds))] == ["2007_000032"] and ds.num_skipped == 2
    (top / "Annotations" / "2007_000032.xml").unlink()
    with pytest.raises(DataError, match="missing annotation file .*2007_000032.xml"):
        open_voc2012({"root": str(top)})


def test_all_skipped_is_an_error(top):
    for p in (top / "JPEGImages").glob("*.jpg"):
        p.write_bytes(b"junk")
    with pytest.raises(DataError, match="yields no images; some were skipped"):
        open_voc2012({"root": str(top), "on_error": "skip"})


# --------------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_voc")
    sv.generate(out, SMALL)
    return out


def test_synthetic_round_trip(synth):
    ds = VOC2012Dataset(synth)
    assert ds.root == (synth / "VOCdevkit" / "VOC2012").resolve() and len(ds) == 12
    assert len(VOC2012Dataset(synth, split="train")) + len(VOC2012Dataset(synth, split="val")) == 12
    names = [o.name for i in range(len(ds)) for o in ds.objects(i)]
    assert set(names) <= set(VOC_CLASSES) and len(set(names)) >= 5
    for i in range(len(ds)):
        assert ds.semantic_text(i) == ", ".join(sorted(o.name for o in ds.objects(i)))
        assert ds.load_image(i).shape == (48, 64, 3) and ds.raw_bits(i) == 64 * 48 * 24


def test_synthetic_boxes_hold_their_class_colour(synth):
    """The topmost (last drawn) object's box is mostly its class colour; the rest of the image is not."""
    ds = VOC2012Dataset(synth)
    inside, outside = [], []
    for i in range(len(ds)):
        img = ds.load_image(i).astype(int)
        obj = ds.objects(i)[-1]
        colour = np.array(sv.CLASS_STYLE[obj.name][2])
        near = (np.abs(img - colour) <= 45).all(-1)
        x0, y0, x1, y1 = int(obj.xmin) - 1, int(obj.ymin) - 1, int(obj.xmax), int(obj.ymax)
        mask = np.zeros(near.shape, bool)
        for o in ds.objects(i):
            mask[int(o.ymin) - 1 : int(o.ymax), int(o.xmin) - 1 : int(o.xmax)] = True
        inside.append(near[y0:y1, x0:x1].mean())
        outside.append(near[~mask].mean() if (~mask).any() else 0.0)
    assert np.mean(inside) > 0.35 and np.mean(inside) > 5 * np.mean(outside)


def test_synthetic_is_deterministic_and_cached(tmp_path, monkeypatch):
    cfg = {**SMALL, "num_images": 3}
    a, b, c = (
        sv.generate(tmp_path / k, {**cfg, "seed": s}) for k, s in (("a", 1), ("b", 1), ("c", 2))
    )
    rel = Path("Annotations") / "2099_000002.xml"
    assert (a / rel).read_bytes() == (b / rel).read_bytes() != (c / rel).read_bytes()
    cache = ArtifactCache(tmp_path / "cache")
    calls = []
    real = sv.generate
    monkeypatch.setattr(sv, "generate", lambda out, cfg: calls.append(1) or real(out, cfg))
    ds = open_voc2012({"root": None, "synthetic": cfg}, cache)
    again = open_voc2012({"root": None, "synthetic": cfg}, cache)
    assert ds.synthetic and len(ds) == 3 and again.root == ds.root and calls == [1]
    assert (tmp_path / "cache" / "data_voc2012_synthetic") in ds.root.parents


def test_synthetic_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="data.synthetic.images"):
        config_from_mapping(sv.SyntheticVOCConfig, {"images": 3}, "data.synthetic")
    with pytest.raises(ConfigError, match="data.synthetic.classes"):
        config_from_mapping(
            sv.SyntheticVOCConfig, {"classes": ["person", "unicorn"]}, "data.synthetic"
        )
    assert config_from_mapping(
        sv.SyntheticVOCConfig, {"classes": ["dog"]}, "data.synthetic"
    ).classes == ["dog"]


# --------------------------------------------------------------------------------------- CLI


def test_cli_data_summary(above, tmp_path):
    proc = run_cli("task=data_summary", "data=voc2012", f"data.root={above}", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    res = read_json(tmp_path / "run" / "results.json")
    assert res["num_samples"] == 3
    assert res["examples"] == ["aeroplane, person, person", "horse, person", "person"]


def test_cli_bad_input_is_one_clear_line(above, tmp_path, monkeypatch, capsys):
    (above / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2010_000002.jpg").write_bytes(b"\x00" * 64)
    args = (
        "task=data_summary",
        "data=voc2012",
        f"data.root={above}",
        f"paths.cache_dir={tmp_path}/c",
    )
    code, err = main_in_process(monkeypatch, capsys, *args, f"hydra.run.dir={tmp_path}/bad")
    assert code == 2 and "2010_000002.jpg" in err and "Traceback" not in err
    code, err = main_in_process(
        monkeypatch, capsys, *args, "data.on_error=skip", f"hydra.run.dir={tmp_path}/skip"
    )
    assert code == 0, err
    res = read_json(tmp_path / "skip" / "results.json")
    assert res["num_samples"] == 2 and res["examples"] == [
        "aeroplane, person, person",
        "horse, person",
    ]
