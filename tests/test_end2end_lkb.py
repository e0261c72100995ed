"""The end2end LKB: the key-semantics rule, the global LM's documents, prompts, bad settings."""

from __future__ import annotations

import pytest

from semcom_exp.errors import ConfigError
from semcom_exp.experiments.lam_msc import end2end_lkb as E
from semcom_exp.schema import checked
from semcom_exp.schema.experiments import End2endLkbConfig
from semcom_exp.semantics.key_semantics import key_semantics, lm_form, plain_form


def test_key_semantics_keeps_content_words_in_order_with_repeats():
    assert (
        key_semantics("A white dog is sitting on the motorbike.") == "white dog sitting motorbike"
    )
    assert key_semantics("dog, person, person") == "dog person person"
    assert key_semantics("The doctor's friend looked at once toward the kitchen.") == (
        "doctor friend looked once toward kitchen"
    )
    assert key_semantics("the of a") == ""


@pytest.mark.parametrize(
    "text", ["dog, person, person", "the doctor's friend looked at once toward the kitchen."]
)
def test_lm_form_round_trips(text: str):
    assert lm_form(text).split() == lm_form(lm_form(text)).split()
    assert plain_form(lm_form(text)) == text


def test_general_documents_hold_both_directions_and_the_random_sequences():
    sentences = ["a red cat sat on the mat.", "the dog ran to the park."]
    vocab = ["extract", "red", "cat", "dog", "the", "park", ","]
    docs = E.general_documents(sentences, vocab, count=5, seed=0)
    assert len(docs) == 2 * (len(sentences) + 5)
    assert "extract : a red cat sat on the mat . => red cat sat mat" in docs
    assert "expand : red cat sat mat => a red cat sat on the mat ." in docs
    assert docs == E.general_documents(sentences, vocab, count=5, seed=0)
    assert docs != E.general_documents(sentences, vocab, count=5, seed=1)
    random_words = {w for line in docs[4:] for w in line.split(" => ")[1].split()}
    assert random_words <= set(vocab) - {"extract"} | {"."}  # prompt words never appear as content


def test_prompt_base_is_the_users_lines_plus_replayed_general_ones():
    general = [f"expand : w{i} => w{i}" for i in range(100)]
    base = E.prompt_base(["a dog on the sofa"], general, replay=3, seed=0)
    assert base[:2] == E.exchange("a dog on the sofa") and len(base) == 2 + 6
    assert set(base[2:]) <= set(general) and len(set(base[2:])) == 6
    assert E.prompt_base(["a dog on the sofa"], general, replay=0, seed=0) == base[:2]


def test_knowledge_base_prompts_and_plain_outputs(monkeypatch):
    seen: list[list[str]] = []

    def echo(model, tokenizer, prompts, max_new_tokens):
        seen.append(list(prompts))
        return ["dog , cat" for _ in prompts]

    monkeypatch.setattr(E.M, "generate", echo)
    kb = E.MmaKnowledgeBase({"image": (None, None)}, max_new_tokens=8)
    assert kb.extract("image", ["Dog, cat."]) == ["dog, cat"]
    assert kb.expand("image", ["dog cat"]) == ["dog, cat"]
    assert seen == [["extract : dog , cat . =>"], ["expand : dog cat =>"]]


@pytest.mark.parametrize(
    ("key", "node"),
    [
        ("end2end.lkb.adapter", {"adapter": "in_context", "random_sequences": 1, "replay": 0}),
        ("end2end.lkb.random_sequences", {"adapter": "lora", "random_sequences": -1, "replay": 0}),
        ("end2end.lkb.replay", {"adapter": "lora", "random_sequences": 1, "replay": 1.5}),
    ],
)
def test_bad_lkb_settings_name_the_key(key: str, node: dict):
    with pytest.raises(ConfigError) as err:
        checked(End2endLkbConfig, node, "end2end.lkb")
    assert err.value.key == key
