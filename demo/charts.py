"""Plotly figures from the views in `demo.views`: plain functions, testable without a server.

Each public builder is wrapped by `safe_chart`: if it fails, the tab shows an error figure
that says what went wrong, instead of losing the whole callback.
"""
from __future__ import annotations

import functools
import logging
import zlib

import numpy as np
import plotly.graph_objects as go


from .student import Heatmap
from .student_charts import lambda_figure
from fastbert.evaluate import LuhaBins

from .views import BatchRun, BatchView, LayerAgreement, LayerStep, TextView, text_of

log = logging.getLogger(__name__)

PALETTE = ["#2a78b5", "#e8833a", "#3a9d5d", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
NEGATIVE, POSITIVE = "#c8553d", "#2a9d8f"
# Sentiment in every shipped language gets the same two colours, so a model switch keeps them.
NAMED = {"negative": NEGATIVE, "positive": POSITIVE, "neg": NEGATIVE, "pos": POSITIVE,
         "负面": NEGATIVE, "正面": POSITIVE, "消极": NEGATIVE, "积极": POSITIVE}
SKIPPED = "#c9ced6"
EXIT = "#1f2937"
THRESHOLD = "#d97706"
BOX_POINTS_LIMIT = 300  # samples per batch up to which the box plot draws every one as a dot
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13, color="#1f2937")


def class_colors(labels: list[str]) -> list[str]:
    """Stable colours per class: sentiment (English or Chinese names) gets red/teal, anything
    else the palette by class index."""
    if all(label.lower() in NAMED for label in labels):
        return [NAMED[label.lower()] for label in labels]
    return [PALETTE[i % len(PALETTE)] for i in range(len(labels))]


# What the charts use of "plotly_white". The full template is deep-copied into every figure,
# which took about a third of the slider's redraw time.
_AXIS = dict(gridcolor="#ebf0f8", linecolor="#ebf0f8", zerolinecolor="#ebf0f8", ticks="", automargin=True)
TEMPLATE = go.layout.Template(layout=dict(
    paper_bgcolor="white", plot_bgcolor="white", colorway=PALETTE, hovermode="closest",
    xaxis=_AXIS, yaxis=_AXIS, hoverlabel=dict(align="left")))


def _style(fig: go.Figure, title: str, height: int = 360, note: str = "") -> go.Figure:
    """House style. A short `title` with a smaller second line (`note`) stays readable on a
    phone; both sit in the top margin, above the legend (which sits on the plot's top edge)."""
    text = title + (f'<br><span style="font-size:12px;color:#6b7280">{note}</span>' if note else "")
    fig.update_layout(title=dict(text=text, x=0.01, xanchor="left", y=1 - 12 / height, yanchor="top",
                                 yref="container", font=dict(size=15)),
                      template=TEMPLATE, font=FONT, height=height, autosize=True,
                      margin=dict(l=60, r=30, t=82 if note else 60, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0))
    return fig


def error_figure(message: str) -> go.Figure:
    """A figure that says why the chart is missing (meta.error holds the message)."""
    fig = go.Figure()
    fig.add_annotation(text=f"Chart unavailable: {message}", x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, font=dict(size=14, color="#b91c1c"))
    fig.update_layout(meta={"error": message}, xaxis=dict(visible=False), yaxis=dict(visible=False))
    return _style(fig, "", height=220)


def safe_chart(builder):
    """Return an error figure instead of raising."""

    @functools.wraps(builder)
    def wrapper(*args, **kwargs) -> go.Figure:
        try:
            return builder(*args, **kwargs)
        except Exception as err:  # a chart must never break the tab
            log.exception("chart %s failed", builder.__name__)
            return error_figure(f"{type(err).__name__}: {err}")

    return wrapper


def _layer_names(num_layers: int) -> list[str]:
    return [f"layer {i}" + (" (teacher)" if i == num_layers else "") for i in range(1, num_layers + 1)]


# ----- one text -----------------------------------------------------------------------------
@safe_chart
def layer_probs_chart(view: TextView, labels: list[str], show_skipped: bool = False) -> go.Figure:
    """Each layer's class probabilities as a stacked bar; layer 1 at the bottom.

    Layers after the exit are grey "not computed" bars, or, with show_skipped, what they would
    have said (faded, hatched). The exit layer carries an annotation named "exit".
    """
    L, k = view.num_layers, view.exit_layer
    if len(view.layer_probs) != L or any(len(p) != len(labels) for p in view.layer_probs):
        raise ValueError(f"expected {L} layers x {len(labels)} classes of probabilities")
    names = _layer_names(L)
    colors = class_colors(labels)
    ran, skipped = names[:k], names[k:]
    fig = go.Figure()
    for c, (label, color) in enumerate(zip(labels, colors)):
        values = [view.layer_probs[i][c] for i in range(k)]
        fig.add_bar(y=ran, x=values, orientation="h", name=label, marker_color=color,
                    text=[f"{v:.0%}" if v >= 0.12 else "" for v in values], textposition="inside",
                    insidetextanchor="middle", legendgroup=label,
                    hovertemplate=f"%{{y}}: {label} %{{x:.1%}}<extra></extra>")
    if skipped and show_skipped:
        for c, (label, color) in enumerate(zip(labels, colors)):
            values = [view.layer_probs[i][c] for i in range(k, L)]
            fig.add_bar(y=skipped, x=values, orientation="h", name=f"{label} (not computed)",
                        marker=dict(color=color, opacity=0.35, pattern=dict(shape="/", fgcolor="#ffffff")),
                        text=[f"{v:.0%}" if v >= 0.12 else "" for v in values], textposition="inside",
                        insidetextanchor="middle", legendgroup=label, showlegend=False,
                        hovertemplate=f"%{{y}} (not computed at this speed): {label} %{{x:.1%}}<extra></extra>")
    elif skipped:
        fig.add_bar(y=skipped, x=[1.0] * len(skipped), orientation="h", name="not computed",
                    marker=dict(color=SKIPPED, pattern=dict(shape="/", fgcolor="#ffffff")),
                    text=["not computed"] * len(skipped), textposition="inside", insidetextanchor="middle",
                    hovertemplate="%{y}: skipped, the sample already left<extra></extra>")
    if skipped:  # the cut between the layers that ran and those that did not
        fig.add_shape(type="line", x0=-0.02, x1=1.02, y0=k - 0.5, y1=k - 0.5, xref="x", yref="y",
                      line=dict(color=EXIT, width=2, dash="dash"), name="exit-cut")
    fig.add_annotation(x=1.02, y=k - 1, xref="x", yref="y", xanchor="left", showarrow=False,
                       text=f"<b>◀ exit</b> ({k} of {L})", font=dict(color=EXIT), name="exit")
    fig.update_layout(barmode="stack", bargap=0.25)
    fig.update_xaxes(range=[0, 1.22], tickformat=".0%", tickvals=[0, 0.25, 0.5, 0.75, 1.0],
                     title="class probability")
    fig.update_yaxes(categoryorder="array", categoryarray=names, title=None)
    return _style(fig, "What each layer's classifier says", note=f"exit at layer {k} of {L}",
                  height=max(280, 90 + 42 * L))


@safe_chart
def uncertainty_chart(view: TextView, show_skipped: bool = False, criterion: str = "entropy") -> go.Figure:
    """Uncertainty (normalized entropy) per layer against the threshold line at `speed`.

    The exit layer is a star (trace named "exit"); the threshold is a shape named "threshold".
    """
    L, k = view.num_layers, view.exit_layer
    u = view.uncertainties
    if len(u) != L:
        raise ValueError(f"expected {L} uncertainties, got {len(u)}")
    layers = list(range(1, L + 1))
    fig = go.Figure()
    below = [x < view.speed for x in u[:k]]
    fig.add_scatter(x=layers[:k], y=u[:k], mode="lines+markers", name="computed",
                    line=dict(color="#2a78b5", width=3),
                    marker=dict(size=10, color=["#3a9d5d" if b else "#2a78b5" for b in below]),
                    hovertemplate="layer %{x}: uncertainty %{y:.3f}<extra></extra>")
    if show_skipped and k < L:
        fig.add_scatter(x=layers[k - 1:], y=u[k - 1:], mode="lines+markers", name="not computed (would be)",
                        line=dict(color="#9aa5b1", width=2, dash="dot"), marker=dict(size=8, color="#9aa5b1"),
                        hovertemplate="layer %{x} (not computed): %{y:.3f}<extra></extra>")
    fig.add_scatter(x=[k], y=[u[k - 1]], mode="markers", name="exit",
                    marker=dict(symbol="star", size=20, color=EXIT, line=dict(color="#ffffff", width=1)),
                    hovertemplate=f"exit at layer {k}: uncertainty %{{y:.3f}}<extra></extra>")
    fig.add_shape(type="line", x0=0.6, x1=L + 0.4, y0=view.speed, y1=view.speed, xref="x", yref="y",
                  line=dict(color=THRESHOLD, width=2, dash="dash"), name="threshold")
    fig.add_annotation(x=L + 0.4, y=view.speed, xanchor="right", yanchor="bottom", showarrow=False,
                       text=f"threshold = speed {view.speed:.2f}", font=dict(color=THRESHOLD))
    if criterion != "entropy":
        fig.add_annotation(x=0.0, y=-0.22, xref="paper", yref="paper", showarrow=False, xanchor="left",
                           text=f"This model exits by the {criterion!r} rule; the line is the paper's entropy rule.",
                           font=dict(size=11, color="#6b7280"))
    fig.update_xaxes(tickvals=layers, range=[0.6, L + 0.4], title="layer")
    fig.update_yaxes(range=[-0.03, 1.05], title="uncertainty")
    return _style(fig, "Uncertainty per layer", note="a sample leaves at the first layer below the line")


# ----- a batch ------------------------------------------------------------------------------
@safe_chart
def exit_histogram(view: BatchView) -> go.Figure:
    """Samples per exit layer (the library's EvalResult.exit_histogram)."""
    hist = view.result.exit_histogram
    L = len(hist)
    layers = list(range(1, L + 1))
    fig = go.Figure(go.Bar(x=layers, y=hist, marker_color="#2a78b5", name="samples",
                           text=hist, textposition="outside",
                           hovertemplate="exit at layer %{x}: %{y} samples<extra></extra>"))
    fig.update_xaxes(tickvals=layers, title="exit layer")
    fig.update_yaxes(title="samples", range=[0, max(hist) * 1.18 + 1])
    mean = view.result.mean_exit_layer
    return _style(fig, f"Exit layers at speed {view.speed:.2f}", note=f"mean {mean:.2f} of {L}")


@safe_chart
def uncertainty_distributions(run: BatchRun, view: BatchView) -> go.Figure:
    """Per layer, the uncertainty of the samples that ran it, and of those that had already left
    (what the layer would have said), with the threshold line."""
    unc = run.outputs.uncertainties.numpy()  # (L, N)
    L, N = unc.shape
    layer = np.broadcast_to(np.arange(1, L + 1)[:, None], (L, N))
    ran = layer <= np.asarray(view.exit_layer)[None, :]  # (L, N): a sample that exits at k ran 1..k
    hover = np.broadcast_to(np.array([text_of(t)[:80] for t in run.texts], dtype=object)[None, :], (L, N))
    # Every sample as a dot while that stays readable (and quick for the browser to draw);
    # for larger batches the boxes, with their outliers.
    points = "all" if N <= BOX_POINTS_LIMIT else "outliers"
    fig = go.Figure()
    fig.add_box(x=layer[ran], y=unc[ran], name="ran this layer", marker_color="#2a78b5", boxpoints=points,
                jitter=0.5, pointpos=0, hovertext=hover[ran], marker=dict(size=4, opacity=0.6))
    if (~ran).any():
        fig.add_box(x=layer[~ran], y=unc[~ran], name="had already left (not computed)", marker_color="#9aa5b1",
                    boxpoints=points, jitter=0.5, pointpos=0, hovertext=hover[~ran], marker=dict(size=4, opacity=0.5))
    fig.add_shape(type="line", x0=0.5, x1=L + 0.5, y0=view.speed, y1=view.speed, xref="x", yref="y",
                  line=dict(color=THRESHOLD, width=2, dash="dash"), name="threshold")
    fig.update_layout(boxmode="group")
    fig.update_xaxes(tickvals=list(range(1, L + 1)), title="layer")
    fig.update_yaxes(range=[-0.03, 1.05], title="uncertainty")
    return _style(fig, "Uncertainty per layer", note="dashed line: the speed threshold")


@safe_chart
def speed_sweep_chart(run: BatchRun, speed: float) -> go.Figure:
    """Accuracy (with labels) and FLOPs speedup against speed for this batch, current speed marked."""
    results = run.sweep
    speeds = [r.speed for r in results]
    # Two y axes laid out by hand: make_subplots costs more than the rest of the chart.
    fig = go.Figure()
    fig.add_scatter(x=speeds, y=[r.flops_speedup for r in results], name="FLOPs speedup", mode="lines+markers",
                    line=dict(color="#e8833a", width=3),
                    hovertemplate="speed %{x:.2f}: %{y:.2f}× fewer FLOPs<extra></extra>")
    if run.has_labels:
        fig.add_scatter(x=speeds, y=[r.accuracy for r in results], name="accuracy", mode="lines+markers",
                        line=dict(color="#2a78b5", width=3), yaxis="y2",
                        hovertemplate="speed %{x:.2f}: accuracy %{y:.1%}<extra></extra>")
        fig.update_layout(yaxis2=dict(title="accuracy", tickformat=".0%", range=[0, 1.02], overlaying="y",
                                      side="right", showgrid=False))
    fig.add_vline(x=speed, line=dict(color=EXIT, dash="dash", width=2), name="current speed")
    fig.add_annotation(x=speed, y=1.0, yref="paper", text=f"speed {speed:.2f}", showarrow=False,
                       xanchor="left", yanchor="top", font=dict(color=EXIT))
    fig.update_layout(xaxis=dict(title="speed", range=[-0.02, 1.02]),
                      yaxis=dict(title="FLOPs speedup (×)", rangemode="tozero"))
    if run.has_labels:
        return _style(fig, "Accuracy and speedup vs speed", note="for this batch, from one all-layers pass")
    return _style(fig, "Speedup vs speed", note="for this batch (no labels, so no accuracy)")


# ----- how it works -------------------------------------------------------------------------
@safe_chart
def figure2_chart(run: BatchRun, step: LayerStep) -> go.Figure:
    """Left: the shrinking batch (samples running each layer). Right: at the chosen layer, each
    running sample's uncertainty against the threshold; those below it leave."""
    L, k = step.num_layers, step.layer
    # Two panels laid out by hand (as make_subplots would, at a fraction of its cost).
    left, right = [0.0, 0.378], [0.478, 1.0]
    fig = go.Figure()
    for domain, title in ((left, "Samples still in the batch"), (right, f"Layer {k}: who leaves?")):
        fig.add_annotation(text=title, x=sum(domain) / 2, y=1.0, xref="paper", yref="paper", xanchor="center",
                           yanchor="bottom", showarrow=False, font=dict(size=14))
    fig.update_layout(xaxis=dict(domain=left, anchor="y"), yaxis=dict(anchor="x"),
                      xaxis2=dict(domain=right, anchor="y2"), yaxis2=dict(anchor="x2"))
    fig.add_bar(x=list(range(1, L + 1)), y=step.running_per_layer, name="running",
                marker_color=["#2a78b5" if i == k else "#b9cde0" for i in range(1, L + 1)],
                text=step.running_per_layer, textposition="outside", showlegend=False,
                hovertemplate="layer %{x}: %{y} samples run it<extra></extra>")
    leaving = set(step.leaving)
    xs = [(zlib.crc32(text_of(run.texts[i]).encode()) % 1000) / 1000 for i in step.running]  # stable jitter
    for name, color, keep in (("leaves here", "#3a9d5d", True), ("goes on", "#9aa5b1", False)):
        sel = [n for n, i in enumerate(step.running) if (i in leaving) == keep]
        fig.add_scatter(x=[xs[n] for n in sel], y=[step.uncertainty[n] for n in sel], mode="markers",
                        name=name, marker=dict(size=9, color=color, line=dict(color="#ffffff", width=1)),
                        hovertext=[text_of(run.texts[step.running[n]])[:80] for n in sel],
                        hovertemplate="%{hovertext}<br>uncertainty %{y:.3f}<extra></extra>", xaxis="x2", yaxis="y2")
    fig.add_shape(type="line", x0=-0.05, x1=1.05, y0=step.speed, y1=step.speed, xref="x2", yref="y2",
                  line=dict(color=THRESHOLD, width=2, dash="dash"), name="threshold")
    fig.add_annotation(x=1.05, y=step.speed, xref="x2", yref="y2", xanchor="right", yanchor="bottom",
                       showarrow=False, text=f"speed {step.speed:.2f}", font=dict(color=THRESHOLD))
    fig.update_layout(xaxis=dict(tickvals=list(range(1, L + 1)), title="layer"),
                      yaxis=dict(title="samples", range=[0, max(step.running_per_layer + [1]) * 1.2]),
                      xaxis2=dict(visible=False, range=[-0.08, 1.08]),
                      yaxis2=dict(title="uncertainty", range=[-0.03, 1.05]))
    _style(fig, f"The paper's Figure 2, layer {k} of {L}", height=400)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.08, xanchor="right", x=1.0))
    return fig


@safe_chart
def luha_chart(bins: LuhaBins) -> go.Figure:
    """Accuracy per uncertainty bin: lower uncertainty, higher accuracy."""
    edges = bins.edges
    names = [f"{a:.1f}–{b:.1f}" for a, b in zip(edges[:-1], edges[1:])]
    acc = [a if a is not None else 0.0 for a in bins.accuracy]
    text = [f"{a:.0%}<br>n={n}" if a is not None else "n=0" for a, n in zip(bins.accuracy, bins.counts)]
    fig = go.Figure(go.Bar(x=names, y=acc, text=text, textposition="outside", marker_color="#3a9d5d",
                           hovertemplate="uncertainty %{x}: %{y:.1%}<extra></extra>"))
    ref = "the labels" if bins.reference == "labels" else "the teacher (no labels)"
    fig.update_xaxes(title="uncertainty of a layer's prediction")
    fig.update_yaxes(title=f"agreement with {ref}", tickformat=".0%", range=[0, 1.2])
    return _style(fig, "LUHA: lower uncertainty, higher accuracy", height=320)


@safe_chart
def agreement_chart(agreement: LayerAgreement) -> go.Figure:
    """Per layer: how often each student agrees with the teacher (what self-distillation trains)."""
    L = len(agreement.agreement)
    layers = list(range(1, L + 1))
    fig = go.Figure()
    fig.add_scatter(x=layers, y=agreement.agreement, name="agrees with the teacher", mode="lines+markers",
                    line=dict(color="#8172b3", width=3))
    if agreement.accuracy is not None:
        fig.add_scatter(x=layers, y=agreement.accuracy, name="accuracy (labels)", mode="lines+markers",
                        line=dict(color="#2a78b5", width=3, dash="dot"))
    fig.update_xaxes(tickvals=layers, title="layer (student → teacher)")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05], title=None)
    return _style(fig, "Self-distillation", note="students learn to say what the teacher says", height=320)


# ----- the distilled student ----------------------------------------------------------------
@safe_chart
def lambda_chart(heatmaps: list[Heatmap]) -> go.Figure:
    """Universal-KD's attention λ (student layer × teacher layer), one panel per heatmap, on one
    colour scale fitted to the values, 1/N marked (`demo.student_charts.lambda_figure`)."""
    return lambda_figure(heatmaps)
