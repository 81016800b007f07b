"""`python -m fastbert eval`: accuracy and cost of a saved model at one speed (or a target)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .common import DataColumns, add_command


@dataclass
class EvalOptions:
    model: str = field(metadata={"help": "a saved FastBERT model directory"})
    data: str = field(metadata={"help": "a labeled data file"})
    speed: float = field(default=0.5, metadata={"help": "the exit threshold on normalized entropy", "group": "speed"})
    target_speedup: float | None = field(default=None, metadata={
        "group": "speed", "help": "pick the speed from the model's stored curve (python -m fastbert calibrate)"})
    target_accuracy_drop: float | None = field(default=None, metadata={
        "group": "speed", "help": "the fastest speed of the stored curve losing at most this many points"})
    no_calibration: bool = field(default=False, metadata={"help": "ignore the temperatures (the paper's exits)"})
    unseen: bool = field(default=False, metadata={
        "help": "only the rows of --data that the model's calibration left unseen (--data must be the file it "
                "was calibrated on)"})
    batch_size: int = field(default=32, metadata={"help": "rows per batch"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
    runtime: str = field(default="pytorch", metadata={"choices": ["pytorch", "onnxruntime"], "help": "the layer runner"})
    json: bool = field(default=False, metadata={"help": "print one JSON object"})


def run(opts: EvalOptions, cols: DataColumns) -> int:
    import torch

    from ..data import load_dataset
    from ..evaluate import evaluate
    from ..model import FastBert

    if opts.threads:
        torch.set_num_threads(opts.threads)
    model = FastBert.from_pretrained(opts.model, runtime=opts.runtime)
    data = load_dataset(opts.data, **cols.kwargs())
    if opts.unseen:
        data = unseen_part(model, data, opts.data)
    calibrated = not opts.no_calibration
    speed = opts.speed
    if opts.target_speedup is not None or opts.target_accuracy_drop is not None:
        speed = model.choose_speed(opts.target_speedup, opts.target_accuracy_drop, calibrated).speed
    result = evaluate(model, data, speed, opts.batch_size, calibrated=calibrated)
    if opts.json:
        print(json.dumps(result.to_dict()))
    else:
        for k, v in result.to_dict().items():
            print(f"{k:>22}: {v}")
    return 0


def unseen_part(model, data, path: str):
    """The rows of `data` (read from `path`) that the model's stored calibration did not use, so
    that a calibrated model can be scored on text its temperatures and curve never saw."""
    from ..calibrate import stored_split

    try:
        rows = stored_split(model, path)[1]
    except ValueError as err:
        raise ValueError(f"--unseen: {err}") from err
    if not rows:
        raise ValueError(f"--unseen: the calibration used every row of {path}; none is left unseen")
    return data.subset(rows)


def register(subparsers) -> None:
    add_command(subparsers, "eval", run, EvalOptions, DataColumns, help="accuracy and cost at one speed")
