"""Which ONNX Runtime settings help FastBERT's segments on these shapes? Prints a table.

Every variant runs FastBERT at speed 0 (every layer, as (e) does) over the same length-sorted
SST-2 batches, interleaved round-robin with the baseline (`OrtOptions()`: `session.run`, graph
optimisation "all", per-session pools of --threads threads, spinning off, and at batch 1 the exit
graph: one call per sentence, `fastbert.onnx_exit_graph`)
and with (d), the whole model as one graph; ratios are medians of per-round ratios to the
baseline's time in the same round (< 1: the variant is faster), and to (d)'s. Also timed: the
PyTorch runtime (--torch) and the lean PyTorch layers under torch.compile (--compile).

--shared-pool: every session (the baseline's, the variants', (d)'s) uses one global thread pool
(onnxruntime allows no mix in one process), so compare its "time / (d)'s" column with a run
without it.

    python benchmarks/ort_options.py --threads 2 --b1-samples 100 --b32-samples 256 --rounds 5
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastbert import FastBert, get_criterion  # noqa: E402
from fastbert.tools.bench import _ort_speed  # noqa: E402
from fastbert.tools.bench_timing import evenly_spaced, interleaved  # noqa: E402
from fastbert.tools.bench_ort import build_contenders  # noqa: E402
from fastbert.data import load_dataset  # noqa: E402
from fastbert.inference import adaptive_forward  # noqa: E402
from fastbert.ort_runtime import OrtOptions, load_runner  # noqa: E402

VARIANTS = {
    "segments only, no exit graph (a lone sample: one session.run per segment)": dict(exit_graph=False),
    "IO binding (inputs and preallocated outputs bound by pointer)": dict(io_binding=True),
    "graph optimisation 'extended'": dict(level="extended"),
    "graph optimisation 'basic'": dict(level="basic"),
    "graph optimisation off": dict(level="disable"),
    "onnxruntime.transformers BERT fusions": dict(fusions=True),
    "spinning on (ORT's default), one pool per session": dict(spinning=True),
}


FULL = "(d) full model, one graph"
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="assets/models/sst2-minilm")
    p.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--b1-samples", type=int, default=100)
    p.add_argument("--b32-samples", type=int, default=256)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--compile", action="store_true", help="also time torch.compile on the PyTorch layers")
    p.add_argument("--shared-pool", action="store_true", help="all sessions on one global thread pool")
    p.add_argument("--torch", action="store_true", help="also time the PyTorch runtime")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="cpu: the process's CPU time (all threads), steadier than wall time on a busy machine")
    args = p.parse_args(argv)
    import onnxruntime as ort

    if args.shared_pool:
        ort.set_global_thread_pool_sizes(args.threads, 1)  # before any session is made
    # Spinning needs its own pools; on the CPU clock its busy-waiting would be counted as work.
    variants = {k: v for k, v in VARIANTS.items() if not ((args.shared_pool or args.clock == "cpu") and "spinning" in v)}
    torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model)
    texts = load_dataset(args.data).texts
    crit = get_criterion(model.config.exit_criterion, model.config.patience)
    base = build_contenders(model, args.threads, options=OrtOptions(threads=args.threads, shared_pool=args.shared_pool))
    runners = {"baseline": base.runner}
    runners.update({name: load_runner(model, options=OrtOptions(threads=args.threads, shared_pool=args.shared_pool, **kw))
                    for name, kw in variants.items()})
    print(f"onnxruntime {ort.__version__}, torch {torch.__version__}, {args.threads} threads, "
          f"{'one shared global pool' if args.shared_pool else 'a pool per session'}, {args.rounds} rounds; "
          f"model {args.model}; FastBERT at speed 0 (every segment); {args.clock} clock")
    print("| batch | variant | ms / sample | time / baseline's | time / (d)'s |\n|---:|---|---:|---:|---:|")
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        k = args.b1_samples if bs == 1 else args.b32_samples
        rows = [texts[i] for i in evenly_spaced(len(texts), k)]
        enc = model.tokenize(rows)
        chunks = [model.collate(enc, r) for r in model.batch_order(enc, bs)]
        batches = [model.collate(enc, r) for r in model.batch_order(enc, bs, pool=1)]
        runs = {name: partial(_ort_speed, model, r, chunks, 0.0, crit, bs) for name, r in runners.items()}
        runs[FULL] = base.full_run(batches)
        if args.torch:
            runs["PyTorch runtime"] = lambda: [adaptive_forward(model, *c, 0.0, crit, bs) for c in chunks]
        if args.compile:  # slow to compile; its first call is the warm-up
            runs["torch.compile (PyTorch runtime's layers)"] = compiled_run(model, chunks, crit, bs)
        times = interleaved(runs, args.rounds, args.rounds, clock=CLOCKS[args.clock])
        for name, t in times.items():
            ratio = statistics.median(a / b for a, b in zip(t, times["baseline"]))
            to_full = statistics.median(a / b for a, b in zip(t, times[FULL]))
            print(f"| {bs} | {name} | {1000 * statistics.median(t) / len(rows):.2f} | {ratio:.2f} | {to_full:.2f} |")
    if "1" in args.batch_sizes.split(","):
        segments = load_runner(model, options=OrtOptions(threads=args.threads, shared_pool=args.shared_pool,
                                                          exit_graph=False))
        profile_calls(model, base, segments, texts, args, crit)
    return 0


def profile_calls(model, base, runner, texts, args, crit) -> None:
    """Where batch-1 time goes on ORT, speed 0, without the exit graph (`runner`): the segment
    sessions alone (inputs already numpy), the same calls through the runner (tensor <-> numpy),
    the whole loop (exit test, record); and the exit graph's one call per sentence."""
    rows = [texts[i] for i in evenly_spaced(len(texts), args.b1_samples)]
    enc = model.tokenize(rows)
    inputs = [model.collate(enc, [r]) for r in range(len(rows))]
    feeds = [(ids.numpy(), types.numpy(), mask.numpy()) for ids, mask, types in inputs]
    one = np.ones(1, dtype=np.float32)

    def sessions():
        for ids, types, mask in feeds:
            h = runner.embedding.run(None, {"input_ids": ids, "token_type_ids": types})[0]
            for s in runner.layers:
                h = s.run(None, {"hidden": h, "mask": mask, "temperature": one})[0]

    def through_runner():
        for ids, mask, types in inputs:
            h = runner.embed(ids, types)
            lm = runner.layer_mask(h, mask, False)
            for i in range(runner.num_layers):
                h = runner.step(i, h, mask, False, lm).hidden

    runs = {"sessions only": sessions, "runner calls": through_runner,
            "adaptive_forward": partial(_ort_speed, model, runner, inputs, 0.0, crit, 1),
            "exit graph (adaptive_forward, one call)": partial(_ort_speed, model, base.runner, inputs, 0.0, crit, 1),
            "(d) full graph": base.full_run(inputs)}
    times = interleaved(runs, args.rounds, args.rounds, clock=CLOCKS[args.clock])
    print(f"\nPer-call profile, batch 1, speed 0 ({len(rows)} sentences, {1 + runner.num_layers} session calls each; "
          "ms per sentence, medians of rounds):\n| part | ms / sentence |\n|---|---:|")
    ms = {k: 1000 * statistics.median(v) / len(rows) for k, v in times.items()}
    for k, v in ms.items():
        print(f"| {k} | {v:.3f} |")
    print(f"| = tensor/numpy conversions | {ms['runner calls'] - ms['sessions only']:.3f} |")
    print(f"| = the loop (exit test, record) | {ms['adaptive_forward'] - ms['runner calls']:.3f} |")


def compiled_run(model, chunks, crit, bs):
    """The PyTorch runtime with every layer's lean forward compiled (dynamic shapes)."""
    from fastbert import lean_layer

    compiled = torch.compile(lean_layer.lean_layer_forward, dynamic=True)

    def run():
        original = lean_layer.lean_layer_forward
        import fastbert.backbone as backbone

        backbone.lean_layer_forward = compiled
        try:
            return [adaptive_forward(model, *c, 0.0, crit, bs) for c in chunks]
        finally:
            backbone.lean_layer_forward = original
    start = time.perf_counter()
    run()
    print(f"(torch.compile warm-up: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return run


if __name__ == "__main__":
    sys.exit(main())
