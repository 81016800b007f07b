"""The README's headline table: each shipped model's dev accuracy and FLOPs speedup at speeds 0,
0.5 and 0.8, with the paper's (uncalibrated) exits, from one all-layers pass per model.

    python benchmarks/headline.py
"""
from __future__ import annotations

from fastbert import FastBert
from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, sweep

# (model, dev data, held-out fraction of the file as `train --dev-fraction F --seed 0` made it)
MODELS = [("assets/models/sst2-minilm", "../shared/data/sst2/dev.tsv", 0.0),
          ("assets/models/agnews-minilm", "../shared/data/ag_news/train.tsv", 0.1),
          ("assets/models/chnsenticorp-zh", "../shared/data/chnsenticorp/dev.tsv", 0.0),
          ("assets/models/chnsenticorp-12l", "../shared/data/chnsenticorp/dev.tsv", 0.0)]


def main() -> None:
    print("| model | dev rows | full model | speed 0.5 | speed 0.8 |\n|---|---:|---:|---:|---:|")
    for path, data_path, fraction in MODELS:
        model = FastBert.from_pretrained(path)
        data = load_dataset(data_path)
        if fraction:
            data = data.split(fraction, 0)[1]
        outputs = all_layer_outputs(model, data, calibrated=False)
        full, mid, fast = sweep(model, outputs, [0.0, 0.5, 0.8])
        # The full model: the teacher alone (speed 0 also pays for the students' classifiers).
        cells = [f"{100 * r.accuracy:.2f}%, {r.flops_speedup:.2f}x" for r in (mid, fast)]
        print(f"| {path} | {len(data)} | {100 * full.accuracy:.2f}% | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
