"""The conventional baseline: the same text as bits, Sionna 5G LDPC + QAM, over the SC link.

``ConventionalLink(link, bits_per_symbol, code_rate, source)`` sends each message in the SAME
channel uses as the SC model: the ``link.num_symbols`` (N) data symbols of a
:class:`SemanticLink` (same channel, pilots, CSI source and draws). Per message:

    text -> source bits (k) -> LDPC5GEncoder(k, n) -> QAM Mapper (m bits / symbol)
         -> SemanticLink.receive (zero-forced symbols, no / |h_hat|^2)
         -> Demapper("app") -> LDPC5GDecoder(hard_out) -> k bits -> text

with n = N * m coded bits and k = floor(n * code_rate) information bits. Source codes:

- ``utf8``: the UTF-8 bytes, a NUL terminator when there is room, zero padding; the receiver
  reads up to the first NUL and decodes with ``errors="replace"``.
- ``huffman``: a character Huffman code built from training texts, with an end-of-message
  symbol (EOM) and an escape (ESC + the character's UTF-8 bytes) for characters the training
  texts lack; zero padding after EOM; the receiver stops at EOM or when the bits run out.

A text whose source bits exceed k is cut at a character boundary (``truncated`` gives the
share); an error-free link delivers :meth:`ConventionalLink.cut` of the texts. Decoding
never raises: wrong bits give wrong (or replacement) characters. Runs on the CPU and is
deterministic after ``link.reseed(seed)``.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from semcom_exp.errors import ConfigError
from semcom_exp.models.sc_link import SemanticLink
from semcom_exp.schema import checked
from semcom_exp.schema.experiments import ConventionalConfig

DEFAULTS = ConventionalConfig()  # the schema's (conf: end2end.conventional)
MIN_RATE, MAX_RATE = 1 / 5, 948 / 1024  # 38.212 5.4.2.1 (below 1/5 Sionna has no repetition)
MIN_K, MAX_K, MAX_N = 12, 8448, 316 * 384  # Sionna LDPC5GEncoder limits


# ------------------------------------------------------------------------------- config
def check_conventional_config(
    node: Mapping[str, Any], key: str = "end2end.conventional", num_symbols: int | None = None
) -> None:
    """ConfigError naming ``key.<field>`` for an invalid conventional-baseline node (the
    schema's ConventionalConfig); with ``num_symbols`` (N), also that the 5G LDPC code (k, n)
    exists for it."""
    cfg = checked(ConventionalConfig, node, key)
    if num_symbols is not None:
        code_size(int(num_symbols), int(cfg.bits_per_symbol), float(cfg.code_rate), key)


def code_size(
    num_symbols: int, bits_per_symbol: int, code_rate: float, key: str
) -> tuple[int, int]:
    """(k, n) of the LDPC code filling N symbols, or ConfigError if Sionna cannot build it."""
    n = num_symbols * bits_per_symbol
    k = math.floor(n * code_rate + 1e-9)
    if n > MAX_N:
        raise ConfigError(
            f"{key}.bits_per_symbol", f"n = N * m = {n} coded bits exceeds the 5G maximum {MAX_N}"
        )
    if k < MIN_K:
        raise ConfigError(
            f"{key}.code_rate",
            f"k = floor({n} * {code_rate}) = {k} information bits; the 5G LDPC code needs >= "
            f"{MIN_K} (raise code_rate or bits_per_symbol)",
        )
    if k > MAX_K:
        raise ConfigError(
            f"{key}.code_rate", f"k = {k} information bits exceeds the 5G maximum {MAX_K}"
        )
    if k / n < MIN_RATE:
        raise ConfigError(
            f"{key}.code_rate",
            f"k / n = {k}/{n} = {k / n:.4f} < 1/5 after rounding; use a slightly higher code_rate",
        )
    return k, n


# ------------------------------------------------------------------------- source codes
def _cut_utf8(text: str, capacity_bytes: int) -> bytes:
    """The longest character prefix of ``text`` whose UTF-8 fits in ``capacity_bytes``."""
    data = text.encode("utf-8")
    if len(data) <= capacity_bytes:
        return data
    end = capacity_bytes
    while end > 0 and (data[end] & 0xC0) == 0x80:  # a continuation byte: not a boundary
        end -= 1
    return data[:end]


class Utf8Code:
    """UTF-8 bytes + NUL terminator (when there is room) + zero padding in ``k`` bits."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.capacity = k // 8

    def cut(self, text: str) -> str:
        return _cut_utf8(text, self.capacity).decode("utf-8")

    def encode(self, text: str) -> list[int]:
        data = _cut_utf8(text, self.capacity)
        bits = [(byte >> (7 - i)) & 1 for byte in data for i in range(8)]
        return bits + [0] * (self.k - len(bits))  # the zero padding starts with the NUL byte

    def decode(self, bits: Sequence[int]) -> str:
        data = bytearray()
        for j in range(self.capacity):
            byte = 0
            for b in bits[8 * j : 8 * j + 8]:
                byte = (byte << 1) | int(b)
            if byte == 0:
                break
            data.append(byte)
        return data.decode("utf-8", errors="replace")


EOM, ESC = "\x00eom", "\x00esc"  # two-character keys: cannot clash with a text's character


class HuffmanCode:
    """Character Huffman code from training texts, with EOM and an escape for unseen characters.

    Counts: every character of the training texts, EOM once per text, ESC once (so an unseen
    character costs ESC's code + its 8-32 UTF-8 bits). Ties are broken by symbol order, so
    the same texts give the same code.
    """

    def __init__(self, k: int, train_texts: Sequence[str]) -> None:
        self.k = k
        counts = Counter(c for t in train_texts for c in t)
        counts[EOM] = max(1, len(train_texts))
        counts[ESC] = 1
        heap: list[tuple[int, int, Any]] = []
        for order, (sym, count) in enumerate(sorted(counts.items())):
            heap.append((count, order, sym))
        heapq.heapify(heap)
        order = len(heap)
        while len(heap) > 1:
            c1, _, a = heapq.heappop(heap)
            c2, _, b = heapq.heappop(heap)
            heapq.heappush(heap, (c1 + c2, order, (a, b)))
            order += 1
        self.tree = heap[0][2]
        self.codes: dict[str, list[int]] = {}
        stack: list[tuple[Any, list[int]]] = [(self.tree, [])]
        while stack:
            node, prefix = stack.pop()
            if isinstance(node, tuple):
                stack.append((node[0], [*prefix, 0]))
                stack.append((node[1], [*prefix, 1]))
            else:
                self.codes[node] = prefix

    def _char_bits(self, char: str) -> list[int]:
        if char in self.codes:
            return self.codes[char]
        raw = char.encode("utf-8")
        return self.codes[ESC] + [(byte >> (7 - i)) & 1 for byte in raw for i in range(8)]

    def _fit(self, text: str) -> tuple[str, list[int]]:
        """The longest prefix that fits in k bits with EOM (or exactly k bits without it)."""
        eom = self.codes[EOM]
        bits: list[int] = []
        for i, char in enumerate(text):
            more = self._char_bits(char)
            if len(bits) + len(more) + len(eom) > self.k:
                if len(bits) + len(more) == self.k and i == len(text) - 1:
                    return text, bits + more  # the whole text fills k bits: no EOM needed
                return text[:i], bits + eom
            bits += more
        return text, bits + eom

    def cut(self, text: str) -> str:
        return self._fit(text)[0]

    def encode(self, text: str) -> list[int]:
        bits = self._fit(text)[1]
        return bits + [0] * (self.k - len(bits))

    def decode(self, bits: Sequence[int]) -> str:
        out: list[str] = []
        node, i, n = self.tree, 0, len(bits)
        while i < n:
            node = node[int(bits[i])]
            i += 1
            if isinstance(node, tuple):
                continue
            if node == EOM:
                break
            if node == ESC:
                char, i = self._read_escaped(bits, i)
                if char is None:
                    break
                out.append(char)
            else:
                out.append(node)
            node = self.tree
        return "".join(out)

    @staticmethod
    def _read_escaped(bits: Sequence[int], i: int) -> tuple[str | None, int]:
        """One UTF-8 character after ESC; the lead byte says how many bytes follow."""

        def byte_at(j: int) -> int | None:
            if j + 8 > len(bits):
                return None
            value = 0
            for b in bits[j : j + 8]:
                value = (value << 1) | int(b)
            return value

        lead = byte_at(i)
        if lead is None:
            return None, len(bits)
        if lead >> 5 == 0b110:
            size = 2
        elif lead >> 4 == 0b1110:
            size = 3
        elif lead >> 3 == 0b11110:
            size = 4
        else:
            size = 1  # ASCII, or not a lead byte (then one replacement character)
        raw = bytearray([lead])
        for j in range(1, size):
            nxt = byte_at(i + 8 * j)
            if nxt is None:
                return None, len(bits)
            raw.append(nxt)
        return bytes(raw).decode("utf-8", errors="replace"), i + 8 * size


# ----------------------------------------------------------------------------- the link
class ConventionalLink:
    """Text over LDPC + QAM in the N data symbols of a :class:`SemanticLink` (see module doc).

    ``info_bits`` (k) source bits per message, ``coded_bits`` (n = N * m). ``key`` names the
    config node in ConfigErrors.
    """

    def __init__(
        self,
        link: SemanticLink,
        bits_per_symbol: int = DEFAULTS.bits_per_symbol,
        code_rate: float = DEFAULTS.code_rate,
        source: str = DEFAULTS.source,
        train_texts: Sequence[str] = (),
        num_iter: int = DEFAULTS.num_iter,
        key: str = "end2end.conventional",
    ) -> None:
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
        from sionna.phy.mapping import Demapper, Mapper

        node = {
            "source": source,
            "bits_per_symbol": bits_per_symbol,
            "code_rate": code_rate,
            "num_iter": num_iter,
        }
        check_conventional_config(node, key, num_symbols=link.num_symbols)
        if source == "huffman" and not train_texts:
            raise ConfigError(f"{key}.source", "huffman needs training texts to build its code")
        self.link = link
        self.bits_per_symbol = int(bits_per_symbol)
        self.code_rate = float(code_rate)
        self.source = source
        self.info_bits, self.coded_bits = code_size(
            link.num_symbols, self.bits_per_symbol, self.code_rate, key
        )
        self.code: Utf8Code | HuffmanCode = (
            Utf8Code(self.info_bits)
            if source == "utf8"
            else HuffmanCode(self.info_bits, list(train_texts))
        )
        m = self.bits_per_symbol
        try:
            self.encoder = LDPC5GEncoder(
                self.info_bits, self.coded_bits, num_bits_per_symbol=m, device="cpu"
            )
            self.decoder = LDPC5GDecoder(
                self.encoder, hard_out=True, num_iter=int(num_iter), device="cpu"
            )
        except ValueError as err:  # a (k, n) the checks above let through
            raise ConfigError(
                f"{key}.code_rate",
                f"Sionna's 5G LDPC code cannot do k={self.info_bits}, n={self.coded_bits}: {err}",
            ) from err
        self.mapper = Mapper("qam", m, device="cpu")
        self.demapper = Demapper("app", "qam", m, device="cpu")

    @classmethod
    def from_config(
        cls,
        link: SemanticLink,
        node: Mapping[str, Any],
        train_texts: Sequence[str] = (),
        key: str = "end2end.conventional",
    ) -> ConventionalLink:
        """Build from a config node ``{source, bits_per_symbol, code_rate, num_iter}``."""
        cfg = checked(ConventionalConfig, node, key)
        return cls(
            link,
            int(cfg.bits_per_symbol),
            float(cfg.code_rate),
            str(cfg.source),
            train_texts,
            int(cfg.num_iter),
            key,
        )

    # -------------------------------------------------------------------- source coding
    def cut(self, texts: Sequence[str]) -> list[str]:
        """What an error-free link delivers: each text cut to what fits in k bits."""
        return [self.code.cut(t) for t in texts]

    def truncated(self, texts: Sequence[str]) -> float:
        """Share of the texts that do not fit whole in the k information bits."""
        if not texts:
            return 0.0
        return sum(c != t for c, t in zip(self.cut(texts), texts, strict=True)) / len(texts)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Source bits (M, k), float32 0/1."""
        bits = [self.code.encode(t) for t in texts]
        return torch.tensor(bits, dtype=torch.float32).reshape(len(texts), self.info_bits)

    def decode(self, bits: torch.Tensor) -> list[str]:
        """Texts from source bits (M, k); never raises."""
        return [self.code.decode(row) for row in bits.to(torch.int64).tolist()]

    # ---------------------------------------------------------------------------- send
    @torch.no_grad()
    def send_bits(
        self, bits: torch.Tensor, snr_db: float, csi: str, batch_size: int = 256
    ) -> torch.Tensor:
        """Decoded information bits (M, k) after LDPC + QAM over the link (batches in order)."""
        out = []
        for start in range(0, bits.shape[0], batch_size):
            u = bits[start : start + batch_size]
            x = self.mapper(self.encoder(u))  # (B, N) unit-power QAM
            x_zf, no_eff = self.link.receive(x, snr_db, csi)
            llr = self.demapper(x_zf, no_eff)
            out.append(self.decoder(llr).round())
        if not out:
            return torch.zeros(0, self.info_bits)
        return torch.cat(out)

    def send(
        self, texts: Sequence[str], snr_db: float, csi: str, batch_size: int = 256
    ) -> list[str]:
        """Received texts, one per input text (see module doc)."""
        return self.decode(self.send_bits(self.encode(texts), snr_db, csi, batch_size))
