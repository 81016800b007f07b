"""Copy a trained model into float16 (or int8 layers) for shipping:

    python scripts/ship_fp16.py SRC DEST [--labels NAME,NAME,...] [--dtype float16|int8]

--dtype int8: the layers' weight matrices as int8 with a scale per row, the rest float16
(fastbert.int8_storage; about half the float16 file for a 12-layer model).
Weights bit-identical to the backbone's stay out of the file (read back from the backbone at
load time, as `train --share-base` does). --labels renames the classes, in id order (data files
labelled by id still map to them); the training record gains this command.
"""
import argparse
import shlex
import sys

import torch

from fastbert import FastBert
from fastbert.checkpoint import command_chain

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("src")
p.add_argument("dest")
p.add_argument("--labels", default=None, help="comma-separated class names, in id order")
p.add_argument("--dtype", choices=("float16", "int8"), default="float16")
args = p.parse_args()
model = FastBert.from_pretrained(args.src)
if args.labels:
    names = args.labels.split(",")
    if len(names) != len(model.config.labels):
        sys.exit(f"error: --labels: {len(model.config.labels)} names needed, got {len(names)}")
    model.config.labels = names
record = model.metadata()
record["commands"] = command_chain(record) + ["python " + shlex.join(["scripts/ship_fp16.py", *sys.argv[1:]])]
record["evals_of"] = f"{args.src} (float32); the {args.dtype} copy is evaluated separately"
model.save_pretrained(args.dest, dtype=getattr(torch, args.dtype), base_weights=model.config.backbone, metadata=record)
print(f"saved {args.dest}")
