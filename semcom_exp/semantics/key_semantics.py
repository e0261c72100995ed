"""Key semantics of a text: what the sender's LKB keeps and the receiver's LKB must restore.

The end2end LKB (``semcom_exp.experiments.lam_msc.end2end_lkb``) learns to *extract* a text's key
semantics and to *expand* them back. Its training targets come from one fixed rule, so the
task is defined and scored the same way for every modality: lower-case the text, drop
punctuation and the function words of :data:`STOP_WORDS`, keep the content words in order
(repeats included: ``"dog, person, person"`` -> ``"dog person person"``; the count is
semantics). What the rule drops (articles, prepositions, auxiliaries, pronouns, commas) is
what the receiver's LKB has to put back from its knowledge of the sender's texts.

LM form: the LKB's word-level LM splits on whitespace, so texts are given to it as
space-separated word / punctuation tokens (:func:`lm_form`) and turned back into plain text
with :func:`plain_form`.
"""

from __future__ import annotations

from semcom_exp.models.sc_tokenizer import join_words, split_words

STOP_WORDS = frozenset(
    """
    a an the and or but if then than so as of at by for from in into on onto to with without
    over under up down out off about after before through is are was were be been being am
    do does did have has had will would shall should can could may might must i me my mine
    we us our you your he him his she her it its they them their this that these those there
    here which who whom what when where while not no nor very too just also 's
    """.split()
)


def lm_form(text: str) -> str:
    """Space-separated lower-cased word and punctuation tokens (the LKB LM's input form)."""
    return " ".join(split_words(text))


def plain_form(tokens: str) -> str:
    """Inverse of :func:`lm_form` on well-formed text (``"dog , cat"`` -> ``"dog, cat"``)."""
    return join_words(tokens.split())


def key_semantics(text: str) -> str:
    """The content words of ``text`` in order, lower-cased, space-separated (see module doc)."""
    return " ".join(w for w in split_words(text) if w.isalnum() and w not in STOP_WORDS)
