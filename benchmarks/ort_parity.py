"""Do the ONNX Runtime and PyTorch runtimes take the same decisions on a data file?

For each speed, `predict` runs on both runtimes (same weights, same batching); a sentence
counts as a mismatch when its label or exit layer differs, and a mismatch is explained when
one of the uncertainties either runtime computed lies within --tolerance of the threshold (the
two runtimes' floats differ by ~1e-6, so such a sample may fall either side). Prints one row per
speed and exits with status 1 when a mismatch is not explained.

    python benchmarks/ort_parity.py --model assets/models/sst2-minilm --data ../shared/data/sst2/dev.tsv
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastbert import FastBert  # noqa: E402
from fastbert.data import load_dataset  # noqa: E402


def near(pred, speed: float, tol: float) -> bool:
    values = pred.uncertainties + (pred.all_uncertainties or [])
    return any(abs(u - speed) <= tol for u in values)


def compare(model, texts, speed: float, batch_size: int, tol: float) -> dict:
    model.set_runtime("pytorch")
    want = model.predict(texts, speed=speed, batch_size=batch_size)
    model.set_runtime("onnxruntime")
    got = model.predict(texts, speed=speed, batch_size=batch_size)
    labels = [i for i, (a, b) in enumerate(zip(want, got)) if a.label != b.label]
    exits = [i for i, (a, b) in enumerate(zip(want, got)) if a.exit_layer != b.exit_layer]
    bad = sorted(set(labels) | set(exits))
    explained = [i for i in bad if near(want[i], speed, tol) or near(got[i], speed, tol)]
    same_exit = [(a, b) for a, b in zip(want, got) if a.exit_layer == b.exit_layer]
    prob_diff = max((abs(x - y) for a, b in same_exit for x, y in zip(a.probs, b.probs)), default=0.0)
    return {"speed": speed, "batch_size": batch_size, "sentences": len(texts), "label_mismatches": len(labels),
            "exit_mismatches": len(exits), "within_tolerance": len(explained),
            "unexplained": len(bad) - len(explained), "max_prob_diff": prob_diff,
            "mean_exit_layer": sum(p.exit_layer for p in got) / len(got)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="assets/models/sst2-minilm")
    p.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    p.add_argument("--speeds", default="0,0.1,0.3,0.5,0.8")
    p.add_argument("--batch-sizes", default="32,1")
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model, runtime="onnxruntime")
    texts = load_dataset(args.data).texts
    rows = [compare(model, texts, float(s), int(b), args.tolerance)
            for b in args.batch_sizes.split(",") for s in args.speeds.split(",")]
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"model {args.model}, data {args.data}, tolerance {args.tolerance:g}, ORT segments from "
              f"{model._ort.directory}")
        print("| batch | speed | sentences | mean exit (ORT) | label mismatches | exit mismatches | "
              "uncertainty within tolerance | unexplained | max prob diff |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['batch_size']} | {r['speed']:g} | {r['sentences']} | {r['mean_exit_layer']:.2f} | "
                  f"{r['label_mismatches']} | {r['exit_mismatches']} | {r['within_tolerance']} | "
                  f"{r['unexplained']} | {r['max_prob_diff']:.1e} |")
    return 1 if any(r["unexplained"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
