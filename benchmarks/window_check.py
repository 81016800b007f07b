"""What the 128-token window costs a model trained with it: the same model read with a longer
window at inference (its position embeddings allow up to 512), full model (every layer, teacher
only) and FastBERT at a few speeds, on all dev rows and on the rows the window cuts.

    PYTHONPATH=. python benchmarks/window_check.py --model assets/models/chnsenticorp-12l \
        --data ../shared/data/chnsenticorp/dev.tsv --lengths 128,256,512
"""
from __future__ import annotations

import argparse

import torch

from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, outcome_at, sweep
from fastbert.model import FastBert


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--lengths", default="128,256,512", help="comma-separated windows, tokens")
    ap.add_argument("--speeds", default="0,0.5,0.8")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model)
    data = load_dataset(args.data)
    trained = model.config.max_length
    speeds = [float(s) for s in args.speeds.split(",")]
    lengths = [int(x) for x in args.lengths.split(",")]
    if max(lengths) > model.encoder.max_tokens:
        ap.error(f"--lengths: at most {model.encoder.max_tokens} tokens for this backbone's position embeddings")
    cut = torch.tensor(model.tokenize(data.texts)["input_tokens"]) > trained  # lengths before truncation
    print(f"{args.model}: trained with {trained} tokens; {int(cut.sum())} of {len(data)} dev rows "
          f"({100 * cut.float().mean():.1f}%) are longer (special tokens included)")
    print("| window | speed | accuracy, all rows | accuracy, rows longer than the training window | FLOPs speedup |")
    print("|---:|---:|---:|---:|---:|")
    for length in lengths:
        model.config.max_length = length
        outputs = all_layer_outputs(model, data, calibrated=False)
        for r in sweep(model, outputs, speeds):
            right = None
            if cut.any():
                out = outcome_at(model, outputs, r.speed)
                right = (out.label_id[cut] == outputs.labels[cut]).float().mean().item()
            print(f"| {length} | {r.speed:g} | {100 * r.accuracy:.2f}% | "
                  f"{'-' if right is None else f'{100 * right:.2f}%'} | {r.flops_speedup:.2f}x |")


if __name__ == "__main__":
    main()
