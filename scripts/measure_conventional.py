"""Block error rate of the conventional link (docs/conventional.md): LDPC + QAM in 64 symbols."""

import torch

from semcom_exp.data.text_corpus import load_corpus
from semcom_exp.models.conventional_link import ConventionalLink
from semcom_exp.models.sc_link import SemanticLink
from semcom_exp.schema import option

torch.set_num_threads(1)
corpus = load_corpus({"corpus": "embedded", "num_sentences": 1000, "num_test": 500, "seed": 0})
texts, snrs = corpus.test, (-5, 0, 5, 10, 15, 20)
link = SemanticLink(option("channel", "ofdm"), 64, seed=0)
for m, r in ((2, 0.5), (4, 0.5), (6, 0.75)):
    u = ConventionalLink(link, m, r, "utf8")
    h = ConventionalLink(link, m, r, "huffman", corpus.train)
    kept = [sum(map(len, c.cut(texts))) / sum(map(len, texts)) for c in (u, h)]
    bits = h.encode(texts)
    for csi in ("perfect", "ls"):
        bler = []
        for snr in snrs:
            link.reseed(1000 + snr)
            bler.append((h.send_bits(bits, snr, csi) != bits).any(dim=1).float().mean().item())
        print(m, r, h.info_bits, u.truncated(texts), h.truncated(texts), kept, csi, bler)
