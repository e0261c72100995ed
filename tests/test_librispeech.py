"""LibriSpeech reader (real-layout fixture), root finding, bad input, synthetic speech, CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from semcom_exp.cache import ArtifactCache
from semcom_exp.data import synthetic_speech as ss
from semcom_exp.data.common import config_from_mapping
from semcom_exp.data.librispeech import LibriSpeechDataset, find_root, open_librispeech
from semcom_exp.errors import ConfigError, DataError

from .conftest import main_in_process, read_json, run_cli

FIXTURE = Path(__file__).parent / "fixtures" / "librispeech"
SMALL = {"num_speakers": 2, "utterances_per_chapter": 2, "seed": 1}
HAS_ESPEAK = shutil.which("espeak-ng") is not None
TEXTS = ["mister quilter", "nor is mister quilter's manner", "he hoped there would be stew"]


@pytest.fixture
def above(tmp_path: Path) -> Path:
    """A writable copy of the fixture: ``<tmp>/data/LibriSpeech``; returns ``<tmp>/data``."""
    shutil.copytree(FIXTURE, tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def top(above: Path) -> Path:
    return above / "LibriSpeech"


def test_reads_fixture(top):
    ds = open_librispeech({"root": str(top)})
    assert ds.root == top.resolve() and ds.splits == ["dev-clean", "test-clean"]
    assert len(ds) == 3 and ds.num_skipped == 0 and ds.audio_source == "recorded"
    assert [u.utt_id for u in ds.utterances] == [
        "1272-128104-0000",
        "1272-128104-0001",
        "1089-134686-0000",
    ]
    assert [ds.semantic_text(i) for i in range(3)] == TEXTS
    assert ds.utterances[1].transcript == "NOR IS MISTER QUILTER'S MANNER"  # stored upper case
    u = ds.utterances[0]
    assert (u.split, u.speaker, u.chapter, u.sample_rate, u.channels) == (
        "dev-clean",
        "1272",
        "128104",
        16000,
        1,
    )


def test_audio_and_raw_bits(top):
    ds = open_librispeech({"root": str(top)})
    for i in range(len(ds)):
        x, sr = ds.load_audio(i)
        ref, _ = sf.read(ds.utterances[i].path, dtype="float32")
        assert sr == 16000 and x.dtype == np.float32 and x.ndim == 1
        assert np.array_equal(x, ref) and 0.05 < np.abs(x).max() <= 1.0
        assert ds.raw_bits(i) == len(x) * 16 and ds.duration(i) == pytest.approx(len(x) / 16000)
    assert ds.duration(2) > ds.duration(0)  # a longer sentence, a longer recording
    lazy = open_librispeech({"root": str(top), "verify": "none"})
    assert lazy.utterances[0].num_frames is None and lazy.raw_bits(0) == ds.raw_bits(0)


def test_resamples_to_the_configured_rate(top):
    path = top / "dev-clean" / "1272" / "128104" / "1272-128104-0000.flac"
    x, _ = sf.read(path, dtype="float32")
    t = np.arange(int(0.5 * 22050)) / 22050
    sf.write(
        path,
        (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        22050,
        subtype="PCM_16",
        format="FLAC",
    )
    y, sr = open_librispeech({"root": str(top)}).load_audio(0)
    assert sr == 16000 and len(y) == 8000
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spectrum) * 16000 / len(y) - 440) < 5  # the tone survives resampling
    native = open_librispeech({"root": str(top), "sample_rate": None}).load_audio(0)
    assert native[1] == 22050 and len(native[0]) == len(t)
    with pytest.raises(ConfigError, match="data.sample_rate"):
        open_librispeech({"root": str(top), "sample_rate": -1})


@pytest.mark.parametrize("where", ["top", "above"])
def test_root_is_found_from_top_or_above(top, where):
    given = {"top": top, "above": top.parent}[where]
    assert find_root(given) == (top.resolve(), None)
    assert len(open_librispeech({"root": str(given)})) == 3


def test_root_at_a_split_folder_reads_that_split(top):
    assert find_root(top / "test-clean") == (top.resolve(), "test-clean")
    ds = open_librispeech({"root": str(top / "dev-clean")})
    assert ds.root == top.resolve() and ds.splits == ["dev-clean"] and len(ds) == 2
    assert len(open_librispeech({"root": str(top), "splits": ["test-clean"]})) == 1
    with pytest.raises(DataError) as err:
        open_librispeech({"root": str(top), "splits": ["train-clean-100"]})
    assert "train-clean-100" in str(err.value) and "dev-clean, test-clean" in str(err.value)


def test_missing_root_says_what_to_do(tmp_path):
    with pytest.raises(DataError) as err:
        open_librispeech({"root": str(tmp_path / "nope")})
    msg = str(err.value)
    assert "nope" in msg and ".trans.txt" in msg and "data.root=null" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no LibriSpeech data"):
        open_librispeech({"root": str(tmp_path / "empty")})


def test_corrupt_or_missing_files(top):
    chapter = top / "dev-clean" / "1272" / "128104"
    (chapter / "1272-128104-0001.flac").write_bytes(b"fLaC" + b"\x00" * 50)
    with pytest.raises(DataError, match="1272-128104-0001.flac"):
        open_librispeech({"root": str(top)})
    ds = open_librispeech({"root": str(top), "on_error": "skip"})
    assert len(ds) == 2 and ds.num_skipped == 1 and "1272-128104-0001.flac" in ds.skipped[0]
    # A truncated FLAC keeps a valid header: found when the samples load.
    good = chapter / "1272-128104-0000.flac"
    good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    ds = open_librispeech({"root": str(top), "on_error": "skip"})
    with pytest.raises(DataError, match="1272-128104-0000.flac"):
        ds.load_audio(0)
    (chapter / "1272-128104-0000.flac").unlink()
    with pytest.raises(DataError, match="missing audio file .*1272-128104-0000.flac"):
        open_librispeech({"root": str(top)})


def test_bad_transcripts(top):
    trans = top / "test-clean" / "1089" / "134686" / "1089-134686.trans.txt"
    trans.write_text(
        "1089-134686-0000 HE HOPED THERE WOULD BE STEW\n1272-134686-0001 WRONG SPEAKER\n"
    )
    with pytest.raises(DataError, match=r"1089-134686.trans.txt, line 2"):
        open_librispeech({"root": str(top)})
    trans.unlink()
    with pytest.raises(DataError, match="missing transcript file .*1089-134686.trans.txt"):
        open_librispeech({"root": str(top), "splits": ["test-clean", "dev-clean"]})
    ds = open_librispeech({"root": str(top), "on_error": "skip"})
    assert len(ds) == 2 and ds.num_skipped == 1


# --------------------------------------------------------------------------------- synthetic


def _word_bursts(x: np.ndarray, sr: int) -> int:
    """Tone bursts in a tone-set utterance: runs of 10 ms frames above a small energy level."""
    n = sr // 100
    loud = np.sqrt((x[: len(x) // n * n].reshape(-1, n) ** 2).mean(1)) > 0.02
    return int(np.sum(loud[1:] & ~loud[:-1]) + loud[0])


def test_synthetic_tones_round_trip(tmp_path):
    ss.generate(tmp_path, {**SMALL, "voice": "tones", "splits": ["dev-clean", "test-clean"]})
    ds = LibriSpeechDataset(tmp_path)
    assert ds.audio_source == "tones" and ds.splits == ["dev-clean", "test-clean"] and len(ds) == 8
    assert "NOT speech" in ds.generator_info["audio_source_detail"]
    speakers = {u.speaker for u in ds.utterances}
    assert (
        len(speakers) == 4
        and {u.speaker for u in ds.utterances if u.split == "test-clean"} <= speakers
    )
    for i in range(len(ds)):
        text = ds.semantic_text(i)
        assert (
            text == text.lower()
            and text == ds.utterances[i].transcript.lower()
            and text.startswith("the ")
        )
        x, sr = ds.load_audio(i)
        assert sr == 16000 and _word_bursts(x, sr) == len(text.split())  # one tone per word


@pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng is not installed")
def test_synthetic_espeak_round_trip(tmp_path):
    ss.generate(tmp_path, SMALL)
    ds = LibriSpeechDataset(tmp_path)
    assert ds.audio_source == "espeak-ng" and len(ds) == 4
    tones = LibriSpeechDataset(ss.generate(tmp_path / "t", {**SMALL, "voice": "tones"}))
    assert [ds.semantic_text(i) for i in range(4)] == [tones.semantic_text(i) for i in range(4)]
    for i in range(len(ds)):
        x, sr = ds.load_audio(i)
        assert sr == 16000 and 0.8 < len(x) / sr < 6 and 0.3 < np.abs(x).max() <= 0.71
        spectrum = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / sr)
        assert spectrum[freqs < 4000].sum() > 0.8 * spectrum.sum()  # speech energy sits low


def test_without_espeak_auto_falls_back_to_tones(tmp_path, monkeypatch):
    monkeypatch.setattr(ss.shutil, "which", lambda name: None)
    ss.espeak_version.cache_clear()
    try:
        assert ss.resolve_voice("auto") == "tones"
        with pytest.raises(ConfigError, match="apt-get install -y espeak-ng"):
            ss.resolve_voice("espeak-ng")
        ds = open_librispeech(
            {"root": None, "synthetic": {**SMALL, "num_speakers": 1}}, ArtifactCache(tmp_path)
        )
        assert ds.audio_source == "tones" and ds.synthetic and len(ds) == 2
    finally:
        ss.espeak_version.cache_clear()


def test_synthetic_is_deterministic_and_cached(tmp_path, monkeypatch):
    cfg = {**SMALL, "num_speakers": 1, "voice": "tones"}
    a, b = ss.generate(tmp_path / "a", cfg), ss.generate(tmp_path / "b", cfg)
    c = ss.generate(tmp_path / "c", {**cfg, "seed": 2})
    rel = Path("dev-clean") / "9001" / "90001" / "9001-90001-0001.flac"
    assert (a / rel).read_bytes() == (b / rel).read_bytes() != (c / rel).read_bytes()
    cache = ArtifactCache(tmp_path / "cache")
    calls = []
    real = ss.generate
    monkeypatch.setattr(ss, "generate", lambda out, cfg: calls.append(1) or real(out, cfg))
    ds = open_librispeech({"root": None, "synthetic": cfg}, cache)
    again = open_librispeech({"root": None, "synthetic": cfg}, cache)
    assert again.root == ds.root and calls == [1] and ds.audio_source == "tones"
    assert (tmp_path / "cache" / "data_librispeech_synthetic") in ds.root.parents


def test_synthetic_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="data.synthetic.voice"):
        config_from_mapping(ss.SyntheticSpeechConfig, {"voice": "festival"}, "data.synthetic")
    with pytest.raises(ConfigError, match="data.synthetic.speakers"):
        config_from_mapping(ss.SyntheticSpeechConfig, {"speakers": 2}, "data.synthetic")
    with pytest.raises(ConfigError, match="data.synthetic.splits"):
        config_from_mapping(ss.SyntheticSpeechConfig, {"splits": ["dev clean"]}, "data.synthetic")


# --------------------------------------------------------------------------------------- CLI


def test_cli_data_summary(above, tmp_path):
    proc = run_cli("task=data_summary", "data=librispeech", f"data.root={above}", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    res = read_json(tmp_path / "run" / "results.json")
    assert res["num_samples"] == 3 and res["examples"] == TEXTS
    assert res["audio_source"] == "recorded"  # the reader's summary_extras reach results.json


def test_cli_bad_input_is_one_clear_line(above, tmp_path, monkeypatch, capsys):
    bad = above / "LibriSpeech" / "test-clean" / "1089" / "134686" / "1089-134686-0000.flac"
    bad.write_bytes(b"garbage" * 10)
    args = (
        "task=data_summary",
        "data=librispeech",
        f"data.root={above}",
        f"paths.cache_dir={tmp_path}/c",
    )
    code, err = main_in_process(monkeypatch, capsys, *args, f"hydra.run.dir={tmp_path}/bad")
    assert code == 2 and "1089-134686-0000.flac" in err and "Traceback" not in err
    code, err = main_in_process(
        monkeypatch, capsys, *args, "data.on_error=skip", f"hydra.run.dir={tmp_path}/skip"
    )
    assert code == 0, err
    assert read_json(tmp_path / "skip" / "results.json")["num_samples"] == 2
