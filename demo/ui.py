"""`build_app`: the layout and its events. Callbacks are thin: they call `demo.views` for the
numbers, `demo.charts` for the figures and `demo.api` for the endpoints, and turn any failure
into a message in the page (never a traceback)."""
from __future__ import annotations

import functools
import hashlib
import html
import logging
import tempfile
import threading
from pathlib import Path

import gradio as gr

from . import api, charts, student_page, teach
from .examples import ExampleSet, examples_for, load_example_sets
from .inputs import DEFAULT_MAX_ROWS, FILE_TYPES, BatchInput, InputError, read_file, read_pasted
from .models import LoadedModel, ModelRegistry
from .student import DEFAULT_REPORT, StudentView, find_student
from .views import (BatchRun, TextRun, TextView, batch_table, batch_view, layer_agreement, layer_step,
                    run_batch, run_text, text_view, uncertainty_bins)

log = logging.getLogger(__name__)
DEFAULT_SPEED = 0.5


# ----- formatting -------------------------------------------------------------------------
def fmt_flops(x: float) -> str:
    """>>> fmt_flops(2.5e9)
    '2.50 GFLOPs'"""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.2f} {unit}FLOPs"
    return f"{x:.0f} FLOPs"


def _card(key: str, value: str, sub: str = "", elem_id: str = "", accent: str = "") -> str:
    ident = f' id="{elem_id}"' if elem_id else ""
    style = f' style="border-top-color:{accent}"' if accent else ""
    return (f'<div class="fb-card"{style}><div class="fb-key">{key}</div>'
            f'<div class="fb-value"{ident}>{value}</div><div class="fb-sub">{sub}</div></div>')


def flops_meter(flops: float, full_flops: float, saved: float) -> str:
    """A bar: the share of the full model's FLOPs that was spent."""
    spent = max(0.0, min(1.0, 1.0 - saved))
    return (f'<div class="fb-meter"><div class="fb-meter-label">FLOPs spent: <b>{fmt_flops(flops)}</b> of '
            f'{fmt_flops(full_flops)} for the full model · <b>{saved:.0%} saved</b></div>'
            f'<div class="fb-bar"><div class="fb-bar-fill" style="width:{100 * spent:.1f}%"></div></div></div>')


def text_result_html(run: TextRun, view: TextView, device: str) -> str:
    color = charts.class_colors(run.labels)[run.labels.index(view.label)]
    skipped = view.num_layers - view.exit_layer
    cards = [
        _card("Prediction", html.escape(view.label), f"confidence {view.confidence:.1%}", "fb-label", color),
        _card("Exit layer", f"{view.exit_layer} of {view.num_layers}",
              f"{skipped} layer{'s' if skipped != 1 else ''} skipped" if skipped else "ran every layer",
              "fb-exit"),
        _card("Speedup", f"{view.speedup:.2f}×", "full-model FLOPs / FLOPs spent", "fb-speedup"),
        _card("Measured latency", f"{run.adaptive_ms:.1f} ms",
              f"early exit at speed {run.timed_speed:.2f}, batch 1, {device}<br>"
              f"all {run.num_layers} layers: {run.all_layers_ms:.1f} ms", "fb-latency"),
    ]
    notes = []
    if abs(view.speed - run.timed_speed) > 1e-9:
        notes.append(f"Latency was measured when the text was classified, at speed {run.timed_speed:.2f} "
                     f"(exit at layer {run.timed_exit_layer}). The slider re-decides the exit from the layers "
                     "computed then, without running the model again; press <b>Classify</b> to time this speed.")
    if run.truncated:
        notes.append(f"<b>Text truncated:</b> it has {run.input_tokens} tokens and the model reads at most "
                     f"{run.max_length}, so only the first {run.num_tokens} tokens were used.")
    note = "".join(f'<div class="fb-note">{n}</div>' for n in notes)
    shown = run.text if len(run.text) <= 160 else run.text[:159] + "…"
    return (f'<div class="fb-for">Result for <span id="fb-text">“{html.escape(shown)}”</span></div>'
            f'<div class="fb-cards">{"".join(cards)}</div>'
            f'{flops_meter(view.flops, view.full_flops, view.saved)}{note}')


def model_info(model: LoadedModel, student: StudentView | None = None) -> str:
    """One line about the model on show (and whether it is the distilled student)."""
    cfg = model.model.config
    labels = ", ".join(html.escape(label) for label in cfg.labels)
    distilled = (f" · distilled from {html.escape(student.teacher)} with {html.escape(student.method)} "
                 "(see the <i>Distilled student</i> tab)" if student and student.model_name == model.name else "")
    return (f'<div class="fb-model">Model <b>{html.escape(model.name)}</b> · {model.num_layers} layers · '
            f'classes: {labels} · backbone {html.escape(cfg.backbone)} · exit rule: {cfg.exit_criterion} · '
            f'reads up to {cfg.max_length} tokens{distilled}</div>')


def batch_summary_html(run: BatchRun, view) -> str:
    r = view.result
    full = run.sweep[0]  # speed 0: every sample runs every layer
    cards = [
        _card("Samples", f"{r.num_samples:,}", html.escape(run.source), "fb-batch-n"),
        _card("Mean exit layer", f"{r.mean_exit_layer:.2f} of {run.num_layers}", f"at speed {view.speed:.2f}",
              "fb-batch-exit"),
        _card("Speedup", f"{r.flops_speedup:.2f}×", "FLOPs of the full model / FLOPs spent", "fb-batch-speedup"),
    ]
    if r.accuracy is not None:
        cards.append(_card("Accuracy", f"{r.accuracy:.1%}", f"full model (speed 0): {full.accuracy:.1%}",
                           "fb-batch-acc"))
    else:
        cards.append(_card("Accuracy", "—", html.escape(run.label_note), "fb-batch-acc"))
    note = (f'<div class="fb-note">All {run.num_layers} layers were computed once for these samples '
            f'({run.seconds:.2f} s); the charts and the slider re-decide the exits from them.</div>')
    if run.truncated:
        note += (f'<div class="fb-note"><b>{run.truncated} text{"s were" if run.truncated > 1 else " was"} '
                 f'truncated</b> to the {run.outputs.num_tokens.max().item()} tokens the model reads.</div>')
    meter = flops_meter(view.total_flops, view.total_full_flops, view.saved)
    return f'<div class="fb-cards">{"".join(cards)}</div>{meter}{note}'


# ----- errors -----------------------------------------------------------------------------
def user_errors(fn):
    """Show input problems and failures as messages in the page, never as a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except InputError as err:
            raise gr.Error(html.escape(str(err)), title="Please check the input", print_exception=False) from None
        except Exception as err:
            log.exception("callback %s failed", fn.__name__)
            raise gr.Error(f"Something went wrong: {html.escape(type(err).__name__)}: {html.escape(str(err))}",
                           print_exception=False) from None

    return wrapper


# ----- the app ----------------------------------------------------------------------------
CSS = """
.fb-header h1 { margin: 0 0 2px 0; font-size: 1.6rem; }
.fb-header p { margin: 0; color: var(--body-text-color-subdued); }
.fb-model { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: -4px 0 2px 2px; }
.fb-cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; }
@media (max-width: 900px) { .fb-cards { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.fb-meter { margin-top: 10px; }
.fb-for { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 0 0 6px 2px;
          white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.fb-meter-label { font-size: 0.9rem; margin-bottom: 4px; }
.fb-bar { height: 12px; border-radius: 6px; background: #e5e9f0; overflow: hidden; }
.fb-bar-fill { height: 100%; background: linear-gradient(90deg, #2a78b5, #5fa8d3); border-radius: 6px; }
.fb-card { border: 1px solid var(--border-color-primary); border-top: 4px solid #2a78b5; border-radius: 10px;
           padding: 10px 12px; background: var(--block-background-fill); }
.fb-key { font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.04em;
          color: var(--body-text-color-subdued); }
.fb-value { font-size: 1.45rem; font-weight: 650; margin: 2px 0; }
.fb-sub { font-size: 0.8rem; color: var(--body-text-color-subdued); line-height: 1.3; }
.fb-note { margin-top: 8px; padding: 8px 12px; border-radius: 8px; font-size: 0.85rem;
           background: #fff7e6; border: 1px solid #f5d38a; color: #5c4400; }
"""


def example_samples(examples: ExampleSet) -> dict:
    """Dataset samples (the texts) and what the buttons show ("case: text")."""
    return dict(samples=[[text] for _, text in examples.single],
                sample_labels=[_short(f"{case}: {text}", 32) for case, text in examples.single])


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def theme() -> gr.themes.Base:
    # System fonts only: the default theme's web fonts are one more thing to fetch.
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate",
                          font=("ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"),
                          font_mono=("ui-monospace", "Consolas", "monospace"))


def build_app(registry: ModelRegistry, max_batch_rows: int = DEFAULT_MAX_ROWS,
              concurrency_limit: int = 4, example_sets: list[ExampleSet] | None = None,
              distill_report: str | Path | None = DEFAULT_REPORT) -> gr.Blocks:
    """The FastBERT explorer for the models in `registry`. A "Distilled student" tab appears when
    one of the models is a distilled student (it has a distill_summary.json) or the
    `distill_report` runs file exists.

    Example:
        >>> app = build_app(ModelRegistry.from_source("assets/models/sst2-minilm"))   # doctest: +SKIP
        >>> launch(app, "127.0.0.1", 7860)                                          # doctest: +SKIP
    """
    sets = load_example_sets() if example_sets is None else example_sets
    default = registry.get()  # load now: a broken model should fail at start, not in a callback
    student = find_student({n: p for n, p in registry.sources.items() if isinstance(p, Path)}, distill_report)
    csv_dir = Path(tempfile.mkdtemp(prefix="fastbert-app-"))
    example_runs: dict[str, BatchRun] = {}
    example_lock = threading.Lock()

    def loaded(name: str | None) -> LoadedModel:
        return registry.get(name or None)

    def example_batch(model: LoadedModel) -> BatchRun:
        # The example batch is the same for everyone: compute it once per model.
        with example_lock:
            if model.name not in example_runs:
                example_runs[model.name] = run_batch(model, examples_for(model.labels, sets).batch)
            return example_runs[model.name]

    def csv_file(run: BatchRun, view) -> str:
        data = batch_table(run, view).to_csv(index=False).encode("utf-8")
        path = csv_dir / f"fastbert-batch-{hashlib.sha1(data).hexdigest()[:12]}.csv"
        if not path.exists():
            path.write_bytes(data)
        return str(path)

    # -- renderers: state + speed -> component values (no backbone run) -----------------------
    def render_text(model: LoadedModel, run: TextRun, speed: float, show: bool):
        view = text_view(model, run, speed)
        crit = model.model.config.exit_criterion
        return (text_result_html(run, view, f"{model.model.device.type.upper()}, {model.runtime}"),
                charts.layer_probs_chart(view, run.labels, show),
                charts.uncertainty_chart(view, show, crit))

    def render_batch(model: LoadedModel, run: BatchRun, speed: float):
        view = batch_view(model, run, speed)
        return (batch_summary_html(run, view), charts.exit_histogram(view),
                charts.uncertainty_distributions(run, view), charts.speed_sweep_chart(run, speed),
                batch_table(run, view), gr.DownloadButton(value=csv_file(run, view), visible=True))

    def render_how(model: LoadedModel, run: BatchRun, speed: float, layer: int):
        view = batch_view(model, run, speed)
        step = layer_step(run, view, layer)
        return (charts.figure2_chart(run, step),
                teach.step_markdown(run, view, step, model.model.config.exit_criterion),
                charts.luha_chart(uncertainty_bins(run)), charts.agreement_chart(layer_agreement(run)))

    def skip(n: int):
        return tuple(gr.skip() for _ in range(n))

    with gr.Blocks(title="FastBERT: early exit, layer by layer", analytics_enabled=False) as app:
        with gr.Row(elem_classes="fb-header"):
            gr.HTML("<h1>FastBERT explorer</h1><p>A classifier after every layer; each text leaves as soon as a "
                    "layer is sure enough. See which layer answered, what it cost, and why.</p>",
                    js_on_load=None)
        with gr.Row(equal_height=True):
            model_dd = gr.Dropdown(registry.names, value=registry.default, label="Model", scale=1,
                                   visible=len(registry.names) > 1, interactive=True, elem_id="model")
            speed = gr.Slider(0.0, 1.0, value=DEFAULT_SPEED, step=0.01, label="Speed",
                              info="The uncertainty threshold: 0 runs every layer; higher exits earlier.",
                              scale=3, elem_id="speed")
        info = gr.HTML(model_info(default, student), elem_id="model-info", js_on_load=None)
        text_state = gr.State(None)
        batch_state = gr.State(None)
        first_set = examples_for(default.labels, sets)

        with gr.Tabs():
            with gr.Tab("One text", id="text", elem_id="tab-text"):
                with gr.Row():
                    with gr.Column(scale=5):
                        text = gr.Textbox(label="Text", lines=3, value=first_set.single[0][1] if first_set.single else "",
                                          placeholder="Type a sentence and press Classify",
                                          elem_id="text-input")
                        classify_btn = gr.Button("Classify", variant="primary", elem_id="classify")
                        examples = gr.Dataset(components=["textbox"], **example_samples(first_set),
                                              label="Examples: easy, hard, negated, mixed and neutral (click one)",
                                              layout="gallery", samples_per_page=12, elem_id="examples")
                    with gr.Column(scale=6):
                        result = gr.HTML(elem_id="result", js_on_load=None)
                        show_skipped = gr.Checkbox(False, label="Reveal what the skipped layers would have said",
                                                   elem_id="show-skipped")
                with gr.Row():
                    probs_plot = gr.Plot(label="Class probabilities per layer", elem_id="probs-plot", show_label=False)
                    unc_plot = gr.Plot(label="Uncertainty per layer", elem_id="unc-plot", show_label=False)

            with gr.Tab("Batch", id="batch", elem_id="tab-batch"):
                with gr.Row(equal_height=True):
                    with gr.Column():
                        pasted = gr.Textbox(label="Paste texts, one per line", lines=6, elem_id="batch-text")
                        pasted_btn = gr.Button("Classify these lines", variant="primary", elem_id="batch-run")
                    with gr.Column():
                        upload = gr.File(label="…or upload a .txt (a text per line), .csv or .tsv "
                                               "(a text column, optional label column)",
                                         file_types=list(FILE_TYPES), type="filepath", elem_id="batch-file")
                        example_btn = gr.Button("Use the example batch", elem_id="batch-example")
                gr.Markdown(f"At most {max_batch_rows:,} rows per batch.")
                batch_summary = gr.HTML(elem_id="batch-summary", js_on_load=None)
                with gr.Row():
                    hist_plot = gr.Plot(label="Exit layers", elem_id="hist-plot", show_label=False)
                    sweep_plot = gr.Plot(label="Accuracy and speedup vs speed", elem_id="sweep-plot", show_label=False)
                dist_plot = gr.Plot(label="Uncertainty per layer", elem_id="dist-plot", show_label=False)
                table = gr.Dataframe(label="Per-sample results", interactive=False, wrap=True,
                                     max_height=420, elem_id="batch-table")
                download = gr.DownloadButton("Download the table as CSV", visible=False, elem_id="batch-download")

            with gr.Tab("How it works", id="how", elem_id="tab-how"):
                gr.Markdown(teach.INTRO)
                layer = gr.Slider(1, default.num_layers, value=1, step=1, label="Layer (step through the batch)",
                                  elem_id="layer")
                step_plot = gr.Plot(label="The shrinking batch", elem_id="step-plot", show_label=False)
                step_md = gr.Markdown(elem_id="step-text")
                gr.Markdown(teach.UNCERTAINTY)
                with gr.Row():
                    with gr.Column():
                        gr.Markdown(teach.LUHA)
                        luha_plot = gr.Plot(label="LUHA", elem_id="luha-plot", show_label=False)
                    with gr.Column():
                        gr.Markdown(teach.DISTILL)
                        agree_plot = gr.Plot(label="Self-distillation", elem_id="agree-plot", show_label=False)

            if student is not None:
                with gr.Tab("Distilled student", id="student", elem_id="tab-student"):
                    gr.Markdown(student_page.INTRO)
                    gr.HTML(student_page.student_html(student), elem_id="student-summary", js_on_load=None)
                    if student.heatmaps:
                        gr.Plot(charts.lambda_chart(student.heatmaps), label="Universal-KD attention",
                                elem_id="lambda-plot", show_label=False)

        text_out = [result, probs_plot, unc_plot]
        batch_out = [batch_summary, hist_plot, dist_plot, sweep_plot, table, download]
        how_out = [step_plot, step_md, luha_plot, agree_plot]
        private = dict(api_visibility="private")

        # -- callbacks ------------------------------------------------------------------------
        @user_errors
        def on_text(model_name, text_value, speed_value, show):
            model = loaded(model_name)
            run = run_text(model, text_value, speed_value)
            if run.truncated:
                gr.Warning(f"Text truncated to the model's {run.max_length} tokens "
                           f"(it has {run.input_tokens}); the first {run.num_tokens} were used.")
            return (run, *render_text(model, run, speed_value, show))

        @user_errors
        def on_speed(model_name, trun, brun, speed_value, show, layer_value):
            model = loaded(model_name)
            t = render_text(model, trun, speed_value, show) if trun and trun.model_name == model.name else skip(3)
            ok = brun is not None and brun.model_name == model.name
            b = render_batch(model, brun, speed_value) if ok else skip(6)
            h = render_how(model, brun, speed_value, layer_value) if ok else skip(4)
            return (*t, *b, *h)

        @user_errors
        def on_toggle(model_name, trun, speed_value, show):
            model = loaded(model_name)
            return render_text(model, trun, speed_value, show) if trun and trun.model_name == model.name else skip(3)

        def batch_outputs(model, run, speed_value, layer_value):
            if run.truncated:
                gr.Warning(f"{run.truncated} of {len(run.texts)} texts were longer than the model reads and "
                           "were truncated.")
            return (run, *render_batch(model, run, speed_value), *render_how(model, run, speed_value, layer_value))

        @user_errors
        def on_pasted(model_name, lines, speed_value, layer_value):
            model = loaded(model_name)
            run = run_batch(model, read_pasted(lines, max_batch_rows))
            return batch_outputs(model, run, speed_value, layer_value)

        @user_errors
        def on_file(model_name, path, speed_value, layer_value):
            if not path:  # the file was cleared
                return (gr.skip(),) * (1 + len(batch_out) + len(how_out))
            model = loaded(model_name)
            run = run_batch(model, read_file(path, max_batch_rows))
            return batch_outputs(model, run, speed_value, layer_value)

        @user_errors
        def on_example(model_name, speed_value, layer_value):
            model = loaded(model_name)
            return batch_outputs(model, example_batch(model), speed_value, layer_value)

        @user_errors
        def on_layer(model_name, brun, speed_value, layer_value):
            model = loaded(model_name)
            return render_how(model, brun, speed_value, layer_value) if brun and brun.model_name == model.name \
                else skip(4)

        @user_errors
        def on_model(model_name, text_value, brun, speed_value, show, layer_value):
            """Page load and model switch: the examples, the text and the batch for this model."""
            model = loaded(model_name)
            chosen = examples_for(model.labels, sets)
            trun = run_text(model, text_value, speed_value) if text_value and text_value.strip() else None
            if brun is not None and brun.model_name == model.name:
                pass
            elif brun is None or brun.source.startswith("example batch"):
                brun = example_batch(model)
            else:  # the user's own batch: run it again on the new model
                brun = run_batch(model, BatchInput(brun.texts, brun.raw_labels, brun.source))
            layer_value = min(int(layer_value), model.num_layers)
            t = render_text(model, trun, speed_value, show) if trun else ("", None, None)
            return (model_info(model, student), trun, brun, gr.Dataset(**example_samples(chosen)),
                    gr.Slider(maximum=model.num_layers, value=layer_value), *t,
                    *render_batch(model, brun, speed_value), *render_how(model, brun, speed_value, layer_value))

        # -- wiring ---------------------------------------------------------------------------
        text_args = dict(inputs=[model_dd, text, speed, show_skipped], outputs=[text_state, *text_out], **private)
        classify_btn.click(on_text, **text_args)
        text.submit(on_text, **text_args)
        examples.click(lambda sample: sample[0], inputs=examples, outputs=text, **private).then(on_text, **text_args)
        speed.change(on_speed, inputs=[model_dd, text_state, batch_state, speed, show_skipped, layer],
                     outputs=[*text_out, *batch_out, *how_out], trigger_mode="always_last",
                     show_progress="hidden", **private)
        show_skipped.change(on_toggle, inputs=[model_dd, text_state, speed, show_skipped], outputs=text_out,
                            show_progress="hidden", **private)
        batch_all = [batch_state, *batch_out, *how_out]
        pasted_btn.click(on_pasted, inputs=[model_dd, pasted, speed, layer], outputs=batch_all, **private)
        upload.upload(on_file, inputs=[model_dd, upload, speed, layer], outputs=batch_all, **private)
        example_btn.click(on_example, inputs=[model_dd, speed, layer], outputs=batch_all, **private)
        layer.change(on_layer, inputs=[model_dd, batch_state, speed, layer], outputs=how_out,
                     show_progress="hidden", **private)
        model_args = dict(fn=on_model, inputs=[model_dd, text, batch_state, speed, show_skipped, layer],
                          outputs=[info, text_state, batch_state, examples, layer, *text_out, *batch_out, *how_out],
                          **private)
        model_dd.change(**model_args)
        app.load(**model_args)

        # -- API ------------------------------------------------------------------------------
        def classify(text: str, speed: float = DEFAULT_SPEED, model: str = "") -> dict:
            """Classify one text with early exit. Returns label, confidence, probs, exit_layer (1-based),
            num_layers, uncertainties (of the layers that ran), flops, full_flops, speedup,
            num_tokens, input_tokens, truncated, notice and latency_ms of this run."""
            return user_errors(lambda: api.classify(loaded(model), text, speed))()

        def classify_batch(texts: list[str] | str, speed: float = DEFAULT_SPEED, model: str = "") -> list[dict]:
            """Classify many texts. `texts`: a list of strings, or one string with one text per line
            (blank lines skipped). Returns a list of /classify results (without latency_ms), in order."""
            return user_errors(lambda: api.classify_batch(loaded(model), texts, speed, max_batch_rows))()

        gr.api(classify, api_name="classify")
        gr.api(classify_batch, api_name="classify_batch")

        # Files need a File component so that clients upload them; it is never shown.
        with gr.Row(visible=False):
            api_file = gr.File(file_types=list(FILE_TYPES), type="filepath", label="file")
            api_speed = gr.Number(DEFAULT_SPEED, label="speed", minimum=0, maximum=1)
            api_result = gr.JSON(label="results")

        def classify_file(file, speed):  # noqa: F811 (the slider is not used here)
            """Classify every row of an uploaded .txt/.csv/.tsv file (a text column, optional label
            column); returns a list of /classify results (without latency_ms), in file order."""
            def work():
                if not file:
                    raise InputError("No file was uploaded.")
                texts = read_file(file, max_batch_rows).texts
                return api.classify_texts(loaded(""), texts, speed, max_batch_rows)
            return user_errors(work)()

        api_file.upload(classify_file, inputs=[api_file, api_speed], outputs=api_result, api_name="classify_file")

    app.queue(default_concurrency_limit=concurrency_limit, max_size=256)
    return app


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, **kwargs):
    """Serve `app` offline: no share link, no analytics, no monitoring, no run history."""
    options = dict(server_name=host, server_port=port, share=False, theme=theme(), css=CSS + student_page.CSS,
                   footer_links=["api", "settings"], run_history=False, mcp_server=False, ssr_mode=False,
                   enable_monitoring=False, pwa=False, max_file_size="20mb", show_error=True)
    options.update(kwargs)
    return app.launch(**options)
