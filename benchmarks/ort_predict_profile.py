"""Where one `/classify`-sized call goes on ONNX Runtime: `predict([text], batch_size=1)` next to
its parts (tokenize, collate, `adaptive_forward`), per sentence, interleaved rounds, medians.

    python benchmarks/ort_predict_profile.py --threads 2 --samples 100 --rounds 7 --clock wall
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastbert import FastBert, get_criterion  # noqa: E402
from fastbert.tools.bench_timing import evenly_spaced, interleaved  # noqa: E402
from fastbert.data import load_dataset  # noqa: E402
from fastbert.inference import adaptive_forward  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="assets/models/sst2-minilm")
    p.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--speed", type=float, default=0.5)
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model, runtime="onnxruntime")
    data = load_dataset(args.data).texts
    texts = [data[i] for i in evenly_spaced(len(data), args.samples)]
    crit = get_criterion(model.config.exit_criterion, model.config.patience)
    encs = [model.tokenize([t]) for t in texts]
    inputs = [model.collate(e, [0]) for e in encs]
    runs = {
        "predict([text], batch_size=1)": lambda: [model.predict([t], speed=args.speed, batch_size=1) for t in texts],
        "tokenize": lambda: [model.tokenize([t]) for t in texts],
        "collate": lambda: [model.collate(e, [0]) for e in encs],
        "adaptive_forward (ORT)": lambda: [adaptive_forward(model, *b, args.speed, crit, 1) for b in inputs],
    }
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    times = interleaved(runs, args.rounds, args.rounds, clock=clock)
    ms = {k: 1000 * statistics.median(v) / len(texts) for k, v in times.items()}
    print(f"{len(texts)} SST-2 dev sentences at speed {args.speed:g}, batch 1, {args.threads} threads, "
          f"{args.rounds} rounds, {args.clock} clock; runtime {model.runtime}\n| part | ms / sentence |\n|---|---:|")
    for k, v in ms.items():
        print(f"| {k} | {v:.3f} |")
    rest = ms["predict([text], batch_size=1)"] - ms["tokenize"] - ms["collate"] - ms["adaptive_forward (ORT)"]
    print(f"| = the rest of predict (FLOPs, results) | {rest:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
