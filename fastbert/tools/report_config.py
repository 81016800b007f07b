"""What `python -m fastbert report` reports on: `ReportConfig`, whose fields are also the command's
options (`fastbert/commands/report.py`). Light: no torch, so the command line builds fast."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReportConfig:
    """What `build_report` reports on; its fields are also `python -m fastbert report`'s options."""

    model: str = field(metadata={"help": "a saved FastBERT model directory"})
    data: str = field(metadata={"help": "a labeled data file"})
    out: str = field(metadata={"help": "the .md file; figures go beside it"})
    baseline: list[str] | None = field(default=None, metadata={
        "action": "append", "help": "a static baseline model directory (repeatable)"})
    ablation: str | None = field(default=None, metadata={"help": "a model trained with --stages joint (no self-distillation)"})
    previous: str | None = field(default=None, metadata={
        "help": "a previous report's JSON: its static-baseline (and ablation) rows are kept, marked as not re-measured, "
                "when no --baseline (--ablation) is given"})
    compare: list[str] | None = field(default=None, metadata={
        "action": "append", "help": "another model directory on the same data (e.g. a deeper backbone): its rows "
                                    "beside this model's and its accuracy at their FLOPs (repeatable)"})
    timing: bool = field(default=True, metadata={"help": "skip the CPU timing columns"})
    png: bool = field(default=True, metadata={"help": "only the HTML figures"})
    dev_fraction: float = field(default=0.0, metadata={
        "help": "evaluate on the part of --data that `train --dev-fraction` held out"})
    seed: int = field(default=0, metadata={"help": "the seed of that split"})
    calibrated: bool = field(default=True, metadata={
        "flag": "--no-calibration", "help": "ignore the model's temperatures (the paper's exits)"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0: torch's default)"})
