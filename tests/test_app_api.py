"""gradio_client end to end against a launched app: /classify, /classify_batch, /classify_file,
bad inputs, and 16 clients at once."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError


MAX_ROWS = 20
KEYS = {"label", "confidence", "exit_layer", "num_layers", "uncertainties", "flops", "full_flops", "speedup"}
TEXTS = ["good film", "the plot was very boring and the actors were awful", "not bad", "fun",
         "loved the music but hated the ending", "dull dull dull", "a great cast and a fine story really"]


@pytest.fixture(scope="module")
def url(app_url):
    return app_url  # serves at most MAX_ROWS rows per batch


@pytest.fixture(scope="module")
def client(url):
    return Client(url, verbose=False)


def test_only_the_documented_endpoints_are_public(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/classify", "/classify_batch", "/classify_file"}


@pytest.mark.parametrize("speed", [0.0, 0.4, 1.0])
def test_classify_returns_the_library_prediction(client, model, speed):
    for text in TEXTS[:3]:
        out = client.predict(text, speed, api_name="/classify")
        pred = model.predict([text], speed=speed)[0]
        assert KEYS <= set(out)
        assert (out["label"], out["exit_layer"], out["num_layers"]) == (pred.label, pred.exit_layer, pred.num_layers)
        assert out["flops"] == pred.flops and out["full_flops"] == pred.full_flops
        assert out["speedup"] == pytest.approx(pred.speedup)
        assert out["uncertainties"] == pytest.approx(pred.uncertainties, abs=1e-5)
        assert len(out["uncertainties"]) == out["exit_layer"]
        assert out["latency_ms"] > 0 and not out["truncated"] and out["notice"] == ""


def test_classify_batch_accepts_a_list_or_lines_and_keeps_order(client, model):
    as_list = client.predict(TEXTS, 0.5, api_name="/classify_batch")
    as_lines = client.predict("\n".join(TEXTS) + "\n\n", 0.5, api_name="/classify_batch")
    preds = model.predict(TEXTS, speed=0.5)
    for out in (as_list, as_lines):
        assert [o["text"] for o in out] == TEXTS
        assert [o["exit_layer"] for o in out] == [p.exit_layer for p in preds]
        assert [o["label"] for o in out] == [p.label for p in preds]
        assert all(KEYS <= set(o) for o in out)


def test_classify_file_reads_an_uploaded_table(client, model, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",positive\n' for t in TEXTS))
    out = client.predict(handle_file(str(path)), 0.5, api_name="/classify_file")
    assert [o["text"] for o in out] == TEXTS
    assert [o["exit_layer"] for o in out] == [p.exit_layer for p in model.predict(TEXTS, speed=0.5)]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_a_clear_error(client, text):
    with pytest.raises(AppError, match="text box is empty"):
        client.predict(text, 0.5, api_name="/classify")


def test_over_long_text_is_truncated_with_a_notice(client, model):
    text = " ".join(["good film"] * 80)
    out = client.predict(text, 0.5, api_name="/classify")
    assert out["truncated"] and out["num_tokens"] == model.config.max_length < out["input_tokens"]
    assert f"first {model.config.max_length} tokens" in out["notice"]


def test_bad_speed_is_a_clear_error(client):
    with pytest.raises(AppError, match="between 0 and 1"):
        client.predict("good", 1.5, api_name="/classify")


def test_oversize_and_empty_batches_are_clear_errors(client):
    with pytest.raises(AppError, match=f"at most {MAX_ROWS}"):
        client.predict(["good"] * (MAX_ROWS + 1), 0.5, api_name="/classify_batch")
    with pytest.raises(AppError, match="empty"):
        client.predict("\n \n", 0.5, api_name="/classify_batch")
    with pytest.raises(AppError, match="Item 2 .* empty"):
        client.predict(["good", " "], 0.5, api_name="/classify_batch")


@pytest.mark.parametrize("name, content, message", [
    ("latin.txt", "caf\xe9 cr\xe8me\n".encode("latin-1"), "not UTF-8"),
    ("labels.csv", b"label\n1\n0\n", "text column"),
    ("empty.tsv", b"", "no rows"),
    ("big.txt", b"good\n" * (MAX_ROWS + 1), f"at most {MAX_ROWS}"),
])
def test_bad_files_are_clear_errors(client, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AppError, match=message) as err:
        client.predict(handle_file(str(path)), 0.5, api_name="/classify_file")
    assert "Traceback" not in str(err.value)


def test_sixteen_clients_at_once(url, model):
    texts = [TEXTS[i % len(TEXTS)] + " " + "good " * (i % 5) for i in range(16)]
    expected = {t: p.exit_layer for t, p in zip(texts, model.predict(texts, speed=0.5))}

    def one_client(text):
        c = Client(url, verbose=False)
        return [c.predict(text, 0.5, api_name="/classify") for _ in range(3)]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one_client, texts))
    assert len(results) == 16
    for text, outs in zip(texts, results):
        assert all(o["text"] == text.strip() and o["exit_layer"] == expected[text] for o in outs)
