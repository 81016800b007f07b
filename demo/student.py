"""The distilled student beside its FastBERT teacher, for the app's "Distilled student" tab.

Read, in order, from a student model directory among the app's models (its
`distill_summary.json`, written by `python -m fastbert distill --out/--save-student`), or else
from the report's per-run results (`assets/reports/universal_kd_runs.json`, written by
`--report`); the report's table is shown whenever that file exists. Both may be partial (a
report still running, an older format): missing rows, runs and fields are left out, never an
error. `find_student` returns None when there is nothing to show.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from fastbert.tools.seeds import mean_matrix, seed_stats
from fastbert.training.distill_options import reading_label
from fastbert.training.distill_study import run_tau
from fastbert.training.kd import SUMMARY_FILE, load_student_summary
from fastbert.training.student_scores import METHOD_NAMES, REPORT_ROWS

from .models import ROOT

log = logging.getLogger(__name__)
DEFAULT_REPORT = ROOT / "assets" / "reports" / "universal_kd_runs.json"
READINGS = {"logits": "f = the pseudo-classifiers' logits W h, as the paper's Sim_Univ is written",
            "probs": "f = the pseudo-classifiers' probabilities softmax(W h)"}


def reading_text(label: str) -> str:
    """What a reading label ('logits', 'logits, τ=0.333', 'probs') means, in words."""
    space, _, tau = label.partition(", ")
    return READINGS.get(space, space) + (f", λ = softmax over the dot products divided by {tau}" if tau else "")


@dataclass
class Row:
    """One model at one setting, scored on the dev set (accuracy: mean over `seeds` runs)."""

    model: str
    setting: str
    accuracy: float
    flops_per_sample: float | None = None
    params: int | None = None
    accuracy_std: float | None = None  # sample std over seeds (None: one run)
    seeds: int = 1


@dataclass
class Heatmap:
    """lambdas[j][i]: attention of student layer j on teacher layer i (rows sum to 1)."""

    title: str
    lambdas: list[list[float]]
    student_layers: list[str]
    teacher_layers: list[str]


@dataclass
class StudentView:
    """What the tab shows: the student and its teacher side by side, the report's table, and λ."""

    source: str  # where the numbers come from (a path)
    method: str  # e.g. "Universal-KD IL"
    description: str  # e.g. "BERT-style student, 2 layers: S1 (=T1), S2 (=T2)"
    teacher: str
    data: str
    student: Row
    teacher_row: Row | None
    comparison: list[Row] = field(default_factory=list)  # teacher and student with the exit rule
    report: list[Row] = field(default_factory=list)  # the report's rows, mean ± std over seeds
    heatmaps: list[Heatmap] = field(default_factory=list)
    model_name: str | None = None  # the student's name in the model picker
    notes: str = ""


# ----- tolerant reading ---------------------------------------------------------------------
def _num(d, key) -> float | None:
    v = d.get(key) if isinstance(d, dict) else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int(d, key) -> int | None:
    v = _num(d, key)
    return None if v is None else int(v)


def _matrix(value) -> list[list[float]] | None:
    """A non-empty rectangular matrix of numbers, or None."""
    if not isinstance(value, list) or not value or not all(isinstance(r, list) and r for r in value):
        return None
    if len({len(r) for r in value}) != 1 or not all(isinstance(v, (int, float)) for r in value for v in r):
        return None
    return [[float(v) for v in r] for r in value]




def read_report(path: str | Path | None) -> dict | None:
    """The report's per-run JSON, or None when it is missing or unreadable."""
    if path is None or not Path(path).is_file():
        return None
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        log.warning("cannot read %s: %s", path, err)
        return None
    return data if isinstance(data, dict) else None


SPACE_ORDER = ("logits", "probs")


def run_space(run: dict) -> str:
    """The Universal-KD reading a run was trained in ("" for labels only and vanilla KD, whose
    training has none), with its λ temperature when not 1 ('logits, τ=0.333'); runs saved before
    the logits reading existed used probabilities, and runs without a τ used 1."""
    if not str(run.get("method", "")).startswith("ukd-"):
        return ""
    space = run.get("space", "probs")
    return reading_label(space if isinstance(space, str) else "probs", run_tau(run))


def runs_by_row(report: dict) -> dict[tuple[str, str, str], list[dict]]:
    """The report's runs grouped by (student, method, reading), in the report's row order; runs
    without a student, a method or an accuracy are skipped."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for run in report.get("runs") or []:
        if (isinstance(run, dict) and isinstance(run.get("student"), str) and isinstance(run.get("method"), str)
                and _num(run, "accuracy") is not None):
            groups.setdefault((run["student"], run["method"], run_space(run)), []).append(run)
    order = {row: k for k, row in enumerate(REPORT_ROWS)}

    def rank(key):  # logits, its τ rows (by label), then probs
        base = key[2].partition(",")[0]
        space = SPACE_ORDER.index(base) if base in SPACE_ORDER else len(SPACE_ORDER)
        return order.get(key[:2], len(order)), space, key[2] != base, key[2]

    return dict(sorted(groups.items(), key=lambda kv: rank(kv[0])))


def method_name(method: str, space: str = "") -> str:
    return METHOD_NAMES.get(method, method) + (f" ({space})" if space else "")


def _student_kind(kind: str) -> str:
    return {"bert": "BERT-style", "bilstm": "BiLSTM", "gated-cnn": "gated CNN"}.get(kind, kind)


def _row_of_runs(kind: str, method: str, space: str, runs: list[dict]) -> Row:
    acc = [_num(r, "accuracy") for r in runs]
    stats = seed_stats(acc)
    return Row(f"{_student_kind(kind)} student", method_name(method, space), stats.mean,
               _num(runs[0], "flops_per_sample"), _int(runs[0], "params"), stats.std, stats.n)


def report_rows(report: dict) -> list[Row]:
    return [_row_of_runs(kind, method, space, runs) for (kind, method, space), runs in runs_by_row(report).items()]


def report_heatmaps(report: dict, teacher_layers: list[str] | None = None, space: str | None = None) -> list[Heatmap]:
    """λ of each Universal-KD row (of reading `space` only, when given), mean over its seeds
    (runs whose λ is missing or of another shape than the row's first are left out)."""
    out = []
    for (kind, method, row_space), runs in runs_by_row(report).items():
        if not method.startswith("ukd-") or (space is not None and row_space != space):
            continue
        mats = [m for m in (_matrix(r.get("lambdas")) for r in runs) if m is not None]
        mats = [m for m in mats if mats and (len(m), len(m[0])) == (len(mats[0]), len(mats[0][0]))]
        if not mats:
            continue
        rows, cols = len(mats[0]), len(mats[0][0])
        names = [f"S{j + 1}" for j in range(rows)] if kind == "bert" else [f"{kind} {j + 1}" for j in range(rows)]
        tnames = teacher_layers if teacher_layers and len(teacher_layers) == cols else \
            [f"T{i + 1}" for i in range(cols)]
        seeds = f"mean over {len(mats)} seeds" if len(mats) > 1 else "1 seed"
        out.append(Heatmap(f"{kind} / {method_name(method)} ({row_space} reading, {seeds})", mean_matrix(mats),
                           names, tnames))
    return out


def teacher_rows(teacher_dev: dict | None, name: str, depth: int | None = None) -> tuple[Row | None, list[Row]]:
    """The teacher at full depth, and with FastBERT's exit rule at the speeds it was scored at
    (plus the teacher cut after `depth` layers, when the scores have it)."""
    acc = _num(teacher_dev, "accuracy")
    if acc is None:
        return None, []
    layers = teacher_dev.get("layer_accuracy")
    label = f"teacher {name}" + (f" ({len(layers)} layers)" if isinstance(layers, list) else "")
    full = Row(label, "full depth", acc, _num(teacher_dev, "flops_per_sample"), _int(teacher_dev, "params"))
    extra = [Row(label, _exit_setting(e), _num(e, "accuracy"), _num(e, "flops_per_sample"), full.params)
             for e in teacher_dev.get("early_exit") or [] if _num(e, "accuracy") is not None]
    extra += [Row(label, f"cut after layer {t['layers']}, its own classifier (no training)", _num(t, "accuracy"),
                  _num(t, "flops_per_sample"), _int(t, "params"))
              for t in teacher_dev.get("truncated") or []
              if isinstance(t, dict) and t.get("layers") == depth and _num(t, "accuracy") is not None]
    return full, extra


def _exit_setting(e: dict) -> str:
    exit_layer = _num(e, "mean_exit_layer")
    return (f"FastBERT exit rule, speed {_num(e, 'speed') or 0:g}"
            + (f" (mean exit layer {exit_layer:.2f})" if exit_layer is not None else ""))


# ----- the two sources ----------------------------------------------------------------------
def from_student_dir(directory: str | Path, name: str | None = None, report: dict | None = None) -> StudentView | None:
    """The view of a distilled student model directory, or None when it has no readable summary."""
    directory = Path(directory)
    try:
        s = load_student_summary(directory)
    except (OSError, ValueError, TypeError) as err:
        log.warning("cannot read %s: %s", directory / SUMMARY_FILE, err)
        return None
    if s is None:
        return None
    record = {}
    if (directory / "training.json").is_file():
        try:
            record = json.loads((directory / "training.json").read_text())
        except (OSError, ValueError):
            record = {}
    teacher_dev = record.get("teacher_dev") if isinstance(record, dict) else None
    if not isinstance(teacher_dev, dict) or _num(teacher_dev, "accuracy") is None:
        teacher_dev = {"accuracy": s.teacher_accuracy, "flops_per_sample": s.teacher_flops_per_sample,
                       "params": s.teacher_params}
    teacher = Path(s.teacher).name or s.teacher
    depth = len(s.student_layers)
    full, teacher_extra = teacher_rows(teacher_dev, teacher, depth)
    label = f"student {name or directory.name}"
    student = Row(label, "full depth", s.accuracy, s.flops_per_sample, s.params)
    comparison = teacher_extra + [Row(label, _exit_setting(e), _num(e, "accuracy"), _num(e, "flops_per_sample"),
                                      s.params) for e in s.early_exit if _num(e, "accuracy") is not None]
    heatmaps = []
    reading = reading_label(s.space, s.tau)
    lam = _matrix(s.lambdas)
    if lam is not None:
        heatmaps.append(Heatmap(f"{s.student} / {method_name(s.method)} (this student, {reading} reading, dev)", lam,
                                s.student_layers if len(s.student_layers) == len(lam) else
                                [f"S{j + 1}" for j in range(len(lam))],
                                s.teacher_layers if len(s.teacher_layers) == len(lam[0]) else
                                [f"T{i + 1}" for i in range(len(lam[0]))]))
    if report and s.method.startswith("ukd-"):  # the report's rows in the same reading beside it
        heatmaps += report_heatmaps(report, s.teacher_layers, reading)
    notes = s.notes + (f" · λ: the {reading} reading of Universal-KD ({reading_text(reading)})"
                       if s.method.startswith("ukd-") else "")
    return StudentView(str(directory), method_name(s.method),
                       f"{_student_kind(s.student)} student, {depth} layers: {', '.join(s.student_layers)}",
                       teacher, s.data, student, full, comparison, report_rows(report) if report else [],
                       heatmaps, name or directory.name, notes)


def from_report(report: dict, source: str = "") -> StudentView | None:
    """The view of the report alone: its BERT-style Universal-KD IL row (else another Universal-KD
    row, else its first row) next to the teacher; None when it has no usable run."""
    groups = runs_by_row(report)
    if not groups:
        return None
    ukd = [k for k in groups if k[1].startswith("ukd-")]
    preferred = [k for k in (("bert", "ukd-il", "logits"), ("bert", "ukd-il", "probs")) if k in groups]
    kind, method, space = (preferred or ukd or list(groups))[0]
    student = _row_of_runs(kind, method, space, groups[(kind, method, space)])
    depth = len(groups[(kind, method, space)][0].get("layer_accuracy") or []) or None
    teacher = Path(str(report.get("teacher", "teacher"))).name
    full, teacher_extra = teacher_rows(report.get("teacher_dev"), teacher, depth if kind == "bert" else None)
    layers = report["teacher_dev"].get("layer_accuracy") if full else None
    tnames = [f"T{i + 1}" for i in range(len(layers))] if isinstance(layers, list) else None
    runs = ", ".join(f"{len(r)} " + "/".join(x for x in key if x) for key, r in groups.items())
    reading = f" · λ: the {space} reading of Universal-KD ({reading_text(space)})" if space else ""
    return StudentView(source, method_name(method, space),
                       f"{_student_kind(kind)} student" + (f", {depth} layers" if depth else ""), teacher,
                       str(report.get("data", "")), student, full, teacher_extra, report_rows(report),
                       report_heatmaps(report, tnames, space or None), None, f"runs in the report: {runs}{reading}")


def find_student(model_dirs: dict[str, Path], report_path: str | Path | None = DEFAULT_REPORT) -> StudentView | None:
    """The student to show: the first model directory with a distillation summary (a
    Universal-KD one first), else the report; None when neither is there."""
    report = read_report(report_path)
    students = [(name, Path(p)) for name, p in model_dirs.items()
                if isinstance(p, (str, Path)) and (Path(p) / SUMMARY_FILE).is_file()]
    students.sort(key=lambda np: 0 if '"ukd-' in _peek(np[1]) else 1)
    for name, directory in students:
        try:
            view = from_student_dir(directory, name, report)
        except Exception:  # a malformed summary must not stop the app
            log.exception("cannot show the student in %s", directory)
            view = None
        if view is not None:
            return view
    try:
        return from_report(report, str(report_path)) if report else None
    except Exception:
        log.exception("cannot show the distillation report %s", report_path)
        return None


def _peek(directory: Path) -> str:
    try:
        return (directory / SUMMARY_FILE).read_text()
    except OSError:
        return ""
