"""The markdown of `python -m fastbert bench`: results and references tables, the checks against
a targets file, the app's latency table."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .bench import BenchResult, GroupResult



@dataclass(frozen=True)
class Targets:
    """Limits a bench run is checked against (`--targets FILE`, e.g. benchmarks/bench_targets.json):
    speed-0 time over the plain model's at most `overhead`; wall-clock over FLOPs speedup at
    `speed` at least `wall_over_flops[batch]` (`wall_over_flops_gpu` on a GPU); on ONNX Runtime,
    (e) over (d) at speed 0 at most `ort_overhead` and at `speed` at least `ort_speedup[batch]`
    times faster; the app's server-side /classify p50 under `app_p50_ms` (`app_p50_ms_ort` when
    it runs on ONNX Runtime). `source` says where they come from; the report prints it."""

    source: str
    speed: float
    overhead: float
    wall_over_flops: dict[int, float]
    wall_over_flops_gpu: dict[int, float]
    app_p50_ms: float
    ort_overhead: float
    ort_speedup: dict[int, float]
    app_p50_ms_ort: float

    @classmethod
    def load(cls, path: str | Path) -> Targets:
        raw = json.loads(Path(path).read_text())
        by_batch = ("wall_over_flops", "wall_over_flops_gpu", "ort_speedup")
        try:
            return cls(**{k: {int(b): float(v) for b, v in raw[k].items()} if k in by_batch else raw[k]
                          for k in (f.name for f in fields(cls))})
        except KeyError as err:
            raise ValueError(f"{path}: targets need the key {err.args[0]!r}") from None


def _f(x, fmt="{:.2f}", none="–") -> str:
    return none if x is None else fmt.format(x)


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table: the first column left-aligned, the others right-aligned, except one
    whose title ends in '|<' (left-aligned; the marker is dropped)."""
    heads = [c.removesuffix("|<") for c in columns]
    align = ["---" if i < 1 or c.endswith("|<") else "---:" for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(align) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in rows])


def results_table(groups: Sequence[GroupResult]) -> str:
    """One markdown row per (workload, batch size, speed)."""
    columns = ["workload", "batch", "speed", "accuracy", "mean exit layer", "FLOPs speedup", "ms / sample",
               "× vs (a) speed 0", "× vs (b) plain", "× vs (c) pipeline", "wall / FLOPs", "(e) ORT ms / sample",
               "(e) × vs (d) ORT full"]
    rows = [[g.workload, str(g.batch_size), f"{r.speed:g}", _f(None if r.accuracy is None else 100 * r.accuracy, "{:.2f}%"),
             f"{r.mean_exit_layer:.2f}", f"{r.flops_speedup:.2f}×", f"{r.ms_per_sample:.2f}", f"{r.vs_speed0:.2f}×",
             f"{r.vs_plain:.2f}×", _f(r.vs_pipeline, "{:.2f}×"), f"{100 * r.wall_over_flops:.0f}%", _f(r.ort_ms),
             _f(r.vs_ort_full, "{:.2f}×")] for g in groups for r in g.rows]
    return _table(columns, rows)


def references_table(groups: Sequence[GroupResult]) -> str:
    columns = ["workload", "batch", "samples", "mean tokens", "tokenize ms / sample", "collate ms / sample",
               "(b) plain ms / sample", "(c) pipeline ms / sample", "(d) ORT full ms / sample", "speed 0 / (b)",
               "repeats (min–max)|<"]
    rows = [[g.workload, str(g.batch_size), str(g.samples), f"{g.mean_tokens:.1f}", f"{g.tokenize_ms:.3f}",
             f"{g.collate_ms:.3f}", f"{g.plain_ms:.2f}", _f(g.pipeline_ms), _f(g.ort_full_ms),
             f"{100 * g.speed0_over_plain:.0f}%", f"{min(g.repeats.values())}–{max(g.repeats.values())}"]
            for g in groups]
    return _table(columns, rows)


def target_checks(result: BenchResult, t: Targets) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each of `t`'s targets, on the data file's workload."""
    gpu = result.machine.get("device", "cpu").startswith("cuda")
    data_groups = [g for g in result.groups if not g.workload.startswith("synthetic")]
    checks = []
    for g in data_groups:
        checks.append((f"speed 0 at most {100 * (t.overhead - 1):.0f}% slower than (b), batch {g.batch_size}",
                       f"{100 * (g.speed0_over_plain - 1):+.1f}%", g.speed0_over_plain <= t.overhead))
        limits = t.wall_over_flops_gpu if gpu else t.wall_over_flops
        if t.speed in [r.speed for r in g.rows] and g.batch_size in limits:
            limit, r = limits[g.batch_size], g.row(t.speed)
            checks.append((f"batch {g.batch_size}, speed {t.speed:g}: wall-clock ≥ {100 * limit:.0f}% of FLOPs speedup",
                           f"{r.vs_plain:.2f}× of {r.flops_speedup:.2f}× = {100 * r.wall_over_flops:.0f}%",
                           r.wall_over_flops >= limit))
        checks += _ort_checks(g, t)
    app = result.app or {}
    if "single" in app:
        ort = app.get("runtime") == "onnxruntime"
        limit, p50 = (t.app_p50_ms_ort if ort else t.app_p50_ms), app["single"]["server_ms"]["p50"]
        checks.append((f"/classify p50 at most {limit:.0f} ms server-side" + (" (app on onnxruntime)" if ort else ""),
                       f"{p50:.1f} ms", p50 <= limit))
    return checks


def _ort_checks(g: GroupResult, t: Targets) -> list[tuple[str, str, bool]]:
    rows = {r.speed: r for r in g.rows if r.vs_ort_full is not None}
    checks = []
    if 0.0 in rows:
        over = 1.0 / rows[0.0].vs_ort_full
        checks.append((f"(e) speed 0 at most {100 * (t.ort_overhead - 1):.0f}% slower than (d) ORT full, "
                       f"batch {g.batch_size}", f"{100 * (over - 1):+.1f}%", over <= t.ort_overhead))
    if t.speed in rows and g.batch_size in t.ort_speedup:
        limit, r = t.ort_speedup[g.batch_size], rows[t.speed]
        checks.append((f"(e) batch {g.batch_size}, speed {t.speed:g}: at least {limit:g}× faster than (d)",
                       f"{r.vs_ort_full:.2f}×", r.vs_ort_full >= limit))
    return checks


def app_table(app: dict) -> str:
    if "error" in app:
        return f"The app benchmark failed: {' '.join(app['error'])}"
    out = [f"- Model: `{app['model']}`; app threads: {app.get('threads', 'default')}; "
           f"runtime: {app.get('runtime', 'pytorch')}.",
           f"- Cold start (process launch to first `/classify` answer): {app['cold_start_s']:.1f} s "
           f"(HTTP up after {app['http_up_s']:.1f} s).",
           f"- Peak resident memory (VmHWM): {app['vmhwm_after_first_answer_mb']:.0f} MB with the model loaded "
           f"and one answer given; {app['vmhwm_end_mb']:.0f} MB after the load test.",
           "", "| /classify | requests | server p50 ms | server p95 ms | client p50 ms | client p95 ms | requests / s |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for key, label in (("single", "1 client, one after another"), ("concurrent", f"{app.get('clients', 16)} clients at once")):
        if key in app:
            s = app[key]
            out.append(f"| {label} | {s['requests']} | {s['server_ms']['p50']:.1f} | {s['server_ms']['p95']:.1f} | "
                       f"{s['client_ms']['p50']:.1f} | {s['client_ms']['p95']:.1f} | {s['requests_per_s']:.1f} |")
    out += ["", "Server-side: the `latency_ms` the app reports in each answer (the model's `predict` call, "
                "inside the model lock). Client-side: the `gradio_client` round trip, queueing included."]
    return "\n".join(out)


def markdown_report(result: BenchResult, targets: Targets | None = None) -> str:
    m, c = result.machine, result.config
    lines = [
        "# Benchmark: wall-clock next to FLOPs",
        "",
        f"Command: `{result.command}`",
        "",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m.get('physical_cores') or '?'} cores), "
        f"device {m['device']}{' (' + m['gpu'] + ')' if m.get('gpu') else ''}; torch {m['torch']}, "
        f"threads: {m['torch_threads']} (interop {m['torch_interop_threads']}); transformers {m['transformers']}, "
        f"Python {m['python']}. Load average at start {m['load_average']}, at end {m.get('load_average_end')}.",
        "",
        f"Model `{c['model']}`, data `{c['data']}`; speeds {c['speeds']}; repeats {c['repeats']} "
        f"(at least {c['min_repeats']} for slow configurations), interleaved round-robin, medians.",
        "",
        "## Results",
        "",
        results_table(result.groups),
        "",
        "## References and input preparation",
        "",
        references_table(result.groups),
    ]
    if targets is not None:
        lines += ["", "## Targets", "", f"From `{c.get('targets')}`: {targets.source}.", "",
                  "| target | measured | met |", "|---|---|---|"]
        for what, measured, met in target_checks(result, targets):
            lines.append(f"| {what} | {measured} | {'yes' if met else 'no'} |")
    if result.app is not None:
        lines += ["", "## App", "", app_table(result.app)]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


