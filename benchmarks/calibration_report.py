"""Calibration report of the shipped models: assets/reports/calibration.md (+ reliability figures).

    PYTHONPATH=. python benchmarks/calibration_report.py --out assets/reports/calibration.md

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

from fastbert.calibrate import stored_split
from fastbert.calibration import SPEED_GRID, apply_temperatures, fit_temperatures, layer_ece, reliability
from fastbert.data import load_dataset
from fastbert.evaluate import LayerOutputs, all_layer_outputs, sweep
from fastbert.model import FastBert

MODELS = {"sst2-minilm": "SST-2", "agnews-minilm": "AG News", "chnsenticorp-zh": "ChnSentiCorp (Chinese, 4 layers)",
          "chnsenticorp-12l": "ChnSentiCorp (Chinese, 12 layers)"}
# The issue's speedup target on the Chinese models spans each model's range, every 0.25x.
WHOLE_RANGE = {"chnsenticorp-zh", "chnsenticorp-12l"}
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


def ece_floor(layer_probs: torch.Tensor, draws: int = 100) -> list[float]:
    """Per layer, the mean ECE of a perfectly calibrated model with these confidences: labels
    drawn from the probabilities themselves. What binning on this few rows reads as error."""
    g = torch.Generator().manual_seed(0)
    return [float(np.mean([reliability(p, torch.multinomial(p.double(), 1, generator=g).squeeze(1)).ece
                           for _ in range(draws)])) for p in layer_probs]


def measure(name: str, models_dir: Path) -> dict:
    model = FastBert.from_pretrained(models_dir / name)
    curve, temps = model.curve, model.config.temperatures
    if curve is None or temps is None:
        raise SystemExit(f"{name}: not calibrated; run `python -m fastbert calibrate` first")
    path = curve.data.get("path")
    try:
        split = dict(zip(("calibration", "unseen"), stored_split(model, path)))  # its sha256 is checked
    except (ValueError, FileNotFoundError, TypeError) as err:
        raise SystemExit(f"{name}: {err}") from err
    data = load_dataset(path)
    raw = {part: all_layer_outputs(model, data.subset(rows), calibrated=False) for part, rows in split.items()}
    cal = {k: _calibrated(v, temps) for k, v in raw.items()}
    ece = {k: {"before": layer_ece(raw[k].layer_probs, raw[k].labels),
               "after": layer_ece(cal[k].layer_probs, cal[k].labels),
               "floor": ece_floor(cal[k].layer_probs)} for k in raw}
    # Cross-fitted: the unseen rows with the shipped temperatures, the calibration rows with
    # temperatures fitted on the unseen rows; every dev row is scored by temperatures not fitted on it.
    other = fit_temperatures(raw["unseen"].layer_probs, raw["unseen"].labels)
    both_raw = _cat(raw["calibration"], raw["unseen"])
    crossed = _cat(_calibrated(raw["calibration"], other), cal["unseen"])
    ece["cross_fitted"] = {"before": layer_ece(both_raw.layer_probs, both_raw.labels),
                           "after": layer_ece(crossed.layer_probs, crossed.labels), "floor": ece_floor(crossed.layer_probs),
                           "other_temperatures": other}
    L = model.num_layers
    ece["pooled_unseen"] = {k: reliability(o.layer_probs.flatten(0, 1), o.labels.repeat(L)).ece
                            for k, o in (("before", raw["unseen"]), ("after", cal["unseen"]))}
    ece["pooled_unseen"]["floor"] = ece_floor(cal["unseen"].layer_probs.flatten(0, 1).unsqueeze(0))[0]
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
    grid = [round(x, 2) for x in np.arange(1.5, top + 1e-9, 0.1)]
    diffs = [c - r for r, c in zip(_acc_at_speedup(model, dev_raw, grid), _acc_at_speedup(model, dev_cal, grid))
             if r is not None and c is not None]
    equal = {"raw": _acc_at_speedup(model, dev_raw, TARGETS), "calibrated": _acc_at_speedup(model, dev_cal, TARGETS),
             "mean_difference": float(np.mean(diffs)), "min_difference": float(np.min(diffs)),
             "grid": [grid[0], grid[-1]],
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
                      xaxis_range=[0, 1.01], yaxis_range=[0, 1.02])
    return fig


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}%"


def _points(x):  # ECE, in points
    return f"{100 * x:.2f}"


def _halved(before, after) -> str:
    return "yes" if after <= before / 2 else "**no**"


def section(res: dict, figure: str | None) -> str:
    L = len(res["temperatures"])
    out = [f"## {res['title']} (`assets/models/{res['name']}`)", "",
           f"Calibrated on {res['rows']['calibration']} rows and evaluated on {res['rows']['unseen']} unseen rows of "
           f"`{res['data']['path']}` (sha256 `{res['data']['sha256'][:12]}…`): {res['data']['selection'].split(';')[0]}; "
           f"calibration / unseen = a seeded half each. Full-model accuracy: {_pct(res['full_accuracy']['calibration'])} "
           f"/ {_pct(res['full_accuracy']['unseen'])}.", "",
           "| layer | T | ECE before, calibration rows | after | halved | ECE before, unseen rows | after | halved | "
           "floor (unseen) |", "|---:|---:|---:|---:|:---:|---:|---:|:---:|---:|"]
    e = res["ece"]
    for i in range(L):
        b, a = e["unseen"]["before"][i], e["unseen"]["after"][i]
        cb, ca = e["calibration"]["before"][i], e["calibration"]["after"][i]
        out.append(f"| {i + 1} | {res['temperatures'][i]:.3f} | {_points(cb)} | {_points(ca)} | {_halved(cb, ca)} | "
                   f"{_points(b)} | {_points(a)} | {_halved(b, a)} | {_points(e['unseen']['floor'][i])} |")
    x = e["cross_fitted"]
    out += ["", "Cross-fitted on all dev rows (each half scored with temperatures fitted on the other half; "
            f"the other half's temperatures: {', '.join(f'{t:.3f}' for t in x['other_temperatures'])}):", "",
            "| layer | ECE before | after | halved | floor |", "|---:|---:|---:|:---:|---:|"]
    out += [f"| {i + 1} | {_points(b)} | {_points(a)} | {_halved(b, a)} | {_points(f)} |"
            for i, (b, a, f) in enumerate(zip(x["before"], x["after"], x["floor"]))]
    pu = e["pooled_unseen"]
    out += ["", f"Every layer's predictions pooled, unseen rows: ECE {_points(pu['before'])} before, "
            f"{_points(pu['after'])} after "
            f"({'halved' if pu['after'] <= pu['before'] / 2 else '**not halved**'}; floor {_points(pu['floor'])})."]
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
                   f"{r['unseen_speedup']:.2f}x | {100 * err:+.1f}% | {ok} | {_pct(r['unseen_accuracy'])} |")
    eq = res["equal_speedup"]
    out += ["", "Accuracy at equal FLOPs speedup, without (paper) and with calibration:", "",
            "| speedup | all dev rows, raw | calibrated | difference (points) | unseen rows, raw | calibrated | difference |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for i, t in enumerate(TARGETS):
        d = None if eq["raw"][i] is None or eq["calibrated"][i] is None else eq["calibrated"][i] - eq["raw"][i]
        du = (None if eq["unseen_raw"][i] is None or eq["unseen_calibrated"][i] is None
              else eq["unseen_calibrated"][i] - eq["unseen_raw"][i])
        out.append(f"| {t:g}x | {_pct(eq['raw'][i])} | {_pct(eq['calibrated'][i])} | {'–' if d is None else f'{100 * d:+.2f}'} | "
                   f"{_pct(eq['unseen_raw'][i])} | {_pct(eq['unseen_calibrated'][i])} | {'–' if du is None else f'{100 * du:+.2f}'} |")
    out += ["", f"Over the whole range ({eq['grid'][0]:g}x to {eq['grid'][1]:g}x, every 0.1x, all dev rows), calibrated minus raw: "
            f"mean {100 * eq['mean_difference']:+.2f} points, worst {100 * eq['min_difference']:+.2f} points."]
    return "\n".join(out)


COMMANDS = {
    "sst2-minilm": "python -m fastbert calibrate --model assets/models/sst2-minilm --data ../shared/data/sst2/dev.tsv "
                   "--fraction 0.5 --seed 0",
    "agnews-minilm": "python -m fastbert calibrate --model assets/models/agnews-minilm --data ../shared/data/ag_news/train.tsv "
                     "--holdout-fraction 0.1 --holdout-seed 0 --fraction 0.5 --seed 0",
    "chnsenticorp-zh": "python -m fastbert calibrate --model assets/models/chnsenticorp-zh "
                       "--data ../shared/data/chnsenticorp/dev.tsv --fraction 0.5 --seed 0",
    "chnsenticorp-12l": "python -m fastbert calibrate --model assets/models/chnsenticorp-12l "
                        "--data ../shared/data/chnsenticorp/dev.tsv --fraction 0.5 --seed 0",
}


def summary(results: list[dict]) -> str:
    """The issue's targets, model by model, from the numbers below."""
    out = ["## Targets", "", "| model | speedup within ±10% on unseen rows | ECE halved, per layer (unseen half / cross-fitted) "
           "| accuracy at equal speedup, 2x-5x, all dev rows (worst, calibrated - raw) |", "|---|---|---|---|"]
    for r in results:
        in_range = [q for q in r["requested"] if q["target"] <= r["max_speedup"] * (1 + TOLERANCE)
                    and (r["name"] in WHOLE_RANGE or not q["grid"])]
        errs = [q["unseen_speedup"] / q["target"] - 1 for q in in_range]
        ok = sum(abs(e) <= TOLERANCE for e in errs)
        span = f"{in_range[0]['target']:g}x-{in_range[-1]['target']:g}x" + (" every 0.25x" if r["name"] in WHOLE_RANGE else "")
        e, x = r["ece"]["unseen"], r["ece"]["cross_fitted"]
        halved = [sum(a <= b / 2 for b, a in zip(d["before"], d["after"])) for d in (e, x)]
        diffs = [c - w for w, c in zip(r["equal_speedup"]["raw"], r["equal_speedup"]["calibrated"]) if w is not None and c is not None]
        out.append(f"| {r['title']} | {ok} of {len(errs)} requests ({span}); worst {100 * max(errs, key=abs):+.1f}% "
                   f"| {halved[0]} / {halved[1]} of {len(e['before'])} layers | {100 * min(diffs):+.2f} points "
                   f"({'met' if min(diffs) >= -0.003 else '**missed**'}) |")
    floors = [f for r in results for f in r["ece"]["unseen"]["floor"]]
    temps = {r["title"]: (min(r["temperatures"]), max(r["temperatures"])) for r in results}
    halves = [n for r in results for n in r["rows"].values()]
    out += ["", f"What limits the ECE target: a half of these dev sets is {min(halves)} to {max(halves)} rows, and on so few rows a "
            f"*perfectly* calibrated model still reads {100 * min(floors):.1f} to {100 * max(floors):.1f} points of "
            "per-layer ECE (the floor columns below), so a layer that starts at 4 to 6 points cannot show a halving "
            "even when its temperature is right. Tried, and reported below: the shipped fit (one half), cross-fitting "
            "(each half scored with temperatures fitted on the other, all dev rows, a lower floor), and every layer "
            "pooled (a lower floor still). Fitted temperatures: "
            + "; ".join(f"{k} {a:.2f} to {b:.2f}" for k, (a, b) in temps.items())
            + ". Where they are close to 1 the students were already calibrated as far as these rows can tell, and "
            "one temperature per layer (what the issue asks for) cannot correct a miscalibration that differs "
            "between confidence levels."]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="assets/reports/calibration.md")
    ap.add_argument("--models-dir", default="assets/models")
    ap.add_argument("--model", action="append", choices=list(MODELS), help="default: all of them")
    ap.add_argument("--no-png", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not args.no_png:
        from fastbert.tools.report_figures import check_png_export

        check_png_export()  # kaleido is an optional extra: say so before the work, not after
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
            f"Written by `PYTHONPATH=. python {shlex.join(['benchmarks/calibration_report.py', *(argv if argv is not None else sys.argv[1:])])}` "
            "(numbers in `calibration.json` beside it). ECE: 15 equal-width bins of the maximum probability, in points. "
            "*Floor*: the mean ECE, over 100 draws, of a perfectly calibrated model with the calibrated confidences "
            "(labels drawn from its own probabilities): what this estimator reads as error on this few rows.", ""]
    body = [section(r, f"calibration_{r['name']}_reliability") for r in results]
    how = ["## How the shipped models were calibrated", "",
           "Temperatures by NLL against the labels; the curve on a 0.01 grid of speeds; both on the calibration rows only:", "",
           "```", *[COMMANDS[r["name"]] for r in results], "```", "",
           "AG News has no dev file: the model was trained on the 9,001 rows that `train --dev-fraction 0.1 --seed 0` kept, "
           "so it is calibrated and evaluated only on the 1,000 rows that split held out (a seeded half each).", ""]
    out.write_text("\n".join(head) + "\n" + summary(results) + "\n\n" + "\n".join(how) + "\n" + "\n\n".join(body) + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
