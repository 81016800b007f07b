"""How confident is the teacher? A low speed can only save FLOPs on samples that some student is
sure of, and the students are distilled to copy the teacher's probabilities: where the teacher's
own uncertainty is above the speed, a student that matches it cannot exit there either. This
prints, per speed, the share of samples whose teacher (last layer) uncertainty is below the
speed, next to the share that exits before the last layer and the FLOPs speedup, with the paper's
uncalibrated probabilities. For the entropy exit criterion (the paper's) only; labeled data.
With --exits, a second table says where each speed's lost accuracy comes from: the rows that leave
before the last layer, how often the student they leave at is right, and how often the teacher
would have been right on the same rows.

    python benchmarks/teacher_confidence.py --model assets/models/chnsenticorp-12l --data ../shared/data/chnsenticorp/dev.tsv
"""
from __future__ import annotations

import argparse

import torch

from fastbert import FastBert
from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, outcome_at, sweep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--dev-fraction", type=float, default=0.0, help="the held-out part of `train --dev-fraction`")
    p.add_argument("--seed", type=int, default=0, help="the seed of that split")
    p.add_argument("--speeds", default="0,0.1,0.3,0.5,0.8", help="speed 0: every layer runs, the teacher decides")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--exits", action="store_true", help="also: accuracy of the early exits against the teacher's")
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
    if args.exits:
        print_early_exits(model, outputs, speeds)


def print_early_exits(model, outputs, speeds: list[float]) -> None:
    """Per speed: the rows leaving before the last layer, the students' accuracy on them, the
    teacher's on the same rows, and the points of the whole set that the difference costs."""
    labels, n = outputs.labels, outputs.labels.numel()
    teacher_right = outputs.layer_probs[-1].argmax(-1) == labels
    print()
    print("| speed | rows leaving early | of them at layer 1 | students right on them | teacher right on them "
          "| points lost on the whole set |")
    print("|---:|---:|---:|---:|---:|---:|")
    for speed in speeds:
        out = outcome_at(model, outputs, speed)
        early = out.exit_layer < model.num_layers
        k = int(early.sum())
        if k == 0:
            print(f"| {speed:g} | 0 | 0 | — | — | 0.00 |")
            continue
        student = (out.label_id[early] == labels[early]).double().mean().item()
        teacher = teacher_right[early].double().mean().item()
        print(f"| {speed:g} | {k} | {int((out.exit_layer == 1).sum())} | {100 * student:.2f}% | {100 * teacher:.2f}% "
              f"| {100 * (teacher - student) * k / n:.2f} |")


if __name__ == "__main__":
    main()
