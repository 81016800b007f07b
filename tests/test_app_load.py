"""The served app (`python app.py` in its own process) under load: a 10 MB text does not stall
other clients, and 64 clients at once all get their answers.

The targets are the server's responsiveness (issue 18), not the model's speed: small calls
answer within 1 s (p95) while a 10 MB text is classified, the big call within 5 s with its
truncation notice, and the server's resident memory grows by less than 200 MB. On a machine
busy with other work these wall-clock targets can be missed; the figures are in the failure
message.
"""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gradio_client import Client

from serving import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from app_latency import memory_kb, percentile, wait_http  # noqa: E402

SMALL = ["good film", "bad plot", "the actors were awful", "a fine story", "dull dull dull", "fun"]


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    """`python app.py --model <tiny model>` on a free port: (url, pid)."""
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(ROOT / "app.py"), "--model", str(tiny_model_dir), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, proc, timeout=180)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_10_mb_text_does_not_stall_other_clients(server):
    url, pid = server
    small_client, big_client = Client(url, verbose=False), Client(url, verbose=False)
    for text in SMALL:  # warm up: first calls build caches
        small_client.predict(text, 0.5, api_name="/classify")
    big = "good film " * 1_000_000  # 10 MB
    rss_before = memory_kb(pid)["VmRSS"]
    big_seconds, big_answers, small_ms = [], [], []
    done = threading.Event()

    def send_big():
        try:
            for _ in range(3):
                start = time.perf_counter()
                big_answers.append(big_client.predict(big, 0.5, api_name="/classify"))
                big_seconds.append(time.perf_counter() - start)
        finally:
            done.set()

    thread = threading.Thread(target=send_big)
    thread.start()
    i = 0
    while not done.is_set() or len(small_ms) < 20:
        start = time.perf_counter()
        out = small_client.predict(SMALL[i % len(SMALL)], 0.5, api_name="/classify")
        small_ms.append(1000 * (time.perf_counter() - start))
        assert out["text"] == SMALL[i % len(SMALL)]
        i += 1
    thread.join()
    growth_mb = (memory_kb(pid)["VmHWM"] - rss_before) / 1024
    assert len(big_answers) == 3
    for out in big_answers:
        assert out["truncated"] and out["input_tokens_estimated"] and out["num_tokens"] == 48
        assert out["notice"].startswith("Text truncated: it has about 2,00") and len(out["text"]) <= 10_001
    figures = (f"{len(small_ms)} small calls: p95 {percentile(small_ms, 95):.0f} ms; big calls: slowest "
               f"{max(big_seconds):.1f} s; memory +{growth_mb:.0f} MB")
    print(figures)  # pytest -s shows them
    assert percentile(small_ms, 95) < 1000, figures
    assert max(big_seconds) < 5.0, figures
    assert growth_mb < 200, figures


def test_64_clients_at_once_making_6_calls_each(server, model):
    # 6 calls each keeps all 64 clients in flight together (the point); the 20-call load, with
    # its timings, is benchmarks/app_latency.py's (about 55 s of the suite's time when it was here).
    url, _ = server
    clients, calls = 64, 6
    texts = [f"{SMALL[k % len(SMALL)]} {'good ' * (k % 4)}".strip() for k in range(clients)]
    alone = {t: p.exit_layer for t, p in zip(texts, model.predict(texts, speed=0.5, batch_size=1))}
    barrier = threading.Barrier(clients)
    errors, answers = [], [[] for _ in range(clients)]

    def one(k):
        try:
            # Every client connects at the same moment. A patient client (60 s instead of httpx's
            # 5 s): on a 2-core machine that other jobs keep at a load of 20 or more, a call can
            # wait longer than 5 s for its turn on the CPU; what must never happen is a refused,
            # dropped or wrong answer. benchmarks/app_latency.py measures with default clients.
            client = Client(url, verbose=False, httpx_kwargs={"timeout": 60})
        except Exception as err:  # noqa: BLE001 (counted below)
            errors.append(f"connect: {err!r}")
            barrier.abort()
            return
        try:
            barrier.wait()
            for _ in range(calls):
                answers[k].append(client.predict(texts[k], 0.5, api_name="/classify"))
        except Exception as err:  # noqa: BLE001 (counted below)
            errors.append(f"call: {err!r}")

    threads = [threading.Thread(target=one, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [len(a) for a in answers] == [calls] * clients
    for text, outs in zip(texts, answers):
        assert all(o["text"] == text and o["exit_layer"] == alone[text] for o in outs)
    assert max(o["batch_size"] for outs in answers for o in outs) > 1
