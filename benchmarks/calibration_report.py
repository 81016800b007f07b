"""Calibration report of the shipped models: assets/reports/calibration.md (+ reliability figures).

    python benchmarks/calibration_report.py --out assets/reports/calibration.md

Run from the project root after `python -m fastbert calibrate` on each model (the commands are
printed in the report). Each model's calibration.json names its data file (its sha256 is
checked), the rows it was calibrated on and the rows left unseen; everything below is computed
here from those rows, from one all-layers pass per split without temperatures (the calibrated
probabilities are softmax(log p / T), see fastbert.calibration):
  * per-layer ECE (15 bins) before and after, on both splits;
  * reliability diagrams (all layers pooled, unseen rows), raw vs calibrated;
  * requested vs achieved FLOPs speedup at 2x..5x (and on a finer grid over the model's range);
  * accuracy at equal FLOPs speedup with and without calibration, on all dev rows
    (calibration + unseen), interpolated along each model's speed sweep.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from fastbert.calibration import (SPEED_GRID, apply_temperatures, file_sha256, layer_ece, load_curve,
                                  reliability)
from fastbert.data import load_dataset
from fastbert.evaluate import LayerOutputs, all_layer_outputs, sweep
from fastbert.model import FastBert

MODELS = {"sst2-minilm": "SST-2", "agnews-minilm": "AG News", "chnsenticorp-zh": "ChnSentiCorp (Chinese)"}
TARGETS = [2.0, 3.0, 4.0, 5.0]
TOLERANCE = 0.10


def _cat(a: LayerOutputs, b: LayerOutputs) -> LayerOutputs:
    return LayerOutputs(torch.cat([a.layer_probs, b.layer_probs], 1), torch.cat([a.num_tokens, b.num_tokens]),
                        torch.cat([a.labels, b.labels]))


def _calibrated(out: LayerOutputs, temps) -> LayerOutputs:
    return LayerOutputs(apply_temperatures(out.layer_probs, temps), out.num_tokens, out.labels)


def _acc_at_speedup(model, out: LayerOutputs, targets) -> list[float | None]:
    """Accuracy interpolated at each target along the speed sweep (None beyond its range)."""
    pts = {}
    for r in sweep(model, out, SPEED_GRID):
        pts.setdefault(round(r.flops_speedup, 6), r.accuracy)  # the lowest speed of a plateau
    xs, ys = zip(*sorted(pts.items()))
    return [float(np.interp(t, xs, ys)) if xs[0] <= t <= xs[-1] else None for t in targets]


def measure(name: str, models_dir: Path) -> dict:
    model = FastBert.from_pretrained(models_dir / name)
    curve, temps = model.curve, model.config.temperatures
    if curve is None or temps is None:
        raise SystemExit(f"{name}: not calibrated; run `python -m fastbert calibrate` first")
    path = curve.data["path"]
    if file_sha256(path) != curve.data["sha256"]:
        raise SystemExit(f"{name}: {path} is not the file it was calibrated on (sha256 differs)")
    data = load_dataset(path)
    raw = {split: all_layer_outputs(model, data.subset(curve.data[key]), calibrated=False)
           for split, key in (("calibration", "rows"), ("unseen", "unseen_rows"))}
    cal = {k: _calibrated(v, temps) for k, v in raw.items()}
    ece = {k: {"before": layer_ece(raw[k].layer_probs, raw[k].labels),
               "after": layer_ece(cal[k].layer_probs, cal[k].labels)} for k in raw}
    top = curve.points[-1].speedup
    fine = [round(x, 2) for x in np.arange(1.5, top + 1e-9, 0.25)]
    requested = []
    for t in sorted(set(TARGETS + fine)):
        p = curve.for_speedup(t)
        got = {k: sweep(model, cal[k], [p.speed])[0] for k in cal}
        requested.append({"target": t, "speed": p.speed, "grid": t in fine and t not in TARGETS,
                          **{f"{k}_speedup": r.flops_speedup for k, r in got.items()},
                          **{f"{k}_accuracy": r.accuracy for k, r in got.items()}})
    dev_raw, dev_cal = _cat(raw["calibration"], raw["unseen"]), _cat(cal["calibration"], cal["unseen"])
    equal = {"raw": _acc_at_speedup(model, dev_raw, TARGETS), "calibrated": _acc_at_speedup(model, dev_cal, TARGETS),
             "unseen_raw": _acc_at_speedup(model, raw["unseen"], TARGETS),
             "unseen_calibrated": _acc_at_speedup(model, cal["unseen"], TARGETS)}
    pooled = {k: reliability(o.layer_probs.flatten(0, 1), o.labels.repeat(model.num_layers))
              for k, o in (("raw", raw["unseen"]), ("calibrated", cal["unseen"]))}
    return {"name": name, "title": MODELS[name], "temperatures": temps, "data": {k: v for k, v in curve.data.items()
            if k not in ("rows", "unseen_rows")}, "rows": {k: len(curve.data[v]) for k, v in
            (("calibration", "rows"), ("unseen", "unseen_rows"))}, "max_speedup": top,
            "full_accuracy": {k: (o.layer_probs[-1].argmax(-1) == o.labels).double().mean().item() for k, o in raw.items()},
            "ece": ece, "requested": requested, "equal_speedup": equal,
            "reliability": {k: vars(v) for k, v in pooled.items()}}


def reliability_figure(res: dict):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(dash="dot", color="gray")))
    for key, color in (("raw", "#d62728"), ("calibrated", "#1f77b4")):
        rel = res["reliability"][key]
        pts = [(c, a, n) for c, a, n in zip(rel["confidence"], rel["accuracy"], rel["counts"]) if n]
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=key,
                                 marker=dict(color=color, size=[4 + 16 * (p[2] / max(q[2] for q in pts)) ** 0.5 for p in pts]),
                                 text=[f"{p[2]} predictions" for p in pts]))
    fig.update_layout(title=f"{res['title']}: reliability, every layer pooled, unseen rows", width=560, height=460,
                      xaxis_title="confidence (max probability)", yaxis_title="accuracy", template="plotly_white",
                      xaxis_range=[0.45 if len(res['reliability']['raw']['counts']) else 0, 1.01], yaxis_range=[0, 1.02])
    return fig


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


def section(res: dict, figure: str | None) -> str:
    L = len(res["temperatures"])
    out = [f"## {res['title']} (`assets/models/{res['name']}`)", "",
           f"Calibrated on {res['rows']['calibration']} rows and evaluated on {res['rows']['unseen']} unseen rows of "
           f"`{res['data']['path']}` (sha256 `{res['data']['sha256'][:12]}…`): {res['data']['selection'].split(';')[0]}; "
           f"calibration / unseen = a seeded half each. Full-model accuracy: {_pct(res['full_accuracy']['calibration'])}% "
           f"/ {_pct(res['full_accuracy']['unseen'])}%.", "",
           "| layer | T | ECE before, calibration rows | after | ECE before, unseen rows | after | halved (unseen) |",
           "|---:|---:|---:|---:|---:|---:|:---:|"]
    e = res["ece"]
    for i in range(L):
        b, a = e["unseen"]["before"][i], e["unseen"]["after"][i]
        out.append(f"| {i + 1} | {res['temperatures'][i]:.3f} | {_pct(e['calibration']['before'][i])} | "
                   f"{_pct(e['calibration']['after'][i])} | {_pct(b)} | {_pct(a)} | {'yes' if a <= b / 2 else '**no**'} |")
    if figure:
        out += ["", f"![reliability]({figure}.png) ([interactive]({figure}.html))"]
    out += ["", f"Requested vs achieved FLOPs speedup (the model reaches at most {res['max_speedup']:.2f}x at speed 1 "
            "on the calibration rows):", "",
            "| requested | speed | achieved, calibration rows | achieved, unseen rows | error (unseen) | within ±10% | accuracy, unseen |",
            "|---:|---:|---:|---:|---:|:---:|---:|"]
    for r in res["requested"]:
        err = r["unseen_speedup"] / r["target"] - 1
        ok = "beyond range" if r["target"] > res["max_speedup"] * (1 + TOLERANCE) else ("yes" if abs(err) <= TOLERANCE else "**no**")
        out.append(f"| {r['target']:g}x{' (grid)' if r['grid'] else ''} | {r['speed']:g} | {r['calibration_speedup']:.2f}x | "
                   f"{r['unseen_speedup']:.2f}x | {100 * err:+.1f}% | {ok} | {_pct(r['unseen_accuracy'])}% |")
    eq = res["equal_speedup"]
    out += ["", "Accuracy at equal FLOPs speedup, without (paper) and with calibration:", "",
            "| speedup | all dev rows, raw | calibrated | difference (points) | unseen rows, raw | calibrated | difference |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for i, t in enumerate(TARGETS):
        d = None if eq["raw"][i] is None or eq["calibrated"][i] is None else eq["calibrated"][i] - eq["raw"][i]
        du = (None if eq["unseen_raw"][i] is None or eq["unseen_calibrated"][i] is None
              else eq["unseen_calibrated"][i] - eq["unseen_raw"][i])
        out.append(f"| {t:g}x | {_pct(eq['raw'][i])}% | {_pct(eq['calibrated'][i])}% | {'–' if d is None else f'{100 * d:+.2f}'} | "
                   f"{_pct(eq['unseen_raw'][i])}% | {_pct(eq['unseen_calibrated'][i])}% | {'–' if du is None else f'{100 * du:+.2f}'} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="assets/reports/calibration.md")
    ap.add_argument("--models-dir", default="assets/models")
    ap.add_argument("--model", action="append", choices=list(MODELS), help="default: all three")
    ap.add_argument("--no-png", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    results = [measure(name, Path(args.models_dir)) for name in (args.model or list(MODELS))]
    figs = {}
    for res in results:
        stem = f"calibration_{res['name']}_reliability"
        fig = reliability_figure(res)
        fig.write_html(out.parent / f"{stem}.html", include_plotlyjs="cdn")
        figs[stem] = fig
    if not args.no_png:
        import plotly.io as pio

        if "BROWSER_PATH" not in os.environ and shutil.which("chromium"):
            os.environ["BROWSER_PATH"] = shutil.which("chromium")
        pio.write_images(list(figs.values()), [out.parent / f"{s}.png" for s in figs], width=560, height=460)
    head = ["# Calibration: per-layer temperatures and a speed you can ask for", "",
            f"Written by `python {shlex.join(['benchmarks/calibration_report.py', *(argv if argv is not None else sys.argv[1:])])}` "
            "(numbers in `calibration.json` beside it). ECE: 15 equal-width bins of the maximum probability, in points.", ""]
    body = [section(r, f"calibration_{r['name']}_reliability") for r in results]
    out.write_text("\n".join(head) + "\n\n".join(body) + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
