"""Universal-KD's attention λ as heatmaps, for the app's Distilled-student tab and the report
(`demo/ukd_report.py`): plain data -> go.Figure functions, no server needed.

All panels share one colour scale fitted to their values (not 0..1: λ between 0.159 and 0.170
must not look identical), diverging around the uniform value 1/N, which the colour bar names.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .student import Heatmap

LESS, UNIFORM, MORE = "#3b6fb6", "#f7f7f7", "#c0392b"  # λ below 1/N, at it, above it


def colour_range(heatmaps: list[Heatmap]) -> tuple[float, float, float | None]:
    """(zmin, zmax, 1/N): the data's range widened to include 1/N when every panel has N
    teacher layers (1/N is None when panels differ in N)."""
    values = [v for h in heatmaps for row in h.lambdas for v in row]
    widths = {len(h.lambdas[0]) for h in heatmaps}
    uniform = 1 / widths.pop() if len(widths) == 1 else None
    lo, hi = min(values), max(values)
    if uniform is not None:
        lo, hi = min(lo, uniform), max(hi, uniform)
    if hi - lo < 1e-6:  # a flat matrix still needs a range
        lo, hi = lo - 1e-3, hi + 1e-3
    return lo, hi, uniform


def lambda_trace(h: Heatmap) -> go.Heatmap:
    """One λ matrix: rows = student layers, columns = teacher layers, values written in the cells."""
    return go.Heatmap(z=h.lambdas, x=h.teacher_layers, y=h.student_layers, coloraxis="coloraxis",
                      text=[[f"{v:.3f}" for v in row] for row in h.lambdas], texttemplate="%{text}",
                      hovertemplate="%{y} ← %{x}: λ=%{z:.4f}<extra></extra>")


def lambda_figure(heatmaps: list[Heatmap], title: str = "Universal-KD attention λ: which teacher layers "
                  "each student layer learns from", cols: int = 2) -> go.Figure:
    """One panel per heatmap, `cols` per row, titles on two lines with room between panels."""
    if not heatmaps:
        raise ValueError("no λ matrix to show")
    cols = max(1, min(cols, len(heatmaps)))
    rows = math.ceil(len(heatmaps) / cols)
    depth = max(len(h.lambdas) for h in heatmaps)
    panel = 70 + 38 * depth  # px per panel row
    height = 130 + rows * (panel + 70)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.16 if cols > 1 else 0.05,
                        vertical_spacing=min(0.5, 110 / height) if rows > 1 else 0.0,
                        subplot_titles=[h.title.replace(" (", "<br>(", 1) for h in heatmaps])
    for k, h in enumerate(heatmaps):
        r, c = k // cols + 1, k % cols + 1
        fig.add_trace(lambda_trace(h), row=r, col=c)
        fig.update_yaxes(autorange="reversed", row=r, col=c)
        fig.update_xaxes(title=dict(text="teacher layer", standoff=4), row=r, col=c)
    for a in fig.layout.annotations:  # the subplot titles
        a.font = dict(size=12)
    lo, hi, uniform = colour_range(heatmaps)
    ticks, labels = [lo, hi], [f"{lo:.3f}", f"{hi:.3f}"]
    scale = [[0.0, UNIFORM], [1.0, MORE]]
    if uniform is not None:  # white exactly at 1/N (the range is not symmetric around it)
        ticks.insert(1, uniform)
        labels.insert(1, f"1/N = {uniform:.3f} (uniform)")
        u = (uniform - lo) / (hi - lo)
        scale = ([[0.0, UNIFORM], [1.0, MORE]] if u <= 0 else [[0.0, LESS], [1.0, UNIFORM]] if u >= 1
                 else [[0.0, LESS], [u, UNIFORM], [1.0, MORE]])
    fig.update_layout(
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)), template="plotly_white",
        height=height, margin=dict(l=90, r=40, t=110, b=50),
        coloraxis=dict(colorscale=scale, cmin=lo, cmax=hi,
                       colorbar=dict(title="λ", tickvals=ticks, ticktext=labels)))
    return fig
