"""Calibration in the app: the slider as a speed threshold or as a target speedup, the accuracy
cost of the chosen setting (from the model's stored curve, `python -m fastbert calibrate`), and
the LUHA and reliability charts of the raw (paper) and calibrated probabilities side by side.

The functions are plain (values in, values or figures out) and tested without a server;
`add_controls`, `add_charts` and `wire` put them into `demo.ui.build_app`. The raw
probabilities of a batch are recovered from the calibrated ones (softmax(log p * T) undoes
softmax(z / T)), so no model runs twice.
"""
from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fastbert.calibration import Curve, CurvePoint, apply_temperatures, reliability
from fastbert.evaluate import LayerOutputs, luha_bins

from .charts import _style, safe_chart
from .models import LoadedModel
from .views import BatchRun

THRESHOLD, TARGET = "Speed threshold", "Target speedup"
MODES = (THRESHOLD, TARGET)


@dataclass
class SpeedChoice:
    """What the slider means now: the speed used and, with a curve, what it costs."""

    mode: str
    speed: float
    point: CurvePoint | None  # the curve's point for this speed (None: the model has no curve)
    curve: Curve | None
    message: str = ""  # why no target could be used, when one was asked for

    @property
    def accuracy_drop(self) -> float | None:
        return None if self.point is None else self.curve.accuracy_drop(self.point)


def _usable_curve(loaded: LoadedModel) -> Curve | None:
    curve = loaded.model.curve
    return curve if curve is not None and curve.calibrated == (loaded.model.config.temperatures is not None) else None


def choose(loaded: LoadedModel, mode: str, speed: float, target: float | None = None) -> SpeedChoice:
    """The speed for `mode`: the slider's `speed` itself, or the curve's speed for `target`.

    >>> choose(loaded, TARGET, 0.5, target=3.0).speed == loaded.model.choose_speed(target_speedup=3.0).speed  # doctest: +SKIP
    True
    """
    if mode not in MODES:
        return SpeedChoice(THRESHOLD, speed, None, None, f"unknown mode {mode!r}: choose one of {list(MODES)}")
    curve = _usable_curve(loaded)
    if curve is None:
        msg = "" if mode == THRESHOLD else "this model has no calibration curve, so the slider stays a speed threshold"
        return SpeedChoice(THRESHOLD, speed, None, None, msg)
    if mode == TARGET and target is not None:
        point = curve.for_speedup(float(target))
        return SpeedChoice(TARGET, point.speed, point, curve)
    return SpeedChoice(mode, speed, curve.at_speed(speed), curve)


def cost_html(choice: SpeedChoice) -> str:
    """One line: the speed used, the speedup and the accuracy cost expected from the curve."""
    if choice.point is None:
        note = html.escape(choice.message) if choice.message else (
            "No calibration curve for this model: run <code>python -m fastbert calibrate</code> to see the "
            "expected speedup and accuracy cost of a speed.")
        return f'<div class="fb-note" id="fb-cost">{note}</div>'
    c, p = choice.curve, choice.point
    what = "accuracy" if c.metric == "accuracy" else "agreement with the teacher"
    drop = choice.accuracy_drop
    cost = f"{abs(drop):.2f} points {'less' if drop >= 0 else 'more'} {what}"
    rows = c.data.get("rows")
    where = f"{len(rows)} calibration texts" if isinstance(rows, list) else "the calibration data"
    return (f'<div class="fb-sub" id="fb-cost">Speed <b>{choice.speed:.2f}</b>: expected <b>{p.speedup:.2f}×</b> '
            f"fewer FLOPs and <b>{cost}</b> than the full model ({100 * c.full_accuracy:.1f}%), "
            f"as measured on {where}.</div>")


def target_range(loaded: LoadedModel, speed: float) -> dict:
    """Slider settings for target speedups: from 1x to the curve's largest, starting at `speed`'s."""
    curve = _usable_curve(loaded)
    if curve is None:
        return dict(minimum=1.0, maximum=2.0, value=1.0)
    top = max(p.speedup for p in curve.points)
    return dict(minimum=1.0, maximum=round(max(top, 1.05), 2), value=round(curve.at_speed(speed).speedup, 2))


def raw_and_calibrated(loaded: LoadedModel, run: BatchRun) -> tuple[BatchRun, BatchRun | None]:
    """The batch with the raw (paper) probabilities and with the calibrated ones (None when
    the model has no temperatures). The run holds what the model computed: calibrated."""
    temps = loaded.model.config.temperatures
    if temps is None:
        return run, None
    out = run.outputs
    raw = LayerOutputs(apply_temperatures(out.layer_probs, [1.0 / t for t in temps]), out.num_tokens, out.labels)
    return dataclasses.replace(run, outputs=raw), run


def _pair(title: str, with_calibrated: bool) -> go.Figure:
    names = ("raw (paper)", "calibrated") if with_calibrated else ("raw: this model is not calibrated",)
    return make_subplots(rows=1, cols=len(names), subplot_titles=names, shared_yaxes=True)


@safe_chart
def luha_pair(loaded: LoadedModel, run: BatchRun) -> go.Figure:
    """LUHA (accuracy per uncertainty bin) of the raw and calibrated probabilities."""
    runs = [r for r in raw_and_calibrated(loaded, run) if r is not None]
    fig = _pair("LUHA", len(runs) == 2)
    for col, r in enumerate(runs, 1):
        bins = luha_bins(r.outputs, bins=5)
        names = [f"{a:.1f}–{b:.1f}" for a, b in zip(bins.edges[:-1], bins.edges[1:])]
        fig.add_trace(go.Bar(x=names, y=[a or 0.0 for a in bins.accuracy], marker_color="#3a9d5d", showlegend=False,
                             text=[f"n={n}" for n in bins.counts], textposition="outside"), 1, col)
        fig.update_xaxes(title_text="uncertainty", row=1, col=col)
    fig.update_yaxes(title_text="accuracy" if run.has_labels else "agreement with the teacher", tickformat=".0%",
                     range=[0, 1.2], row=1, col=1)
    return _style(fig, "LUHA, raw vs calibrated", height=340)


@safe_chart
def reliability_pair(loaded: LoadedModel, run: BatchRun) -> go.Figure:
    """Reliability diagrams (every layer's predictions pooled): confidence vs accuracy."""
    runs = [r for r in raw_and_calibrated(loaded, run) if r is not None]
    fig = _pair("reliability", len(runs) == 2)
    for col, r in enumerate(runs, 1):
        out = r.outputs
        ref = out.labels if out.labels is not None else out.layer_probs[-1].argmax(-1)
        rel = reliability(out.layer_probs.flatten(0, 1), ref.repeat(out.layer_probs.shape[0]), bins=10)
        pts = [(c, a, n) for c, a, n in zip(rel.confidence, rel.accuracy, rel.counts) if n]
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"),
                                 showlegend=False, hoverinfo="skip"), 1, col)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                 marker_color="#1f77b4" if col == 2 else "#d62728", showlegend=False,
                                 text=[f"n={p[2]}" for p in pts],
                                 hovertemplate="confidence %{x:.2f}: accuracy %{y:.1%} (%{text})<extra></extra>"), 1, col)
        fig.update_xaxes(title_text=f"confidence · ECE {100 * rel.ece:.1f} points", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="accuracy" if run.has_labels else "agreement with the teacher", tickformat=".0%",
                     range=[0, 1.05], row=1, col=1)
    return _style(fig, "Reliability: is a layer right as often as it is confident?", height=340)


# ----- wiring into build_app (the only Gradio code here) -----------------------------------------
def add_controls(default: LoadedModel):
    """The mode switch, the target-speedup slider and the cost line (call inside the layout)."""
    import gradio as gr

    with gr.Row(equal_height=True):
        mode = gr.Radio(list(MODES), value=THRESHOLD, label="The slider sets", scale=1, elem_id="speed-mode")
        target = gr.Slider(**target_range(default, 0.5), step=0.05, label="Target FLOPs speedup", scale=3,
                           visible=False, elem_id="target-speedup",
                           info="The speed whose measured speedup (calibration data) is closest.")
    cost = gr.HTML(cost_html(choose(default, THRESHOLD, 0.5)), elem_id="speed-cost", js_on_load=None)
    return mode, target, cost


def add_charts():
    import gradio as gr

    with gr.Row():
        luha = gr.Plot(label="LUHA raw vs calibrated", elem_id="luha-pair-plot", show_label=False)
        rel = gr.Plot(label="Reliability raw vs calibrated", elem_id="reliability-plot", show_label=False)
    return luha, rel


def wire(loaded, model_dd, speed, mode, target, cost, batch_state, luha, rel) -> None:
    """Events: the mode shows the target slider; a target sets the speed slider (whose own
    events redraw everything); any speed updates the cost line; a new batch redraws the pairs."""
    import gradio as gr

    def on_mode(name, mode_value, speed_value):
        choice = choose(loaded(name), mode_value, speed_value)
        usable = choice.mode == TARGET
        return (gr.update(interactive=not usable), gr.update(visible=usable, **target_range(loaded(name), speed_value)),
                cost_html(choice))

    def on_target(name, mode_value, speed_value, target_value):
        choice = choose(loaded(name), mode_value, speed_value, target_value)
        return choice.speed, cost_html(choice)

    def on_speed(name, mode_value, speed_value):
        return cost_html(choose(loaded(name), THRESHOLD if mode_value == TARGET else mode_value, speed_value))

    def on_batch(name, run):
        if run is None or run.model_name != loaded(name).name:
            return gr.skip(), gr.skip()
        return luha_pair(loaded(name), run), reliability_pair(loaded(name), run)

    private = dict(api_visibility="private")
    mode.change(on_mode, [model_dd, mode, speed], [speed, target, cost], **private)
    model_dd.change(on_mode, [model_dd, mode, speed], [speed, target, cost], **private)
    target.input(on_target, [model_dd, mode, speed, target], [speed, cost], **private)
    speed.change(on_speed, [model_dd, mode, speed], [cost], **private)
    batch_state.change(on_batch, [model_dd, batch_state], [luha, rel], **private)
