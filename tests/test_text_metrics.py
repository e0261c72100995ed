"""Text similarity on known pairs with the real packaged all-MiniLM-L6-v2; offline errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semcom_exp.errors import SemcomError
from semcom_exp.metrics.text import TextModelUnavailable, TextSimilarity, bleu, derangement

DISTINCT = [
    "my dog max is hungry",
    "quarterly revenue rose sharply",
    "the train to paris leaves at noon",
    "she plays the violin every evening",
    "photosynthesis converts light into chemical energy",
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> TextSimilarity:
    return TextSimilarity(cache_dir=tmp_path_factory.mktemp("cache"))


def test_identical_texts_score_one(sim):
    cos = sim.cosine(DISTINCT, DISTINCT)
    np.testing.assert_allclose(cos, 1.0, atol=1e-5)
    assert sim.accuracy(DISTINCT, DISTINCT) == 1.0


def test_unrelated_low_paraphrase_high(sim):
    unrelated = sim.cosine(["my dog max is hungry"], ["quarterly revenue rose sharply"])[0]
    paraphrase = sim.cosine(["my dog max is hungry"], ["the dog called max wants food"])[0]
    assert unrelated < 0.2
    assert paraphrase >= 0.6 > unrelated
    assert sim.accuracy(["my dog max is hungry", "my dog max is hungry"],
                        ["the dog called max wants food", "quarterly revenue rose sharply"]) == 0.5  # fmt: skip


def test_shuffled_chance_level(sim):
    assert sim.accuracy_shuffled(DISTINCT, DISTINCT, threshold=0.6) == 0.0
    assert sim.accuracy_shuffled(DISTINCT, DISTINCT, threshold=-1.0) == 1.0
    # one paraphrase pair among four texts: 2 of the 12 ordered pairs (i, j != i) pass
    texts = ["my dog max is hungry", "the dog called max wants food"] + DISTINCT[1:3]
    assert sim.accuracy_shuffled(texts, texts, threshold=0.6) == pytest.approx(2 / 12)
    # a seeded single derangement: deterministic, and its mean over seeds nears the exact value
    one = [sim.accuracy_shuffled(texts, texts, 0.6, seed=s) for s in range(200)]
    assert one[:5] == [sim.accuracy_shuffled(texts, texts, 0.6, seed=s) for s in range(5)]
    assert abs(np.mean(one) - 2 / 12) < 0.05


def test_derangement_has_no_fixed_points_and_is_seeded():
    for seed in range(20):
        perm = derangement(6, seed)
        assert sorted(perm) == list(range(6)) and not np.any(perm == np.arange(6))
    assert np.array_equal(derangement(9, 1), derangement(9, 1))
    with pytest.raises(ValueError):
        derangement(1, 0)


def test_bleu_known_values():
    assert bleu(DISTINCT, DISTINCT) == pytest.approx(1.0)
    assert bleu(["a b c d e"], ["v w x y z"]) == 0.0
    partial = bleu(["my dog max is very hungry"], ["my dog max is hungry"])
    assert 0.0 < partial < 1.0
    with pytest.raises(ValueError):
        bleu(["a"], ["a", "b"])


def test_missing_path_and_offline_hub_id_are_clear_errors(tmp_path: Path, monkeypatch):
    import socket

    class NetworkUsed(BaseException):  # not an Exception: no `except Exception` swallows it
        pass

    def no_network(*args, **kwargs):
        raise NetworkUsed(f"the model lookup tried the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    missing = tmp_path / "no_model_here"
    with pytest.raises(TextModelUnavailable) as err:
        TextSimilarity(str(missing), cache_dir=tmp_path)
    assert str(missing) in str(err.value) and isinstance(err.value, SemcomError)
    with pytest.raises(TextModelUnavailable) as err:  # only the local cache is looked at
        TextSimilarity("someone/not-a-cached-model", cache_dir=tmp_path)
    assert "someone/not-a-cached-model" in str(err.value) and "download" in str(err.value)


def test_cosine_needs_paired_lists(sim):
    with pytest.raises(ValueError):
        sim.cosine(["a"], ["a", "b"])
