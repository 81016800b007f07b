"""The markdown of `python -m fastbert bench`: results and references tables, the target checks,
the app's latency table."""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .bench import BenchResult, GroupResult

TARGET_SPEED = 0.5
# The targets: (what, limit). Checked on the data file's workload only.
TARGET_OVERHEAD = 1.10  # speed-0 time / plain-model time, at most
TARGET_RATIO_B1 = 0.85  # wall-clock / FLOPs speedup at speed 0.5, batch 1, at least
TARGET_RATIO_B32 = 0.75  # the same, batch 32 (CPU)
TARGET_RATIO_B32_GPU = 0.60  # the same, batch 32, on a GPU
TARGET_APP_P50_MS = 60.0  # server-side /classify p50
# On ONNX Runtime: (e) at speed 0.5 at least this many times faster than (d), by batch size;
# (e) at speed 0 at most this much slower than (d); the app's /classify p50 when it runs on ORT.
TARGET_ORT_SPEEDUP = {1: 2.5, 32: 2.3}
TARGET_ORT_OVERHEAD = 1.15
TARGET_APP_P50_MS_ORT = 8.0

def _f(x, fmt="{:.2f}", none="–") -> str:
    return none if x is None else fmt.format(x)


def results_table(groups: Sequence[GroupResult]) -> str:
    """One markdown row per (workload, batch size, speed)."""
    out = ["| workload | batch | speed | accuracy | mean exit layer | FLOPs speedup | ms / sample | "
           "× vs (a) speed 0 | × vs (b) plain | × vs (c) pipeline | wall / FLOPs | (e) ORT ms / sample | "
           "(e) × vs (d) ORT full |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for g in groups:
        for r in g.rows:
            acc = None if r.accuracy is None else 100 * r.accuracy
            out.append(f"| {g.workload} | {g.batch_size} | {r.speed:g} | {_f(acc, '{:.2f}%')} | "
                       f"{r.mean_exit_layer:.2f} | {r.flops_speedup:.2f}× | {r.ms_per_sample:.2f} | "
                       f"{r.vs_speed0:.2f}× | {r.vs_plain:.2f}× | {_f(r.vs_pipeline, '{:.2f}×')} | "
                       f"{100 * r.wall_over_flops:.0f}% | {_f(r.ort_ms)} | {_f(r.vs_ort_full, '{:.2f}×')} |")
    return "\n".join(out)


def references_table(groups: Sequence[GroupResult]) -> str:
    out = ["| workload | batch | samples | mean tokens | tokenize ms / sample | collate ms / sample | "
           "(b) plain ms / sample | (c) pipeline ms / sample | (d) ORT full ms / sample | speed 0 / (b) | "
           "repeats (min–max) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for g in groups:
        reps = g.repeats.values()
        out.append(f"| {g.workload} | {g.batch_size} | {g.samples} | {g.mean_tokens:.1f} | {g.tokenize_ms:.3f} | "
                   f"{g.collate_ms:.3f} | {g.plain_ms:.2f} | {_f(g.pipeline_ms)} | {_f(g.ort_full_ms)} | "
                   f"{100 * g.speed0_over_plain:.0f}% | {min(reps)}–{max(reps)} |")
    return "\n".join(out)


def target_checks(result: BenchResult) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for the issue's targets, on the data file's workload."""
    gpu = result.machine.get("device", "cpu").startswith("cuda")
    data_groups = [g for g in result.groups if not g.workload.startswith("synthetic")]
    checks = []
    for g in data_groups:
        checks.append((f"speed 0 at most {100 * (TARGET_OVERHEAD - 1):.0f}% slower than (b), batch {g.batch_size}",
                       f"{100 * (g.speed0_over_plain - 1):+.1f}%", g.speed0_over_plain <= TARGET_OVERHEAD))
        if TARGET_SPEED in [r.speed for r in g.rows] and g.batch_size in (1, 32):
            limit = TARGET_RATIO_B1 if g.batch_size == 1 else (TARGET_RATIO_B32_GPU if gpu else TARGET_RATIO_B32)
            r = g.row(TARGET_SPEED)
            checks.append((f"batch {g.batch_size}, speed {TARGET_SPEED:g}: wall-clock ≥ {100 * limit:.0f}% of FLOPs speedup",
                           f"{r.vs_plain:.2f}× of {r.flops_speedup:.2f}× = {100 * r.wall_over_flops:.0f}%",
                           r.wall_over_flops >= limit))
        checks += _ort_checks(g)
    app = result.app or {}
    if "single" in app and app.get("runtime") == "onnxruntime":
        p50 = app["single"]["server_ms"]["p50"]
        checks.append((f"/classify p50 at most {TARGET_APP_P50_MS_ORT:.0f} ms server-side (app on onnxruntime)",
                       f"{p50:.1f} ms", p50 <= TARGET_APP_P50_MS_ORT))
    elif "single" in app:
        p50 = app["single"]["server_ms"]["p50"]
        checks.append((f"/classify p50 under {TARGET_APP_P50_MS:.0f} ms server-side", f"{p50:.1f} ms",
                       p50 < TARGET_APP_P50_MS))
    return checks


def _ort_checks(g: GroupResult) -> list[tuple[str, str, bool]]:
    rows = {r.speed: r for r in g.rows if r.vs_ort_full is not None}
    checks = []
    if 0.0 in rows:
        over = 1.0 / rows[0.0].vs_ort_full
        checks.append((f"(e) speed 0 at most {100 * (TARGET_ORT_OVERHEAD - 1):.0f}% slower than (d) ORT full, "
                       f"batch {g.batch_size}", f"{100 * (over - 1):+.1f}%", over <= TARGET_ORT_OVERHEAD))
    if TARGET_SPEED in rows and g.batch_size in TARGET_ORT_SPEEDUP:
        limit, r = TARGET_ORT_SPEEDUP[g.batch_size], rows[TARGET_SPEED]
        checks.append((f"(e) batch {g.batch_size}, speed {TARGET_SPEED:g}: at least {limit:g}× faster than (d)",
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


def markdown_report(result: BenchResult) -> str:
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
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for what, measured, met in target_checks(result):
        lines.append(f"| {what} | {measured} | {'yes' if met else 'no'} |")
    if result.app is not None:
        lines += ["", "## App", "", app_table(result.app)]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


