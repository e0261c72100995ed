"""The SC link as the authors set it up: trained with the CGE in the loop
(``model.train_csi=cge``), and scored so an uncased decoder is not counted wrong on capitals."""

from __future__ import annotations

import pandas as pd

from .conftest import read_json, run_cli


def test_train_csi_cge_trains_through_the_estimator_and_keys_it(tmp_path):
    proc = run_cli(
        "experiment=lam_msc/sc",
        "debug=default",
        "sc.channels=[ofdm]",
        "model.train_csi=cge",
        tmp=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "run" / "results.csv")
    assert set(rows["channel"]) == {"ofdm"} and set(rows["train_csi"]) == {"cge"}
    manifest = read_json(tmp_path / "run" / "manifest.json")
    stages = [item["stage"] for item in manifest["artifacts"]]
    assert stages.index("cge_generator") < stages.index("sc_model")  # trained before the link
    sc_meta = read_json(next((tmp_path / "cache" / "sc_model").glob("*/artifact.json")))
    assert sc_meta["config"]["cge"]["loss"] == "cgan"  # the estimator is part of the key


def test_train_csi_cge_on_a_flat_channel_is_refused_before_any_work(tmp_path):
    proc = run_cli("experiment=lam_msc/sc", "debug=default", "model.train_csi=cge", tmp=tmp_path)
    assert proc.returncode == 2
    assert "model.train_csi" in proc.stderr and "sc.channels=[ofdm]" in proc.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.json"))


def test_uncased_bleu_separates_case_from_content():
    from semcom_exp.stages.sc import TextScorer

    scorer = TextScorer("all-MiniLM-L6-v2", None, 0.6)
    sent = ["The Red Car Stops At The Light Near The Old Bridge Today"] * 2
    decoded = [t.lower() for t in sent]  # what an uncased tokenizer can give back at best
    score = scorer.score(decoded, sent, seed=0)
    assert score["bleu_uncased"] == 1.0 and score["bleu"] < 0.1
