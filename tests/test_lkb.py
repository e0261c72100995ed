"""LAM-MSC LKB at tiny size: persona corpus, tiny GPT-2 training, peft adapters (only their
params train; save/load round trip is exact), greedy generation, offline errors, CLI smoke."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch

from semcom_exp.data import personas as P
from semcom_exp.errors import DataError, SemcomError
from semcom_exp.models import lkb as M

from .conftest import read_json


# ------------------------------------------------------------------------------ personas
def test_same_message_means_different_things_to_different_users():
    alice, bob = P.synthetic_personas(["alice", "bob"])
    a = {m.keywords: m for m in alice.messages}
    b = {m.keywords: m for m in bob.messages}
    shared = set(a) & set(b)
    assert shared, "the users must share messages"
    differing = [k for k in shared if a[k].reference != b[k].reference]
    assert len(differing) == len(shared)  # every shared message is ambiguous between them
    assert (
        a["max lost"].reference == "my dog max is lost"
        and b["max lost"].reference == "my brother max is lost"
    )
    assert P.synthetic_personas(["alice"])[0] == P.synthetic_personas(["alice"])[0]  # deterministic


def test_evaluation_messages_are_held_out_of_the_prompt_base():
    for p in P.synthetic_personas():
        base = "\n".join(p.prompt_base)
        assert "max is my" in base or "the bank is the" in base
        for m in p.messages:
            assert m.reference not in base and f"=> {m.keywords}" not in base
            assert P.fact(m.name, m.entity) in p.prompt_base  # the binding itself is known


def test_entity_scoring():
    comp = {"dog", "brother", "river", "savings"}
    assert P.entity_correct("my dog max is lost", "max", "dog", comp)
    assert not P.entity_correct("my brother max is lost", "max", "dog", comp)
    assert not P.entity_correct(
        "my dog brother max is lost", "max", "dog", comp
    )  # hedging is wrong
    assert not P.entity_correct("my doggy max is lost", "max", "dog", comp)  # whole words only
    assert not P.entity_correct("my dog luna is lost", "max", "dog", comp)  # the name must survive
    chance = P.entity_chance(P.synthetic_personas())
    assert chance["alice", "max"] == pytest.approx(1 / 4) and chance[
        "alice", "bank"
    ] == pytest.approx(1 / 2)


def test_persona_files_round_trip_and_empty_base_is_a_clear_error(tmp_path: Path):
    personas = P.synthetic_personas(["alice", "carol"])
    P.write_personas(tmp_path, personas)
    back = P.read_personas(tmp_path)
    assert [p.user for p in back] == ["alice", "carol"]
    assert (
        back[0].prompt_base == personas[0].prompt_base and back[0].messages == personas[0].messages
    )
    assert back[0].facts == personas[0].facts
    (tmp_path / "carol" / P.PROMPT_BASE_FILE).write_text("\n  \n")
    with pytest.raises(DataError) as err:
        P.read_personas(tmp_path)
    assert (
        "carol" in str(err.value)
        and P.PROMPT_BASE_FILE in str(err.value)
        and "empty" in str(err.value)
    )
    with pytest.raises(DataError):
        P.read_personas(tmp_path / "missing")


# ------------------------------------------------------------------------------ models
@pytest.fixture(scope="module")
def tiny():
    """A tiny GPT-2 pre-trained for a few dozen steps on the general corpus (shared by tests)."""
    torch.manual_seed(0)
    tok = M.word_tokenizer(P.vocabulary())
    model = M.tiny_gpt2(tok, n_layer=1, n_embd=32, n_head=2, n_positions=96)
    history = _train(model, tok, P.general_corpus(256, seed=0), steps=40, lr=1e-2)
    return model, tok, history


def _train(model, tok, lines, steps: int, lr: float, batch_size: int = 16) -> list[dict]:
    module = M.CausalLMModule(model, lr=lr)
    trainer = L.Trainer(
        max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1,
    )  # fmt: skip
    model.train()
    trainer.fit(module, M.text_loader(lines, tok, batch_size, seed=0, max_length=64))
    model.eval()
    return module.loss_history


def test_training_lowers_the_loss(tiny):
    _, _, history = tiny
    losses = [h["loss"] for h in history]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_training_is_deterministic_for_a_seed():
    tok = M.word_tokenizer(P.vocabulary())
    states = []
    for _ in range(2):
        torch.manual_seed(3)
        model = M.tiny_gpt2(tok, n_layer=1, n_embd=16, n_head=2, n_positions=96)
        _train(model, tok, P.general_corpus(64, seed=0), steps=5, lr=1e-2)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_word_tokenizer_round_trips_corpus_text(tiny):
    _, tok, _ = tiny
    line = P.general_corpus(3, seed=1)[0]
    ids = tok(line, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids and tok.decode(ids) == line


def test_answer_only_loss_masks_the_prompt(tiny):
    _, tok, _ = tiny
    data = M.TextLines(["expand : max hungry => my dog max is hungry", "max is my dog ."], tok)
    batch = data.collate([data[0], data[1]])
    labels = batch["labels"]
    assert (labels[0, :5] == -100).all() and (labels[0, 5:11] != -100).all()  # 5 prompt tokens
    assert labels[1, 0] == -100 and (labels[1, 1:6] != -100).all() and (labels[1, 6:] == -100).all()


def _copy(model):
    """A fresh copy of the global LM (LoRA edits the model it wraps)."""
    clone = type(model)(model.config)
    clone.load_state_dict(model.state_dict())
    return clone.eval()


def _wrapped_key(key: str, state: dict) -> str:
    """``a.b.weight`` of the plain model as LoRA's wrapped ``a.b.base_layer.weight``, if so."""
    head, _, leaf = key.rpartition(".")
    return key if key in state else f"{head}.base_layer.{leaf}"


@pytest.mark.parametrize("kind", ["prompt_tuning", "prefix_tuning", "lora"])
def test_adapter_trains_only_its_params_and_round_trips(tiny, kind, tmp_path: Path):
    base_model, tok, _ = tiny
    base = _copy(base_model)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    torch.manual_seed(1)
    settings = {"r": 4, "alpha": 8} if kind == "lora" else {"num_virtual_tokens": 4}
    model = M.attach_adapter(base, kind, settings)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    marker = "lora_" if kind == "lora" else "prompt_encoder"
    assert trainable and all(marker in n for n in trainable)
    counts = M.trainable_parameters(model)
    assert 0 < counts["trainable"] < 0.2 * counts["total"]
    persona = P.synthetic_personas(["alice"])[0]
    history = _train(model, tok, persona.prompt_base, steps=15, lr=3e-2, batch_size=8)
    assert history[-1]["loss"] < history[0]["loss"]
    base_after = model.get_base_model().state_dict()
    for k, v in before.items():  # the global LM's own weights are untouched
        assert torch.equal(base_after[_wrapped_key(k, base_after)], v), k

    model.save_pretrained(tmp_path)
    loaded = M.load_adapter(_copy(base_model), tmp_path)
    prompts = [P.expand_prompt(m.keywords) for m in persona.messages[:6]]
    batch = torch.tensor([tok(prompts[0], add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=batch).logits, loaded(input_ids=batch).logits)
        plain = base_model(input_ids=batch).logits
        assert not torch.allclose(
            model(input_ids=batch).logits[:, -plain.shape[1] :], plain
        )  # it did adapt
    assert M.generate(model, tok, prompts) == M.generate(loaded, tok, prompts)


def test_generation_is_greedy_and_batching_does_not_change_it(tiny):
    model, tok, _ = tiny
    prompts = [P.expand_prompt(m.keywords) for m in P.synthetic_personas(["bob"])[0].messages]
    together = M.generate(model, tok, prompts, max_new_tokens=8)
    one_by_one = [M.generate(model, tok, [p], max_new_tokens=8)[0] for p in prompts[:5]]
    assert together[:5] == one_by_one and together == M.generate(
        model, tok, prompts, max_new_tokens=8
    )
    assert all(tok.eos_token not in g for g in together)


def test_lm_by_missing_path_or_offline_hub_id_is_a_clear_error(tmp_path: Path):
    with pytest.raises(M.LanguageModelUnavailable) as err:
        M.load_causal_lm(str(tmp_path / "nothing"))
    assert "model.lm" in str(err.value) and str(tmp_path / "nothing") in str(err.value)
    with pytest.raises(SemcomError) as err:
        M.load_causal_lm("someone/not-a-cached-lm")
    assert "someone/not-a-cached-lm" in str(err.value) and "download" in str(err.value)


def test_local_lm_folder_loads(tiny, tmp_path: Path):
    model, tok, _ = tiny
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = M.load_causal_lm(str(tmp_path))
    ids = torch.tensor([tok("expand : max hungry =>", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(loaded.eval()(input_ids=ids).logits, model(input_ids=ids).logits)
    assert len(loaded_tok) == len(tok)


# ------------------------------------------------------------------------------ CLI
def test_cli_smoke_run_writes_the_contract(smoke_run):
    proc = smoke_run("lam_msc/lkb")  # the CLI smoke run, shared with tests/test_cli.py
    tmp_path = proc.tmp
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    rows = pd.read_csv(run / "results.csv")
    for col in ("user", "adapter", "accuracy", "entity_accuracy", "accuracy_shuffled", "bleu", "n"):
        assert col in rows
    assert set(rows["adapter"]) == {"none", "in_context", "prompt_tuning", "prefix_tuning", "lora"}
    assert rows["accuracy"].between(0, 1).all() and rows["entity_accuracy"].between(0, 1).all()
    summary = read_json(run / "results.json")
    assert summary["experiment"] == "lam_msc/lkb" and "entity_accuracy_lora" in summary
    assert 0 < summary["entity_chance"] < 1
    assert (run / "figures" / "lkb_accuracy.png").exists() and (run / "predictions.csv").exists()
    # adapters were saved with save_pretrained into the cache
    configs = list((tmp_path / "cache" / "lkb_adapter").glob("*/adapter_config.json"))
    assert (
        len(configs) == 3 * rows["user"].nunique()
        and json.loads(configs[0].read_text())["peft_type"]
    )


def test_pipeline_rejects_an_empty_persona_base(tmp_path: Path):
    """The pipeline reads ``lkb.personas_root`` before any training: an empty prompt base stops
    it with a DataError naming the file (the runner prints it and exits 2), and no stage has
    been computed (a pipeline that trained the global LM first would leave it in the cache)."""
    from hydra import compose, initialize_config_dir

    from semcom_exp.cache import ArtifactCache
    from semcom_exp.experiments.lam_msc.lkb import run as run_lkb
    from semcom_exp.runner import RunContext

    from .conftest import REPO

    P.write_personas(tmp_path / "personas", P.synthetic_personas(["alice", "bob"]))
    (tmp_path / "personas" / "bob" / P.PROMPT_BASE_FILE).write_text("")
    overrides = ["experiment=lam_msc/lkb", f"lkb.personas_root={tmp_path / 'personas'}"]
    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    ctx = RunContext(run_dir=tmp_path, cache=ArtifactCache(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        run_lkb(cfg, ctx)  # the whole pipeline, not only the reader
    assert "bob" in str(err.value) and P.PROMPT_BASE_FILE in str(err.value)
    computed = [p for p in (tmp_path / "cache").glob("*/*") if p.is_dir()]
    assert computed == [], computed


def test_prompt_tuning_generation_matches_the_base_model_fed_the_soft_prompt(tiny):
    """Greedy output of a prompt-tuned model = the base LM's own ``generate`` on
    [soft prompt; prompt embeddings]. Fails if the soft prompt is re-inserted during decoding
    (peft's generate with transformers 5.24) or dropped."""
    base_model, tok, _ = tiny
    torch.manual_seed(2)
    model = M.attach_adapter(_copy(base_model), "prompt_tuning", {"num_virtual_tokens": 4}).eval()
    prompts = [P.expand_prompt(m.keywords) for m in P.synthetic_personas(["carol"])[0].messages[:4]]
    ours = M.generate(model, tok, prompts, max_new_tokens=12)
    base = model.get_base_model()
    expected = []
    with torch.no_grad():
        for p in prompts:
            ids = torch.tensor([tok(p, add_special_tokens=False)["input_ids"]])
            embeds = torch.cat(
                [model.get_prompt(batch_size=1), base.get_input_embeddings()(ids)], 1
            )
            new = base.generate(
                inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
                max_new_tokens=12, do_sample=False, num_beams=1,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
            )[0].tolist()  # fmt: skip
            new = new[: new.index(tok.eos_token_id)] if tok.eos_token_id in new else new
            expected.append(" ".join(tok.decode(new, skip_special_tokens=True).split()))
    assert ours == expected


@pytest.mark.parametrize("kind", ["none", "lora"])
def test_forward_greedy_equals_library_generate(tiny, kind):
    """The cache-free decoding used for prompt learning is the same greedy as ``generate``."""
    base_model, tok, _ = tiny
    model = _copy(base_model)
    if kind == "lora":
        torch.manual_seed(3)
        model = M.attach_adapter(model, "lora", {"r": 4, "alpha": 8}).eval()
        for n, p in model.named_parameters():  # a non-zero LoRA update (B starts at 0)
            if "lora_B" in n:
                p.data.normal_(0, 0.05)
    prompt = P.expand_prompt(P.synthetic_personas(["dave"])[0].messages[0].keywords)
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]] * 2)
    with torch.no_grad():
        by_forward = M._greedy_by_forward(model, ids, 10, eos=-1)  # never stops early
        by_generate = M._greedy_by_generate(model, tok, ids, 10)
    n = by_generate.shape[1]
    assert torch.equal(by_forward[:, :n], by_generate)


def test_generation_at_the_context_boundary(tiny):
    """virtual + prompt + new tokens == n_positions decodes to the last position; one more
    token is a ConfigError naming the key, raised before any decoding."""
    base_model, tok, _ = tiny
    torch.manual_seed(4)
    model = M.attach_adapter(_copy(base_model), "prompt_tuning", {"num_virtual_tokens": 6}).eval()
    prompt = P.expand_prompt(P.synthetic_personas(["alice"])[0].messages[0].keywords)
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    room = M.context_length(model) - M.virtual_tokens(model) - ids.shape[1]
    assert M.virtual_tokens(model) == 6 and room > 0
    M.check_fits(model, ids.shape[1], room)
    with torch.no_grad():  # eos=-1: decodes all `room` tokens, up to the last position
        assert M._greedy_by_forward(model, ids, room, eos=-1).shape[1] == room
    assert M.generate(model, tok, [prompt], max_new_tokens=room) is not None
    with pytest.raises(M.ContextOverflow) as err:
        M.generate(model, tok, [prompt], max_new_tokens=room + 1)
    assert "model.max_new_tokens" in str(err.value) and "n_positions" in str(err.value)
    with pytest.raises(M.ContextOverflow):
        M.generate(_copy(base_model), tok, [prompt], max_new_tokens=room + 7)
