"""Another model on the report's data, beside the report's model (`python -m fastbert report
--compare DIR`): its Table 2 rows, and its accuracy at the FLOPs of each of the report's rows.

Made for backbones of different depth on the same data (a 6-layer and a 12-layer one, which may
also differ in tokenizer and pre-training): the deeper model's speedups reach further but it
starts from more FLOPs. "Equal FLOPs" picks, for a budget, the
compared model's lowest speed on a fine grid whose mean FLOPs per sample fit the budget (the most
FLOPs it may spend): a rule on FLOPs alone, so no accuracy is chosen on the data it is scored on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..evaluate import EvalResult, sweep
from ..speedup import speedup

FINE_SPEEDS = [round(0.01 * i, 2) for i in range(101)]


@dataclass
class CompareRow:
    """One row of a compared model: accuracy and FLOPs, its speedup against its own full model and
    against the report's full model (FLOPs speedup; > 1 means fewer FLOPs than that model)."""

    name: str
    speed: float | None  # None: the full model (teacher only)
    accuracy: float
    flops: float
    speedup_own: float
    speedup_vs_report: float
    mean_exit_layer: float
    ms_b1: float | None = None
    ms_b32: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EqualFlopsRow:
    """At the FLOPs of one of the report's rows (`budget`): the report model's accuracy there and
    the compared model's at its lowest fitting speed (None when no speed fits the budget)."""

    budget_row: str
    budget_flops: float
    report_accuracy: float
    speed: float | None
    accuracy: float | None
    flops: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ComparedModel:
    """One --compare model: where it is, how it was made and scored, and its rows and curve."""

    directory: str
    calibrated: bool
    commands: list[str]
    table: list[CompareRow]
    equal_flops: list[EqualFlopsRow]
    curve: list[EvalResult]  # the FINE_SPEEDS grid

    def to_dict(self) -> dict:
        return {"directory": self.directory, "calibrated": self.calibrated, "commands": self.commands,
                "table": [r.to_dict() for r in self.table], "equal_flops": [r.to_dict() for r in self.equal_flops],
                "curve": [r.to_dict() for r in self.curve]}


def compare_rows(name: str, other, outputs, report_full_flops: float, speeds) -> list[CompareRow]:
    """The compared model's full row (teacher only: its plain-run FLOPs) and a row per speed."""
    full = sweep(other, outputs, [0.0])[0]
    rows = [CompareRow(f"{name}: full model ({other.num_layers} layers, teacher only)", None, full.accuracy,
                       full.full_flops_per_sample, 1.0, speedup(report_full_flops, full.full_flops_per_sample),
                       float(other.num_layers))]
    for r in sweep(other, outputs, speeds):
        rows.append(CompareRow(f"{name}: FastBERT speed={r.speed:g}", r.speed, r.accuracy, r.flops_per_sample,
                               speedup(full.full_flops_per_sample, r.flops_per_sample),
                               speedup(report_full_flops, r.flops_per_sample), r.mean_exit_layer))
    return rows


def at_budget(curve: list[EvalResult], budget: float) -> EvalResult | None:
    """The lowest speed of `curve` (sorted by speed) whose FLOPs per sample fit `budget`."""
    return next((r for r in sorted(curve, key=lambda r: r.speed) if r.flops_per_sample <= budget), None)


def equal_flops_rows(report_rows: list[dict], other_curve: list[EvalResult]) -> list[EqualFlopsRow]:
    """For each of the report's Table 2 rows, the compared model at that row's FLOPs."""
    out = []
    for row in report_rows:
        hit = at_budget(other_curve, row["flops"])
        out.append(EqualFlopsRow(row["name"], row["flops"], row["accuracy"], None if hit is None else hit.speed,
                                 None if hit is None else hit.accuracy, None if hit is None else hit.flops_per_sample))
    return out


def ms_cell(ms: float | None) -> str:
    """A CPU-time cell of the report's tables: ms with two decimals, a dash when not timed."""
    return "–" if ms is None else f"{ms:.2f}"


def markdown_compare(rows: list[CompareRow]) -> str:
    out = ["| model | accuracy | mean exit layer | FLOPs / sample | FLOPs speedup (own full model) "
           "| FLOPs speedup (this report's full model) | CPU ms / sample, batch 1 | CPU ms / sample, batch 32 |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r.name} | {100 * r.accuracy:.2f}% | {r.mean_exit_layer:.2f} | {r.flops / 1e6:.1f}M "
                   f"| {r.speedup_own:.2f}x | {r.speedup_vs_report:.2f}x | {ms_cell(r.ms_b1)} | {ms_cell(r.ms_b32)} |")
    return "\n".join(out)


def markdown_equal_flops(name: str, rows: list[EqualFlopsRow]) -> str:
    out = [f"| at the FLOPs of | FLOPs / sample | that row's accuracy | {name} | its speed | its FLOPs / sample "
           f"| {name} minus that row (points) |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.accuracy is None:
            out.append(f"| {r.budget_row} | {r.budget_flops / 1e6:.1f}M | {100 * r.report_accuracy:.2f}% "
                       "| no speed fits | – | – | – |")
            continue
        out.append(f"| {r.budget_row} | {r.budget_flops / 1e6:.1f}M | {100 * r.report_accuracy:.2f}% "
                   f"| {100 * r.accuracy:.2f}% | {r.speed:g} | {r.flops / 1e6:.1f}M "
                   f"| {100 * (r.accuracy - r.report_accuracy):+.2f} |")
    return "\n".join(out)
