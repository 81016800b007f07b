"""The figures of `python -m fastbert report` (the paper's Figures 3, 4, 6 and 7) as plain
`data -> plotly Figure` functions, and their HTML/PNG files. plotly is imported where a figure
is drawn, so importing this module is cheap."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from ..evaluate import luha_bins
from ..uncertainty import decide_exits, get_criterion

FIG6_SPEEDS = [0.0, 0.3, 0.5, 0.8]


def figure3(curve):
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    s = [r.speed for r in curve]
    acc = [100 * r.accuracy for r in curve]
    sp = [r.flops_speedup for r in curve]
    fig = make_subplots(rows=1, cols=3, subplot_titles=("speed vs accuracy", "speed vs FLOPs speedup",
                                                        "FLOPs speedup vs accuracy"))
    fig.add_trace(go.Scatter(x=s, y=acc, mode="lines+markers", name="accuracy"), 1, 1)
    fig.add_trace(go.Scatter(x=s, y=sp, mode="lines+markers", name="speedup"), 1, 2)
    fig.add_trace(go.Scatter(x=sp, y=acc, mode="lines+markers", name="trade-off", text=[f"speed {v:g}" for v in s]), 1, 3)
    fig.update_xaxes(title_text="speed", row=1, col=1)
    fig.update_xaxes(title_text="speed", row=1, col=2)
    fig.update_xaxes(title_text="FLOPs speedup", row=1, col=3)
    fig.update_yaxes(title_text="accuracy (%)", row=1, col=1)
    fig.update_yaxes(title_text="speedup (x)", row=1, col=2)
    fig.update_yaxes(title_text="accuracy (%)", row=1, col=3)
    fig.update_layout(title="Figure 3: speed, speedup and accuracy", showlegend=False, width=1200, height=420)
    return fig


def figure4(outputs, num_layers):
    import plotly.graph_objects as go

    fig = go.Figure()
    for layer, label in ((0, "bottom (layer 1)"), (num_layers // 2 - 1, f"middle (layer {num_layers // 2})"),
                         (num_layers - 2, f"top student (layer {num_layers - 1})")):
        b = luha_bins(outputs, layer)
        fig.add_trace(go.Scatter(x=b.centers, y=[None if a is None else 100 * a for a in b.accuracy],
                                 mode="lines+markers", name=label, text=[f"{k} samples" for k in b.counts],
                                 connectgaps=False))
    fig.update_layout(title="Figure 4 (LUHA): accuracy per uncertainty bin", xaxis_title="uncertainty",
                      yaxis_title="accuracy (%)", width=800, height=450)
    return fig


def figure6(model, outputs):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots


    crit = get_criterion(model.config.exit_criterion, model.config.patience)
    L = model.num_layers
    fig = make_subplots(rows=1, cols=len(FIG6_SPEEDS) + 1,
                        subplot_titles=[f"speed {s:g}: uncertainty" for s in FIG6_SPEEDS] + ["exit layer"])
    u = outputs.uncertainties
    for col, s in enumerate(FIG6_SPEEDS, start=1):
        exits = decide_exits(outputs.layer_probs, s, crit)
        for layer in range(L):
            reached = exits > layer  # samples that ran this layer
            fig.add_trace(go.Box(y=u[layer][reached].tolist(), name=f"L{layer + 1}", showlegend=False,
                                 marker_color="#636efa", boxpoints=False), 1, col)
        fig.add_trace(go.Bar(x=list(range(1, L + 1)), y=torch.bincount(exits - 1, minlength=L).tolist(),
                             name=f"speed {s:g}"), 1, len(FIG6_SPEEDS) + 1)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_layout(title="Figure 6: uncertainty of the samples that reach each layer, and where they exit",
                      width=1500, height=450, barmode="group")
    return fig


def figure7(log: list[dict]):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("dev accuracy", "FLOPs per sample at speed 0.5"))
    x = list(range(1, len(log) + 1))
    labels = [f"{e['stage']} step {e['step']}" for e in log]
    for key, name in (("dev_acc@0", "speed 0"), ("dev_acc@0.5", "speed 0.5")):
        fig.add_trace(go.Scatter(x=x, y=[100 * e.get(key, float("nan")) for e in log], mode="lines+markers",
                                 name=name, text=labels), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=[e.get("flops@0.5", float("nan")) / 1e6 for e in log], mode="lines+markers",
                             name="MFLOPs @0.5", text=labels), 1, 2)
    stages = [e["stage"] for e in log]
    if "distill" in stages:
        first = stages.index("distill") + 0.5
        for col in (1, 2):
            fig.add_vline(x=first, line_dash="dash", annotation_text="self-distillation starts", row=1, col=col)
    fig.update_xaxes(title_text="evaluation (in training order)")
    fig.update_layout(title="Figure 7: during fine-tuning and self-distillation", width=1100, height=420)
    return fig


def figure_depth(curves: dict[str, list[EvalResult]]):
    """Accuracy against mean FLOPs per sample, one line per model (speed 0 to 1)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, curve in curves.items():
        fig.add_trace(go.Scatter(x=[r.flops_per_sample / 1e6 for r in curve], y=[100 * r.accuracy for r in curve],
                                 mode="lines+markers", name=name, text=[f"speed {r.speed:g}" for r in curve]))
    fig.update_layout(title="Accuracy against FLOPs: the report's model and the compared ones",
                      xaxis_title="MFLOPs per sample (mean)", yaxis_title="accuracy (%)", width=900, height=450)
    return fig


def check_png_export() -> None:
    """PNG figures need kaleido, an optional extra (`pip install 'fastbert-adaptive[report]'`).
    A ValueError (the CLI prints it as one line) before any work when it is missing."""
    if importlib.util.find_spec("kaleido") is None:
        raise ValueError("PNG figures need kaleido, which is optional: pip install 'fastbert-adaptive[report]' "
                         "(or kaleido==1.5.0), or pass --no-png to write the HTML figures only")


def save_figures(figs: dict, directory: Path, prefix: str, png: bool = True) -> dict[str, str]:
    """HTML (plotly.js from its CDN, so the HTML needs a network; 4.8 MB of plotly.js per report
    directory would not fit the assets budget) and PNG (kaleido, system Chromium: the offline copy)."""
    stems = {k: f"{prefix}_{k}" for k in figs}
    for k, fig in figs.items():
        fig.write_html(directory / f"{stems[k]}.html", include_plotlyjs="cdn")
    if png:
        import plotly.io as pio

        check_png_export()

        figures = list(figs.values())
        pio.write_images(figures, [directory / f"{stems[k]}.png" for k in figs],
                         width=[f.layout.width for f in figures], height=[f.layout.height for f in figures])
    return stems
