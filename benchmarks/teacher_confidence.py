"""How confident is the teacher? A low speed can only save FLOPs on samples that some student is
sure of, and the students are distilled to copy the teacher's probabilities: where the teacher's
own uncertainty is above the speed, a student that matches it cannot exit there either. This
prints, per speed, the share of samples whose teacher (last layer) uncertainty is below the
speed, next to the share that exits before the last layer and the FLOPs speedup, with the paper's
uncalibrated probabilities. For the entropy exit criterion (the paper's) only; labeled data.

    python benchmarks/teacher_confidence.py --model assets/models/chnsenticorp-12l --data ../shared/data/chnsenticorp/dev.tsv
"""
from __future__ import annotations

import argparse

import torch

from fastbert import FastBert
from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, sweep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--dev-fraction", type=float, default=0.0, help="the held-out part of `train --dev-fraction`")
    p.add_argument("--seed", type=int, default=0, help="the seed of that split")
    p.add_argument("--speeds", default="0,0.1,0.3,0.5,0.8", help="speed 0: every layer runs, the teacher decides")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model)
    if model.config.exit_criterion != "entropy":
        raise SystemExit(f"the teacher's uncertainty is the exit rule only for the entropy criterion, "
                         f"this model exits by {model.config.exit_criterion!r}")
    data = load_dataset(args.data)
    if args.dev_fraction:
        data = data.split(args.dev_fraction, args.seed)[1]
    if data.raw_labels is None:
        raise SystemExit(f"{args.data} has no labels")
    outputs = all_layer_outputs(model, data, calibrated=False)
    teacher_u = outputs.uncertainties[-1]
    speeds = [float(s) for s in args.speeds.split(",")]
    print(f"{args.model} on {args.data} ({len(data)} rows), {model.num_layers} layers, uncalibrated")
    print("| speed | teacher uncertainty below it | samples exiting before the last layer | mean exit layer | FLOPs speedup | accuracy |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in sweep(model, outputs, speeds):
        early = 1 - r.exit_histogram[-1] / r.num_samples
        print(f"| {r.speed:g} | {100 * (teacher_u < r.speed).double().mean().item():.1f}% | {100 * early:.1f}% "
              f"| {r.mean_exit_layer:.2f} | {r.flops_speedup:.2f}x | {100 * r.accuracy:.2f}% |")


if __name__ == "__main__":
    main()
