"""`python -m fastbert eval`: accuracy and cost of a saved model at one speed (or a target)."""
from __future__ import annotations

import json

import torch

from .common import columns, data_args


def cmd_eval(args) -> int:
    from ..data import load_dataset
    from ..evaluate import evaluate
    from ..model import FastBert

    if args.threads:
        torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model, runtime=args.runtime)
    data = load_dataset(args.data, **columns(args))
    calibrated = not args.no_calibration
    speed = args.speed
    if args.target_speedup is not None or args.target_accuracy_drop is not None:
        speed = model.choose_speed(args.target_speedup, args.target_accuracy_drop, calibrated).speed
    result = evaluate(model, data, speed, args.batch_size, calibrated=calibrated)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        for k, v in result.to_dict().items():
            print(f"{k:>22}: {v}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="accuracy and cost at one speed")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--speed", type=float, default=0.5)
    g.add_argument("--target-speedup", type=float, default=None,
                   help="pick the speed from the model's stored curve (python -m fastbert calibrate)")
    g.add_argument("--target-accuracy-drop", type=float, default=None,
                   help="the fastest speed of the stored curve losing at most this many points")
    p.add_argument("--no-calibration", action="store_true", help="ignore the temperatures (the paper's exits)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--runtime", default="pytorch", choices=["pytorch", "onnxruntime"])
    p.add_argument("--json", action="store_true")
    data_args(p)
    p.set_defaults(func=cmd_eval)
