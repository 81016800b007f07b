"""`python -m fastbert report`: the evaluation report of a model on a data file.

Writes <out>.md with a Table 2-style comparison (full model, FastBERT at several speeds,
static 1- and 3-layer baselines), the ablation, and the paper's Figures 3, 4, 6 and 7 as
plotly figures (PNG + HTML). Every number in it is computed here and printed.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from .data import load_dataset
from .evaluate import all_layer_outputs, evaluate, sweep, time_plain_forward
from .model import FastBert
from .speedup import speedup

CURVE_SPEEDS = [round(0.05 * i, 2) for i in range(21)]
TABLE_SPEEDS = [0.1, 0.5, 0.8]
FIG6_SPEEDS = [0.0, 0.3, 0.5, 0.8]


def _ms(seconds: float, n: int) -> float:
    return 1000.0 * seconds / n


def _row(name, acc, flops, full_ref, t1, t32):
    return {"name": name, "accuracy": acc, "flops": flops, "speedup": speedup(full_ref, flops),
            "ms_b1": t1, "ms_b32": t32}


def table_rows(model, data, outputs, baselines: list[FastBert], timing: bool = True) -> list[dict]:
    """Rows shaped like the paper's Table 2. FLOPs are per sample, means over the data."""
    n = len(data)
    full = sweep(model, outputs, [0.0])[0]
    ref = full.full_flops_per_sample

    def plain_times(m):
        time_plain_forward(m, data.subset(range(min(32, n))), 1)  # warm-up: thread pool, allocator
        return (_ms(time_plain_forward(m, data, 1), n), _ms(time_plain_forward(m, data, 32), n)) if timing else (None, None)

    rows = [_row(f"Full model ({model.num_layers} layers, teacher only)", full.accuracy, ref, ref, *plain_times(model))]
    for r in sweep(model, outputs, TABLE_SPEEDS):
        times = ((_ms(evaluate(model, data, r.speed, 1).seconds, n), _ms(evaluate(model, data, r.speed, 32).seconds, n))
                 if timing else (None, None))
        rows.append(_row(f"FastBERT speed={r.speed:g}", r.accuracy, r.flops_per_sample, ref, *times))
    for b in baselines:
        res = sweep(b, all_layer_outputs(b, data), [0.0])[0]
        rows.append(_row(f"Static: first {b.num_layers} layer{'s' * (b.num_layers > 1)} + classifier, fine-tuned",
                         res.accuracy, res.full_flops_per_sample, ref, *plain_times(b)))
    return rows


def ablation_rows(model, outputs, joint: FastBert | None, data) -> list[dict]:
    full = sweep(model, outputs, [0.0])[0]
    ref = full.full_flops_per_sample
    rows = [_row("FastBERT, speed 0.5", *(lambda r: (r.accuracy, r.flops_per_sample))(sweep(model, outputs, [0.5])[0]), ref, None, None),
            _row("without adaptive inference (speed 0: every layer and classifier)", full.accuracy,
                 full.flops_per_sample, ref, None, None)]
    if joint is not None:
        jo = all_layer_outputs(joint, data)
        for r in sweep(joint, jo, [0.0, 0.5]):
            rows.append(_row(f"without self-distillation (students on labels, joint), speed {r.speed:g}",
                             r.accuracy, r.flops_per_sample, ref, None, None))
    return rows


def markdown_table(rows: list[dict]) -> str:
    out = ["| model | accuracy | FLOPs / sample | FLOPs speedup | CPU ms / sample, batch 1 | CPU ms / sample, batch 32 |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        t1 = "–" if r["ms_b1"] is None else f"{r['ms_b1']:.2f}"
        t32 = "–" if r["ms_b32"] is None else f"{r['ms_b32']:.2f}"
        out.append(f"| {r['name']} | {100 * r['accuracy']:.2f}% | {r['flops'] / 1e6:.1f}M | {r['speedup']:.2f}x | {t1} | {t32} |")
    return "\n".join(out)


# ----- figures ------------------------------------------------------------------------------
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


def luha_bins(outputs, layer: int, bins: int = 10) -> tuple[list[float], list[float | None], list[int]]:
    """Accuracy of one layer's classifier per uncertainty bin (lower uncertainty, higher accuracy)."""
    u = outputs.uncertainties[layer]
    correct = (outputs.layer_probs[layer].argmax(-1) == outputs.labels).double()
    idx = torch.clamp((u * bins).long(), max=bins - 1)
    centers = [(i + 0.5) / bins for i in range(bins)]
    counts = torch.bincount(idx, minlength=bins).tolist()
    sums = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, correct).tolist()
    acc = [100 * s / c if c else None for s, c in zip(sums, counts)]
    return centers, acc, counts


def figure4(outputs, num_layers):
    import plotly.graph_objects as go

    fig = go.Figure()
    for layer, label in ((0, "bottom (layer 1)"), (num_layers // 2 - 1, f"middle (layer {num_layers // 2})"),
                         (num_layers - 2, f"top student (layer {num_layers - 1})")):
        x, y, c = luha_bins(outputs, layer)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=label,
                                 text=[f"{k} samples" for k in c], connectgaps=False))
    fig.update_layout(title="Figure 4 (LUHA): accuracy per uncertainty bin", xaxis_title="uncertainty",
                      yaxis_title="accuracy (%)", width=800, height=450)
    return fig


def figure6(model, outputs):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .uncertainty import decide_exits, get_criterion

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


def save_figures(figs: dict, directory: Path, prefix: str, png: bool = True) -> dict[str, str]:
    """HTML (plotly.js from its CDN, so the HTML needs a network; 4.8 MB of plotly.js per report
    directory would not fit the assets budget) and PNG (kaleido, system Chromium: the offline copy)."""
    stems = {k: f"{prefix}_{k}" for k in figs}
    for k, fig in figs.items():
        fig.write_html(directory / f"{stems[k]}.html", include_plotlyjs="cdn")
    if png:
        import plotly.io as pio

        if "BROWSER_PATH" not in os.environ and shutil.which("chromium"):
            os.environ["BROWSER_PATH"] = shutil.which("chromium")
        figures = list(figs.values())
        pio.write_images(figures, [directory / f"{stems[k]}.png" for k in figs],
                         width=[f.layout.width for f in figures], height=[f.layout.height for f in figures])
    return stems


def build_report(model_dir: str, data_path: str, out: Path, baseline_dirs: list[str], joint_dir: str | None,
                 timing: bool = True, png: bool = True, dev_fraction: float = 0.0, seed: int = 0,
                 calibrated: bool = True) -> str:
    model = FastBert.from_pretrained(model_dir)
    if not calibrated:  # the paper's probabilities: drop the temperatures (and the curve measured with them)
        model.config.temperatures, model.curve = None, None
    data = load_dataset(data_path)
    if dev_fraction:  # the same held-out split as `train --dev-fraction F --seed S`
        data = data.split(dev_fraction, seed)[1]
    outputs = all_layer_outputs(model, data)
    baselines = [FastBert.from_pretrained(d) for d in baseline_dirs]
    joint = FastBert.from_pretrained(joint_dir) if joint_dir else None
    rows = table_rows(model, data, outputs, baselines, timing)
    abl = ablation_rows(model, outputs, joint, data)
    curve = sweep(model, outputs, CURVE_SPEEDS)
    name = out.stem
    out.parent.mkdir(parents=True, exist_ok=True)
    figs = {"fig3": figure3(curve), "fig4_luha": figure4(outputs, model.num_layers), "fig6": figure6(model, outputs)}
    log = model.metadata().get("log", [])
    if log:
        figs["fig7"] = figure7(log)
    saved = save_figures(figs, out.parent, name, png=png)
    meta = model.metadata()
    threads = torch.get_num_threads()
    curve_md = ["| speed | accuracy | mean exit layer | FLOPs speedup |", "|---:|---:|---:|---:|"]
    curve_md += [f"| {r.speed:g} | {100 * r.accuracy:.2f}% | {r.mean_exit_layer:.2f} | {r.flops_speedup:.2f}x |"
                 for r in curve]
    text = f"""# Evaluation report: `{model_dir}`

Data: `{data_path}`{f" (the {dev_fraction:g} held out by training, seed {seed})" if dev_fraction else ""} ({len(data)} rows). Model: {model.num_layers} layers, labels {model.config.labels}.
Made by (seed {meta.get('seed', '?')}): {'; then '.join(f"`{c}`" for c in meta.get('commands', [meta.get('command', '(no training record)')]))}.
Regenerate this report with the command at the end. FLOPs: 2 x multiply-adds of all matrix products,
counted with fvcore on each sample's real token count; speedup = full-model FLOPs / FLOPs spent.
CPU times: this machine, {threads} torch threads, whole data set, tokenization included, one run each
(noisy: see `benchmarks/` for interleaved, repeated medians).

## Table 2 (shape of the paper's Table 2)

{markdown_table(rows)}

The full model is the backbone with its teacher classifier only, as a plain fine-tuned model
would be run. The static baselines are the same backbone cut to its first layers and fine-tuned
with the same classifier (the analog of the paper's DistilBERT rows).

## Ablation

{markdown_table(abl)}

## Figure 3: speed–accuracy, speed–speedup, speedup–accuracy

![]({saved['fig3']}.png) ([interactive]({saved['fig3']}.html))

{chr(10).join(curve_md)}

## Figure 4: LUHA (lower uncertainty, higher accuracy)

![]({saved['fig4_luha']}.png) ([interactive]({saved['fig4_luha']}.html))

## Figure 6: uncertainty per layer and exit layers at speeds {', '.join(f'{s:g}' for s in FIG6_SPEEDS)}

![]({saved['fig6']}.png) ([interactive]({saved['fig6']}.html))
"""
    if "fig7" in saved:
        text += f"""
## Figure 7: accuracy and FLOPs during fine-tuning and self-distillation

![]({saved['fig7']}.png) ([interactive]({saved['fig7']}.html))

Each point is a dev evaluation logged by `python -m fastbert train` (every {meta.get('stages', {}).get('finetune', {}).get('eval_every', '?')} steps).
During fine-tuning the students are untrained, so speed 0.5 exits late or never; self-distillation
makes them confident where the teacher is.
"""
    cmd = (f"python -m fastbert report --model {model_dir} --data {data_path} --out {out}"
           + (f" --dev-fraction {dev_fraction:g} --seed {seed}" if dev_fraction else "")
           + "".join(f" --baseline {d}" for d in baseline_dirs) + (f" --ablation {joint_dir}" if joint_dir else "")
           + ("" if calibrated else " --no-calibration"))
    text += f"\n## Regenerate\n\n```\n{cmd}\n```\n"
    out.write_text(text)
    (out.parent / f"{name}.json").write_text(json.dumps({"table": rows, "ablation": abl,
                                                         "curve": [r.to_dict() for r in curve]}, indent=1))
    return text


def cmd_report(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    text = build_report(args.model, args.data, Path(args.out), args.baseline or [], args.ablation,
                        timing=not args.no_timing, png=not args.no_png, dev_fraction=args.dev_fraction,
                        seed=args.seed, calibrated=not args.no_calibration)
    print(text)
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="evaluation report: Table 2, ablation, Figures 3/4/6/7")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="the .md file; figures go beside it")
    p.add_argument("--baseline", action="append", help="a static baseline model directory (repeatable)")
    p.add_argument("--ablation", default=None, help="a model trained with --stages joint (no self-distillation)")
    p.add_argument("--no-timing", action="store_true", help="skip the CPU timing columns")
    p.add_argument("--no-png", action="store_true", help="only the HTML figures")
    p.add_argument("--dev-fraction", type=float, default=0.0,
                   help="evaluate on the part of --data that `train --dev-fraction` held out")
    p.add_argument("--seed", type=int, default=0, help="the seed of that split")
    p.add_argument("--no-calibration", action="store_true", help="ignore the model's temperatures (the paper's exits)")
    p.add_argument("--threads", type=int, default=0)
    p.set_defaults(func=cmd_report)
