"""Where FastBERT's speed-0 overhead goes at batch size 1: paired timings and a torch.profiler
breakdown, written to assets/reports/overhead.md.

    python benchmarks/overhead_profile.py --model assets/models/sst2-minilm \
        --data ../shared/data/sst2/dev.tsv --threads 2

1. Paired timings. Five ways to run the same single sentences, interleaved round by round:
   (b) the plain `AutoModelForSequenceClassification` forward (as in `fastbert bench`), the
   encoder layers alone called as transformers' modules, the same layers through FastBERT's
   inference path (`fastbert/lean_layer.py`: same weights, same result, fewer operations), those
   layers each followed by its classifier and softmax, and `adaptive_forward` at speed 0. Each round's time is divided by that round's (b) time, so the
   machine's slow and fast moments cancel; the medians of those ratios are reported.
2. Profile. One pass of the encoder + classifiers loop under torch.profiler, each encoder layer
   and each classifier in its own `record_function` range: the operators' self time summed per
   range, and the classifier's operators one by one.
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from fastbert.tools.bench import describe_machine, plain_classifier
from fastbert.tools.bench_timing import evenly_spaced
from fastbert.data import load_dataset
from fastbert.inference import adaptive_forward
from fastbert.model import FastBert
from fastbert.uncertainty import get_criterion


def paired_timings(model, hf, batches, rounds: int) -> dict[str, dict]:
    enc, crit = model.encoder, get_criterion("entropy")

    @torch.inference_mode()
    def plain():
        for ids, mask, types in batches:
            hf(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.softmax(-1)

    hf_layers = enc.model.encoder.layer

    @torch.inference_mode()
    def transformers_layers():
        for ids, mask, types in batches:
            h = enc.embed(ids, types)
            lm = enc.layer_mask(h, mask)
            for layer in hf_layers:
                h = layer(h, attention_mask=lm)

    def layers(with_classifiers: bool):
        @torch.inference_mode()
        def run():
            for ids, mask, types in batches:
                h = enc.embed(ids, types)
                lm = enc.layer_mask(h, mask)
                for i in range(model.num_layers):
                    h = enc.run_layer(i, h, mask, lm)
                    if with_classifiers:
                        model.classifiers[i](h, None).softmax(-1)
        return run

    def speed0():
        for b in batches:
            adaptive_forward(model, *b, 0.0, crit)

    runs = {"(b) plain model": plain, "encoder layers only, transformers' layer calls": transformers_layers,
            "encoder layers only, FastBERT's lean inference path": layers(False),
            "encoder layers + classifiers": layers(True), "FastBERT speed 0 (adaptive_forward)": speed0}
    for f in runs.values():
        f()  # warm-up
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for k, f in runs.items():
            start = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - start) / len(batches) * 1e3)
    ref = times["(b) plain model"]
    return {k: {"ms": statistics.median(v), "ratio": statistics.median(a / b for a, b in zip(v, ref))}
            for k, v in times.items()}


def profile_breakdown(model, batches) -> tuple[dict[str, float], dict[str, tuple[float, int]]]:
    """Self time (µs per sample) per range, and per operator inside the classifier ranges."""
    enc = model.encoder

    @torch.inference_mode()
    def run():
        for ids, mask, types in batches:
            with record_function("embeddings + mask"):
                h = enc.embed(ids, types)
                lm = enc.layer_mask(h, mask)
            for i in range(model.num_layers):
                with record_function("encoder layer"):
                    h = enc.run_layer(i, h, mask, lm)
                with record_function("classifier + softmax"):
                    model.classifiers[i](h, None).softmax(-1)

    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    per_range: dict[str, float] = defaultdict(float)
    per_op: dict[str, list] = defaultdict(lambda: [0.0, 0])
    for e in prof.events():
        if e.name.startswith("aten::") or e.name.startswith("mkldnn::"):
            top, p = None, e.cpu_parent
            while p is not None:
                if not p.name.startswith(("aten::", "mkldnn::")):
                    top = p.name
                p = p.cpu_parent
            if top is None:
                continue
            per_range[top] += e.self_cpu_time_total
            if top == "classifier + softmax":
                per_op[e.name][0] += e.self_cpu_time_total
                per_op[e.name][1] += 1
    n = len(batches)
    return ({k: v / n for k, v in per_range.items()},
            {k: (t / n, c / n) for k, (t, c) in per_op.items()})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="assets/models/sst2-minilm")
    p.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    p.add_argument("--samples", type=int, default=60, help="evenly spaced rows of --data, batch size 1")
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="assets/reports/overhead.md")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model).eval()
    hf = plain_classifier(model)
    data = load_dataset(args.data)
    rows = evenly_spaced(len(data), args.samples)
    enc = model.tokenize([data.texts[r] for r in rows])
    batches = [model.collate(enc, [i]) for i in range(len(rows))]
    tokens = statistics.mean(int(b[1].sum()) for b in batches)

    start = time.perf_counter()
    timings = paired_timings(model, hf, batches, args.rounds)
    ranges, ops = profile_breakdown(model, batches)
    seconds = time.perf_counter() - start

    m = describe_machine()
    layers = ranges.get("encoder layer", float("nan"))
    lines = ["# Speed-0 overhead at batch size 1: where the time goes", "",
             f"Command: `python benchmarks/overhead_profile.py {shlex.join(sys.argv[1:])}`", "",
             f"Machine: {m.get('cpu', '?')}, {m.get('logical_cpus', '?')} logical CPUs; torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads. Model `{args.model}` ({model.num_layers} layers); "
             f"{len(batches)} sentences of `{args.data}` one at a time, {tokens:.1f} tokens on average.", "",
             f"## Paired timings ({args.rounds} interleaved rounds, medians)", "",
             "| run | ms / sample | time / (b) plain, median of the rounds' ratios |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['ms']:.2f} | {v['ratio']:.3f} |" for k, v in timings.items()]
    lines += ["", "## Profile (torch.profiler, self time of the operators in each range)", "",
              "| range | µs / sample | share of the encoder layers |", "|---|---:|---:|"]
    lines += [f"| {k} | {v:.0f} | {100 * v / layers:.1f}% |" for k, v in sorted(ranges.items(), key=lambda kv: -kv[1])]
    lines += ["", "Inside `classifier + softmax` (all layers together):", "",
              "| operator | µs / sample | calls / sample | µs / call |", "|---|---:|---:|---:|"]
    lines += [f"| `{k}` | {t:.0f} | {c:.0f} | {t / c:.1f} |" for k, (t, c) in sorted(ops.items(), key=lambda kv: -kv[1][0])
              if t >= 1]
    lines += ["", f"The run took {seconds:.0f} s (the profiler's own cost inflates the profile's times; "
              "compare the ranges with each other, not with the timings above).", ""]
    out = Path(args.out)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
