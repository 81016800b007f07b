"""What applying the temperatures costs at inference: paired, interleaved timings.

    PYTHONPATH=. python benchmarks/calibration_overhead.py --model assets/models/sst2-minilm \
        --data ../shared/data/sst2/dev.tsv --threads 2

Times `predict` on the same texts with the model's temperatures removed (the uncalibrated path:
logits go straight to the softmax) and with every temperature set to 1.0 (the calibrated path:
one division of the (batch, classes) logits per layer, same exits); at batch 1 each text is timed
both ways back to back, at batch 32 whole passes alternate; prints the medians of the paired
ratios calibrated / uncalibrated.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from fastbert.data import load_dataset
from fastbert.model import FastBert


def _time(model, texts, batch_size, temps) -> float:
    model.config.temperatures = temps
    start = time.perf_counter()
    model.predict(texts, speed=0.5, batch_size=batch_size)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="assets/models/sst2-minilm")
    ap.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    ap.add_argument("--texts", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model)
    texts = load_dataset(args.data).texts[: args.texts]
    ones = [1.0] * model.num_layers
    print(f"{len(texts)} texts, {args.rounds} rounds, {args.threads} threads, speed 0.5")
    print("| batch | unit timed | uncalibrated ms / text | calibrated path (T = 1) ms / text | median ratio |")
    print("|---:|---|---:|---:|---:|")
    # Batch 1: each text timed both ways back to back (order alternating), so that load changes
    # on a shared machine hit both sides alike; batch 32: whole passes, alternating.
    for bs, units in ((1, [[t] for t in texts]), (32, [texts])):
        _time(model, texts[:32], bs, None)  # warm-up
        ratios, plain, cal = [], [], []
        for r in range(args.rounds):
            for k, unit in enumerate(units):
                order = (None, ones) if (r + k) % 2 == 0 else (ones, None)
                t = {id(temps): _time(model, unit, bs, temps) for temps in order}
                plain.append(t[id(None)] / len(unit)), cal.append(t[id(ones)] / len(unit))
                ratios.append(t[id(ones)] / t[id(None)])
        print(f"| {bs} | {'one text' if bs == 1 else 'all texts'} | {1000 * statistics.median(plain):.2f} | "
              f"{1000 * statistics.median(cal):.2f} | {statistics.median(ratios):.3f} |")


if __name__ == "__main__":
    main()
