"""`python -m fastbert calibrate`: fit per-layer temperatures and store the speed -> speedup curve
(the library: `fastbert.calibrate`)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..options import command_line
from .common import DataColumns, add_command


@dataclass
class CalibrateOptions:
    model: str = field(metadata={"help": "a saved FastBERT model directory (config.json is rewritten)"})
    data: str = field(metadata={"help": "calibration data (labels, or none with --unlabeled)"})
    fraction: float = field(default=1.0, metadata={
        "help": "share of the rows used for calibration (a seeded split; the rest stays unseen)"})
    seed: int = field(default=0, metadata={"help": "the seed of that split"})
    holdout_fraction: float | None = field(default=None, metadata={
        "help": "use only the rows that `train --dev-fraction F` held out from training"})
    holdout_seed: int = field(default=0, metadata={"help": "the --seed of that training run"})
    unlabeled: bool = field(default=False, metadata={"help": "ignore labels: fit against the teacher's predictions"})
    no_calibration: bool = field(default=False, metadata={"help": "no temperatures (the paper's exits); only store the curve"})
    batch_size: int = field(default=64, metadata={"help": "rows per batch"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
    json: bool = field(default=False, metadata={"help": "print one JSON object"})


def print_result(result) -> None:
    """The temperatures, each layer's ECE before and after, and the curve at a few targets."""
    temps = result.temperatures or [None] * len(result.ece_before)
    print("layer  temperature  ECE before  ECE after")
    for i, (t, b, a) in enumerate(zip(temps, result.ece_before, result.ece_after), 1):
        print(f"{i:>5}  {'-' if t is None else f'{t:.3f}':>11}  {100 * b:>9.2f}  {100 * a:>9.2f}")
    c = result.curve
    print(f"full model {c.metric}: {100 * c.full_accuracy:.2f}%")
    for target in (2.0, 3.0, 4.0, 5.0):
        p = c.for_speedup(target)
        print(f"target {target:g}x -> speed {p.speed:g}: {p.speedup:.2f}x, {c.metric} {100 * p.accuracy:.2f}%")


def run(opts: CalibrateOptions, cols: DataColumns) -> int:
    import torch

    from ..calibrate import calibrate, select_rows, write_calibration
    from ..data import load_dataset
    from ..model import FastBert

    if opts.threads:
        torch.set_num_threads(opts.threads)
    model = FastBert.from_pretrained(opts.model)
    data = load_dataset(opts.data, unlabeled=opts.unlabeled, **cols.kwargs())
    cal, rest = select_rows(data, opts.fraction, opts.seed, opts.holdout_fraction, opts.holdout_seed)
    info = {**cal.info(opts.data), "unseen_rows": rest.rows}
    result = calibrate(model, cal.data, fit=not opts.no_calibration, data_info=info, batch_size=opts.batch_size)
    write_calibration(model, opts.model, command=command_line("calibrate", opts, cols))
    if opts.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"calibrated on {len(cal.rows)} rows of {opts.data} ({cal.how}); {len(rest.rows)} left unseen")
        print_result(result)
        print(f"wrote {Path(opts.model) / 'config.json'} and {Path(opts.model) / model.config.calibration_curve}")
    return 0


def register(subparsers) -> None:
    add_command(subparsers, "calibrate", run, CalibrateOptions, DataColumns,
                help="fit per-layer temperatures and store the speed -> speedup curve")
