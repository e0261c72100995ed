"""Every reader that honours ``data.on_error`` opens every file at load time: with ``raise`` the
first unreadable one stops it, named; with ``skip`` EVERY unreadable one is left out and
counted (not only the first), and the rest are read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from semcom_exp.data.librispeech import open_librispeech
from semcom_exp.data.ua_detrac import open_ua_detrac
from semcom_exp.data.ucf101 import open_ucf101
from semcom_exp.data.voc2012 import open_voc2012
from semcom_exp.errors import DataError

from .conftest import main_in_process, read_json

FIXTURES = Path(__file__).parent / "fixtures"

# reader, fixture folder, files broken (all but the first of each glob), samples left with skip
READERS = {
    "voc2012": (open_voc2012, "voc2012", "VOCdevkit/VOC2012/JPEGImages/*.jpg", 1),
    "librispeech": (open_librispeech, "librispeech", "LibriSpeech/*/*/*/*.flac", 1),
    "ucf101": (open_ucf101, "ucf101", "UCF101/UCF-101/*/*.avi", 1),
    "ua_detrac": (open_ua_detrac, "ua_detrac", "Insight-MVT_Annotation_Train/MVI_40001/*.jpg", 4),
}


def _broken_copy(tmp_path: Path, name: str) -> tuple[Path, int, list[Path]]:
    """A copy of the fixture with every file of the glob but the first zero bytes long."""
    opener, folder, glob, _ = READERS[name]
    root = tmp_path / folder
    shutil.copytree(FIXTURES / folder, root)
    n_clean = len(opener({"root": str(root)}))
    broken = sorted(root.glob(glob))[1:]
    assert len(broken) >= 2
    for f in broken:
        f.write_bytes(b"")
    return root, n_clean, broken


@pytest.mark.parametrize("name", sorted(READERS))
def test_skip_leaves_out_every_unreadable_file(tmp_path: Path, name: str):
    opener, _, _, left = READERS[name]
    root, n_clean, broken = _broken_copy(tmp_path, name)
    with pytest.raises(DataError) as err:
        opener({"root": str(root)})
    assert any(f.name in str(err.value) for f in broken), err.value
    ds = opener({"root": str(root), "on_error": "skip"})
    named = {f.name for f in broken for reason in ds.skipped if f.name in reason}
    assert len(ds) == left and ds.num_skipped == n_clean - left >= 2
    assert len(named) == ds.num_skipped  # one reason per file, each naming its own


def test_data_summary_opens_every_ua_detrac_frame(tmp_path: Path, monkeypatch, capsys):
    """Frames after a sequence's first as zero-byte JPEGs: data_summary fails naming the first
    bad one, or with on_error=skip reports them by count."""
    root, n_clean, broken = _broken_copy(tmp_path, "ua_detrac")
    args = ("task=data_summary", "data=ua_detrac", f"data.root={root}")
    args += (f"paths.cache_dir={tmp_path}/cache",)
    code, err = main_in_process(monkeypatch, capsys, *args, f"hydra.run.dir={tmp_path}/raise")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert broken[0].name in err and "Traceback" not in err
    code, err = main_in_process(
        monkeypatch, capsys, *args, "data.on_error=skip", f"hydra.run.dir={tmp_path}/skip"
    )
    assert code == 0, err
    res = read_json(tmp_path / "skip" / "results.json")
    # img00003 of MVI_40001 is not annotated, so not yielded: two of the three are counted
    assert res["num_samples"] == n_clean - 2 and res["num_skipped"] == 2
    assert [Path(s.split()[3].rstrip(":")).name for s in res["skipped"]] == [
        "img00002.jpg",
        "img00004.jpg",
    ]


def test_a_data_error_inside_a_cached_stage_leaves_the_cache_clean(
    tmp_path: Path, monkeypatch, capsys
):
    """A truncated JPEG (its header reads, its pixels do not) passes the load-time check and is
    found only when the M2GSC data stage decodes the frames inside the cache's compute: exit 2
    naming the file, no artifact published, no temp dir left."""
    from semcom_exp.data import synthetic_traffic as st

    root = tmp_path / "traffic"
    st.generate(root, {"num_scenarios": 3, "frames_per_scenario": 16, "width": 64,
                       "height": 36, "seed": 1})  # fmt: skip
    frames = sorted((root / "Insight-MVT_Annotation_Train").glob("*/img*.jpg"))
    bad = frames[len(frames) // 2]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    cache = tmp_path / "cache"
    code, err = main_in_process(
        monkeypatch,
        capsys,
        "experiment=quickstart",
        "debug=default",
        f"data.root={root}",
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and bad.name in lines[0] and "Traceback" not in err, lines
    assert not list(cache.rglob("artifact.json")), "an artifact was published"
    assert not list(cache.rglob(".tmp-*")), "a temp dir was left"
    assert not [p for w in cache.rglob("*.work") for p in w.rglob("*") if p.is_file()]
