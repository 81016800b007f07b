"""The UI's event handlers: module-level functions of an `AppContext` and the components'
values, testable without a server. `build_app` binds them to the context and wires them.

Only the tab on show is drawn (`Screen` holds None for the others): a chart drawn inside a
hidden tab gets the wrong size, and drawing it costs time nobody sees. Selecting a tab draws it.
"""
from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from .examples import ExampleSet, examples_for
from .inputs import read_file, read_pasted
from .models import LoadedModel, ModelRegistry
from .render import BatchPanel, HowPanel, TextPanel, batch_panel, how_panel, model_info, text_panel
from .student import StudentView
from .views import BatchRun, TextRun, run_batch, run_text

TABS = ("text", "batch", "how", "student")


@dataclass
class AppContext:
    """What the handlers share: the models, the example sets and the example batches' runs."""

    registry: ModelRegistry
    sets: list[ExampleSet]
    max_batch_rows: int
    student: StudentView | None = None
    csv_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fastbert-app-")))
    _example_runs: dict[str, BatchRun] = field(default_factory=dict, repr=False)
    _example_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def loaded(self, name: str | None) -> LoadedModel:
        return self.registry.get(name or None)

    def examples(self, model: LoadedModel) -> ExampleSet:
        return examples_for(model.labels, self.sets)

    def example_batch(self, model: LoadedModel) -> BatchRun:
        """The example batch is the same for everyone: computed once per model."""
        with self._example_lock:
            if model.name not in self._example_runs:
                self._example_runs[model.name] = run_batch(model, self.examples(model).batch)
            return self._example_runs[model.name]


@dataclass
class Screen:
    """What to draw: one panel per tab, None for a tab that is not on show (left as it is)."""

    text: TextPanel | None = None
    batch: BatchPanel | None = None
    how: HowPanel | None = None

    def values(self) -> tuple:
        """The component values in wiring order (text, batch, how); gr.skip() for hidden tabs."""
        out = []
        for panel, kind in ((self.text, TextPanel), (self.batch, BatchPanel), (self.how, HowPanel)):
            out.extend(panel.values() if panel is not None else (gr.skip(),) * kind.size())
        return tuple(out)


def screen(ctx: AppContext, model: LoadedModel, tab: str, trun: TextRun | None, brun: BatchRun | None,
           speed: float, show_skipped: bool, layer: int) -> Screen:
    """Draw the tab on show from the runs already computed (no backbone run)."""
    current = lambda run: run is not None and run.model_name == model.name  # noqa: E731
    if tab == "text" and current(trun):
        return Screen(text=text_panel(model, trun, speed, show_skipped))
    if tab == "batch" and current(brun):
        return Screen(batch=batch_panel(model, brun, speed, ctx.csv_dir))
    if tab == "how" and current(brun):
        return Screen(how=how_panel(model, brun, speed, layer))
    return Screen()


# ----- handlers -----------------------------------------------------------------------------
def on_text(ctx: AppContext, model_name, text, speed, show_skipped):
    """Classify: (text run, *text panel)."""
    model = ctx.loaded(model_name)
    run = run_text(model, text, speed)
    if run.truncated:
        gr.Warning(f"Text truncated to the model's {run.max_length} tokens "
                   f"(it has {run.input_tokens}); the first {run.num_tokens} were used.")
    return (run, *text_panel(model, run, speed, show_skipped).values())


def on_speed(ctx: AppContext, model_name, tab, trun, brun, speed, show_skipped, layer):
    """The slider: re-decide and redraw the tab on show only."""
    return screen(ctx, ctx.loaded(model_name), tab, trun, brun, speed, show_skipped, layer).values()


def on_tab(ctx: AppContext, tab, model_name, trun, brun, speed, show_skipped, layer):
    """A tab was selected: remember it, and draw it now that it has its real size."""
    return (tab, *on_speed(ctx, model_name, tab, trun, brun, speed, show_skipped, layer))


def on_toggle(ctx: AppContext, model_name, trun, speed, show_skipped):
    return on_speed(ctx, model_name, "text", trun, None, speed, show_skipped, 1)[:TextPanel.size()]


def _batch(ctx: AppContext, model: LoadedModel, run: BatchRun, speed):
    if run.truncated:
        gr.Warning(f"{run.truncated} of {len(run.texts)} texts were longer than the model reads and were truncated.")
    return (run, *batch_panel(model, run, speed, ctx.csv_dir).values())


def on_pasted(ctx: AppContext, model_name, lines, speed):
    model = ctx.loaded(model_name)
    return _batch(ctx, model, run_batch(model, read_pasted(lines, ctx.max_batch_rows)), speed)


def on_file(ctx: AppContext, model_name, path, speed):
    if not path:  # the file was cleared
        return (gr.skip(),) * (1 + BatchPanel.size())
    model = ctx.loaded(model_name)
    return _batch(ctx, model, run_batch(model, read_file(path, ctx.max_batch_rows)), speed)


def on_example(ctx: AppContext, model_name, speed):
    model = ctx.loaded(model_name)
    return _batch(ctx, model, ctx.example_batch(model), speed)


def on_layer(ctx: AppContext, model_name, tab, brun, speed, layer):
    """The layer slider (also moved by a model switch, whichever tab is on show)."""
    return on_speed(ctx, model_name, tab, None, brun, speed, False, layer)[-HowPanel.size():]


@dataclass
class ModelSwitch:
    """A model switch (or the page load): the model's own examples, run on it."""

    info: str
    text: str  # the model's first example, put in the text box
    text_run: TextRun | None
    batch_run: BatchRun
    examples: ExampleSet
    layer: int
    screen: Screen


def switch_model(ctx: AppContext, model_name, tab, speed, show_skipped, layer) -> ModelSwitch:
    """Never re-run the previous model's text or batch on the new one (a review on a news model
    means nothing): load the new model's own examples instead."""
    model = ctx.loaded(model_name)
    chosen = ctx.examples(model)
    text = chosen.single[0][1] if chosen.single else ""
    trun = run_text(model, text, speed) if text else None
    brun = ctx.example_batch(model)
    layer = max(1, min(int(layer), model.num_layers))
    return ModelSwitch(model_info(model, ctx.student), text, trun, brun, chosen, layer,
                       screen(ctx, model, tab, trun, brun, speed, show_skipped, layer))
