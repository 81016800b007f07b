"""Tokenizing once, with bounded work: the same ids as the tokenizer's own truncation, an honest
token count (estimated only for texts too long to read whole), safe from many threads; and
`predict`'s argument checks."""
import random
import threading
import time
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from fastbert.encoding import CHARS_PER_TOKEN, MAX_CHARS_PER_TOKEN, TextEncoder

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [ROOT / "assets" / "models" / name for name in ("sst2-minilm", "chnsenticorp-zh")]
WORDS = "good film the plot was boring unbelievable 很好 服务 一般 , ! café naïve xyz qq \t \n".split(" ")


def random_texts(seed: int, count: int, lengths=(0, 1, 3, 10, 50, 200, 400, 2000)) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.choice(lengths))) for _ in range(count)]


def reference(tokenizer, texts, max_length):
    """What the tokenizer gives with its own truncation, and the untruncated counts."""
    firsts = [t[0] if isinstance(t, tuple) else t for t in texts]
    seconds = [t[1] for t in texts] if isinstance(texts[0], tuple) else None
    cut = tokenizer(firsts, seconds, truncation=True, max_length=max_length, return_token_type_ids=True)
    full = tokenizer(firsts, seconds, truncation=False, verbose=False)
    return cut, [len(ids) for ids in full["input_ids"]]


def tokenizers(model):
    return [model.tokenizer] + [AutoTokenizer.from_pretrained(str(p)) for p in SHIPPED if p.is_dir()]


@pytest.mark.parametrize("max_length", [16, 48, 128])
def test_same_ids_as_the_tokenizers_truncation(model, max_length):
    texts = random_texts(max_length, 150) + ["", "a" * 5000, "x" * 120 + " good" * 300]
    # Pairs read up to max_length * MAX_CHARS_PER_TOKEN characters per half: 16 * 64 here.
    short = (0, 1, 3, 10, 50, 120)
    pairs = list(zip(random_texts(1, 100, short), random_texts(2, 100, short)))
    for tok in tokenizers(model):
        enc = TextEncoder(tok, max_length)
        for batch in (texts, pairs):
            got = enc.encode(batch)
            cut, counts = reference(tok, batch, max_length)
            assert got["input_ids"] == cut["input_ids"]
            assert got["token_type_ids"] == cut["token_type_ids"]
            exact = [(n, c) for n, c, e in zip(got["input_tokens"], counts, got["input_tokens_estimated"]) if not e]
            assert exact and all(n == c for n, c in exact)
            assert any(got["input_tokens_estimated"]) == (batch is texts)  # long singles are cut


def test_a_huge_text_is_read_from_a_prefix_and_its_count_estimated(model):
    text = "good film " * 200_000  # 2 MB, 400,000 words
    enc = TextEncoder(model.tokenizer, 48)
    start = time.perf_counter()
    got = enc.encode([text])
    assert got["input_ids"] == reference(model.tokenizer, [text[:10_000]], 48)[0]["input_ids"]
    assert got["input_tokens_estimated"] == [True]
    assert got["input_tokens"][0] == pytest.approx(400_002, rel=0.01)
    # Not a timing assertion on the model: reading 2 MB whole takes seconds, a prefix far less.
    assert time.perf_counter() - start < 2.0


def test_text_past_the_longest_prefix_is_not_read(model):
    """The documented limit: a text that is mostly spaces is read only so far."""
    limit = 16 * MAX_CHARS_PER_TOKEN
    text = "good" + " " * limit + "film"
    got = TextEncoder(model.tokenizer, 16).encode([text])
    assert got["input_ids"] == reference(model.tokenizer, ["good"], 16)[0]["input_ids"]
    assert got["input_tokens_estimated"] == [True]
    # Within the second prefix it is read correctly.
    near = "good" + " " * (16 * CHARS_PER_TOKEN * 2) + "film"
    assert TextEncoder(model.tokenizer, 16).encode([near])["input_ids"] == \
        reference(model.tokenizer, [near], 16)[0]["input_ids"]


def test_tokenize_is_safe_from_many_threads(model):
    """The old tokenize switched the shared tokenizer's truncation on and off on every call,
    which fails from concurrent threads ("Already borrowed")."""
    texts = random_texts(7, 40)
    expected = model.tokenize(texts)["input_ids"]
    errors, results = [], []

    def work():
        try:
            for _ in range(20):
                results.append(model.tokenize(texts)["input_ids"] == expected)
                model.tokenizer(texts[:3], truncation=True, max_length=8)  # others may use it too
        except Exception as err:  # noqa: BLE001 (collected and asserted below)
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 160 and all(results)


def test_predict_uses_given_encodings(model, texts):
    enc = model.tokenize(texts)
    assert [p.exit_layer for p in model.predict(texts, encodings=enc)] == \
        [p.exit_layer for p in model.predict(texts)]
    with pytest.raises(ValueError, match="encodings"):
        model.predict(texts[:2], encodings=enc)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(texts=[""]), "texts"),
    (dict(texts=["good", "  \n"]), "texts"),
    (dict(texts=[("good", " ")]), "texts"),
    (dict(texts=["good"], speed="fast"), "speed"),
    (dict(texts=["good"], speed=None), "speed"),
    (dict(texts=["good"], speed=True), "speed"),
    (dict(texts=["good"], speed=float("nan")), "speed"),
    (dict(texts=["good"], batch_size=2.5), "batch_size"),
    (dict(texts=["good"], batch_size=True), "batch_size"),
    (dict(texts=["good"], batch_size=0), "batch_size"),
])
def test_predict_rejects_bad_arguments_by_name(model, kwargs, argument):
    with pytest.raises(ValueError, match=rf"^{argument}\b"):
        model.predict(**kwargs)


def test_predict_accepts_integral_arguments(model):
    import numpy as np

    assert model.predict(["good"], speed=1, batch_size=np.int64(2))[0].exit_layer >= 1
