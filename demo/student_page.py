"""The words and tables of the "Distilled student" tab; the numbers come from `demo.student`."""
from __future__ import annotations

import html
from pathlib import Path

from fastbert.speedup import speedup

from .models import ROOT
from .student import Row, StudentView


def shown_source(source: str) -> str:
    """Where the numbers come from, without the server's own directories: relative to the
    project when inside it, else the file or directory name.

    >>> shown_source(str(ROOT / "assets" / "reports" / "universal_kd_runs.json"))
    'assets/reports/universal_kd_runs.json'
    """
    path = Path(source)
    if not path.is_absolute():
        return source
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.name

INTRO = """\
### A distilled student next to the FastBERT model
A smaller BERT-style **student** (a few of the teacher's layers, copied, then trained) learns
from the FastBERT model with **Universal-KD** (Wu et al., EMNLP 2021): each student layer's
pseudo-classifier is pulled towards a mix of the teacher's per-layer classifiers, weighted by an
attention **λ** over the teacher's layers. Saved as a FastBERT model, the student keeps a
classifier after each of its layers, so it can exit early too. In the λ chart, a row of equal
values (1 / number of teacher layers) means that student layer learns from all teacher layers alike.
"""


def _flops(x: float | None) -> str:
    return "—" if x is None else f"{x / 1e6:,.1f} MFLOPs"


def _params(x: int | None) -> str:
    return "—" if x is None else f"{x / 1e6:.1f} M"


def _acc(row: Row) -> str:
    text = f"{row.accuracy:.2%}"
    if row.seeds > 1:
        std = f" ± {100 * row.accuracy_std:.2f}" if row.accuracy_std is not None else ""
        text += f"{std} ({row.seeds} seeds)"
    return text


def _card(key: str, value: str, sub: str) -> str:
    return (f'<div class="fb-card"><div class="fb-key">{key}</div><div class="fb-value">{value}</div>'
            f'<div class="fb-sub">{sub}</div></div>')


def _table(rows: list[Row], elem_id: str) -> str:
    head = "<tr><th>model</th><th>setting</th><th>dev accuracy</th><th>FLOPs / sample</th><th>parameters</th></tr>"
    body = "".join(f"<tr><td>{html.escape(r.model)}</td><td>{html.escape(r.setting)}</td><td>{_acc(r)}</td>"
                   f"<td>{_flops(r.flops_per_sample)}</td><td>{_params(r.params)}</td></tr>" for r in rows)
    return f'<table class="fb-table" id="{elem_id}">{head}{body}</table>'


def student_html(view: StudentView) -> str:
    """Cards (the student against the teacher), a table with the exit rule's speeds, the report's
    rows, and where it all comes from."""
    s, t = view.student, view.teacher_row
    fewer = (f" · {speedup(t.flops_per_sample, s.flops_per_sample):.1f}× fewer"
             if t and t.flops_per_sample and s.flops_per_sample else "")
    seeds = f"mean of {s.seeds} seeds" if s.seeds > 1 else ""
    cards = [
        _card("Student dev accuracy", f"{s.accuracy:.1%}",
              f"teacher: {t.accuracy:.1%}" + (f" · {seeds}" if seeds else "") if t else seeds),
        _card("FLOPs / sample", _flops(s.flops_per_sample),
              f"teacher: {_flops(t.flops_per_sample)}{fewer}" if t else ""),
        _card("Parameters", _params(s.params), f"teacher: {_params(t.params)}" if t else ""),
        _card("Trained with", html.escape(view.method), html.escape(view.description)),
    ]
    picker = (f" It is the model <b>{html.escape(view.model_name)}</b> in the model picker: choose it to see "
              "its own early exits." if view.model_name else "")
    parts = [f'<div class="fb-cards" id="student-cards">{"".join(cards)}</div>',
             f'<div class="fb-sub" style="margin-top:8px">Teacher: the FastBERT model '
             f'<b>{html.escape(view.teacher)}</b>. Data: {html.escape(view.data)}.{picker}</div>']
    compare = ([t] if t else []) + [r for r in view.comparison if r.model != s.model] + [s] + \
              [r for r in view.comparison if r.model == s.model]
    parts.append("<h4>Dev accuracy and cost</h4>" + _table(compare, "student-compare"))
    parts.append('<div class="fb-sub">FLOPs per sample: mean over the dev set. Full depth counts every layer '
                 "and the output classifier; with FastBERT's exit rule, every per-layer classifier that ran "
                 "is counted too.</div>")
    if view.report:
        parts.append("<h4>The distillation report (mean ± std over seeds)</h4>"
                     + _table(view.report, "student-report"))
    parts.append(f'<div class="fb-sub">Source: <code>{html.escape(shown_source(view.source))}</code>'
                 + (f" · {html.escape(view.notes)}" if view.notes else "") + "</div>")
    return "".join(parts)


CSS = """
.fb-table { border-collapse: collapse; font-size: 0.85rem; margin: 4px 0 6px 0; width: 100%; }
.fb-table th, .fb-table td { border-bottom: 1px solid var(--border-color-primary); padding: 4px 8px;
                             text-align: left; }
.fb-table th { color: var(--body-text-color-subdued); font-weight: 600; }
"""
