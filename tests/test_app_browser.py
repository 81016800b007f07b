"""The app in Debian's Chromium (never a downloaded browser): type, move the slider, read the exit
layer; upload files in the batch tab; screenshot; and no request may leave localhost."""
from pathlib import Path
from urllib.parse import urlparse

import pytest

from serving import CHROMIUM, running_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=(
    "Debian's Chromium is not installed at /usr/bin/chromium; run `bash scripts/install_chromium.sh` "
    "(scripts/test.sh does) to run the browser test"))
LOCAL = {"127.0.0.1", "localhost"}
TEXT = "loved the music but hated the ending"


@pytest.fixture(scope="module")
def url(app_url):
    return app_url


@pytest.fixture
def page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # Generous: plotly renders in the page's one thread, slow on a busy 2-core CI machine.
    page.set_default_timeout(120_000)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    yield page
    page.close()
    outside = [u for u in requests if urlparse(u).scheme not in ("data", "blob")
               and urlparse(u).hostname not in LOCAL]
    assert requests and not outside, f"requests left localhost: {outside[:5]}"


def _set_speed(page, speed: float) -> None:
    box = page.locator("#speed input[type=number]")
    box.fill(str(speed))
    box.press("Enter")


def _upload(page, path: Path) -> None:
    """Put `path` in the batch tab's file input (as a file chooser would)."""
    block = page.locator("#batch-file")
    block.wait_for()  # the tab has rendered
    if block.get_by_text("Click to Upload").count() == 0:  # a file is there: remove it first
        block.get_by_role("button", name="Clear").first.click()
        block.get_by_text("Click to Upload").wait_for()
    block.locator("input[type=file]").set_input_files(
        {"name": path.name, "mimeType": "text/plain", "buffer": path.read_bytes()})


def _exit_text(model, text: str, speed: float) -> str:
    pred = model.predict([text], speed=speed)[0]
    return f"{pred.exit_layer} of {pred.num_layers}"


def test_type_a_text_move_the_slider_and_read_the_exit_layer(page, model, tmp_path, record_property):
    page.wait_for_selector("#fb-exit")  # the page load classified the first example
    page.locator("#text-input textarea").fill(TEXT)
    page.locator("#classify").click()
    page.wait_for_function("t => document.querySelector('#fb-text')?.textContent.includes(t)", arg=TEXT)
    exit_box = page.locator("#fb-exit")
    assert exit_box.inner_text() == _exit_text(model, TEXT, 0.5)
    for speed in (0.0, 1.0, 0.3):  # the slider re-decides without a new Classify
        _set_speed(page, speed)
        expected = _exit_text(model, TEXT, speed)
        page.wait_for_function("e => document.querySelector('#fb-exit')?.textContent === e", arg=expected)
        assert exit_box.inner_text() == expected
    assert page.locator("#fb-text").inner_text().strip("“”") == TEXT
    page.locator("#show-skipped input[type=checkbox]").check()
    page.wait_for_timeout(500)
    shot = tmp_path / "app-one-text.png"
    page.screenshot(path=str(shot), full_page=True)
    record_property("screenshot", str(shot))
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000


def test_upload_files_in_the_batch_tab(page, model, tmp_path, record_property):
    page.wait_for_selector("#fb-exit")
    page.get_by_role("tab", name="Batch").click()
    texts = ["good film", "awful boring plot", "not bad", "fun fun", "dull", "the cast was great"]
    data = tmp_path / "my-reviews.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{t}\t{'positive' if i % 2 == 0 else 'negative'}\n"
                                                 for i, t in enumerate(texts)))
    _upload(page, data)
    page.wait_for_function("() => document.querySelector('#fb-batch-n')?.parentElement.textContent"
                           ".includes('my-reviews.tsv')")
    assert page.locator("#fb-batch-n").inner_text() == str(len(texts))
    assert page.locator("#fb-batch-acc").inner_text().endswith("%")  # labels given: accuracy shown
    mean_exit = sum(p.exit_layer for p in model.predict(texts, speed=0.5)) / len(texts)
    assert page.locator("#fb-batch-exit").inner_text().startswith(f"{mean_exit:.2f} of")
    assert page.locator("#batch-table").get_by_text("the cast was great").count() >= 1
    with page.expect_download() as download:
        page.locator("#batch-download").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("text,label,confidence,exit layer,uncertainty") and len(lines) == 1 + len(texts)
    shot = tmp_path / "app-batch.png"
    page.screenshot(path=str(shot), full_page=True)
    record_property("screenshot_batch", str(shot))
    print(f"screenshot: {shot}")

    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1"))
    _upload(page, bad)
    page.get_by_text("not UTF-8").first.wait_for()
    assert page.get_by_text("Traceback").count() == 0
    assert page.locator("#fb-batch-n").inner_text() == str(len(texts))  # the last good batch stays


def test_empty_text_shows_a_message_not_a_traceback(page):
    page.wait_for_selector("#fb-exit")
    page.locator("#text-input textarea").fill("   ")
    page.locator("#classify").click()
    page.get_by_text("the text box is empty").first.wait_for()
    assert page.get_by_text("Traceback").count() == 0


def test_how_it_works_steps_through_the_layers(page):
    page.wait_for_selector("#fb-exit")
    page.get_by_role("tab", name="How it works").click()
    step = page.locator("#step-text")
    step.get_by_text("Layer 1 of 3").wait_for()
    box = page.locator("#layer input[type=number]")
    box.fill("3")
    box.press("Enter")
    step.get_by_text("Layer 3 of 3").wait_for()
    assert "teacher" in step.inner_text() or "No sample reaches" in step.inner_text()


# ----- two models: what a switch shows, and charts at their real size ---------------------------
NEWS = ("World", "Sports", "Business", "Sci/Tech")
PLOT_WIDTHS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(p => p.offsetParent !== null)
  .map(p => { const block = p.closest('[id$="-plot"]'); const svg = p.querySelector('.main-svg');
              return [block.id, block.getBoundingClientRect().width, svg.getBoundingClientRect().width]; })"""


@pytest.fixture(scope="module")
def url_two_models(model, tmp_path_factory):
    from tiny import tiny_model

    models = tmp_path_factory.mktemp("two-models")
    model.save_pretrained(models / "a-sentiment")
    tiny_model(tmp_path_factory.mktemp("news"), labels=NEWS).save_pretrained(models / "b-news")
    with running_app(models / "a-sentiment", models_dir=models) as address:
        yield address


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _fitted(page, want: set[str]) -> list:
    """Every visible chart, once `want` are all drawn; each must fill its block (±2 px)."""
    page.wait_for_function(f"() => ({PLOT_WIDTHS})().length >= {len(want)}")
    page.wait_for_timeout(600)  # the resize after the tab is shown
    widths = page.evaluate(PLOT_WIDTHS)
    assert {w[0] for w in widths} == want
    for name, block, svg in widths:
        assert block > 300 and abs(block - svg) <= 2, (name, block, svg)
    return widths


def test_a_model_switch_shows_the_new_models_examples_and_charts_at_full_size(browser, url_two_models, tmp_path):
    from demo.examples import load_example_sets

    news = {s.task: s for s in load_example_sets()}["news"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(url_two_models)
    page.wait_for_selector("#fb-exit")
    for name in ("Batch", "How it works", "One text"):  # every tab drawn once, at the first model
        _tab(page, name)
        page.wait_for_timeout(300)
    page.locator("#model input").click()
    page.get_by_role("option", name="b-news").click()
    page.wait_for_function("t => document.querySelector('#fb-text')?.textContent.includes(t)",
                           arg=news.single[0][1])
    assert page.locator("#text-input textarea").input_value() == news.single[0][1]
    _fitted(page, {"probs-plot", "unc-plot"})
    _tab(page, "Batch")
    page.wait_for_function("() => document.querySelector('#fb-batch-n')?.parentElement.textContent"
                           ".includes('example batch (news)')")
    _fitted(page, {"hist-plot", "sweep-plot", "dist-plot"})
    _tab(page, "How it works")
    page.locator("#step-text").get_by_text("Layer 1 of 3").wait_for()
    _fitted(page, {"step-plot", "luha-plot", "agree-plot", "luha-pair-plot", "reliability-plot"})
    page.screenshot(path=str(tmp_path / "app-after-switch.png"), full_page=True)
    page.close()


def test_every_table_column_is_visible_at_1400_px(page, tmp_path):
    page.wait_for_selector("#fb-exit")
    _tab(page, "Batch")
    long = " ".join(["the plot was very boring and the actors were awful but the music was fun"] * 4)
    data = tmp_path / "long.tsv"
    data.write_text("sentence\tlabel\n" + "".join(f"{long} {i}\t{'positive' if i % 2 else 'negative'}\n"
                                                 for i in range(5)))
    _upload(page, data)
    page.wait_for_function("() => document.querySelector('#fb-batch-n')?.parentElement.textContent"
                           ".includes('long.tsv')")
    table = page.locator("#batch-table")
    table.get_by_text("correct").first.wait_for()
    right = table.bounding_box()["x"] + table.bounding_box()["width"]
    for name in ("label", "exit layer", "correct"):
        box = table.locator("th").filter(has_text=name).first.bounding_box()
        assert box["width"] > 20 and box["x"] + box["width"] <= right + 1, (name, box, right)


def test_phone_width_stacks_the_charts_and_puts_the_result_first(browser, url):
    page = browser.new_page(viewport={"width": 420, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(url)
    page.wait_for_selector("#fb-exit")
    _fitted(page, {"probs-plot", "unc-plot"})
    probs, unc = (page.locator(f"#{name}").bounding_box() for name in ("probs-plot", "unc-plot"))
    assert probs["y"] + probs["height"] <= unc["y"] + 1  # one above the other
    assert probs["width"] > 0.8 * 420 and unc["width"] > 0.8 * 420  # the page has some padding
    result, examples, text = (page.locator(f"#{name}").bounding_box() for name in ("result", "examples", "text-input"))
    assert text["y"] < result["y"] < examples["y"]
    page.close()


def test_enter_classifies_and_shift_enter_adds_a_line(page):
    page.wait_for_selector("#fb-exit")
    box = page.locator("#text-input textarea")
    box.fill("good film")
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('#fb-text')?.textContent.includes('good film')")
    box.press("Shift+Enter")
    box.type("really")
    assert box.input_value() == "good film\nreally"
    assert "really" not in page.locator("#fb-text").inner_text()
