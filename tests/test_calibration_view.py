"""demo.calibration_view: the slider's two modes, the cost line, raw vs calibrated charts."""
import pytest
import torch

from demo import calibration_view as cv
from demo.inputs import BatchInput
from demo.models import ModelRegistry
from demo.views import run_batch
from fastbert.calibrate import calibrate
from fastbert.data import TextDataset
from fastbert.evaluate import luha_bins
from tiny import tiny_model

LABELS = ["positive", "negative", "positive", "negative", "positive", "positive", "negative", "negative", "positive"]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    m = tiny_model(tmp_path_factory.mktemp("cal"))
    texts = ["good film", "the plot was very boring and the actors were awful", "not bad",
             "loved the music but hated the ending", "fun", "a great cast and a fine story really",
             "it is the movie", "dull dull dull", "xyz qq"]
    calibrate(m, TextDataset(texts * 3, LABELS * 3))
    loaded = ModelRegistry.from_model(m, name="cal").get()
    return loaded, run_batch(loaded, BatchInput(texts, LABELS, "unit test"))


@pytest.fixture(scope="module")
def plain(model):
    return ModelRegistry.from_model(model, name="tiny").get()


def test_target_mode_uses_the_curve(calibrated):
    loaded, _ = calibrated
    curve = loaded.model.curve
    for target in (1.1, 1.5, 2.5):
        choice = cv.choose(loaded, cv.TARGET, 0.5, target)
        assert choice.speed == curve.for_speedup(target).speed == loaded.model.choose_speed(target_speedup=target).speed
    threshold = cv.choose(loaded, cv.THRESHOLD, 0.37)
    assert threshold.speed == 0.37 and threshold.point == curve.at_speed(0.37)


def test_cost_line_is_the_curves_numbers(calibrated):
    loaded, _ = calibrated
    choice = cv.choose(loaded, cv.THRESHOLD, 0.5)
    html = cv.cost_html(choice)
    assert f"{choice.point.speedup:.2f}×" in html
    assert f"{abs(choice.curve.accuracy_drop(choice.point)):.2f} points" in html


def test_without_a_curve_the_slider_stays_a_threshold(plain):
    choice = cv.choose(plain, cv.TARGET, 0.4, 3.0)
    assert choice.mode == cv.THRESHOLD and choice.speed == 0.4 and choice.point is None
    assert "no calibration curve" in cv.cost_html(choice)
    assert "choose one of" in cv.choose(plain, "bogus", 0.4).message


def test_raw_probabilities_are_recovered_without_a_second_run(calibrated):
    loaded, run = calibrated
    raw, cal = cv.raw_and_calibrated(loaded, run)
    assert cal is run
    model = loaded.model
    from fastbert.evaluate import all_layer_outputs

    direct = all_layer_outputs(model, TextDataset(run.texts, LABELS), calibrated=False)
    assert torch.allclose(raw.outputs.layer_probs, direct.layer_probs, atol=1e-5)
    assert not torch.allclose(raw.outputs.layer_probs, run.outputs.layer_probs, atol=1e-3)
    assert luha_bins(raw.outputs).counts != luha_bins(run.outputs).counts


def test_pairs_of_charts(calibrated, plain, texts):
    loaded, run = calibrated
    for builder in (cv.luha_pair, cv.reliability_pair):
        fig = builder(loaded, run)
        assert not fig.layout.meta  # not an error figure
        assert [a.text for a in fig.layout.annotations][:2] == ["raw (paper)", "calibrated"]
    plain_run = run_batch(plain, BatchInput(texts, None, "unit test"))
    fig = cv.reliability_pair(plain, plain_run)
    assert "not calibrated" in fig.layout.annotations[0].text


def test_target_range_covers_the_curve(calibrated, plain):
    loaded, _ = calibrated
    r = cv.target_range(loaded, 0.5)
    assert r["minimum"] == 1.0 and r["maximum"] >= max(p.speedup for p in loaded.model.curve.points) - 0.01
    assert cv.target_range(plain, 0.5)["maximum"] == 2.0
