"""What int8 storage costs a model, by scale granularity: dev accuracy and FLOPs speedup of the
full model and FastBERT at the paper's speeds (uncalibrated exits), for the weights as trained
(float32), as float16, and as int8 with one scale per row or per group of 128 / 64 / 32 weights
(fastbert.int8_storage: quantize, then dequantize, as a saved file is loaded), with the bytes of
the int8 matrices and their scales.

    python benchmarks/int8_groups.py --model runs/chnsenticorp-12l-more2 --data ../shared/data/chnsenticorp/dev.tsv
"""
from __future__ import annotations

import argparse

import torch

from fastbert import FastBert
from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, sweep
from fastbert.int8_storage import dequantize, is_quantized_key, quantize

SPEEDS = [0.0, 0.1, 0.5, 0.8]


def stored_weights(model: FastBert, variant: str) -> tuple[dict[str, torch.Tensor], int]:
    """The layers' weight matrices as they load back from `variant` storage, and their bytes."""
    out, size = {}, 0
    for name, w in model.state_dict().items():
        if not is_quantized_key(name, w):
            continue
        if variant == "float32":
            out[name], size = w, size + 4 * w.numel()
        elif variant == "float16":
            out[name], size = w.half().float(), size + 2 * w.numel()
        else:
            stored = quantize(name, w, group=None if variant == "int8 per row" else int(variant.split()[-1]))
            out[name] = dequantize(stored)[name]
            size += sum(t.numel() * t.element_size() for t in stored.values())
    return out, size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a model saved in float32 (a training run's directory)")
    p.add_argument("--data", required=True)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(args.data)
    print(f"{args.model} on {args.data} ({len(data)} rows), uncalibrated exits; bytes: the layers' weight matrices")
    print("| storage | MB | full model | speed 0.1 | speed 0.5 | speed 0.8 |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant in ("float32", "float16", "int8 per row", "int8 groups of 128", "int8 groups of 64",
                    "int8 groups of 32"):
        model = FastBert.from_pretrained(args.model)
        weights, size = stored_weights(model, variant)
        model.load_state_dict({**model.state_dict(), **weights})
        rows = sweep(model, all_layer_outputs(model, data, calibrated=False), SPEEDS)
        print(f"| {variant} | {size / 1e6:.1f} | " + " | ".join(
            f"{100 * r.accuracy:.2f}%" + (f" at {r.flops_speedup:.2f}x" if r.speed else "") for r in rows) + " |",
            flush=True)


if __name__ == "__main__":
    main()
