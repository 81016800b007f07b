"""What applying the temperatures costs at inference: paired, interleaved timings.

    PYTHONPATH=. python benchmarks/calibration_overhead.py --model assets/models/sst2-minilm \
        --data ../shared/data/sst2/dev.tsv --threads 2

Times `predict` on the same texts with the model's temperatures removed (the uncalibrated path:
logits go straight to the softmax) and with every temperature set to 1.0 (the calibrated path:
one division of the (batch, classes) logits per layer, same exits), alternating the two in each
round; prints the median of the per-round ratios calibrated / uncalibrated at batch 1 and 32.
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
    print("| batch | uncalibrated ms / text | calibrated path (T = 1) ms / text | median ratio |")
    print("|---:|---:|---:|---:|")
    for bs in (1, 32):
        _time(model, texts[:32], bs, None)  # warm-up
        ratios, plain, cal = [], [], []
        for r in range(args.rounds):
            order = (None, ones) if r % 2 == 0 else (ones, None)
            t = {id(temps): _time(model, texts, bs, temps) for temps in order}
            plain.append(t[id(None)]), cal.append(t[id(ones)])
            ratios.append(t[id(ones)] / t[id(None)])
        n = len(texts)
        print(f"| {bs} | {1000 * statistics.median(plain) / n:.2f} | {1000 * statistics.median(cal) / n:.2f} | "
              f"{statistics.median(ratios):.3f} |")


if __name__ == "__main__":
    main()
