"""The speed slider, server side: how long the app takes to re-decide a loaded batch at a new
speed and redraw the tab on show (no model run), including Gradio's conversion of each value.

The batch (the data file's texts, repeated up to --rows) goes through every layer once, as the
app does; then, for each tab, the slider handler `demo.handlers.on_speed` runs at --repeats
speeds, interleaved across tabs, and its values go through the components' `postprocess` (the
figure's JSON, the table's rows). Prints the median and the slowest of each, and the library's
decision alone (`fastbert.evaluate.outcome_at`). Target: under 300 ms for 1,000 rows.

    python benchmarks/app_slider.py --model assets/models/sst2-minilm --data ../shared/data/sst2/dev.tsv
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 300.0


def postprocessors():
    """What Gradio does with each value of a tab before sending it (component order of demo.ui)."""
    import gradio as gr

    plot, html, table, md = (gr.Plot(render=False), gr.HTML(render=False), gr.Dataframe(render=False),
                             gr.Markdown(render=False))
    keep = lambda v: v  # noqa: E731 (the download button update is sent as it is)
    return {"text": [html, plot, plot], "batch": [html, plot, plot, plot, table, keep],
            "how": [plot, md, plot, plot]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "models" / "sst2-minilm"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"),
                        help="a .txt/.csv/.tsv file; without it, the example batch is repeated")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15, help="speeds timed per tab (default: 15)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))  # the app's package, as benchmarks/app_latency.py does
    from demo.examples import load_example_sets
    from demo.handlers import TABS, AppContext, screen
    from demo.inputs import BatchInput, read_file
    from demo.models import ModelRegistry
    from demo.views import run_batch, run_text
    from fastbert.evaluate import outcome_at

    ctx = AppContext(ModelRegistry.from_source(args.model, models_dir=None), load_example_sets(), args.rows)
    model = ctx.loaded(None)
    source = Path(args.data)
    texts = (read_file(source, 10 ** 6).texts if source.is_file() else ctx.examples(model).batch.texts)
    texts = [texts[i % len(texts)] for i in range(args.rows)]
    start = time.perf_counter()
    brun = run_batch(model, BatchInput(texts, None, source.name))
    print(f"model {Path(args.model).name}, {len(texts)} rows ({source.name if source.is_file() else 'examples'}),"
          f" all-layers pass {time.perf_counter() - start:.1f} s (once, not part of the slider)")
    trun = run_text(model, texts[0], 0.5)
    post = postprocessors()
    speeds = [round(0.05 + 0.9 * i / max(1, args.repeats - 1), 3) for i in range(args.repeats)]
    times: dict[str, list[float]] = {"decision": []} | {tab: [] for tab in TABS if tab in post}
    for speed in speeds:  # interleaved, so that a busy moment of the machine hits every row
        start = time.perf_counter()
        outcome_at(model.model, brun.outputs, speed, model.criterion)
        times["decision"].append(1000 * (time.perf_counter() - start))
        for tab in post:
            start = time.perf_counter()
            shown = getattr(screen(ctx, ctx.loaded(model.name), tab, trun, brun, speed, False, 2), tab)
            for fn, value in zip(post[tab], shown.values(), strict=True):
                fn.postprocess(value) if hasattr(fn, "postprocess") else fn(value)
            times[tab].append(1000 * (time.perf_counter() - start))
    print(f"{'slider, server side':28s} {'median ms':>10s} {'slowest ms':>11s}  (over {len(speeds)} speeds)")
    for name, ts in times.items():
        label = "library decision (outcome_at)" if name == "decision" else f"re-decide + redraw '{name}' tab"
        print(f"{label:30s} {statistics.median(ts):8.1f} {max(ts):11.1f}")
    worst = max(statistics.median(ts) for name, ts in times.items() if name != "decision")
    print(f"slowest tab median {worst:.1f} ms for {len(texts)} rows: "
          f"{'meets' if worst < TARGET_MS else 'misses'} the {TARGET_MS:.0f} ms target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
