"""Bad API input gets a one-line message that names the valid choices (raw HTTP and
gradio_client); the server refuses over-long requests and wrong file types and cleans its
upload cache; concurrent /classify calls share model runs and get the answers they would alone."""
import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from demo import limits
from demo.batching import Batcher
from serving import running_app


@pytest.fixture(scope="module")
def url(app_url):
    return app_url


def call(url: str, endpoint: str, data: list) -> tuple[str, object]:
    """A raw HTTP call through the queue: ("complete" or "error", the JSON payload)."""
    body = json.dumps({"data": data})  # ensure_ascii: a lone surrogate travels as \\ud800
    joined = httpx.post(f"{url}gradio_api/call/{endpoint}", content=body,
                        headers={"content-type": "application/json"}, timeout=60)
    joined.raise_for_status()
    stream = httpx.get(f"{url}gradio_api/call/{endpoint}/{joined.json()['event_id']}", timeout=60).text
    event = stream.split("event: ")[-1]
    kind, _, payload = event.partition("\ndata: ")
    return kind.strip(), json.loads(payload)


@pytest.mark.parametrize("data, expected", [
    ([42, 0.5, ""], "The text must be a string, got a number"),
    ([["good", "bad"], 0.5, ""], "The text must be a string, got a list; .* /classify_batch"),
    ([{"text": "good"}, 0.5, ""], "The text must be a string, got an object"),
    (["good \ud800 film", 0.5, ""], r"lone surrogate \(U\+D800\) at character 6"),
    (["good", True, ""], "Speed must be a number between 0 and 1 .*got True"),
    (["good", "fast", ""], "Speed must be a number between 0 and 1 .*got 'fast'"),
    (["good", 0.5, "nope"], "Unknown model 'nope'; choose one of: tiny-sentiment"),
])
def test_bad_classify_input_is_a_one_line_message(url, data, expected):
    kind, payload = call(url, "classify", data)
    assert kind == "error"
    message = payload["error"]
    assert re.search(expected, message), message
    assert "\n" not in message and "&#x27;" not in message and "&quot;" not in message
    assert "Something went wrong" not in message


def test_batch_items_are_checked_too(url):
    kind, payload = call(url, "classify_batch", [["good", "bad \udfff"], 0.5, ""])
    assert kind == "error" and "Item 2 of the batch has a lone surrogate" in payload["error"]
    kind, payload = call(url, "classify_batch", [["good", 3], 0.5, ""])
    assert kind == "error" and "Item 2 of the batch is a number" in payload["error"]


def test_a_csv_cell_over_the_field_limit_is_a_clear_error(url, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text('text,label\n"' + "a" * 10_000_001 + '",positive\n')
    with pytest.raises(AppError, match=r"line 2: a cell is longer than the 10,000,000 characters") as err:
        Client(url, verbose=False).predict(handle_file(str(path)), 0.5, api_name="/classify_file")
    assert "Something went wrong" not in str(err.value)


@pytest.mark.parametrize("name", ["page.html", "tool.exe", "data.json"])
def test_only_text_tables_are_accepted(url, tmp_path, name):
    path = tmp_path / name
    path.write_text("good film\n")
    with pytest.raises(AppError, match=r"\.txt.*\.csv.*\.tsv"):
        Client(url, verbose=False).predict(handle_file(str(path)), 0.5, api_name="/classify_file")


def test_over_long_requests_are_refused_before_they_are_read(url):
    big = b'{"data": ["' + b"a" * (limits.MAX_REQUEST_BYTES + 1) + b'", 0.5, ""]}'
    answer = httpx.post(f"{url}gradio_api/call/classify", content=big,
                        headers={"content-type": "application/json"}, timeout=60)
    assert answer.status_code == 413
    too_big_file = {"files": ("big.txt", b"good\n" * (limits.MAX_FILE_BYTES // 5 + 1), "text/plain")}
    assert httpx.post(f"{url}gradio_api/upload", files=too_big_file, timeout=60).status_code == 413


def test_uploads_are_deleted_from_the_cache(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(limits, "DELETE_CACHE", (1, 1))  # every second, files older than a second
    with running_app(tiny_model_dir) as address:
        files = {"files": ("reviews.txt", b"good film\n" * 1000, "text/plain")}
        (path,) = httpx.post(f"{address}gradio_api/upload", files=files, timeout=60).json()
        assert Path(path).is_file()
        deadline = time.monotonic() + 20
        while Path(path).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not Path(path).exists()


def test_concurrent_calls_share_runs_and_get_their_own_answers(url, model):
    texts = [f"{w} film" for w in ("good", "bad", "boring", "fine", "awful", "great", "dull", "fun")] * 3
    alone = {t: p for t, p in zip(texts, model.predict(texts, speed=0.5, batch_size=1))}
    barrier = threading.Barrier(len(texts))
    answers = [None] * len(texts)

    def one(i):
        client = Client(url, verbose=False)
        barrier.wait()
        answers[i] = client.predict(texts[i], 0.5, api_name="/classify")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for text, out in zip(texts, answers):
        assert (out["label"], out["exit_layer"]) == (alone[text].label, alone[text].exit_layer)
        assert out["probs"] == pytest.approx(alone[text].probs, abs=1e-5)
    assert max(out["batch_size"] for out in answers) > 1  # some calls did run together


def test_batcher_runs_waiting_items_together_and_keeps_errors_apart():
    lock = threading.Lock()
    runs = []

    def run(key, items):
        runs.append((key, list(items)))
        if "bad" in items:
            raise ValueError("bad item")
        return [f"{key}:{x}" for x in items]

    batcher = Batcher(run, max_batch=3)
    results, errors = {}, {}

    def one(key, item):
        try:
            results[item] = batcher.submit(key, item, lock)
        except ValueError as err:
            errors[item] = str(err)

    def start(calls, pending):
        threads = [threading.Thread(target=one, args=call) for call in calls]
        for t in threads:
            t.start()
        while len(batcher._pending) < pending:
            time.sleep(0.01)
        return threads

    with lock:  # hold the model: the first call takes its batch and waits; the rest pile up
        threads = start([("a", "1")], 0)
        while not batcher._busy:
            time.sleep(0.01)
        threads += start([("a", "2"), ("b", "bad"), ("a", "3"), ("a", "4"), ("b", "5")], 5)
    for t in threads:
        t.join()
    assert results == {"1": "a:1", "2": "a:2", "3": "a:3", "4": "a:4"}
    assert errors == {"bad": "bad item", "5": "bad item"}  # a failed run fails its own batch only
    assert all(set(items) <= ({"1", "2", "3", "4"} if k == "a" else {"bad", "5"}) for k, items in runs)
    assert sorted(len(items) for k, items in runs if k == "a") == [1, 3]
