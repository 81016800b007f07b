"""The speed-mode switch in Debian's Chromium: "Target speedup" shows its slider, a target sets
the speed slider to the curve's speed, and the cost line follows; raw vs calibrated charts."""
from pathlib import Path

import pytest

from fastbert.calibrate import calibrate
from fastbert.data import TextDataset
from serving import CHROMIUM, running_app
from tiny import TEXTS, tiny_model

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium")


@pytest.fixture(scope="module")
def calibrated_dir(tmp_path_factory, texts_module):
    directory = tmp_path_factory.mktemp("cal-models") / "tiny-calibrated"
    m = tiny_model(tmp_path_factory.mktemp("tok"))
    calibrate(m, TextDataset(texts_module * 3, ["positive", "negative", "positive"] * 9))
    m.save_pretrained(directory)
    return directory, m


@pytest.fixture(scope="module")
def texts_module():
    return list(TEXTS)


def test_target_speedup_mode_sets_the_speed_from_the_curve(browser, calibrated_dir):  # noqa: F811
    directory, model = calibrated_dir
    with running_app(Path(directory)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.wait_for_selector("#fb-exit")
        assert not page.locator("#target-speedup").is_visible()
        page.locator("#speed-mode").get_by_text("Target speedup").click()
        target = page.locator("#target-speedup input[type=number]")
        target.wait_for(state="visible")
        wanted = max(p.speedup for p in model.curve.points) * 0.8
        target.fill(f"{wanted:.2f}")
        target.press("Enter")
        speed = model.curve.for_speedup(round(wanted, 2)).speed
        page.wait_for_function("s => document.querySelector('#fb-cost')?.textContent.includes('Speed ' + s)",
                               arg=f"{speed:.2f}")
        box = page.locator("#speed input[type=number]")
        page.wait_for_function("s => Math.abs(parseFloat(document.querySelector('#speed input[type=number]').value) - s) < 1e-6",
                               arg=speed)
        assert box.is_disabled()
        page.locator("#speed-mode").get_by_text("Speed threshold").click()
        page.locator("#target-speedup").wait_for(state="hidden")
        page.get_by_role("tab", name="Batch").click()
        page.locator("#batch-example").click()
        page.get_by_role("tab", name="How it works").click()
        for plot in ("#reliability-plot", "#luha-pair-plot"):
            page.wait_for_function("sel => document.querySelector(sel)?.textContent.includes('raw (paper)')", arg=plot)
            assert "calibrated" in page.locator(plot).inner_text()
        page.close()
