"""App benchmark: cold start, /classify latency (1 client, then N at once) and peak memory.

Launches `python app.py --model M --port P` as a subprocess, waits for its first `/classify`
answer, sends SST-2 sentences one after another and then, for each N of `--clients` (1, 16 and
64 by default), from N clients that connect at the same moment and make `--per-client` calls
each, through `gradio_client`; failed connections and failed calls are counted. Reads the
process's peak resident memory (VmHWM in /proc/<pid>/status).
Server-side latency is the `latency_ms` the app puts in each answer (its `predict` call);
client-side latency is the round trip, queueing included.

    python benchmarks/app_latency.py --model assets/models/sst2-minilm --threads 2

prints the run's figures and a table of client and server p50/p95 at each number of clients
(--json: one JSON line instead).

`python -m fastbert bench` runs this script and puts its numbers in assets/reports/bench.md.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FALLBACK_TEXTS = ["a gorgeous , witty , seductive movie .", "the plot is nothing but boilerplate clichés .",
                  "it 's a charming and often affecting journey .", "unflinchingly bleak and desperate"]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of a non-empty list.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 95)
    (2.0, 4.0)
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100), at least 1
    return float(ordered[int(rank) - 1])


def summary(server_ms: list[float], client_ms: list[float], seconds: float) -> dict:
    return {"requests": len(client_ms), "requests_per_s": len(client_ms) / seconds,
            "server_ms": {"p50": percentile(server_ms, 50), "p95": percentile(server_ms, 95)},
            "client_ms": {"p50": percentile(client_ms, 50), "p95": percentile(client_ms, 95)}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident) and VmRSS (resident now) of a process, in kB, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"the app did not answer at {url} within {timeout:.0f} s")


def classify(client, text: str, speed: float) -> tuple[float, float, int]:
    """(server ms, client ms, batch size) of one /classify call."""
    start = time.perf_counter()
    answer = client.predict(text, speed, api_name="/classify")
    client_ms = 1000 * (time.perf_counter() - start)
    if not isinstance(answer, dict) or "latency_ms" not in answer:
        raise RuntimeError(f"/classify answered without latency_ms: {answer!r}")
    return float(answer["latency_ms"]), client_ms, int(answer.get("batch_size", 1))


def sequential(client, texts: list[str], requests: int, speed: float) -> dict:
    server, client_side = [], []
    start = time.perf_counter()
    for i in range(requests):
        s, c, _ = classify(client, texts[i % len(texts)], speed)
        server.append(s)
        client_side.append(c)
    return summary(server, client_side, time.perf_counter() - start)


def concurrent(url: str, texts: list[str], clients: int, per_client: int, speed: float) -> dict:
    """`clients` threads connect at the same moment (each its own gradio Client), then send
    `per_client` requests each, one after another. Failed connections and failed calls are
    counted, not raised: they are what this measures too."""
    from gradio_client import Client

    barrier = threading.Barrier(clients + 1)
    results: list[list[tuple[float, float, int]]] = [[] for _ in range(clients)]
    failed_connections: list[str] = []
    errors: list[str] = []

    def work(k: int) -> None:
        try:
            conn = Client(url, verbose=False)
        except Exception as err:  # noqa: BLE001 (counted)
            failed_connections.append(repr(err))
            conn = None
        barrier.wait()
        for i in range(per_client if conn else 0):
            try:
                results[k].append(classify(conn, texts[(k * per_client + i) % len(texts)], speed))
            except Exception as err:  # noqa: BLE001 (counted: a failed request must not pass as fast)
                errors.append(repr(err))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    triples = [p for r in results for p in r]
    out = {"clients": clients, "failed_connections": len(failed_connections), "errors": len(errors),
           "first_error": (failed_connections + errors)[:1]}
    if triples:
        out |= summary([s for s, _, _ in triples], [c for _, c, _ in triples], seconds)
        out["mean_batch_size"] = sum(b for _, _, b in triples) / len(triples)
    return out


def levels_table(levels: list[dict]) -> str:
    """The p50/p95 table of `/classify` at each number of clients (the README's performance section)."""
    out = ["| clients at once | calls | failed connections | errors | client p50 ms | client p95 ms | "
           "server p50 ms | server p95 ms | calls / s | mean batch |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for lv in levels:
        if "client_ms" not in lv:
            out.append(f"| {lv['clients']} | 0 | {lv['failed_connections']} | {lv['errors']} | | | | | | |")
            continue
        out.append(f"| {lv['clients']} | {lv['requests']} | {lv['failed_connections']} | {lv['errors']} | "
                   f"{lv['client_ms']['p50']:.0f} | {lv['client_ms']['p95']:.0f} | {lv['server_ms']['p50']:.1f} | "
                   f"{lv['server_ms']['p95']:.1f} | {lv['requests_per_s']:.1f} | {lv['mean_batch_size']:.1f} |")
    return "\n".join(out)


def load_texts(path: str | None, count: int) -> list[str]:
    if not path or not Path(path).is_file():
        return FALLBACK_TEXTS
    sys.path.insert(0, str(ROOT))
    from fastbert.data import load_dataset

    texts = [t for t in load_dataset(path).texts if isinstance(t, str)]
    return texts[:count] or FALLBACK_TEXTS


def run(model: str, data: str | None, requests: int, clients: list[int], per_client: int, speed: float,
        threads: int, startup_timeout: float) -> dict:
    from gradio_client import Client

    texts = load_texts(data, max(requests, max(clients) * per_client))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch reads it for its thread count
    cmd = [sys.executable, str(ROOT / "app.py"), "--model", model, "--host", "127.0.0.1", "--port", str(port)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        try:
            wait_http(url, proc, startup_timeout)
        except (RuntimeError, TimeoutError) as err:
            proc.kill()
            raise RuntimeError(f"{err}: {proc.communicate()[1].strip()[-2000:]}") from err
        http_up = time.perf_counter() - start
        client = Client(url, verbose=False)
        first_server_ms, _, _ = classify(client, texts[0], speed)
        cold = time.perf_counter() - start
        after_first = memory_kb(proc.pid)
        runtime = client.predict(texts[0], speed, api_name="/classify").get("runtime", "pytorch")
        single = sequential(client, texts, requests, speed)
        levels = [concurrent(url, texts, n, per_client, speed) for n in clients]
        end = memory_kb(proc.pid)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"model": model, "speed": speed, "threads": threads or "default", "runtime": runtime, "command": " ".join(cmd),
            "http_up_s": http_up, "cold_start_s": cold, "first_answer_server_ms": first_server_ms,
            "vmhwm_after_first_answer_mb": after_first["VmHWM"] / 1024, "vmrss_after_first_answer_mb": after_first["VmRSS"] / 1024,
            "vmhwm_end_mb": end["VmHWM"] / 1024, "clients": clients[0], "single": single, "concurrent": levels[0],
            "levels": levels}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="assets/models/sst2-minilm")
    p.add_argument("--data", default="../shared/data/sst2/dev.tsv", help="texts to send (SST-2 sentences)")
    p.add_argument("--requests", type=int, default=50, help="sequential requests after the first answer")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64],
                   help="numbers of clients at once, one load test each (default: 1 16 64)")
    p.add_argument("--per-client", type=int, default=20, help="requests per concurrent client")
    p.add_argument("--speed", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the app (0: its default)")
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args(argv)
    result = run(str(Path(args.model).resolve()) if Path(args.model).exists() else args.model,
                 str(Path(args.data).resolve()) if args.data else None, args.requests, args.clients,
                 args.per_client, args.speed, args.threads, args.startup_timeout)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            if k not in ("levels", "concurrent"):
                print(f"{k:>30}: {v}")
        print()
        print(levels_table(result["levels"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
