"""What each tab shows, as values for its components: HTML cards from `demo.views`, figures
from `demo.charts`. Plain functions of (model, run, speed), testable without a server."""
from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any

import gradio as gr

from fastbert.evaluate import luha_bins

from . import charts, teach
from .models import LoadedModel
from .student import StudentView
from .views import (BatchRun, BatchView, TextRun, TextView, batch_table, batch_view, layer_agreement,
                    layer_step, text_view)


# ----- formatting -------------------------------------------------------------------------
def fmt_flops(x: float) -> str:
    """>>> fmt_flops(2.5e9)
    '2.50 GFLOPs'"""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f} {unit}FLOPs"
    return f"{x:.0f} FLOPs"


def _card(key: str, value: str, sub: str = "", elem_id: str = "", accent: str = "") -> str:
    ident = f' id="{elem_id}"' if elem_id else ""
    style = f' style="border-top-color:{accent}"' if accent else ""
    return (f'<div class="fb-card"{style}><div class="fb-key">{key}</div>'
            f'<div class="fb-value"{ident}>{value}</div><div class="fb-sub">{sub}</div></div>')


def flops_meter(flops: float, full_flops: float, saved: float) -> str:
    """A bar: the share of the full model's FLOPs that was spent. Spending more than the full
    model (every sample ran every layer) is said as such, with the reason."""
    spent = max(0.0, min(1.0, 1.0 - saved))
    if saved >= 0:
        verdict = f"<b>{saved:.0%} saved</b>"
    else:
        verdict = (f'<b>{-saved:.0%} more than the full model</b><span class="fb-why">: every classifier '
                   "that ran is charged, and the full model runs only the last one</span>")
    return (f'<div class="fb-meter"><div class="fb-meter-label" id="fb-flops">FLOPs spent: <b>{fmt_flops(flops)}</b>'
            f' of {fmt_flops(full_flops)} for the full model · {verdict}</div>'
            f'<div class="fb-bar"><div class="fb-bar-fill" style="width:{100 * spent:.1f}%"></div></div></div>')


def latency_card(run: TextRun, device: str) -> str:
    """Medians of several interleaved runs of each side, their ranges, and a reason whenever the
    early exit is not the faster one (so the card never contradicts itself silently)."""
    fast, full = run.adaptive_median_ms, run.all_layers_median_ms
    n = len(run.adaptive_ms)
    sub = (f"early exit at speed {run.timed_speed:.2f} (layer {run.timed_exit_layer}), batch 1, {device}; "
           f"median of {n} runs, {min(run.adaptive_ms):.1f}–{max(run.adaptive_ms):.1f} ms<br>"
           f"all {run.num_layers} layers: <b>{full:.1f} ms</b> (median, {min(run.all_layers_ms):.1f}–"
           f"{max(run.all_layers_ms):.1f} ms)")
    if fast >= full:
        why = ("it ran every layer and every classifier, as the all-layers run does" if
               run.timed_exit_layer == run.num_layers else "the gap is within timing noise on a busy CPU")
        sub += f'<br><span class="fb-why">The early exit is not faster here: {why}.</span>'
    return _card("Measured latency", f"{fast:.1f} ms", sub, "fb-latency")


def text_result_html(run: TextRun, view: TextView, device: str) -> str:
    color = charts.class_colors(run.labels)[run.labels.index(view.label)]
    skipped = view.num_layers - view.exit_layer
    cards = [
        _card("Prediction", html.escape(view.label), f"confidence {view.confidence:.1%}", "fb-label", color),
        _card("Exit layer", f"{view.exit_layer} of {view.num_layers}",
              f"{skipped} layer{'s' if skipped != 1 else ''} skipped" if skipped else "ran every layer",
              "fb-exit"),
        _card("Speedup", f"{view.speedup:.2f}×", "full-model FLOPs / FLOPs spent", "fb-speedup"),
        latency_card(run, device),
    ]
    notes = []
    if abs(view.speed - run.timed_speed) > 1e-9:
        notes.append(f"Latency was measured when the text was classified, at speed {run.timed_speed:.2f} "
                     f"(exit at layer {run.timed_exit_layer}). The slider re-decides the exit from the layers "
                     "computed then, without running the model again; press <b>Classify</b> to time this speed.")
    if run.truncated:
        notes.append(f"<b>Text truncated:</b> it has {run.input_tokens} tokens and the model reads at most "
                     f"{run.max_length}, so only the first {run.num_tokens} tokens were used.")
    note = "".join(f'<div class="fb-note">{n}</div>' for n in notes)
    shown = run.text if len(run.text) <= 160 else run.text[:159] + "…"
    return (f'<div class="fb-for">Result for <span id="fb-text">“{html.escape(shown)}”</span></div>'
            f'<div class="fb-cards">{"".join(cards)}</div>'
            f'{flops_meter(view.flops, view.full_flops, view.saved)}{note}')


def backbone_text(cfg) -> str:
    """The backbone as a user can check it: its architecture, and its name when that is a hub id
    or an alias (a local training path such as runs/... is not shipped, so it is not named)."""
    bc = cfg.backbone_config or {}
    kind = html.escape(str(bc.get("model_type", "")))
    shape = (f"{bc['num_hidden_layers']} layers, hidden {bc['hidden_size']}"
             if "num_hidden_layers" in bc and "hidden_size" in bc else "")
    path = PurePosixPath(cfg.backbone.replace("\\", "/"))
    if path.is_absolute() or path.parts[0] in (".", "..", "runs") or len(path.parts) > 2:
        return (f"a {kind or 'transformer'} encoder trained for this model"
                + (f" ({shape}; its weights are in the model)" if shape else " (its weights are in the model)"))
    details = ", ".join(x for x in (kind, shape) if x)
    return html.escape(cfg.backbone) + (f" ({details})" if details else "")


def model_info(model: LoadedModel, student: StudentView | None = None) -> str:
    """One line about the model on show (and whether it is the distilled student)."""
    cfg = model.model.config
    labels = ", ".join(html.escape(label) for label in cfg.labels)
    distilled = (f" · distilled from {html.escape(student.teacher)} with {html.escape(student.method)} "
                 "(see the <i>Distilled student</i> tab)" if student and student.model_name == model.name else "")
    return (f'<div class="fb-model">Model <b>{html.escape(model.name)}</b> · {model.num_layers} layers · '
            f'classes: {labels} · backbone {backbone_text(cfg)} · exit rule: {cfg.exit_criterion} · '
            f'reads up to {cfg.max_length} tokens{distilled}</div>')


def batch_summary_html(run: BatchRun, view: BatchView) -> str:
    r = view.result
    full = run.sweep[0]  # speed 0: every sample runs every layer
    cards = [
        _card("Samples", f"{r.num_samples:,}", html.escape(run.source), "fb-batch-n"),
        _card("Mean exit layer", f"{r.mean_exit_layer:.2f} of {run.num_layers}", f"at speed {view.speed:.2f}",
              "fb-batch-exit"),
        _card("Speedup", f"{r.flops_speedup:.2f}×", "FLOPs of the full model / FLOPs spent", "fb-batch-speedup"),
    ]
    if r.accuracy is not None:
        cards.append(_card("Accuracy", f"{r.accuracy:.1%}", f"full model (speed 0): {full.accuracy:.1%}",
                           "fb-batch-acc"))
    elif run.raw_labels is None:
        cards.append(_card("Accuracy", "—", html.escape(run.label_note), "fb-batch-acc"))
    else:
        cards.append(_card("Accuracy", "—", "the file's labels are not this model's: see below", "fb-batch-acc"))
    note = (f'<div class="fb-note">All {run.num_layers} layers were computed once for these samples '
            f'({run.seconds:.2f} s); the charts and the slider re-decide the exits from them.</div>')
    if run.raw_labels is not None and run.label_note:  # why the labels were not used, or how ids were read
        note += f'<div class="fb-note" id="fb-label-note">Labels: {html.escape(run.label_note)}.</div>'
    if run.truncated:
        note += (f'<div class="fb-note"><b>{run.truncated} text{"s were" if run.truncated > 1 else " was"} '
                 f'truncated</b> to the {run.outputs.num_tokens.max().item()} tokens the model reads.</div>')
    meter = flops_meter(view.total_flops, view.total_full_flops, view.saved)
    return f'<div class="fb-cards">{"".join(cards)}</div>{meter}{note}'


# ----- what each tab shows ------------------------------------------------------------------
@dataclass
class Panel:
    """Values for a tab's components, in the order of the fields (the order the UI wires them)."""

    def values(self) -> tuple:
        return tuple(getattr(self, f.name) for f in fields(self))

    @classmethod
    def size(cls) -> int:
        return len(fields(cls))


@dataclass
class TextPanel(Panel):
    result: str
    probs_plot: Any
    unc_plot: Any


@dataclass
class BatchPanel(Panel):
    summary: str
    hist_plot: Any
    dist_plot: Any
    sweep_plot: Any
    table: Any  # a pandas DataFrame
    download: Any  # the download button, pointing at the table as a CSV file


@dataclass
class HowPanel(Panel):
    step_plot: Any
    step_text: str
    luha_plot: Any
    agree_plot: Any


def text_panel(model: LoadedModel, run: TextRun, speed: float, show_skipped: bool) -> TextPanel:
    view = text_view(model, run, speed)
    return TextPanel(text_result_html(run, view, f"{model.model.device.type.upper()}, {model.runtime}"),
                     charts.layer_probs_chart(view, run.labels, show_skipped),
                     charts.uncertainty_chart(view, show_skipped, model.model.config.exit_criterion))


def csv_file(table, directory: Path) -> str:
    """The table as a CSV file in `directory`, named by its content (written once)."""
    data = table.to_csv(index=False).encode("utf-8")
    path = directory / f"fastbert-batch-{hashlib.sha1(data).hexdigest()[:12]}.csv"
    if not path.exists():
        path.write_bytes(data)
    return str(path)


def batch_panel(model: LoadedModel, run: BatchRun, speed: float, csv_dir: Path) -> BatchPanel:
    view = batch_view(model, run, speed)
    table = batch_table(run, view)
    return BatchPanel(batch_summary_html(run, view), charts.exit_histogram(view),
                      charts.uncertainty_distributions(run, view), charts.speed_sweep_chart(run, speed),
                      table, gr.DownloadButton(value=csv_file(table, csv_dir), visible=True))


def how_panel(model: LoadedModel, run: BatchRun, speed: float, layer: int) -> HowPanel:
    view = batch_view(model, run, speed)
    step = layer_step(run, view, layer)
    return HowPanel(charts.figure2_chart(run, step),
                    teach.step_markdown(run, view, step, model.model.config.exit_criterion),
                    charts.luha_chart(luha_bins(run.outputs, bins=5)), charts.agreement_chart(layer_agreement(run)))
