"""Synthetic multi-user persona corpus for the LAM-MSC personalised knowledge base (LKB).

Why: the paper's LKB resolves *semantic ambiguity* ("Max" is one user's dog and another's
brother). This module makes that measurable with a deterministic corpus in which the same
short message means different things to different users.

The task, per user u:

- a message's **key semantics** (what the sender's LKB extracts and the link carries) is a
  keyword string, e.g. ``max hungry`` or ``meet bank tonight``;
- its **reference expansion** is what it means to u: ``my dog max is hungry`` for u = alice,
  ``my brother max is hungry`` for u = bob; ``meet me at the river bank tonight`` vs
  ``... savings bank tonight``;
- the message's **entity** is the word only u's context can supply (``dog``, ``river``);
  ``entity_accuracy`` = share of recovered texts that contain the name and that word and no
  competing entity word (see :func:`entity_correct`).

Each user has a **personal prompt base** (``prompt_base.txt``): fact lines (``max is my dog
.``) and templated exchanges in both directions on TRAINING predicates / times only::

    extract : my dog max is hungry => max hungry
    expand : max hungry => my dog max is hungry

and **evaluation messages** (``eval.jsonl``) on HELD-OUT predicates / times, so a personalised
LM must generalise the user's entity bindings to new messages. A **general corpus** (the
global LM's pre-training text) uses the same grammar with random bindings over a larger name
pool; half of its documents state the bindings as facts before the exchange, so the global LM
learns to use context (as a real LLM does) but knows no user.

On-disk layout (``write_personas`` writes it, ``read_personas`` reads it, so a hand-written
persona set in this layout works the same)::

    ROOT/<user>/prompt_base.txt   one line per prompt (facts and exchanges)
    ROOT/<user>/eval.jsonl        {"keywords", "reference", "name", "entity"} per line
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from semcom_exp.errors import DataError

# ------------------------------------------------------------------------------ vocabulary
PEOPLE_PREDICATES = (
    "hungry", "sleeping", "sick", "outside", "home", "late",
    "happy", "tired", "lost", "bored", "upstairs", "waiting",
)  # fmt: skip
PLACE_TIMES = ("tonight", "tomorrow", "later", "today", "soon", "early")
PLACE_VERBS = ("meet", "going")
ROLES = (
    "dog", "cat", "brother", "sister", "boss", "son",
    "daughter", "friend", "horse", "teacher", "neighbour", "cousin",
)  # fmt: skip
PLACE_KINDS = {
    "bank": ("river", "savings"),
    "club": ("golf", "night"),
    "court": ("tennis", "law"),
    "station": ("train", "police"),
}
PERSONA_NAMES = ("max", "luna", "charlie", "rosie")
EXTRA_NAMES = ("bella", "oscar", "milo", "daisy", "jack", "ruby", "toby", "coco", "sam", "lily")

# The fixed users: each maps the same names / places to a different entity.
USERS: dict[str, dict[str, str]] = {
    "alice": {"max": "dog", "luna": "sister", "charlie": "boss", "rosie": "horse",
              "bank": "river", "club": "golf", "court": "tennis"},
    "bob": {"max": "brother", "luna": "cat", "charlie": "son", "rosie": "teacher",
            "bank": "savings", "club": "night", "court": "law"},
    "carol": {"max": "boss", "luna": "dog", "charlie": "friend", "rosie": "sister",
              "bank": "river", "club": "night", "court": "law"},
    "dave": {"max": "son", "luna": "teacher", "charlie": "dog", "rosie": "cousin",
             "bank": "savings", "club": "golf", "court": "tennis"},
}  # fmt: skip

PROMPT_BASE_FILE = "prompt_base.txt"
EVAL_FILE = "eval.jsonl"
SEP = "=>"


# ------------------------------------------------------------------------------ sentences
def is_place(name: str) -> bool:
    return name in PLACE_KINDS


def fact(name: str, entity: str) -> str:
    """The prompt-base fact that binds ``name`` to ``entity`` for one user."""
    return f"the {name} is the {entity} {name} ." if is_place(name) else f"{name} is my {entity} ."


def people_message(name: str, role: str, predicate: str) -> tuple[str, str]:
    """(keywords, expansion) for a person / pet."""
    return f"{name} {predicate}", f"my {role} {name} is {predicate}"


def place_message(place: str, kind: str, verb: str, time: str) -> tuple[str, str]:
    """(keywords, expansion) for a place."""
    head = "meet me at" if verb == "meet" else "i am going to"
    return f"{verb} {place} {time}", f"{head} the {kind} {place} {time}"


def expand_prompt(keywords: str) -> str:
    """The receiver's query: recover a message from its key semantics."""
    return f"expand : {keywords} {SEP}"


def extract_prompt(text: str) -> str:
    """The sender's query: reduce a message to its key semantics."""
    return f"extract : {text} {SEP}"


def exchange_lines(keywords: str, expansion: str) -> list[str]:
    return [f"{extract_prompt(expansion)} {keywords}", f"{expand_prompt(keywords)} {expansion}"]


# ------------------------------------------------------------------------------ personas
@dataclass(frozen=True)
class Message:
    """One evaluation message of a user: its key semantics and what it means to that user."""

    keywords: str
    reference: str
    name: str
    entity: str


@dataclass
class Persona:
    """A user: the personal prompt base (training text) and held-out evaluation messages."""

    user: str
    prompt_base: list[str]
    messages: list[Message]
    facts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Split:
    """Which predicates / times the prompt base uses; the rest are held out for evaluation."""

    train_predicates: tuple[str, ...]
    eval_predicates: tuple[str, ...]
    train_times: tuple[str, ...]
    eval_times: tuple[str, ...]


def default_split(num_eval_predicates: int = 4, num_eval_times: int = 2) -> Split:
    """Held-out predicates / times: the LAST ones of each pool (fixed, so every user shares them)."""
    if not 0 < num_eval_predicates < len(PEOPLE_PREDICATES):
        raise DataError(f"num_eval_predicates must be in 1..{len(PEOPLE_PREDICATES) - 1}")
    if not 0 < num_eval_times < len(PLACE_TIMES):
        raise DataError(f"num_eval_times must be in 1..{len(PLACE_TIMES) - 1}")
    p, t = len(PEOPLE_PREDICATES) - num_eval_predicates, len(PLACE_TIMES) - num_eval_times
    return Split(PEOPLE_PREDICATES[:p], PEOPLE_PREDICATES[p:], PLACE_TIMES[:t], PLACE_TIMES[t:])


def _messages(
    bindings: dict[str, str], predicates: Iterable[str], times: Iterable[str]
) -> list[Message]:
    out = []
    predicates, times = list(predicates), list(times)
    for name, entity in bindings.items():
        if is_place(name):
            for verb in PLACE_VERBS:
                for time in times:
                    out.append(Message(*place_message(name, entity, verb, time), name, entity))
        else:
            for pred in predicates:
                out.append(Message(*people_message(name, entity, pred), name, entity))
    return out


def make_persona(user: str, bindings: dict[str, str], split: Split) -> Persona:
    """A user's prompt base (facts + training exchanges) and held-out evaluation messages."""
    facts = [fact(n, e) for n, e in bindings.items()]
    base = list(facts)
    for m in _messages(bindings, split.train_predicates, split.train_times):
        base += exchange_lines(m.keywords, m.reference)
    return Persona(user, base, _messages(bindings, split.eval_predicates, split.eval_times), facts)


def synthetic_personas(
    users: Sequence[str] | None = None, split: Split | None = None
) -> list[Persona]:
    """The built-in users (all of :data:`USERS` by default), deterministic."""
    users = list(users) if users is not None else list(USERS)
    unknown = [u for u in users if u not in USERS]
    if unknown:
        raise DataError(f"unknown synthetic users {unknown}; available: {list(USERS)}")
    split = split or default_split()
    return [make_persona(u, USERS[u], split) for u in users]


# ------------------------------------------------------------------------------ on disk
def write_personas(root: Path, personas: Sequence[Persona]) -> Path:
    """Write personas in the on-disk layout (see the module docstring)."""
    root = Path(root)
    for p in personas:
        d = root / p.user
        d.mkdir(parents=True, exist_ok=True)
        (d / PROMPT_BASE_FILE).write_text("\n".join(p.prompt_base) + "\n")
        (d / EVAL_FILE).write_text("".join(json.dumps(m.__dict__) + "\n" for m in p.messages))
    return root


_FACT_RE = re.compile(r"^(?:the (\w+) is the \w+ \1|(\w+) is my \w+) \.$")


def read_personas(root: Path, users: Sequence[str] | None = None) -> list[Persona]:
    """Read the on-disk layout; an empty or missing prompt base / eval file is a DataError."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"persona directory {root} does not exist; set lkb.personas_root to a folder "
                        f"holding <user>/{PROMPT_BASE_FILE} and <user>/{EVAL_FILE}, or null for the synthetic set")  # fmt: skip
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    users = list(users) if users is not None else found
    missing = [u for u in users if u not in found]
    if missing:
        raise DataError(f"no persona folder for users {missing} under {root} (found {found})")
    out = []
    for user in users:
        base_file, eval_file = root / user / PROMPT_BASE_FILE, root / user / EVAL_FILE
        base = _read_lines(base_file, "the personal prompt base (facts and example exchanges)")
        rows = _read_lines(eval_file, "the evaluation messages, one JSON object per line")
        try:
            messages = [Message(**json.loads(r)) for r in rows]
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"{eval_file}: each line must be a JSON object with keys keywords, "
                            f"reference, name, entity ({exc})") from None  # fmt: skip
        facts = [line for line in base if _FACT_RE.match(line)]
        out.append(Persona(user, base, messages, facts))
    return out


def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path} is missing: it should hold {what}")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise DataError(
            f"{path} is empty: it should hold {what}; an LKB cannot be personalised without it"
        )
    return lines


# ------------------------------------------------------------------------------ scoring
def entity_words(personas: Sequence[Persona]) -> set[str]:
    """Every entity word in play (the competitors when scoring one message)."""
    return {m.entity for p in personas for m in p.messages}


def entity_correct(text: str, name: str, entity: str, competitors: Iterable[str]) -> bool:
    """``text`` names the message's ``name`` and its ``entity`` (whole words), and no competing
    entity: ``my dog max is lost`` is right for (max, dog); ``my dog luna ...`` or ``my dog
    brother max ...`` are not."""
    words = set(text.split())
    return name in words and entity in words and not (words & (set(competitors) - {entity}))


def entity_chance(personas: Sequence[Persona]) -> dict[tuple[str, str], float]:
    """Per (user, name): 1 / number of distinct meanings of the name across the users — the
    entity accuracy of a receiver that knows the candidate meanings but not which applies."""
    meanings: dict[str, set[str]] = {}
    for p in personas:
        for m in p.messages:
            meanings.setdefault(m.name, set()).add(m.entity)
    return {(p.user, m.name): 1.0 / len(meanings[m.name]) for p in personas for m in p.messages}


# ------------------------------------------------------------------------------ general corpus
def general_corpus(num_documents: int, seed: int, context_share: float = 0.5) -> list[str]:
    """Pre-training documents for the global LM: the same grammar, random bindings.

    Names come from the persona names and an extra pool, roles / place kinds are drawn at
    random per document, so the global LM learns the extract / expand format but no user's
    bindings. In ``context_share`` of the documents the bindings are first stated as facts
    (shuffled, with distractor facts), so the LM also learns to read bindings from context.
    """
    rng = random.Random(seed)
    names = list(PERSONA_NAMES + EXTRA_NAMES)
    docs = []
    for _ in range(num_documents):
        n_people, n_places = rng.randint(1, len(PERSONA_NAMES)), rng.randint(0, 3)
        bindings = {n: rng.choice(ROLES) for n in rng.sample(names, n_people)}
        bindings.update(
            {p: rng.choice(PLACE_KINDS[p]) for p in rng.sample(list(PLACE_KINDS), n_places)}
        )
        target = rng.choice(list(bindings))
        if is_place(target):
            kw, text = place_message(
                target, bindings[target], rng.choice(PLACE_VERBS), rng.choice(PLACE_TIMES)
            )
        else:
            kw, text = people_message(target, bindings[target], rng.choice(PEOPLE_PREDICATES))
        exchange = rng.choice(exchange_lines(kw, text))
        if rng.random() < context_share:
            facts = [fact(n, e) for n, e in bindings.items()]
            rng.shuffle(facts)
            docs.append(" ".join(facts + [exchange]))
        else:
            docs.append(exchange)
    return docs


def vocabulary() -> list[str]:
    """Every word the corpora can contain (a word-level tokenizer's vocabulary), sorted."""
    words = set(PEOPLE_PREDICATES + PLACE_TIMES + PLACE_VERBS + ROLES + PERSONA_NAMES + EXTRA_NAMES)
    for place, kinds in PLACE_KINDS.items():
        words |= {place, *kinds}
    words |= {
        "my",
        "is",
        "the",
        ".",
        ":",
        SEP,
        "expand",
        "extract",
        "me",
        "at",
        "i",
        "am",
        "going",
        "to",
    }
    return sorted(words)
