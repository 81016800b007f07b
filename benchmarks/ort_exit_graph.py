"""Batch 1 on ONNX Runtime: the exit graph and the segment loop against (d), the one-graph full
model, with intra-op spinning off (the runtime's setting) and on (ONNX Runtime's default, which
a user running only (d) would keep). Prints one table.

Rows, each timed over the same evenly spaced sentences of --data, one sentence per call,
interleaved round-robin for --rounds rounds; ratios are medians of per-round ratios:
  (d) full model, one graph (`FullGraph`);
  exit graph (`fastbert.onnx_exit_graph`, one call per sentence) at each --speeds;
  segments (`OrtOptions(exit_graph=False)`: one call per layer run) at each --speeds.
The exit test is the paper's (uncalibrated: temperatures 1), as in `bench --no-calibration`.

    python benchmarks/ort_exit_graph.py --threads 2 --samples 150 --rounds 7
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from fastbert import FastBert, get_criterion  # noqa: E402
from fastbert.data import load_dataset  # noqa: E402
from fastbert.inference import adaptive_forward  # noqa: E402
from fastbert.ort_runtime import OrtOptions, load_runner, new_session  # noqa: E402
from fastbert.tools.bench_ort import full_graph_file  # noqa: E402


def run_full(session, names, chunks):
    feeds = [{k: {"input_ids": ids, "mask": mask, "token_type_ids": types}[k].numpy() for k in names}
             for ids, mask, types in chunks]
    for feed in feeds:
        session.run(None, feed)


def run_fastbert(model, runner, chunks, speed, criterion):
    with runner.loop_threads():
        for c in chunks:
            adaptive_forward(model, *c, speed, criterion, 1, None, runner=runner)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="assets/models/sst2-minilm")
    p.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=150)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--speeds", default="0,0.5")
    p.add_argument("--spinning", choices=["off", "on", "both"], default="both")
    p.add_argument("--no-segments", action="store_true",
                   help="leave the segment loop out (with spinning on, its seven spinning pools slow the "
                        "contenders timed after it in the same process)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model)
    criterion = get_criterion("entropy")
    texts = load_dataset(args.data).texts
    step = max(1, len(texts) // args.samples)
    texts = texts[::step][:args.samples]
    enc = model.tokenize(texts)
    chunks = [model.collate(enc, [i]) for i in range(len(texts))]
    speeds = [float(s) for s in args.speeds.split(",")]
    path = full_graph_file(model)
    runs, refs = {}, {}
    for spinning in {"off": (False,), "on": (True,), "both": (False, True)}[args.spinning]:
        tag = "spinning on" if spinning else "spinning off"
        options = OrtOptions(threads=args.threads, spinning=spinning)
        full = new_session(path, options)
        names = [i.name for i in full.get_inputs()]
        refs[tag] = f"(d) full model, {tag}"
        runs[refs[tag]] = partial(run_full, full, names, chunks)
        graph = load_runner(model, options=options)
        segments = None if args.no_segments else load_runner(
            model, options=OrtOptions(threads=args.threads, spinning=spinning, exit_graph=False))
        for s in speeds:
            runs[f"exit graph, speed {s:g}, {tag}"] = partial(run_fastbert, model, graph, chunks, s, criterion)
            if segments is not None:
                runs[f"segments, speed {s:g}, {tag}"] = partial(run_fastbert, model, segments, chunks, s, criterion)
    times = {k: [] for k in runs}
    for f in runs.values():
        f()  # warm-up
    for _ in range(args.rounds):
        for k, f in runs.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, {args.threads} intra-op threads, {len(texts)} sentences of "
          f"{args.data}, batch 1, {args.rounds} interleaved rounds; model {args.model}")
    print("| contender | ms / sentence | time / (d)'s, same spinning | (d)'s time / this |\n|---|---:|---:|---:|")
    for k, t in times.items():
        ref = times[refs["spinning on" if "spinning on" in k else "spinning off"]]
        ratio = statistics.median(a / b for a, b in zip(t, ref))
        print(f"| {k} | {1000 * statistics.median(t) / len(texts):.2f} | {ratio:.3f} | {1 / ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
