"""Compare self-distillation directions: accuracy and FLOPs speedup of two models on one data file.

    python benchmarks/kl_direction.py MODEL_A MODEL_B --data ../shared/data/sst2/dev.tsv

Prints, for speeds 0.1 ... 0.9, each model's accuracy and FLOPs speedup (one all-layers pass per
model, same exit decisions as adaptive inference), then each model's best accuracy at a given
minimum speedup.
"""
import argparse

from fastbert import FastBert
from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, sweep

SPEEDS = [round(0.05 * i, 2) for i in range(21)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    args = parser.parse_args()
    data = load_dataset(args.data)
    curves = {}
    for path in args.models:
        model = FastBert.from_pretrained(path)
        direction = model.metadata().get("stages", {}).get("distill", {}).get("kl_direction", "?")
        curves[f"{path} ({direction})"] = sweep(model, all_layer_outputs(model, data), SPEEDS)
    names = list(curves)
    print("| speed | " + " | ".join(f"{n}: acc / speedup" for n in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for i, s in enumerate(SPEEDS):
        if 0 < s < 1 and round(s * 10, 6) == int(round(s * 10)):
            cells = [f"{100 * curves[n][i].accuracy:.2f}% / {curves[n][i].flops_speedup:.2f}x" for n in names]
            print(f"| {s:g} | " + " | ".join(cells) + " |")
    print("\nbest accuracy with at least the given FLOPs speedup (speeds in steps of 0.05):")
    print("| min speedup | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for target in (1.5, 2.0, 3.0, 4.0, 5.0):
        cells = []
        for n in names:
            ok = [r for r in curves[n] if r.flops_speedup >= target]
            best = max(ok, key=lambda r: r.accuracy, default=None)
            cells.append("–" if best is None else f"{100 * best.accuracy:.2f}% (speed {best.speed:g}, {best.flops_speedup:.2f}x)")
        print(f"| {target:g}x | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
