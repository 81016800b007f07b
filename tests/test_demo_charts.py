"""demo.charts: plotly figures built from views, checked as data (no server, no browser)."""
import pytest

from demo import charts
from demo.inputs import BatchInput
from demo.models import ModelRegistry
from demo.views import TextView, batch_view, layer_agreement, layer_step, run_batch, run_text, text_view
from fastbert.evaluate import luha_bins

TEXTS = ["good film", "the plot was very boring and the actors were awful", "not bad", "fun",
         "loved the music but hated the ending", "dull dull dull"]
LABELS = ["positive", "negative", "positive", "positive", "negative", "negative"]


@pytest.fixture(scope="module")
def loaded(model):
    return ModelRegistry.from_model(model, name="tiny").get()


@pytest.fixture(scope="module")
def text_run(loaded):
    return run_text(loaded, "good film", speed=0.5)


@pytest.fixture(scope="module")
def batch(loaded):
    return run_batch(loaded, BatchInput(TEXTS, LABELS, "test"))


def _named(items, name):
    return [x for x in items if getattr(x, "name", None) == name]


def _exit_view(loaded, run, want_skipped: bool) -> TextView:
    """A view whose exit leaves layers unrun (or runs them all)."""
    speed = 1.0 if want_skipped else 0.0
    view = text_view(loaded, run, speed)
    assert (view.exit_layer < view.num_layers) == want_skipped
    return view


def test_layer_probs_chart_marks_the_exit_and_hides_skipped_layers(loaded, text_run):
    view = _exit_view(loaded, text_run, want_skipped=True)
    k, L, C = view.exit_layer, view.num_layers, len(loaded.labels)
    fig = charts.layer_probs_chart(view, loaded.labels, show_skipped=False)
    assert len(fig.data) == C + 1  # one bar trace per class, plus "not computed"
    assert fig.data[-1].name == "not computed" and len(fig.data[-1].y) == L - k
    for trace in fig.data[:C]:
        assert len(trace.y) == k  # only layers that ran show probabilities
    (exit_note,) = _named(fig.layout.annotations, "exit")
    assert exit_note.y == k - 1 and f"{k} of {L}" in exit_note.text
    (cut,) = _named(fig.layout.shapes, "exit-cut")
    assert cut.y0 == cut.y1 == k - 0.5


def test_layer_probs_toggle_reveals_what_skipped_layers_would_say(loaded, text_run):
    view = _exit_view(loaded, text_run, want_skipped=True)
    k, L, C = view.exit_layer, view.num_layers, len(loaded.labels)
    fig = charts.layer_probs_chart(view, loaded.labels, show_skipped=True)
    assert len(fig.data) == 2 * C
    revealed = fig.data[C:]
    assert all(len(t.y) == L - k and t.marker.opacity < 1 for t in revealed)
    for c, trace in enumerate(revealed):
        assert list(trace.x) == pytest.approx([view.layer_probs[i][c] for i in range(k, L)])


def test_layer_probs_chart_without_skipped_layers_has_no_cut(loaded, text_run):
    view = _exit_view(loaded, text_run, want_skipped=False)
    fig = charts.layer_probs_chart(view, loaded.labels, show_skipped=True)
    assert len(fig.data) == len(loaded.labels) and not _named(fig.layout.shapes, "exit-cut")
    assert _named(fig.layout.annotations, "exit")[0].y == view.num_layers - 1


@pytest.mark.parametrize("speed", [0.0, 0.5, 1.0])
def test_uncertainty_chart_threshold_line_and_exit_star(loaded, text_run, speed):
    view = text_view(loaded, text_run, speed)
    fig = charts.uncertainty_chart(view, show_skipped=True)
    (line,) = _named(fig.layout.shapes, "threshold")
    assert line.y0 == line.y1 == speed
    (star,) = _named(fig.data, "exit")
    assert list(star.x) == [view.exit_layer]
    assert star.y[0] == pytest.approx(view.uncertainties[view.exit_layer - 1])
    computed = _named(fig.data, "computed")[0]
    assert len(computed.x) == view.exit_layer
    # Entropy rule: every computed layer before the exit is at or above the line.
    assert all(u >= speed for u in computed.y[:-1])
    skipped = _named(fig.data, "not computed (would be)")
    assert len(skipped) == (1 if view.exit_layer < view.num_layers else 0)


def test_batch_charts_follow_the_view(loaded, batch):
    view = batch_view(loaded, batch, 0.5)
    hist = charts.exit_histogram(view)
    assert len(hist.data) == 1 and list(hist.data[0].y) == view.result.exit_histogram
    assert sum(hist.data[0].y) == len(TEXTS)
    dist = charts.uncertainty_distributions(batch, view)
    points = sum(len(t.y) for t in dist.data)
    assert points == batch.num_layers * len(TEXTS)  # every (layer, sample) once
    ran = _named(dist.data, "ran this layer")[0]
    assert len(ran.y) == sum(view.exit_layer)  # a sample that exits at k ran k layers
    assert _named(dist.layout.shapes, "threshold")[0].y0 == 0.5
    assert {t.boxpoints for t in dist.data} == {"all"}  # a small batch: every sample is a dot


def test_speed_sweep_chart_marks_the_current_speed(loaded, batch):
    fig = charts.speed_sweep_chart(batch, 0.35)
    assert {t.name for t in fig.data} == {"FLOPs speedup", "accuracy"}
    # Accuracy on its own right-hand axis, each axis titled for its own line.
    assert _named(fig.data, "accuracy")[0].yaxis == "y2"
    assert (fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text) == ("FLOPs speedup (×)", "accuracy")
    assert [s.x0 for s in fig.layout.shapes if s.type == "line"] == [0.35]
    speedup = _named(fig.data, "FLOPs speedup")[0]
    assert list(speedup.y) == [r.flops_speedup for r in batch.sweep]
    unlabeled = run_batch(loaded, BatchInput(TEXTS, None, "test"))
    assert [t.name for t in charts.speed_sweep_chart(unlabeled, 0.35).data] == ["FLOPs speedup"]


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_figure2_chart_splits_leavers_by_the_threshold(loaded, batch, layer):
    view = batch_view(loaded, batch, 0.5)
    step = layer_step(batch, view, layer)
    fig = charts.figure2_chart(batch, step)
    bars = fig.data[0]
    assert list(bars.y) == step.running_per_layer
    leave, stay = _named(fig.data, "leaves here")[0], _named(fig.data, "goes on")[0]
    assert len(leave.y) == len(step.leaving) and len(stay.y) == len(step.staying)
    if layer < batch.num_layers:
        assert all(u < 0.5 for u in leave.y) and all(u >= 0.5 for u in stay.y)


def test_teaching_charts(loaded, batch):
    bins = luha_bins(batch.outputs, bins=5)
    fig = charts.luha_chart(bins)
    assert len(fig.data[0].x) == 5
    agree = charts.agreement_chart(layer_agreement(batch))
    assert [t.name for t in agree.data] == ["agrees with the teacher", "accuracy (labels)"]


@pytest.mark.parametrize("build", [
    lambda: charts.layer_probs_chart(None, ["a", "b"]),
    lambda: charts.uncertainty_chart("not a view"),
    lambda: charts.exit_histogram(None),
    lambda: charts.speed_sweep_chart(None, 0.5),
    lambda: charts.luha_chart(None),
])
def test_a_failing_chart_returns_an_error_figure(build):
    fig = build()
    assert "error" in fig.layout.meta and not fig.data
    assert fig.layout.annotations[0].text.startswith("Chart unavailable")


def test_mismatched_probabilities_are_an_error_figure(loaded, text_run):
    view = text_view(loaded, text_run, 0.5)
    fig = charts.layer_probs_chart(view, ["only", "three", "labels"])
    assert "3 classes" in fig.layout.meta["error"]


def test_class_colors_are_stable_and_distinct():
    assert charts.class_colors(["negative", "positive"]) == [charts.NAMED["negative"], charts.NAMED["positive"]]
    four = charts.class_colors(["World", "Sports", "Business", "Sci/Tech"])
    assert len(set(four)) == 4
    # The same scheme across models: Chinese sentiment gets the English model's colours.
    assert charts.class_colors(["负面", "正面"]) == charts.class_colors(["negative", "positive"])
