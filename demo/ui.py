"""`build_app`: the page, one builder per part (header, each tab), and `wire`, its events.
Handlers are module-level functions in `demo.handlers` (the numbers from `demo.views`, the
figures from `demo.charts`); the endpoints are in `demo.endpoints`. Any failure becomes a
message in the page (`user_errors`), never a traceback."""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from . import calibration_view, charts, handlers, limits, student_page, teach
from .endpoints import DEFAULT_SPEED, user_errors, wire_api
from .examples import ExampleSet, examples_for, load_example_sets
from .inputs import DEFAULT_MAX_ROWS, FILE_TYPES
from .models import LoadedModel, ModelRegistry
from .render import BatchPanel, HowPanel, TextPanel, model_info
from .student import DEFAULT_REPORT, find_student



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


# ----- the page, one builder per part ------------------------------------------------------------
# Components are named like the fields of the panels that fill them (demo.render), so outputs
# are listed by name (`outputs_of`), never by position.
@dataclass
class Header:
    model: gr.Dropdown
    speed: gr.Slider
    speed_mode: Any  # calibration_view.add_controls: speed or target speedup
    target: Any
    cost: Any
    info: gr.HTML


@dataclass
class TextTab:
    text: gr.Textbox
    classify: gr.Button
    examples: gr.Dataset
    show_skipped: gr.Checkbox
    result: gr.HTML
    probs_plot: gr.Plot
    unc_plot: gr.Plot


@dataclass
class BatchTab:
    pasted: gr.Textbox
    pasted_btn: gr.Button
    upload: gr.File
    example_btn: gr.Button
    summary: gr.HTML
    hist_plot: gr.Plot
    dist_plot: gr.Plot
    sweep_plot: gr.Plot
    table: gr.Dataframe
    download: gr.DownloadButton


@dataclass
class HowTab:
    layer: gr.Slider
    step_plot: gr.Plot
    step_text: gr.Markdown
    luha_plot: gr.Plot
    agree_plot: gr.Plot
    cal_luha: gr.Plot
    cal_rel: gr.Plot


@dataclass
class Page:
    header: Header
    text: TextTab
    batch: BatchTab
    how: HowTab
    tabs: dict  # tab id -> gr.Tab
    text_state: gr.State
    batch_state: gr.State
    tab_state: gr.State

    def screen(self) -> list:
        """Every panel's components, in the order of `handlers.screen(...).values()`."""
        return outputs_of(TextPanel, self.text) + outputs_of(BatchPanel, self.batch) + outputs_of(HowPanel, self.how)


def outputs_of(panel: type, part) -> list:
    """The components of `part` that a `panel` (a demo.render Panel) fills, by field name."""
    return [getattr(part, f.name) for f in fields(panel)]


def build_header(registry: ModelRegistry, default: LoadedModel, student) -> Header:
    with gr.Row(elem_classes="fb-header"):
        gr.HTML("<h1>FastBERT explorer</h1><p>A classifier after every layer; each text leaves as soon as a "
                "layer is sure enough. See which layer answered, what it cost, and why.</p>", js_on_load=None)
    with gr.Row(equal_height=True):
        model = gr.Dropdown(registry.names, value=registry.default, label="Model", scale=1,
                            visible=len(registry.names) > 1, interactive=True, elem_id="model")
        speed = gr.Slider(0.0, 1.0, value=DEFAULT_SPEED, step=0.01, label="Speed",
                          info="The uncertainty threshold: 0 runs every layer; higher exits earlier.",
                          scale=3, elem_id="speed")
    speed_mode, target, cost = calibration_view.add_controls(default)
    info = gr.HTML(model_info(default, student), elem_id="model-info", js_on_load=None)
    return Header(model, speed, speed_mode, target, cost, info)


def build_text_tab(first_set: ExampleSet) -> TextTab:
    with gr.Row(elem_classes="fb-text-row"):
        with gr.Column(scale=5, elem_classes="fb-input-col"):
            # lines=1 so that Enter classifies and Shift+Enter adds a line; CSS gives it 3 lines.
            text = gr.Textbox(label="Text", lines=1, max_lines=8,
                              value=first_set.single[0][1] if first_set.single else "",
                              placeholder="Type a sentence and press Enter (Shift+Enter: new line)",
                              elem_id="text-input")
            classify = gr.Button("Classify", variant="primary", elem_id="classify")
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
    return TextTab(text, classify, examples, show_skipped, result, probs_plot, unc_plot)


def build_batch_tab(max_batch_rows: int) -> BatchTab:
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
    summary = gr.HTML(elem_id="batch-summary", js_on_load=None)
    with gr.Row(elem_classes="fb-charts"):
        hist_plot = gr.Plot(label="Exit layers", elem_id="hist-plot", show_label=False)
        sweep_plot = gr.Plot(label="Accuracy and speedup vs speed", elem_id="sweep-plot", show_label=False)
    dist_plot = gr.Plot(label="Uncertainty per layer", elem_id="dist-plot", show_label=False)
    # The text column wraps within its share, so that every other column stays in view.
    table = gr.Dataframe(label="Per-sample results", interactive=False, wrap=True, max_height=420,
                         column_widths=TABLE_WIDTHS, elem_id="batch-table")
    download = gr.DownloadButton("Download the table as CSV", visible=False, elem_id="batch-download")
    return BatchTab(pasted, pasted_btn, upload, example_btn, summary, hist_plot, dist_plot, sweep_plot, table,
                    download)


def build_how_tab(default: LoadedModel) -> HowTab:
    gr.Markdown(teach.INTRO)
    layer = gr.Slider(1, default.num_layers, value=1, step=1, label="Layer (step through the batch)",
                      elem_id="layer")
    step_plot = gr.Plot(label="The shrinking batch", elem_id="step-plot", show_label=False)
    step_text = gr.Markdown(elem_id="step-text")
    gr.Markdown(teach.UNCERTAINTY)
    with gr.Row(elem_classes="fb-charts"):
        with gr.Column():
            gr.Markdown(teach.LUHA)
            luha_plot = gr.Plot(label="LUHA", elem_id="luha-plot", show_label=False)
        with gr.Column():
            gr.Markdown(teach.DISTILL)
            agree_plot = gr.Plot(label="Self-distillation", elem_id="agree-plot", show_label=False)
    cal_luha, cal_rel = calibration_view.add_charts()
    return HowTab(layer, step_plot, step_text, luha_plot, agree_plot, cal_luha, cal_rel)


def build_student_tab(student) -> None:
    gr.Markdown(student_page.INTRO)
    gr.HTML(student_page.student_html(student), elem_id="student-summary", js_on_load=None)
    if student.heatmaps:
        gr.Plot(charts.lambda_chart(student.heatmaps), label="Universal-KD attention",
                elem_id="lambda-plot", show_label=False)


def build_page(registry: ModelRegistry, default: LoadedModel, student, first_set: ExampleSet,
               max_batch_rows: int) -> Page:
    """The layout (inside a Blocks): the header, then one tab per part."""
    header = build_header(registry, default, student)
    states = gr.State(None), gr.State(None), gr.State("text")
    tabs = {}
    with gr.Tabs():
        with gr.Tab("One text", id="text", elem_id="tab-text") as tabs["text"]:
            text = build_text_tab(first_set)
        with gr.Tab("Batch", id="batch", elem_id="tab-batch") as tabs["batch"]:
            batch = build_batch_tab(max_batch_rows)
        with gr.Tab("How it works", id="how", elem_id="tab-how") as tabs["how"]:
            how = build_how_tab(default)
        if student is not None:
            with gr.Tab("Distilled student", id="student", elem_id="tab-student") as tabs["student"]:
                build_student_tab(student)
    return Page(header, text, batch, how, tabs, *states)


# ----- events ---------------------------------------------------------------------------------
def wire(app: gr.Blocks, page: Page, bind: Callable) -> None:
    """Every event of the page: each handler (demo.handlers) with its inputs and named outputs."""
    h, t, b, w = page.header, page.text, page.batch, page.how
    text_out, batch_out, how_out = outputs_of(TextPanel, t), outputs_of(BatchPanel, b), outputs_of(HowPanel, w)
    private = dict(api_visibility="private")
    quiet = dict(show_progress="hidden", **private)
    text_args = dict(inputs=[h.model, t.text, h.speed, t.show_skipped], outputs=[page.text_state, *text_out], **private)
    t.classify.click(bind(handlers.on_text), **text_args)
    t.text.submit(bind(handlers.on_text), **text_args)
    t.examples.click(lambda sample: sample[0], inputs=t.examples, outputs=t.text, **private).then(
        bind(handlers.on_text), **text_args)
    shown = [page.text_state, page.batch_state, h.speed, t.show_skipped, w.layer]
    h.speed.change(bind(handlers.on_speed), inputs=[h.model, page.tab_state, *shown], outputs=page.screen(),
                   trigger_mode="always_last", **quiet)
    for tab_id, tab in page.tabs.items():
        tab.select(bind(handlers.on_tab, tab_id), inputs=[h.model, *shown], outputs=[page.tab_state, *page.screen()],
                   **quiet)
        tab.select(None, js=FIT_PLOTS_JS, **private)  # charts drawn before the tab was shown
    t.show_skipped.change(bind(handlers.on_toggle), inputs=[h.model, page.text_state, h.speed, t.show_skipped],
                          outputs=text_out, **quiet)
    batch_all = [page.batch_state, *batch_out]
    b.pasted_btn.click(bind(handlers.on_pasted), inputs=[h.model, b.pasted, h.speed], outputs=batch_all, **private)
    b.upload.upload(bind(handlers.on_file), inputs=[h.model, b.upload, h.speed], outputs=batch_all, **private)
    b.example_btn.click(bind(handlers.on_example), inputs=[h.model, h.speed], outputs=batch_all, **private)
    w.layer.change(bind(handlers.on_layer), inputs=[h.model, page.tab_state, page.batch_state, h.speed, w.layer],
                   outputs=how_out, **quiet)
    model_args = dict(fn=bind(on_model), inputs=[h.model, page.tab_state, h.speed, t.show_skipped, w.layer],
                      outputs=[h.info, t.text, page.text_state, page.batch_state, t.examples, w.layer, b.upload,
                               *page.screen()], **private)
    h.model.change(**model_args)
    app.load(**model_args)


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

    def bind(fn, *args):
        """A handler with the context (and `args`) bound; failures become messages in the page."""
        bound = functools.update_wrapper(functools.partial(fn, ctx, *args), fn)
        del bound.__wrapped__  # Gradio reads the signature: the partial's, without the bound arguments
        return user_errors(bound)

    with gr.Blocks(title="FastBERT: early exit, layer by layer", analytics_enabled=False,
                   delete_cache=limits.DELETE_CACHE) as app:
        page = build_page(registry, default, student, examples_for(default.labels, sets), max_batch_rows)
        wire(app, page, bind)
        h = page.header
        calibration_view.wire(ctx.loaded, h.model, h.speed, h.speed_mode, h.target, h.cost, page.batch_state,
                              page.how.cal_luha, page.how.cal_rel)
        wire_api(registry, max_batch_rows)
    # api_open=False: every call goes through the queue and its limits.
    app.queue(default_concurrency_limit=concurrency_limit, max_size=limits.QUEUE_SIZE, api_open=False)
    return app


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, **kwargs):
    """Serve `app` offline: no share link, no analytics, no monitoring, no run history."""
    options = dict(server_name=host, server_port=port, share=False, theme=theme(), css=CSS + student_page.CSS,
                   footer_links=["api", "settings"], run_history=False, mcp_server=False, ssr_mode=False,
                   enable_monitoring=False, pwa=False, max_file_size=limits.MAX_FILE_BYTES, show_error=True,
                   max_threads=limits.MAX_THREADS, app_kwargs=limits.app_kwargs())
    options.update(kwargs)
    return app.launch(**options)
