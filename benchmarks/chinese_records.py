"""The records behind assets/reports/chinese.md and their rendering (no model, no torch).

A dataset section is measured once (benchmarks/chinese_report.py) into a `SectionRecord`, stored
in chinese.json, and rendered from that record, so that a later run can re-render a section whose
models are gone and add or replace another. The paper's figures are read from its Table 2 as a
tsv (`load_paper_table`), never typed in here.
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path

NOT_RECORDED = "not recorded"
PAPER_SPEEDS = (0.1, 0.5, 0.8)
PAPER_STATIC_LAYERS = (1, 3, 6)
PAPER_MODELS = ("BERT", *(f"FastBERT (speed={s:g})" for s in PAPER_SPEEDS),
                *(f"DistilBERT ({n} layers)" for n in PAPER_STATIC_LAYERS))


class PaperTableError(ValueError):
    """The paper's table is missing or lacks a cell; the message is one line."""


@dataclass(frozen=True)
class PaperCell:
    accuracy: float  # %
    flops_millions: float
    speedup: float


def load_paper_table(path: str | Path) -> dict[tuple[str, str], PaperCell]:
    """The paper's Table 2 as {(dataset, model): PaperCell}, from a tsv with the columns
    dataset, model, accuracy, flops_millions, speedup (../shared/paper/fastbert_table2.tsv).

    >>> load_paper_table("../shared/paper/fastbert_table2.tsv")[("ChnSentiCorp", "BERT")].accuracy  # doctest: +SKIP
    95.25
    """
    path = Path(path)
    if not path.is_file():
        raise PaperTableError(f"--paper-table: {path}: no such file (the paper's Table 2 as a tsv, "
                              "see ../shared/paper/README.md)")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    need = {"dataset", "model", "accuracy", "flops_millions", "speedup"}
    if not rows or not need <= set(rows[0]):
        raise PaperTableError(f"--paper-table: {path}: expected the columns {sorted(need)}")
    try:
        return {(r["dataset"], r["model"]): PaperCell(float(r["accuracy"]), float(r["flops_millions"]),
                                                      float(r["speedup"])) for r in rows}
    except ValueError as e:
        raise PaperTableError(f"--paper-table: {path}: {e}") from None


def paper_cell(table: dict[tuple[str, str], PaperCell], dataset: str, model: str) -> PaperCell:
    try:
        return table[(dataset, model)]
    except KeyError:
        raise PaperTableError(f"the paper table has no row ({dataset!r}, {model!r})") from None


def paper_row_label(model: str) -> str:
    """'FastBERT (speed=0.1)' -> 'FastBERT speed 0.1', 'DistilBERT (1 layers)' -> 'DistilBERT 1 layer'."""
    if model.startswith("DistilBERT"):
        n = int(model.split("(")[1].split()[0])
        return f"DistilBERT {n} layer{'s' * (n > 1)}"
    return model.replace(" (speed=", " speed ").rstrip(")")


@dataclass
class Baseline:
    """A static baseline: the backbone cut to its first `layers` layers and fine-tuned."""
    model: str
    layers: int
    command: str | None = None


@dataclass
class ExitFigures:
    """The paper's Figure 6 figures at one speed: mean exit layer (1-based) and the share of
    samples leaving at layer 1."""
    speed: float
    mean_exit_layer: float
    share_layer1: float
    histogram: list[int] = field(default_factory=list)  # samples leaving at layer 1..L


@dataclass
class SectionRecord:
    """Everything one dataset section prints. `table` rows are those of `table_rows` plus the
    paper model each matches (`paper_model`, a row name of the paper's table, or None)."""
    key: str  # the section's key: a dataset key, or DATASET-SUFFIX for another model on it
    dataset: str  # the dataset's name in the paper's table
    title: str
    dev_rows: int
    model: str
    layers: int
    backbone: str
    train_path: str | None
    train_rows: int | None
    train_note: str  # e.g. ", the rest of the file after the dev split"
    commands: list[str] | None  # the commands that made the model
    baselines: list[Baseline]
    table: list[dict]
    within_1_point: dict
    exits: list[ExitFigures] | None
    compared: list[dict] = field(default_factory=list)
    calibrated: bool | None = None  # exits decided on the model's temperature-scaled probabilities
    measured_by: list[dict] = field(default_factory=list)  # [{"what": ..., "command": ...}] that made it
    note: str = ""  # printed under the title (e.g. what a renamed, kept section was)

    @classmethod
    def from_dict(cls, d: dict) -> "SectionRecord":
        d = dict(d)
        d["baselines"] = [Baseline(**b) for b in d["baselines"]]
        d["exits"] = None if d.get("exits") is None else [ExitFigures(**e) for e in d["exits"]]
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _table(rec: SectionRecord, paper: dict) -> list[str]:
    lines = ["| row | accuracy | FLOPs / sample | FLOPs speedup | paper row (BERT-base) | paper accuracy | paper speedup |",
             "|---|---:|---:|---:|---|---:|---:|"]
    for row in rec.table:
        pm = row.get("paper_model")
        cell = paper_cell(paper, rec.dataset, pm) if pm else None
        lines.append(f"| {row['name']} | {_pct(row['accuracy'])} | {row['flops'] / 1e6:.1f}M | {row['speedup']:.2f}x | "
                     + (f"{paper_row_label(pm)} | {cell.accuracy:.2f}% | {cell.speedup:.2f}x |" if cell else "– | – | – |"))
    unmatched = [m for m in PAPER_MODELS if m not in {r.get("paper_model") for r in rec.table}]
    if unmatched:
        lines += ["", "Paper rows with no row here: " + "; ".join(
            f"{paper_row_label(m)} {paper_cell(paper, rec.dataset, m).accuracy:.2f}%, "
            f"{paper_cell(paper, rec.dataset, m).speedup:.2f}x" for m in unmatched) + "."]
    return lines


def _exits_line(rec: SectionRecord) -> str:
    head = {True: "Exit decisions on the model's calibrated probabilities (its `temperatures`). ",
            False: "Exit decisions on the classifiers' uncalibrated probabilities, as in the paper. ",
            None: ""}[rec.calibrated] + "Exit layers (the paper's Figure 6): "
    if rec.exits is None:
        return head + f"{NOT_RECORDED} (this section was measured before the report kept them)."
    return head + "; ".join(f"speed {e.speed:g}: mean exit layer {e.mean_exit_layer:.2f} of {rec.layers}, "
                            f"{100 * e.share_layer1:.1f}% of samples leave at layer 1" for e in rec.exits) + "."


def render_section(rec: SectionRecord, paper: dict[tuple[str, str], PaperCell]) -> str:
    """The markdown of one dataset section, from its record and the paper's table."""
    w = rec.within_1_point
    lines = [f"### {rec.title}: {rec.dev_rows} dev rows", "", *([rec.note, ""] if rec.note else []), *_table(rec, paper), "",
             "Largest FLOPs speedup within 1 point of the full model (speeds 0 to 1 in steps of 0.05): "
             + (f"{w['speedup']:.2f}x at speed {w['speed']:g} ({_pct(w['accuracy'])})."
                if w["speed"] is not None else "none."), "", _exits_line(rec), ""]
    rows = NOT_RECORDED if rec.train_rows is None else f"{rec.train_rows:,} rows"
    lines += [f"Model when measured: `{rec.model}` ({rec.layers} layers, backbone `{rec.backbone}`), trained on "
              f"`{rec.train_path or NOT_RECORDED}` ({rows}{rec.train_note}); made by:", ""]
    lines += [f"    {c}" for c in rec.commands] if rec.commands else [f"    ({NOT_RECORDED})"]
    lines += [f"    {b.command or f'({NOT_RECORDED}: {b.model})'}" for b in rec.baselines]
    if rec.compared:
        lines += ["", "Compared (same dev set; speedup against the full model above):", "",
                  "| model | accuracy | FLOPs / sample | FLOPs speedup |", "|---|---:|---:|---:|"]
        lines += [f"| `{c['model']}` ({c['layers']} layer{'s' * (c['layers'] > 1)}, backbone `{c['backbone']}`) | "
                  f"{_pct(c['accuracy'])} | {c['flops'] / 1e6:.1f}M | {c['speedup']:.2f}x |" for c in rec.compared]
        for c in rec.compared:  # older records kept only a model's last command
            lines += ["", f"`{c['model']}` was made by:", ""]
            lines += [f"    {cmd}" for cmd in c.get("commands") or [c.get("command") or f"({NOT_RECORDED})"]]
    return "\n".join(lines) + "\n"


def render_backbone(rec: dict) -> str:
    """The paragraph on one backbone, from the fields kept of its pretrain.json."""
    cfg = rec["config"]
    unigram = rec.get("eval_unigram_loss")
    start = (f"continued from `{cfg['init']}` with `pretrain --init` (a new optimiser and schedule)"
             if cfg.get("init") else "pre-trained from scratch here with `python -m fastbert pretrain`")
    segments = rec.get("segments") or []
    return (f"Backbone `{Path(rec['record']).parent}`: BERT {start}: {cfg['layers']} layers, "
            f"hidden {cfg['hidden']}, {cfg['heads']} heads, FFN {cfg['ffn']}, character vocabulary of "
            f"{rec['vocab_size']:,} tokens, {rec['parameters']:,} parameters with the embeddings (Chinese BERT-base: "
            f"12 layers, hidden 768, about 102M). {rec['steps']:,} steps of {cfg['batch_size']} windows of at most "
            f"{cfg['max_length']} tokens ({rec['steps'] / rec['steps_per_epoch']:.2f} passes over "
            f"{rec['train_windows']:,} windows). Held-out masked-LM loss: {rec['eval_loss_initial']:.3f} at "
            f"{'the start' if cfg.get('init') else 'initialisation'}, {rec['eval_loss']:.3f} at the end"
            + (f"; a context-free unigram model scores {unigram:.3f} (the plateau), so the encoder "
               f"{'uses' if rec['eval_loss'] < unigram - 0.1 else 'does not yet use'} the context "
               f"({unigram - rec['eval_loss']:.2f} nats below it)." if unigram is not None else ".")
            + "\nCorpus: " + ", ".join(f"`{c['path']}` ({c['used']:,} texts)" for c in rec["corpus"]) + "; "
            f"texts of {', '.join(f'`{p}`' for p in cfg['exclude'])} removed"
            + (f"; of {', '.join(f'`{p}`' for p in cfg['hold_out'])} only the training part of the split "
               f"(the held-out {', '.join(f'{v:.0%}' for v in cfg['hold_out'].values())} is LCQMC's dev set here)"
               if cfg["hold_out"] else "") + ". Labels are never read.\n"
            + ("Run in segments (checkpoint, then `--resume`): "
               + "; ".join(f"steps {g['start_step']}-{g['end_step']} on a schedule for {g['max_steps']} steps"
                           for g in segments) + ".\n" if len(segments) > 1 else "")
            + f"Command (the last segment): `{rec.get('command') or NOT_RECORDED}`\n")


def _fast_row(rec: SectionRecord, speed: float) -> dict | None:
    return next((r for r in rec.table if r.get("paper_model") == f"FastBERT (speed={speed:g})"), None)


# Issue 15's per-dataset checks: speed -> (least FLOPs speedup, most points lost; None: no limit).
ISSUE_CHECKS = {0.1: (2.0, 0.5), 0.5: (4.0, 2.0), 0.8: (5.0, None)}


def _check(full_pct: float, pct: float, speedup: float, need: float, lost: float | None) -> str:
    """One check on accuracies in percent: `speedup` at least `need`, at most `lost` points below `full_pct`."""
    drop = round(full_pct - pct, 6)  # 6 of 1,200 rows is 0.5 points, not 0.5000001
    return "met" if speedup >= need and (lost is None or drop <= lost) else "**missed**"


def render_summary(sections: list[SectionRecord], paper: dict[tuple[str, str], PaperCell], layers: int = 12) -> str:
    """One line per `layers`-deep section: the full model and FastBERT at the paper's speeds
    (accuracy, FLOPs speedup), ours beside the paper's, the Figure 6 figures at speed 0.8, and
    the issue's per-dataset checks (ISSUE_CHECKS), on our rows and on the paper's own (points
    against the paper's BERT-base), so a check the paper's model misses too is visible. Sections
    without a row for every checked speed are left out; each line is labelled by its section's
    title (which says the depth, the split and, for a second section of a dataset, what differs)."""
    recs = [r for r in sections if r.layers == layers and all(_fast_row(r, s) for s in ISSUE_CHECKS)]
    if not recs:
        return ""
    rules = "; ".join(f"speed {s:g} at least {need:g}x" + (f" for at most {lost:g} points lost" if lost is not None else "")
                      for s, (need, lost) in ISSUE_CHECKS.items())
    head = " | ".join(f"speed {s:g}: ours / paper" for s in ISSUE_CHECKS)
    lines = [f"## Summary: every dataset at {layers} layers", "",
             f"Accuracy and FLOPs speedup, ours / the paper's (Table 2). Checks: {rules} (points against our own "
             "full model); the last column applies the same checks to the paper's rows (points against its BERT-base). "
             "Exit figures at speed 0.8 (the paper's Figure 6): mean exit layer, share leaving at layer 1.",
             "", f"| dataset | full model: ours / paper | {head} | mean exit, at layer 1 (0.8) | checks "
             + " / ".join(f"{s:g}" for s in ISSUE_CHECKS) + " | the paper's rows, same checks |",
             "|---|---|" + "---|" * len(ISSUE_CHECKS) + "---|---|---|"]
    for rec in recs:
        full = next(r for r in rec.table if r.get("paper_model") == "BERT")
        base = paper_cell(paper, rec.dataset, "BERT")
        cells, checks, paper_checks = [], [], []
        for s, (need, lost) in ISSUE_CHECKS.items():
            row = _fast_row(rec, s)
            cell = paper_cell(paper, rec.dataset, row["paper_model"])
            cells.append(f"{_pct(row['accuracy'])} at {row['speedup']:.2f}x / {cell.accuracy:.2f}% at {cell.speedup:.2f}x")
            checks.append(_check(100 * full["accuracy"], 100 * row["accuracy"], row["speedup"], need, lost))
            paper_checks.append(_check(base.accuracy, cell.accuracy, cell.speedup, need, lost))
        ex = next((e for e in rec.exits or [] if e.speed == 0.8), None)
        exits = f"{ex.mean_exit_layer:.2f}, {100 * ex.share_layer1:.1f}%" if ex else NOT_RECORDED
        lines.append(f"| {rec.title} | {_pct(full['accuracy'])} / {base.accuracy:.2f}% | " + " | ".join(cells)
                     + f" | {exits} | {' / '.join(checks)} | {' / '.join(paper_checks)} |")
    return "\n".join(lines) + "\n"
