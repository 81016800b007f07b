"""The evaluation report of a model on a data file (`python -m fastbert report`).

Writes <out>.md with a Table 2-style comparison (full model, FastBERT at several speeds,
static 1- and 3-layer baselines), the ablation, and the paper's Figures 3, 4, 6 and 7 as
plotly figures (PNG + HTML); with --compare, other models on the same data beside it
(`report_compare.py`). Every number in it is computed here and printed, except the rows that
--previous copies from an earlier report's JSON, which are marked as such.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..checkpoint import command_chain
from ..data import load_dataset
from ..evaluate import all_layer_outputs, evaluate, sweep, time_plain_forward
from ..model import FastBert
from ..options import command_line
from ..speedup import speedup
from .report_compare import (FINE_SPEEDS, ComparedModel, compare_rows, equal_flops_rows, markdown_compare, ms_cell,
                             markdown_equal_flops)
from .report_config import ReportConfig
from .report_figures import FIG6_SPEEDS, figure3, figure4, figure6, figure7, figure_depth, save_figures

CURVE_SPEEDS = [round(0.05 * i, 2) for i in range(21)]
TABLE_SPEEDS = [0.1, 0.5, 0.8]


def _ms(seconds: float, n: int) -> float:
    return 1000.0 * seconds / n


def _row(name, acc, flops, full_ref, t1, t32):
    return {"name": name, "accuracy": acc, "flops": flops, "speedup": speedup(full_ref, flops),
            "ms_b1": t1, "ms_b32": t32}


def plain_ms(model, data) -> tuple[float, float]:
    """CPU ms per sample of the plain model (teacher only) at batch 1 and 32, after a warm-up."""
    n = len(data)
    time_plain_forward(model, data.subset(range(min(32, n))), 1)  # warm-up: thread pool, allocator
    return _ms(time_plain_forward(model, data, 1), n), _ms(time_plain_forward(model, data, 32), n)


def adaptive_ms(model, data, speed: float) -> tuple[float, float]:
    """CPU ms per sample of adaptive inference at `speed`, batch 1 and 32."""
    n = len(data)
    return _ms(evaluate(model, data, speed, 1).seconds, n), _ms(evaluate(model, data, speed, 32).seconds, n)


def table_rows(model, data, outputs, baselines: list[FastBert], timing: bool = True) -> list[dict]:
    """Rows shaped like the paper's Table 2. FLOPs are per sample, means over the data."""
    full = sweep(model, outputs, [0.0])[0]
    ref = full.full_flops_per_sample
    untimed = (None, None)
    rows = [_row(f"Full model ({model.num_layers} layers, teacher only)", full.accuracy, ref, ref,
                 *(plain_ms(model, data) if timing else untimed))]
    for r in sweep(model, outputs, TABLE_SPEEDS):
        rows.append(_row(f"FastBERT speed={r.speed:g}", r.accuracy, r.flops_per_sample, ref,
                         *(adaptive_ms(model, data, r.speed) if timing else untimed)))
    return rows + [static_row(b, data, ref, timing) for b in baselines]


def static_row(baseline, data, full_flops: float, timing: bool = True) -> dict:
    """The row of a static baseline (a backbone cut to its first layers, fine-tuned): its
    accuracy and FLOPs, its FLOPs speedup against `full_flops` (the full model's, same data)."""
    res = sweep(baseline, all_layer_outputs(baseline, data), [0.0])[0]
    n = baseline.num_layers
    return _row(f"Static: first {n} layer{'s' * (n > 1)} + classifier, fine-tuned", res.accuracy,
                res.full_flops_per_sample, full_flops, *(plain_ms(baseline, data) if timing else (None, None)))


def _timed_compare_rows(name, other, data, outputs, report_full_flops, timing):
    rows = compare_rows(name, other, outputs, report_full_flops, TABLE_SPEEDS)
    if timing:
        rows[0].ms_b1, rows[0].ms_b32 = plain_ms(other, data)
        for r in rows[1:]:
            r.ms_b1, r.ms_b32 = adaptive_ms(other, data, r.speed)
    return rows


def compare_section(cfg: ReportConfig, model, outputs, data, rows: list[dict]) -> dict[str, ComparedModel]:
    """Each --compare model on the same data: its rows, its accuracy at the FLOPs of this report's
    rows and its curve on the fine grid, keyed by its directory's name (names must differ)."""
    names = [Path(cfg.model).name] + [Path(d).name for d in cfg.compare or []]
    if len(set(names)) != len(names):
        raise ValueError(f"--model and --compare directories need different names (they label the rows): {names}")
    compared = {}
    for directory, name in zip(cfg.compare or [], names[1:]):
        other = FastBert.from_pretrained(directory)
        if not cfg.calibrated:
            other.config.temperatures, other.curve = None, None
        o_out = all_layer_outputs(other, data)
        curve = sweep(other, o_out, FINE_SPEEDS)
        meta = other.metadata()
        compared[name] = ComparedModel(
            directory, bool(other.config.temperatures), command_chain(meta) or ["(no training record)"],
            _timed_compare_rows(name, other, data, o_out, rows[0]["flops"], cfg.timing), equal_flops_rows(rows, curve), curve)
    return compared


KEPT = " (kept from the previous report, not re-measured)"


def read_previous(previous: str, data_record: dict) -> dict:
    """A previous report's JSON; one that records other data than this report's is refused."""
    numbers = json.loads(Path(previous).read_text())
    if numbers.get("data", data_record) != data_record:
        raise ValueError(f"--previous {previous} was measured on {numbers['data']}, this report on {data_record}")
    return numbers


def kept_rows(numbers: dict, source: str, key: str, prefix: str, ref_flops: float) -> list[dict]:
    """The rows of a previous report's numbers (`table` or `ablation`) whose names start with
    `prefix`, marked as kept (`kept_from`: `source`, or the file an earlier keep named); their
    FLOPs speedup is recomputed against this run's full model."""
    return [{**r, "name": r["name"].removesuffix(KEPT) + KEPT, "speedup": speedup(ref_flops, r["flops"]),
             "kept_from": r.get("kept_from", source)} for r in numbers[key] if r["name"].startswith(prefix)]


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
        out.append(f"| {r['name']} | {100 * r['accuracy']:.2f}% | {r['flops'] / 1e6:.1f}M | {r['speedup']:.2f}x "
                   f"| {ms_cell(r['ms_b1'])} | {ms_cell(r['ms_b32'])} |")
    return "\n".join(out)


def build_report(cfg: ReportConfig) -> str:
    """Write cfg.out (markdown), its figures and a JSON of every number beside it; return the markdown.

    >>> build_report(ReportConfig(model="runs/m", data="dev.tsv", out="reports/m.md", png=False))  # doctest: +SKIP
    """
    model = FastBert.from_pretrained(cfg.model)
    if not cfg.calibrated:  # the paper's probabilities: drop the temperatures (and the curve measured with them)
        model.config.temperatures, model.curve = None, None
    data = load_dataset(cfg.data)
    if cfg.dev_fraction:  # the same held-out split as `train --dev-fraction F --seed S`
        data = data.split(cfg.dev_fraction, cfg.seed)[1]
    outputs = all_layer_outputs(model, data)
    baselines = [FastBert.from_pretrained(d) for d in cfg.baseline or []]
    joint = FastBert.from_pretrained(cfg.ablation) if cfg.ablation else None
    rows = table_rows(model, data, outputs, baselines, cfg.timing)
    abl = ablation_rows(model, outputs, joint, data)
    data_record = {"path": cfg.data, "dev_fraction": cfg.dev_fraction, "seed": cfg.seed, "rows": len(data)}
    if cfg.previous:
        ref, previous = rows[0]["flops"], read_previous(cfg.previous, data_record)
        rows += [] if cfg.baseline else kept_rows(previous, cfg.previous, "table", "Static:", ref)
        abl += [] if cfg.ablation else kept_rows(previous, cfg.previous, "ablation", "without self-distillation", ref)
    curve = sweep(model, outputs, CURVE_SPEEDS)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    compared = compare_section(cfg, model, outputs, data, rows)
    figs = {"fig3": figure3(curve), "fig4_luha": figure4(outputs, model.num_layers), "fig6": figure6(model, outputs)}
    if model.metadata().get("log"):
        figs["fig7"] = figure7(model.metadata()["log"])
    if compared:
        figs["depth"] = figure_depth({Path(cfg.model).name: sweep(model, outputs, FINE_SPEEDS)}
                                     | {name: c.curve for name, c in compared.items()})
    saved = save_figures(figs, out.parent, out.stem, png=cfg.png)
    text = _markdown(cfg, model, len(data), rows, abl, curve, saved,
                     _compare_markdown(compared, saved, cfg.calibrated and bool(model.config.temperatures))
                     if compared else "")
    out.write_text(text)
    numbers = {"data": data_record, "table": rows, "ablation": abl, "curve": [r.to_dict() for r in curve]}
    if compared:
        numbers["compare"] = {name: c.to_dict() for name, c in compared.items()}
    (out.parent / f"{out.stem}.json").write_text(json.dumps(numbers, indent=1))
    return text


def _compare_markdown(compared: dict[str, ComparedModel], saved: dict[str, str], calibrated: bool) -> str:
    own = "with its calibrated temperatures" if calibrated else "uncalibrated (the paper's exits)"
    parts = ["\n## Compared models (same data)\n",
             f"This report's model is scored {own}; each compared model's heading says how it is scored.\n",
             "Each model below is evaluated on the same rows. Its speedups are given against its own full model (as "
             "in the table above) and against this report's full model. \"At the FLOPs of\": the compared model at "
             f"its lowest speed (grid {FINE_SPEEDS[1]:g}) whose mean FLOPs per sample fit those of the named row "
             "of this report; the speed is chosen on FLOPs alone.\n",
             f"![]({saved['depth']}.png) ([interactive]({saved['depth']}.html))\n"]
    for name, c in compared.items():
        temps = "with its calibrated temperatures" if c.calibrated else "uncalibrated: the paper's exits"
        made = "; then ".join(f"`{cmd}`" for cmd in c.commands)
        parts += [f"### `{c.directory}`, {temps}\n", f"Made by: {made}.\n", markdown_compare(c.table), "",
                  markdown_equal_flops(name, c.equal_flops), ""]
    return "\n".join(parts)


def _markdown(cfg: ReportConfig, model, num_rows: int, rows, abl, curve, saved: dict[str, str],
              compared_md: str = "") -> str:
    meta = model.metadata()
    threads = torch.get_num_threads()
    curve_md = ["| speed | accuracy | mean exit layer | FLOPs speedup |", "|---:|---:|---:|---:|"]
    curve_md += [f"| {r.speed:g} | {100 * r.accuracy:.2f}% | {r.mean_exit_layer:.2f} | {r.flops_speedup:.2f}x |"
                 for r in curve]
    sources = sorted({r["kept_from"] for r in rows + abl if "kept_from" in r})
    kept_note = (f"Rows marked{KEPT} are copied from {', '.join(f'`{x}`' for x in sources)} (their models were not "
                 "given to this run); every other number was measured by the command at the end.\n\n"
                 if sources else "")
    held = f" (the {cfg.dev_fraction:g} held out by training, seed {cfg.seed})" if cfg.dev_fraction else ""
    static_note = (" The static baselines are the same backbone cut to its first layers and fine-tuned\n"
                   "with the same classifier (the analog of the paper's DistilBERT rows)."
                   if any(r["name"].startswith("Static:") for r in rows) else "")
    made_by = "; then ".join(f"`{c}`" for c in command_chain(meta) or ["(no training record)"])
    text = f"""# Evaluation report: `{cfg.model}`

Data: `{cfg.data}`{held} ({num_rows} rows). Model: {model.num_layers} layers, labels {model.config.labels}.
Made by (seed {meta.get('seed', '?')}): {made_by}.
Regenerate this report with the command at the end. FLOPs: 2 x multiply-adds of all matrix products,
counted with fvcore on each sample's real token count; speedup = full-model FLOPs / FLOPs spent.
CPU times: this machine, {threads} torch threads, whole data set, tokenization included, one run each
(noisy: see `benchmarks/` for interleaved, repeated medians).

## Table 2 (shape of the paper's Table 2)

{markdown_table(rows)}

The full model is the backbone with its teacher classifier only, as a plain fine-tuned model
would be run.{static_note}

{kept_note}## Ablation

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
    text += compared_md
    text += f"\n## Regenerate\n\n```\n{command_line('report', cfg)}\n```\n"
    return text
