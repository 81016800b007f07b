"""`build_app`: the layout and its events. Callbacks are thin: they call `demo.views` for the
numbers, `demo.charts` for the figures and `demo.api` for the endpoints, and turn any failure
into a message in the page (never a traceback)."""
from __future__ import annotations

import functools
import html
import logging
from pathlib import Path

import gradio as gr

from . import api, calibration_view, charts, handlers, student_page, teach
from .examples import ExampleSet, examples_for, load_example_sets
from .inputs import DEFAULT_MAX_ROWS, FILE_TYPES, InputError, read_file
from .models import ModelRegistry
from .render import BatchPanel, HowPanel, TextPanel, model_info
from .student import DEFAULT_REPORT, find_student

log = logging.getLogger(__name__)
DEFAULT_SPEED = 0.5


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
.fb-why { font-weight: normal; }
#text-input textarea { min-height: 4.8em; }
#batch-table td, #batch-table th { overflow-wrap: anywhere; }
/* Phones: charts one above the other, and the result right under the text box (before the
   example buttons): the input column's children join the row, which becomes one column. */
@media (max-width: 640px) {
  .fb-charts { flex-direction: column !important; }
  .fb-charts > * { width: 100% !important; min-width: 0 !important; flex: 1 1 auto !important; }
  .fb-text-row { flex-direction: column !important; }
  .fb-input-col { display: contents !important; }
  .fb-text-row > *, .fb-input-col > * { width: 100% !important; min-width: 0 !important; }
  #text-input { order: 1; } #classify { order: 2; } .fb-result-col { order: 3; } #examples { order: 4; }
}
"""


def example_samples(examples: ExampleSet) -> dict:
    """Dataset samples (the texts) and what the buttons show ("case: text")."""
    return dict(samples=[[text] for _, text in examples.single],
                sample_labels=[_short(f"{case}: {text}", 32) for case, text in examples.single])


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# text, label, confidence, exit layer, uncertainty, true label, correct (the last two with labels)
TABLE_WIDTHS = ["40%", "11%", "10%", "8%", "10%", "11%", "10%"]

# Plotly sizes a chart from its container when it is drawn; one drawn in a hidden tab has no
# container width. When a tab is shown, fit every visible chart to its container (Gradio sets
# window.Plotly once a chart has been drawn).
FIT_PLOTS_JS = """() => {
  const fit = () => document.querySelectorAll('.js-plotly-plot').forEach(p => {
    if (p.offsetParent !== null && window.Plotly) window.Plotly.Plots.resize(p);
  });
  requestAnimationFrame(fit);
  setTimeout(fit, 250);
}"""


def on_model(ctx: handlers.AppContext, model_name, tab, speed, show_skipped, layer):
    """Page load and model switch: the info line, the model's own first example (text box and its
    run), its example batch, its examples, the layer slider's range, a cleared upload, and the tab
    on show drawn for the new model."""
    sw = handlers.switch_model(ctx, model_name, tab, speed, show_skipped, layer)
    return (sw.info, sw.text, sw.text_run, sw.batch_run, gr.Dataset(**example_samples(sw.examples)),
            gr.Slider(maximum=sw.batch_run.num_layers, value=sw.layer), gr.File(value=None),
            *sw.screen.values())


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
    ctx = handlers.AppContext(registry, sets, max_batch_rows, student)
    loaded = ctx.loaded

    def bind(fn, *args):
        """A handler with the context (and `args`) bound; failures become messages in the page."""
        bound = functools.update_wrapper(functools.partial(fn, ctx, *args), fn)
        del bound.__wrapped__  # Gradio reads the signature: the partial's, without the bound arguments
        return user_errors(bound)

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
        speed_mode, target, cost = calibration_view.add_controls(default)
        info = gr.HTML(model_info(default, student), elem_id="model-info", js_on_load=None)
        text_state, batch_state, tab_state = gr.State(None), gr.State(None), gr.State("text")
        first_set = examples_for(default.labels, sets)
        tabs = {}

        with gr.Tabs():
            with gr.Tab("One text", id="text", elem_id="tab-text") as tabs["text"]:
                with gr.Row(elem_classes="fb-text-row"):
                    with gr.Column(scale=5, elem_classes="fb-input-col"):
                        # lines=1 so that Enter classifies and Shift+Enter adds a line; CSS gives it 3 lines.
                        text = gr.Textbox(label="Text", lines=1, max_lines=8,
                                          value=first_set.single[0][1] if first_set.single else "",
                                          placeholder="Type a sentence and press Enter (Shift+Enter: new line)",
                                          elem_id="text-input")
                        classify_btn = gr.Button("Classify", variant="primary", elem_id="classify")
                        examples = gr.Dataset(components=["textbox"], **example_samples(first_set),
                                              label="Examples: easy, hard, negated, mixed and neutral (click one)",
                                              layout="gallery", samples_per_page=12, elem_id="examples")
                    with gr.Column(scale=6, elem_classes="fb-result-col"):
                        result = gr.HTML(elem_id="result", js_on_load=None)
                        show_skipped = gr.Checkbox(False, label="Reveal what the skipped layers would have said",
                                                   elem_id="show-skipped")
                with gr.Row(elem_classes="fb-charts"):
                    probs_plot = gr.Plot(label="Class probabilities per layer", elem_id="probs-plot", show_label=False)
                    unc_plot = gr.Plot(label="Uncertainty per layer", elem_id="unc-plot", show_label=False)

            with gr.Tab("Batch", id="batch", elem_id="tab-batch") as tabs["batch"]:
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
                with gr.Row(elem_classes="fb-charts"):
                    hist_plot = gr.Plot(label="Exit layers", elem_id="hist-plot", show_label=False)
                    sweep_plot = gr.Plot(label="Accuracy and speedup vs speed", elem_id="sweep-plot", show_label=False)
                dist_plot = gr.Plot(label="Uncertainty per layer", elem_id="dist-plot", show_label=False)
                # The text column wraps within its share, so that every other column stays in view.
                table = gr.Dataframe(label="Per-sample results", interactive=False, wrap=True, max_height=420,
                                     column_widths=TABLE_WIDTHS, elem_id="batch-table")
                download = gr.DownloadButton("Download the table as CSV", visible=False, elem_id="batch-download")

            with gr.Tab("How it works", id="how", elem_id="tab-how") as tabs["how"]:
                gr.Markdown(teach.INTRO)
                layer = gr.Slider(1, default.num_layers, value=1, step=1, label="Layer (step through the batch)",
                                  elem_id="layer")
                step_plot = gr.Plot(label="The shrinking batch", elem_id="step-plot", show_label=False)
                step_md = gr.Markdown(elem_id="step-text")
                gr.Markdown(teach.UNCERTAINTY)
                with gr.Row(elem_classes="fb-charts"):
                    with gr.Column():
                        gr.Markdown(teach.LUHA)
                        luha_plot = gr.Plot(label="LUHA", elem_id="luha-plot", show_label=False)
                    with gr.Column():
                        gr.Markdown(teach.DISTILL)
                        agree_plot = gr.Plot(label="Self-distillation", elem_id="agree-plot", show_label=False)
                cal_luha, cal_rel = calibration_view.add_charts()

            if student is not None:
                with gr.Tab("Distilled student", id="student", elem_id="tab-student") as tabs["student"]:
                    gr.Markdown(student_page.INTRO)
                    gr.HTML(student_page.student_html(student), elem_id="student-summary", js_on_load=None)
                    if student.heatmaps:
                        gr.Plot(charts.lambda_chart(student.heatmaps), label="Universal-KD attention",
                                elem_id="lambda-plot", show_label=False)

        # In the order of the fields of TextPanel, BatchPanel and HowPanel (demo.render).
        text_out = [result, probs_plot, unc_plot]
        batch_out = [batch_summary, hist_plot, dist_plot, sweep_plot, table, download]
        how_out = [step_plot, step_md, luha_plot, agree_plot]
        assert (len(text_out), len(batch_out), len(how_out)) == (TextPanel.size(), BatchPanel.size(), HowPanel.size())
        screen_out = [*text_out, *batch_out, *how_out]
        private = dict(api_visibility="private")
        quiet = dict(show_progress="hidden", **private)

        # -- wiring ---------------------------------------------------------------------------
        text_args = dict(inputs=[model_dd, text, speed, show_skipped], outputs=[text_state, *text_out], **private)
        classify_btn.click(bind(handlers.on_text), **text_args)
        text.submit(bind(handlers.on_text), **text_args)
        examples.click(lambda sample: sample[0], inputs=examples, outputs=text, **private).then(
            bind(handlers.on_text), **text_args)
        shown = [text_state, batch_state, speed, show_skipped, layer]
        speed.change(bind(handlers.on_speed), inputs=[model_dd, tab_state, *shown], outputs=screen_out,
                     trigger_mode="always_last", **quiet)
        for tab_id, tab in tabs.items():
            tab.select(bind(handlers.on_tab, tab_id), inputs=[model_dd, *shown], outputs=[tab_state, *screen_out],
                       **quiet)
            tab.select(None, js=FIT_PLOTS_JS, **private)  # charts drawn before the tab was shown
        show_skipped.change(bind(handlers.on_toggle), inputs=[model_dd, text_state, speed, show_skipped],
                            outputs=text_out, **quiet)
        batch_all = [batch_state, *batch_out]
        pasted_btn.click(bind(handlers.on_pasted), inputs=[model_dd, pasted, speed], outputs=batch_all, **private)
        upload.upload(bind(handlers.on_file), inputs=[model_dd, upload, speed], outputs=batch_all, **private)
        example_btn.click(bind(handlers.on_example), inputs=[model_dd, speed], outputs=batch_all, **private)
        layer.change(bind(handlers.on_layer), inputs=[model_dd, tab_state, batch_state, speed, layer], outputs=how_out,
                     **quiet)
        model_args = dict(fn=bind(on_model), inputs=[model_dd, tab_state, speed, show_skipped, layer],
                          outputs=[info, text, text_state, batch_state, examples, layer, upload, *screen_out],
                          **private)
        model_dd.change(**model_args)
        app.load(**model_args)
        calibration_view.wire(loaded, model_dd, speed, speed_mode, target, cost, batch_state, cal_luha, cal_rel)

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
